//! The FUSE file system: one root directory holding one regular file per device. Turns kernel
//! requests into `BlockDevice` calls and engine errors into errno (in [`errno`], one `match`).
//!
//! No crypto and no file format here: the device decrypts, encrypts and handles unaligned I/O.

use crate::gate::Gate;
use crate::io::{self, Counters, Splitter};
use crate::table::{Entry, Table, ROOT_INO};
use blockseal_engine::{Code, Error, ErrorKind};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};
use std::cell::RefCell;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

/// How long the kernel may cache a device file's attributes and name. A file's size never
/// changes, and a detach invalidates the name explicitly, so this can be long.
const FILE_TTL: Duration = Duration::from_secs(60);
/// The root directory's attributes (its listing is never cached: no `FOPEN_CACHE_DIR`).
const ROOT_TTL: Duration = Duration::from_secs(1);
/// `st_blksize` and the statfs block: the default sector, and the page size.
const BLOCK: u32 = 4096;

/// State shared by the FUSE worker threads and the [`Mount`](crate::Mount) handle.
pub(crate) struct Shared {
    pub(crate) read_only: bool,
    pub(crate) max_write: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) born: SystemTime,
    pub(crate) table: RwLock<Table>,
    pub(crate) gate: Gate,
    pub(crate) counters: Counters,
    pub(crate) split: Option<Splitter>,
    /// Whether the kernel agreed to requests above 128 KiB (FUSE_MAX_PAGES).
    pub(crate) max_pages: AtomicBool,
    next_fh: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        table: Table,
        read_only: bool,
        max_write: u32,
        split: Option<Splitter>,
    ) -> Shared {
        Shared {
            read_only,
            max_write,
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            born: SystemTime::now(),
            table: RwLock::new(table),
            gate: Gate::default(),
            counters: Counters::default(),
            split,
            max_pages: AtomicBool::new(false),
            next_fh: AtomicU64::new(1),
        }
    }

    // The table lock guards only map updates that cannot panic half-way; a poisoned lock
    // still holds a consistent table.
    pub(crate) fn table(&self) -> RwLockReadGuard<'_, Table> {
        self.table
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn table_mut(&self) -> RwLockWriteGuard<'_, Table> {
        self.table
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn entry(&self, ino: INodeNo) -> Option<Arc<Entry>> {
        self.table().by_ino(ino.0).cloned()
    }

    fn file_attr(&self, e: &Entry) -> FileAttr {
        FileAttr {
            ino: INodeNo(e.ino),
            size: e.size,
            // Report the whole device as allocated, as `stat` on a block device would suggest.
            blocks: e.size.div_ceil(512),
            atime: self.born,
            mtime: self.born,
            ctime: self.born,
            crtime: self.born,
            kind: FileType::RegularFile,
            perm: if self.read_only { 0o400 } else { 0o600 },
            nlink: 1,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: BLOCK,
            flags: 0,
        }
    }

    fn root_attr(&self) -> FileAttr {
        FileAttr {
            ino: INodeNo(ROOT_INO),
            size: u64::from(BLOCK),
            blocks: 8,
            atime: self.born,
            mtime: self.born,
            ctime: self.born,
            crtime: self.born,
            kind: FileType::Directory,
            perm: if self.read_only { 0o555 } else { 0o755 },
            nlink: 2,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: BLOCK,
            flags: 0,
        }
    }

    /// Syncs one device, keeping its dirty mark if the sync fails so a later flush retries.
    fn sync(&self, e: &Entry) -> Result<(), Errno> {
        e.dirty.store(false, Ordering::SeqCst);
        e.dev.sync().map_err(|err| {
            e.dirty.store(true, Ordering::SeqCst);
            errno(&err)
        })
    }
}

/// The errno a front end reports for an engine error: the one place this mapping lives.
///
/// I/O failures keep the backing store's own errno where there is one (ENOSPC, EROFS, EDQUOT
/// ...), so a full or read-only disk under the volume says so.
pub(crate) fn errno(e: &Error) -> Errno {
    let errno = match e.kind() {
        _ if e.code() == Code::INSUFFICIENT_STORAGE => Errno::ENOSPC,
        ErrorKind::NotFound => Errno::ENOENT,
        ErrorKind::AlreadyExists => Errno::EEXIST,
        ErrorKind::InvalidState => Errno::EBUSY,
        ErrorKind::InvalidArgument => Errno::EINVAL,
        ErrorKind::AccessDenied | ErrorKind::KeyUnavailable => Errno::EACCES,
        ErrorKind::Corrupt => Errno::EIO,
        ErrorKind::Io => source_errno(e).unwrap_or(Errno::EIO),
        _ => Errno::EIO,
    };
    if errno == Errno::EIO {
        log::warn!("I/O error reported to the kernel: {e}");
    }
    errno
}

