//! blockseal's FUSE front end: a directory of block files, one regular file per device, each
//! backed by an engine [`BlockDevice`] (DESIGN.md, "The FUSE front end").
//!
//! This crate turns FUSE requests into `BlockDevice` calls and engine errors into errno. It
//! holds no crypto, file format or catalog code: which volumes to serve, unlocking their keys,
//! locking them and talking to a running mount belong to the engine and the CLI.
//!
//! # Use
//! ```no_run
//! use blockseal_engine::{BlockDevice, MemDevice};
//! use blockseal_fuse::{Mount, MountOptions};
//! use std::{path::Path, sync::Arc, time::Duration};
//!
//! let root: Arc<dyn BlockDevice> = Arc::new(MemDevice::new(1 << 20));
//! let devices = vec![("xvda".to_owned(), root)];
//! let mount = Mount::spawn(Path::new("/mnt/i-1"), devices, MountOptions::default())?;
//! mount.add_device("sdf", Arc::new(MemDevice::new(1 << 20)))?; // attach
//! {
//!     let _frozen = mount.freeze()?; // create-image: copy the volumes now
//! }
//! let _sdf = mount.remove_device("sdf", Duration::from_secs(5))?; // detach
//! mount.unmount()?; // or drop it
//! # Ok::<(), blockseal_engine::Error>(())
//! ```
//!
//! # What the files do
//! | operation | behaviour |
//! |---|---|
//! | names, mode | the device name (`xvda`, `sdf`); 0600, or 0400 on a read-only mount; owned by the mounting user |
//! | size | the device size, fixed |
//! | read | decrypts (the device does); any offset and length; at or past the end: 0 bytes; straddling it: short |
//! | write | encrypts; any offset and length; starting at or past the end: `ENOSPC`; straddling it: short write, as `/dev/sdX` does |
//! | `truncate`, `ftruncate` | `EPERM` unless to the current size; `O_TRUNC` at open is ignored, as on a block device |
//! | `chmod`, `chown` | `EPERM` unless unchanged; timestamps are accepted and ignored |
//! | `fsync`, `fdatasync` | `BlockDevice::sync` |
//! | `close` (FUSE flush) | `BlockDevice::sync` if the handle may have written since the last sync |
//! | `fallocate` | `PUNCH_HOLE\|KEEP_SIZE` and `ZERO_RANGE`: `BlockDevice::discard` (reads zeros, sectors become holes); `0`/`KEEP_SIZE` within the size: no-op; growing: `ENOSPC`; collapse/insert: `EOPNOTSUPP` |
//! | create, unlink, rename, mkdir, link | `EPERM`: files come and go with attach and detach only |
//! | engine errors | in one `match`: not found `ENOENT`, invalid argument `EINVAL`, I/O and corrupt `EIO` (or the backing store's own errno, e.g. `ENOSPC`), key unavailable and access denied `EACCES`, invalid state `EBUSY` |
//!
//! # FUSE settings
//! Measured on the 2-core reference machine (PERFORMANCE-NOTES Part B, best crypt config):
//! `n_threads` 2; `max_write` 1 MiB (fuser then asks for `max_pages` 256, the kernel's limit);
//! `FOPEN_DIRECT_IO` and `FOPEN_PARALLEL_DIRECT_WRITES` on every open, so data is not cached
//! twice and parallel writers are not serialised on the inode lock; no writeback cache, so a
//! write reaches the device before it is acknowledged. Reads of 256 KiB or more are cut in two
//! halves that run on two cores ([`MountOptions::split_min`]).
//!
//! # Unmounting and stale mount points
//! [`Mount::unmount`] and `Drop` flush every device, then unmount. If a file is still open the
//! strict unmount fails busy and the mount is detached lazily (`MNT_DETACH`, or
//! `fusermount3 -u -z` for non-root users): it leaves the directory tree at once and keeps
//! serving the open files until they close, so dropping a `Mount` never hangs.
//! `fusermount3 -u DIR` from outside also works; the server notices and stops.
//! A server killed with SIGKILL leaves a stale mount point ("Transport endpoint is not
//! connected"); [`Mount::spawn`] detects it and detaches it before mounting, or says how to
//! clean it up by hand if it cannot.
//!
//! Root mounts with `mount(2)` itself and keeps unmounting in this crate's hands. Other users
//! mount through fuser and the setuid `fusermount3`; there, when a lazily detached session
//! finally ends, fuser's own handle runs `fusermount3 -u -z` on the path once more, which
//! would also detach a newer mount by the same user on the same directory.

#![forbid(unsafe_code)]

mod fs;
mod gate;
mod io;
mod mount;
mod mountpoint;
mod table;

pub use blockseal_engine::BlockDevice;
pub use mount::{run_foreground, FreezeGuard, Mount, MountOptions, MountStats, Unmounted};
