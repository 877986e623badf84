//! Every raw system call of the engine, each wrapped in a safe function: SEEK_DATA/SEEK_HOLE,
//! FICLONERANGE, copy_file_range, fallocate(PUNCH_HOLE), renameat2(RENAME_NOREPLACE),
//! kill(pid, 0), the read-only mapping of a blob's data region, the shared mapping of a volume's
//! sectors with the sector locks that make it sound (`map`), and the anonymous, locked,
//! undumpable pages that hold keys (`mem`).
//!
//! These are the only modules of the engine allowed `unsafe` besides the SIMD kernels of
//! `crate::xts`; every block says which invariant makes it sound. They know nothing of headers,
//! keys or the home layout, and return plain `io::Error`s: callers add the step and the path.
//! rustix is used where it has the call.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

mod map;
pub(crate) mod mem;

pub(crate) use map::{Held, SharedMap, Stripes};

/// The size of a memory page.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}

/// Frees `[offset, offset + len)` of `file` (`fallocate(PUNCH_HOLE | KEEP_SIZE)`) so it reads
/// as zeros, keeping the file's length. Where the file system cannot punch holes, zeros are
/// written instead (an all-zero sector reads as unwritten either way).
pub(crate) fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use rustix::fs::{fallocate, FallocateFlags};
    match fallocate(
        file,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
        offset,
        len,
    ) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP) => {
            use std::os::unix::fs::FileExt;
            let zeros = vec![0u8; (1 << 20).min(len as usize)];
            let mut pos = offset;
            while pos < offset + len {
                let n = (offset + len - pos).min(zeros.len() as u64) as usize;
                file.write_all_at(&zeros[..n], pos)?;
                pos += n as u64;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The data extents of `file` within `[start, end)`, as absolute `(from, to)` byte offsets,
/// sorted and disjoint. Where the filesystem has no SEEK_DATA, the whole remaining range is
/// reported as data (callers then skip all-zero sectors by scanning).
///
/// Uses (and moves) the file offset, which blob I/O never relies on (it is all pread/pwrite).
pub(crate) fn data_extents(file: &File, start: u64, end: u64) -> io::Result<Vec<(u64, u64)>> {
    let fd = file.as_raw_fd();
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        let data = match seek(fd, pos, libc::SEEK_DATA) {
            Ok(d) => d,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => break,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
                ) =>
            {
                out.push((pos, end));
                break;
            }
            Err(e) => return Err(e),
        };
        if data >= end {
            break;
        }
        let hole = seek(fd, data, libc::SEEK_HOLE)?.min(end);
        out.push((data, hole));
        pos = hole;
    }
    Ok(out)
}

fn seek(fd: libc::c_int, pos: u64, whence: libc::c_int) -> io::Result<u64> {
    let pos = libc::off_t::try_from(pos).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: lseek takes no pointers; `fd` is open for the duration of the call because the
    // caller borrows the `File` that owns it.
    let r = unsafe { libc::lseek(fd, pos, whence) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as u64)
    }
}

/// Shares `len` bytes of `src` at `src_off` into `dst` at `dst_off` (a reflink, FICLONERANGE).
/// Fails with EOPNOTSUPP, EXDEV or EINVAL where the filesystem, the pair of files or the
/// alignment does not allow it; the caller then copies instead.
pub(crate) fn clone_range(
    src: &File,
    src_off: u64,
    dst: &File,
    dst_off: u64,
    len: u64,
) -> io::Result<()> {
    let arg = libc::file_clone_range {
        src_fd: i64::from(src.as_raw_fd()),
        src_offset: src_off,
        src_length: len,
        dest_offset: dst_off,
    };
    // SAFETY: FICLONERANGE reads one `file_clone_range`, which `arg` is, alive across the call;
    // both descriptors are open because the caller borrows their `File`s. The kernel only
    // remaps `dst`'s blocks; no memory of this process is written.
    let r = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONERANGE, &arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Copies `len` bytes of `src` at `src_off` to `dst` at `dst_off` inside the kernel
/// (copy_file_range), looping over short copies. A source that ends early is `UnexpectedEof`.
pub(crate) fn copy_range(
    src: &File,
    src_off: u64,
    dst: &File,
    dst_off: u64,
    len: u64,
) -> io::Result<()> {
    let to_off =
        |v: u64| libc::off64_t::try_from(v).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL));
    let mut off_in = to_off(src_off)?;
    let mut off_out = to_off(dst_off)?;
    let mut left = len;
    while left > 0 {
        let step = usize::try_from(left.min(1 << 30)).expect("≤ 1 GiB fits usize");
        // SAFETY: the two offset pointers point at live locals that the kernel reads and
        // advances; both descriptors are open because the caller borrows their `File`s.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off_in,
                dst.as_raw_fd(),
                &mut off_out,
                step,
                0,
            )
        };
        match n {
            n if n < 0 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => left -= n as u64,
        }
    }
    Ok(())
}

/// Renames `from` to `to`, failing with `AlreadyExists` instead of replacing an existing `to`.
/// On filesystems without RENAME_NOREPLACE it checks first and renames, which is only racy
/// against another process creating `to`, which the catalog lock rules out.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
    };
    let (cf, ct) = (c(from)?, c(to)?);
    // SAFETY: both pointers are NUL-terminated strings owned by `cf` and `ct`, alive for the
    // call; AT_FDCWD makes relative paths resolve as std::fs would.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cf.as_ptr(),
            libc::AT_FDCWD,
            ct.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            if to.try_exists()? {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            std::fs::rename(from, to)
        }
        _ => Err(e),
    }
}

/// Whether a process with id `pid` exists (kill(pid, 0) does not fail with ESRCH). Ids that
/// are not a single positive pid (0, or above i32::MAX, which kill would read as a process
/// group) are reported as not alive.
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled; nothing is
    // delivered and no memory is passed.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Maps `len` bytes of `file` from `offset` read-only, advised for one sequential pass.
///
/// Sound only while nobody truncates the file below `offset + len` or writes the mapped range
/// (a truncation makes reads fault with SIGBUS; a concurrent write would change bytes behind a
/// `&[u8]`). Callers hold that invariant, see `Blob::map`.
pub(crate) fn map_readonly(file: &File, offset: u64, len: usize) -> io::Result<memmap2::Mmap> {
    // SAFETY: the caller guarantees (see above and `Blob::map`) that the mapped range of the
    // file is neither truncated nor written while the map lives: blob files are sized once
    // when created and never shrink, and a copy's source is a snapshot (immutable) or a volume
    // whose writes are frozen for the copy.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .map(file)?
    };
    map.advise(memmap2::Advice::Sequential)?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn extents_of_a_sparse_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("f"))
            .unwrap();
        f.set_len(1 << 20).unwrap();
        f.write_all_at(&[1u8; 4096], 64 << 10).unwrap();
        let ext = data_extents(&f, 0, 1 << 20).unwrap();
        // Filesystems without SEEK_DATA report everything; all others must find the one block.
        assert!(
            ext == vec![(64 << 10, 68 << 10)] || ext == vec![(0, 1 << 20)],
            "{ext:?}"
        );
        assert!(data_extents(&f, 128 << 10, 1 << 20).unwrap().len() <= 1);
    }

    #[test]
    fn own_pid_is_alive_and_a_reaped_child_is_not() {
        assert!(pid_alive(std::process::id()));
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        assert!(!pid_alive(pid));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }

    #[test]
    fn rename_does_not_replace() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let e = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        std::fs::remove_file(&b).unwrap();
        rename_noreplace(&a, &b).unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"a");
    }
}