fn source_errno(e: &Error) -> Option<Errno> {
    let io = std::error::Error::source(e)?.downcast_ref::<std::io::Error>()?;
    io.raw_os_error().map(Errno::from_i32)
}

thread_local! {
    /// Each FUSE worker's read buffer: a 1 MiB request decrypts straight into it and the reply
    /// is sent from it (no allocation or zero-fill per request).
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The file system handed to fuser; cheap to share across worker threads.
pub(crate) struct Fs(pub(crate) Arc<Shared>);

// File handles carry the write permission in their low bit, so `flush` knows whether the
// handle may have dirtied the device without a handle table.
const FH_WRITABLE: u64 = 1;

impl fuser::Filesystem for Fs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let s = &self.0;
        if let Err(nearest) = config.set_max_write(s.max_write) {
            let _ = config.set_max_write(nearest);
        }
        let caps = config.capabilities();
        // fuser asks for max_pages = max_write / page size on its own when the kernel offers
        // FUSE_MAX_PAGES; the kernel clamps it to fs.fuse.max_pages_limit (256 = 1 MiB here).
        s.max_pages
            .store(caps.contains(InitFlags::FUSE_MAX_PAGES), Ordering::Relaxed);
        if !caps.contains(InitFlags::FUSE_MAX_PAGES) {
            log::warn!("the kernel does not offer FUSE_MAX_PAGES: requests stay at 128 KiB");
        }
        // O_TRUNC arrives with OPEN (where a block file ignores it) instead of as a truncate.
        // No writeback cache: every write reaches the device before it is acknowledged.
        let wanted = InitFlags::FUSE_ATOMIC_O_TRUNC | InitFlags::FUSE_PARALLEL_DIROPS;
        let _ = config.add_capabilities(wanted & caps);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent.0 != ROOT_INO {
            return reply.error(Errno::ENOTDIR);
        }
        let table = self.0.table();
        match name.to_str().and_then(|n| table.by_name(n)) {
            Some(e) => reply.entry(&FILE_TTL, &self.0.file_attr(e), Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino.0 == ROOT_INO {
            return reply.attr(&ROOT_TTL, &self.0.root_attr());
        }
        match self.0.entry(ino) {
            Some(e) => reply.attr(&FILE_TTL, &self.0.file_attr(&e)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let (attr, ttl) = if ino.0 == ROOT_INO {
            (self.0.root_attr(), ROOT_TTL)
        } else {
            match self.0.entry(ino) {
                Some(e) => (self.0.file_attr(&e), FILE_TTL),
                None => return reply.error(Errno::ENOENT),
            }
        };
        // A block device has a fixed size, owner and mode: refuse changes, accept no-ops (so
        // `truncate -s SAME` and `chmod 600` succeed). Timestamps are accepted and ignored,
        // so `touch` works.
        let same_size = size.is_none_or(|s| s == attr.size && attr.kind == FileType::RegularFile);
        let same_mode = mode.is_none_or(|m| m & 0o7777 == u32::from(attr.perm));
        let same_owner = uid.is_none_or(|u| u == attr.uid) && gid.is_none_or(|g| g == attr.gid);
        if same_size && same_mode && same_owner {
            reply.attr(&ttl, &attr)
        } else if self.0.read_only {
            reply.error(Errno::EROFS)
        } else {
            reply.error(Errno::EPERM)
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if ino.0 == ROOT_INO {
            return reply.error(Errno::EISDIR);
        }
        let Some(e) = self.0.entry(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let writable = flags.acc_mode() != OpenAccMode::O_RDONLY;
        if writable && self.0.read_only {
            return reply.error(Errno::EROFS);
        }
        // A detach in progress refuses new opens, even through a name the kernel still caches.
        if !e.try_open() {
            return reply.error(Errno::ENOENT);
        }
        let fh = self.0.next_fh.fetch_add(1, Ordering::Relaxed) << 1 | u64::from(writable);
        // Direct I/O: no second copy of the data in the FUSE page cache, and each 1 MiB dd
        // block is one request. Parallel direct writes: writers on one file are not
        // serialised on the inode lock (the device locks per sector). O_TRUNC is ignored, as
        // on a block device.
        let fopen = FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES;
        reply.opened(FileHandle(fh), fopen);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(e) = self.0.entry(ino) else {
            return reply.error(Errno::EBADF);
        };
        // At or past the end: end of file. Straddling it: the bytes up to the end.
        let n = e.size.saturating_sub(offset).min(u64::from(size)) as usize;
        if n == 0 {
            return reply.data(&[]);
        }
        READ_BUF.with_borrow_mut(|buf| {
            if buf.len() < n {
                buf.resize(n, 0);
            }
            let buf = &mut buf[..n];
            let s = &self.0;
            match io::read_at(s.split.as_ref(), &s.counters, &*e.dev, offset, buf) {
                Ok(()) => reply.data(buf),
                Err(err) => reply.error(errno(&err)),
            }
        });
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let Some(e) = self.0.entry(ino) else {
            return reply.error(Errno::EBADF);
        };
        if self.0.read_only {
            return reply.error(Errno::EROFS);
        }
        if data.is_empty() {
            return reply.written(0);
        }
        // A block device ends where it ends: a write starting at or past the end fails with
        // ENOSPC, one straddling it is cut short there (the caller's next write gets ENOSPC),
        // as writes to /dev/sdX behave.
        let room = e.size.saturating_sub(offset);
        if room == 0 {
            return reply.error(Errno::ENOSPC);
        }
        let data = &data[..(data.len() as u64).min(room) as usize];
        let s = &self.0;
        let result = {
            let _pass = s.gate.enter();
            io::write_at(&s.counters, &*e.dev, offset, data)
        };
        match result {
            Ok(()) => {
                // Marked after the write has landed, so a flush that clears the mark has
                // either synced this write or leaves the mark for the next one.
                e.dirty.store(true, Ordering::SeqCst);
                reply.written(data.len() as u32)
            }
            Err(err) => reply.error(errno(&err)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Every close() of a handle that may have written makes its data durable, so write
        // errors of the backing store surface at close().
        let Some(e) = self.0.entry(ino) else {
            return reply.ok();
        };
        if fh.0 & FH_WRITABLE == 0 || !e.dirty.load(Ordering::SeqCst) {
            return reply.ok();
        }
        match self.0.sync(&e) {
            Ok(()) => reply.ok(),
            Err(errno) => reply.error(errno),
        }
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if let Some(e) = self.0.entry(ino) {
            e.close();
        }
        reply.ok();
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _ds: bool, reply: ReplyEmpty) {
        let Some(e) = self.0.entry(ino) else {
            return reply.error(Errno::EBADF);
        };
        match self.0.sync(&e) {
            Ok(()) => reply.ok(),
            Err(errno) => reply.error(errno),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if ino.0 != ROOT_INO {
            return reply.error(Errno::ENOTDIR);
        }
        let mut names = vec![(ROOT_INO, FileType::Directory, ".".to_owned())];
        names.push((ROOT_INO, FileType::Directory, "..".to_owned()));
        names.extend(
            self.0
                .table()
                .visible()
                .map(|e| (e.ino, FileType::RegularFile, e.name.clone())),
        );
        // Each entry's offset is its position + 1: the kernel resumes from the last one seen.
        for (i, (ino, kind, name)) in names.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), i as u64 + 1, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let table = self.0.table();
        let (files, bytes) = table
            .visible()
            .fold((1u64, 0u64), |(n, b), e| (n + 1, b + e.size));
        // Fixed-size block files: nothing is free, nothing can be created.
        reply.statfs(bytes / u64::from(BLOCK), 0, 0, files, 0, BLOCK, 255, BLOCK);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // Mounted with default_permissions: the kernel checks the mode bits itself.
        reply.ok();
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let Some(e) = self.0.entry(ino) else {
            return reply.error(Errno::EBADF);
        };
        match fallocate(&self.0, &e, offset, length, mode) {
            Ok(()) => reply.ok(),
            Err(errno) => reply.error(errno),
        }
    }

    // The directory's contents are the attached devices: nothing can be created, removed or
    // renamed through the file system (attach and detach go through the `Mount` handle).
    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EPERM);
    }

    fn mkdir(&self, _r: &Request, _p: INodeNo, _n: &OsStr, _m: u32, _u: u32, reply: ReplyEntry) {
        reply.error(Errno::EPERM);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EPERM);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EPERM);
    }

    fn symlink(&self, _r: &Request, _p: INodeNo, _n: &OsStr, _t: &Path, reply: ReplyEntry) {
        reply.error(Errno::EPERM);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EPERM);
    }

    fn link(&self, _r: &Request, _i: INodeNo, _p: INodeNo, _n: &OsStr, reply: ReplyEntry) {
        reply.error(Errno::EPERM);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EPERM);
    }
}

/// `fallocate(2)` on a block file. `PUNCH_HOLE` (always with `KEEP_SIZE`) and `ZERO_RANGE`
/// discard the range, so it reads as zeros and its sectors become holes again. Plain
/// allocation within the size is a no-op success (every byte is already addressable); anything
/// that would grow or shift the file is refused.
fn fallocate(s: &Shared, e: &Entry, offset: u64, length: u64, mode: i32) -> Result<(), Errno> {
    const KEEP_SIZE: i32 = libc::FALLOC_FL_KEEP_SIZE;
    const DISCARD: i32 = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_ZERO_RANGE;
    if s.read_only {
        return Err(Errno::EROFS);
    }
    if mode & !(KEEP_SIZE | DISCARD) != 0 {
        // COLLAPSE_RANGE, INSERT_RANGE, UNSHARE_RANGE, ...: not for a fixed-size device.
        return Err(Errno::EOPNOTSUPP);
    }
    let end = offset.checked_add(length).ok_or(Errno::EINVAL)?;
    if mode & KEEP_SIZE == 0 && end > e.size {
        return Err(Errno::ENOSPC);
    }
    if mode & DISCARD != 0 && offset < e.size {
        let len = end.min(e.size) - offset;
        let result = {
            let _pass = s.gate.enter();
            e.dev.discard(offset, len)
        };
        result.map_err(|err| errno(&err))?;
        e.dirty.store(true, Ordering::SeqCst);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_errno() {
        let e = |code| errno(&Error::new(code, "x"));
        assert_eq!(e(Code::INVALID_VOLUME_NOT_FOUND), Errno::ENOENT);
        assert_eq!(e(Code::INVALID_PARAMETER_VALUE), Errno::EINVAL);
        assert_eq!(e(Code::INTERNAL_ERROR), Errno::EIO);
        assert_eq!(e(Code::CORRUPT_FILE), Errno::EIO);
        assert_eq!(e(Code::DISABLED_EXCEPTION), Errno::EACCES);
        assert_eq!(e(Code::ACCESS_DENIED_EXCEPTION), Errno::EACCES);
        assert_eq!(e(Code::RESOURCE_BUSY), Errno::EBUSY);
        assert_eq!(e(Code::INSUFFICIENT_STORAGE), Errno::ENOSPC);
        // The backing store's own errno survives an I/O error.
        let rofs = Error::io("write /x", std::io::Error::from_raw_os_error(libc::EROFS));
        assert_eq!(errno(&rofs), Errno::EROFS);
        let full = Error::io("write /x", std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(errno(&full), Errno::ENOSPC);
    }

    fn shared_with(size: usize) -> (Shared, Arc<Entry>) {
        let mut t = Table::default();
        let dev = Arc::new(blockseal_engine::MemDevice::new(size));
        let e = t.insert("xvda", dev).unwrap();
        (Shared::new(t, false, 1 << 20, None), e)
    }

    #[test]
    fn fallocate_modes() {
        let (s, e) = shared_with(8192);
        e.dev.write_at(0, &[0xAA; 8192]).unwrap();
        let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        fallocate(&s, &e, 100, 50, punch).unwrap();
        let mut b = vec![0u8; 8192];
        e.dev.read_at(0, &mut b).unwrap();
        assert!(b[100..150].iter().all(|&x| x == 0) && b[99] == 0xAA && b[150] == 0xAA);
        // Past the end with KEEP_SIZE is clipped; without, it would grow the file.
        fallocate(&s, &e, 8000, 1 << 20, punch).unwrap();
        e.dev.read_at(0, &mut b).unwrap();
        assert!(b[8000..].iter().all(|&x| x == 0));
        assert_eq!(fallocate(&s, &e, 0, 8193, 0), Err(Errno::ENOSPC));
        fallocate(&s, &e, 0, 8192, 0).unwrap();
        fallocate(&s, &e, 0, 1 << 30, libc::FALLOC_FL_KEEP_SIZE).unwrap();
        fallocate(&s, &e, 0, 10, libc::FALLOC_FL_ZERO_RANGE).unwrap();
        e.dev.read_at(0, &mut b).unwrap();
        assert!(b[..10].iter().all(|&x| x == 0));
        let collapse = libc::FALLOC_FL_COLLAPSE_RANGE;
        assert_eq!(fallocate(&s, &e, 0, 4096, collapse), Err(Errno::EOPNOTSUPP));
        assert_eq!(fallocate(&s, &e, u64::MAX, 2, punch), Err(Errno::EINVAL));
    }
}
