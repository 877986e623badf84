//! Memory for key material, and the process switch that keeps a mount out of core dumps.
//!
//! [`SecretBox`] is a box whose value sits alone in its own anonymous page mapping, locked
//! against swap (`mlock`) and left out of core dumps (`MADV_DONTDUMP`); dropping it zeroes the
//! whole mapping before unmapping it. Data keys, the KMS root key and key material, and the XTS
//! round keys live in one. A key costs a few system calls when it is made and dropped, never
//! per I/O: the box derefs like a `Box`.
//!
//! Locking may fail (an unprivileged `RLIMIT_MEMLOCK` of 64 KiB holds 16 keys): that is not an
//! error — the key still works and stays out of core dumps — but the first failure is kept for
//! [`key_lock_failure`], so a long-running process can say once that keys may reach swap. The
//! engine itself never prints.
//!
//! The system calls (`mmap`, `mlock`, `madvise`, `munmap`, `prctl`) are `crate::sys::mem`'s;
//! the pointer work on the pages a box owns is here.

#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::sync::OnceLock;

/// The errno of the first `mlock` that failed in this process.
static LOCK_FAILED: OnceLock<i32> = OnceLock::new();

fn page_size() -> usize {
    crate::sys::page_size()
}

/// Zeroed secret mappings kept for reuse: making and dropping a key is then free of system
/// calls in steady state. `mmap`/`munmap` take the process's memory-map lock for writing and
/// `munmap` interrupts every core running one of its threads, so a server that unwraps a data
/// key per request (PutSnapshotBlock) stalled its other threads' page faults on them.
struct Spare {
    addr: usize,
    len: usize,
    locked: bool,
}

/// At most this many spare mappings are kept (a few hundred KiB).
const SPARES: usize = 64;

fn spares() -> std::sync::MutexGuard<'static, Vec<Spare>> {
    static POOL: std::sync::Mutex<Vec<Spare>> = std::sync::Mutex::new(Vec::new());
    POOL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A value of `T` in its own page-aligned mapping: locked against swap where the limit allows,
/// excluded from core dumps, zeroed when dropped. No `Clone` and no `Debug`, like the keys it
/// holds.
pub(crate) struct SecretBox<T> {
    ptr: NonNull<T>,
    /// The mapping's length: `size_of::<T>()` rounded up to whole pages.
    len: usize,
    locked: bool,
}

// SAFETY: a SecretBox owns its `T` exclusively, as a `Box` does; sending or sharing it is
// sending or sharing the `T`.
unsafe impl<T: Send> Send for SecretBox<T> {}
// SAFETY: as above; `&SecretBox<T>` gives only `&T`.
unsafe impl<T: Sync> Sync for SecretBox<T> {}

impl<T> SecretBox<T> {
    /// Moves `value` into a new locked, undumpable mapping.
    ///
    /// # Panics
    /// If `T` needs an alignment above the page size (no key type does), or the mapping cannot
    /// be made (out of memory, as `Box::new` would abort).
    pub(crate) fn new(value: T) -> Self {
        let page = page_size();
        assert!(std::mem::align_of::<T>() <= page, "over-aligned secret");
        let len = std::mem::size_of::<T>().max(1).div_ceil(page) * page;
        let spare = {
            let mut pool = spares();
            let at = pool.iter().position(|s| s.len == len);
            at.map(|i| pool.swap_remove(i))
        };
        if let Some(s) = spare {
            let ptr = NonNull::new(s.addr as *mut T).expect("spares are non-null mappings");
            // SAFETY: a mapping of `len` bytes made by an earlier `new` (page-aligned, so
            // aligned for `T`), zeroed and holding no value since its box was dropped, and
            // owned by nobody else once taken out of the pool.
            unsafe { ptr.as_ptr().write(value) };
            return SecretBox {
                ptr,
                len,
                locked: s.locked,
            };
        }
        let Ok(addr) = crate::sys::mem::map_anonymous(len) else {
            let layout = std::alloc::Layout::from_size_align(len, page).expect("page layout");
            std::alloc::handle_alloc_error(layout);
        };
        // Advice and locking come before the value is written, so the key never sits in a
        // page that could be dumped or swapped. Neither failure is fatal.
        crate::sys::mem::exclude_from_dumps(addr, len);
        let locked = match crate::sys::mem::lock(addr, len) {
            Ok(()) => true,
            Err(e) => {
                let _ = LOCK_FAILED.set(e.raw_os_error().unwrap_or(0));
                false
            }
        };
        let ptr = addr.cast::<T>();
        // SAFETY: the mapping is at least `size_of::<T>()` bytes, page-aligned (so aligned for
        // `T`, checked above), writable, and holds no value yet.
        unsafe { ptr.as_ptr().write(value) };
        SecretBox { ptr, len, locked }
    }

