//! The system calls behind `crate::secret_mem`: anonymous private pages for key material,
//! locked against swap and left out of core dumps, and the process's dumpable switch. The
//! pointer work on those pages (writing, borrowing and dropping the value) stays with
//! `SecretBox`, which owns them.

use std::io;
use std::ptr::NonNull;

/// A fresh anonymous private read-write mapping of `len` bytes (page-aligned, zero-filled).
///
/// # Errors
/// The `mmap` error (ENOMEM).
pub(crate) fn map_anonymous(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: an anonymous private mapping at an address the kernel picks: no existing memory
    // is touched. The result is checked against MAP_FAILED below.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(addr.cast::<u8>()).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
}

/// Leaves `[addr, addr + len)` out of core dumps (`MADV_DONTDUMP`). Best effort.
pub(crate) fn exclude_from_dumps(addr: NonNull<u8>, len: usize) {
    // SAFETY: MADV_DONTDUMP changes only what a core dump includes, never the contents or the
    // mapping of the range; an address that is not mapped makes the call fail with ENOMEM.
    unsafe {
        libc::madvise(addr.as_ptr().cast(), len, libc::MADV_DONTDUMP);
    }
}

/// Locks `[addr, addr + len)` in memory (`mlock`).
///
/// # Errors
/// The `mlock` error (ENOMEM or EPERM under a small `RLIMIT_MEMLOCK`).
pub(crate) fn lock(addr: NonNull<u8>, len: usize) -> io::Result<()> {
    // SAFETY: mlock only pins the pages of the range; it neither reads nor changes them.
    if unsafe { libc::mlock(addr.as_ptr().cast(), len) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Unlocks (if `locked`) and unmaps a mapping made by [`map_anonymous`].
///
/// # Safety
/// `[addr, addr + len)` is exactly a mapping from [`map_anonymous`], and nothing refers to its
/// memory any more (every reference into it is gone, and no value in it is dropped later).
pub(crate) unsafe fn unmap(addr: NonNull<u8>, len: usize, locked: bool) {
    // SAFETY: the caller guarantees the range is our mapping and unreferenced; munlock and
    // munmap take no other memory.
    unsafe {
        if locked {
            libc::munlock(addr.as_ptr().cast(), len);
        }
        libc::munmap(addr.as_ptr().cast(), len);
    }
}

/// Sets whether this process may be dumped (`prctl(PR_SET_DUMPABLE)`).
///
/// # Errors
/// The `prctl` error (none is expected on Linux).
pub(crate) fn set_dumpable(dumpable: bool) -> io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes one integer argument and touches no memory of ours.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_DUMPABLE,
            libc::c_ulong::from(dumpable),
            0,
            0,
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether this process may be dumped (`prctl(PR_GET_DUMPABLE)`).
pub(crate) fn is_dumpable() -> bool {
    // SAFETY: PR_GET_DUMPABLE takes no argument and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) > 0 }
}