    /// Whether the mapping is locked against swap.
    #[cfg(test)]
    pub(crate) fn is_locked(&self) -> bool {
        self.locked
    }
}

impl<T> std::ops::Deref for SecretBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `ptr` holds an initialised `T` from `new` until `drop`, owned by `self`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> std::ops::DerefMut for SecretBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for SecretBox<T> {
    fn drop(&mut self) {
        let addr = self.ptr.as_ptr().cast::<u8>();
        // SAFETY: the `T` was written in `new` and is dropped exactly once, here (a key type
        // zeroizes itself in its own drop).
        unsafe { std::ptr::drop_in_place(self.ptr.as_ptr()) };
        // SAFETY: `addr..addr+len` is our writable mapping; nothing refers to the dropped `T`
        // any more, so its bytes (and any padding) may be overwritten.
        let bytes = unsafe { std::slice::from_raw_parts_mut(addr, self.len) };
        zeroize::Zeroize::zeroize(bytes);
        {
            let mut pool = spares();
            if pool.len() < SPARES {
                // Zeroed, still locked and undumpable: the next key of this size reuses it.
                pool.push(Spare {
                    addr: addr as usize,
                    len: self.len,
                    locked: self.locked,
                });
                return;
            }
        }
        // SAFETY: the mapping made in `new`, unlocked and unmapped once; no reference to it
        // outlives this call.
        unsafe { crate::sys::mem::unmap(self.ptr.cast(), self.len, self.locked) }
    }
}

/// Why key memory could not be locked against swap, if it ever failed in this process
/// (typically `ENOMEM` or `EPERM` under a small `RLIMIT_MEMLOCK`).
pub fn key_lock_failure() -> Option<std::io::Error> {
    LOCK_FAILED
        .get()
        .map(|&errno| std::io::Error::from_raw_os_error(errno))
}

/// Makes this process not dumpable (`prctl(PR_SET_DUMPABLE, 0)`): no core file is written
/// when it crashes, and other processes of the same user cannot `ptrace` it or read its
/// `/proc/PID/mem`. For processes that hold keys for a long time (the mount daemon).
///
/// # Errors
/// The `prctl` error (none is expected on Linux).
pub fn forbid_core_dumps() -> std::io::Result<()> {
    crate::sys::mem::set_dumpable(false)
}

/// Whether this process may be dumped (`prctl(PR_GET_DUMPABLE)`).
pub fn is_dumpable() -> bool {
    crate::sys::mem::is_dumpable()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `VmFlags` and `Locked` lines of the mapping of /proc/self/smaps that holds `addr`.
    fn smaps_of(addr: usize) -> (String, u64) {
        let text = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        let (mut flags, mut locked) = (String::new(), 0);
        for line in text.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((a, b)) = first.split_once('-') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    inside = (a..b).contains(&addr);
                    continue;
                }
            }
            if inside {
                if let Some(v) = line.strip_prefix("VmFlags:") {
                    flags = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("Locked:") {
                    locked = v.trim().trim_end_matches("kB").trim().parse().unwrap();
                }
            }
        }
        (flags, locked)
    }

    #[test]
    fn secrets_sit_in_locked_pages_left_out_of_dumps() {
        let b = SecretBox::new([0x5au8; 64]);
        assert_eq!(b[..], [0x5a; 64]);
        let addr = b.ptr.as_ptr() as usize;
        assert_eq!(addr % page_size(), 0);
        let (flags, locked) = smaps_of(addr);
        let flags: Vec<&str> = flags.split_whitespace().collect();
        assert!(flags.contains(&"dd"), "not excluded from dumps: {flags:?}");
        if !b.is_locked() {
            let why = key_lock_failure();
            // Root (CI) can always lock a page; others may be under a tiny RLIMIT_MEMLOCK.
            assert!(
                !rustix::process::geteuid().is_root(),
                "mlock failed as root: {why:?}"
            );
            eprintln!("skipping the lock check: mlock failed ({why:?})");
            return;
        }
        assert!(flags.contains(&"lo"), "not locked: {flags:?}");
        assert!(locked >= page_size() as u64 / 1024, "Locked: {locked} kB");
    }

    #[test]
    fn a_secret_is_dropped_once_and_spans_whole_pages() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Counted([u8; 5000]);
        impl Drop for Counted {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::SeqCst);
            }
        }
        let mut b = SecretBox::new(Counted([1; 5000]));
        b.0[4999] = 2;
        assert_eq!(b.len, 2 * page_size());
        drop(b);
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_process_can_make_itself_undumpable() {
        // In a child, so the test process stays as it was.
        // SAFETY: fork in a test; the child only calls async-signal-safe prctl and _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let ok = forbid_core_dumps().is_ok() && !is_dumpable();
            // SAFETY: ends the child without running the parent's destructors or test harness.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked; `status` is a valid out pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert!(is_dumpable(), "the test process itself stays dumpable");
    }
}
