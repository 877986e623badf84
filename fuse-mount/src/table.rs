//! The device table: which files the root directory shows, their inode numbers, and how many
//! open handles each has (so a detach can wait for them to close or report busy).
//!
//! No FUSE and no I/O here: names, numbers and counters only.

use blockseal_engine::{BlockDevice, Code, Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The root directory's inode number (FUSE_ROOT_ID).
pub(crate) const ROOT_INO: u64 = 1;

/// One served device: a regular file in the root directory.
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) ino: u64,
    pub(crate) dev: Arc<dyn BlockDevice>,
    /// `dev.len()`, read once: a block device never changes size.
    pub(crate) size: u64,
    /// Set by every write and discard, cleared by a sync: lets `flush` (every `close`) skip the
    /// sync when nothing changed.
    pub(crate) dirty: AtomicBool,
    opens: Mutex<Opens>,
    closed: Condvar,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Entry({}, ino {}, {} bytes)",
            self.name, self.ino, self.size
        )
    }
}

#[derive(Default)]
struct Opens {
    count: usize,
    /// A detach is waiting for the handles to close: refuse new opens meanwhile.
    detaching: bool,
}

impl Entry {
    fn opens(&self) -> MutexGuard<'_, Opens> {
        // Counters stay consistent even if a holder panicked: nothing under this lock panics.
        self.opens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one more open handle; false while a detach is in progress.
    pub(crate) fn try_open(&self) -> bool {
        let mut o = self.opens();
        if o.detaching {
            return false;
        }
        o.count += 1;
        true
    }

    /// Counts one handle closed.
    pub(crate) fn close(&self) {
        let mut o = self.opens();
        o.count = o.count.saturating_sub(1);
        if o.count == 0 {
            self.closed.notify_all();
        }
    }

    /// Refuses new opens and waits up to `wait` for the open handles to close. On timeout,
    /// accepts opens again and returns the number still open.
    fn drain(&self, wait: Duration) -> std::result::Result<(), usize> {
        let deadline = Instant::now() + wait;
        let mut o = self.opens();
        o.detaching = true;
        while o.count > 0 {
            let now = Instant::now();
            if now >= deadline {
                o.detaching = false;
                return Err(o.count);
            }
            o = self
                .closed
                .wait_timeout(o, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }

    /// Accepts opens again after a detach that did not go through.
    fn undrain(&self) {
        self.opens().detaching = false;
    }

    #[cfg(test)]
    fn open_count(&self) -> usize {
        self.opens().count
    }
}

/// Checks a device file name: one path component, as the kernel will pass it to `lookup`.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0']);
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            Code::INVALID_PARAMETER_VALUE,
            format!("invalid device file name {name:?}: want one path component, e.g. xvda"),
        ))
    }
}

/// Every device the mount serves.
pub(crate) struct Table {
    /// The files the root directory shows, in listing order.
    visible: BTreeMap<String, Arc<Entry>>,
    /// Every served entry by inode: the visible ones plus any being detached.
    by_ino: HashMap<u64, Arc<Entry>>,
    next_ino: u64,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            visible: BTreeMap::new(),
            by_ino: HashMap::new(),
            next_ino: ROOT_INO + 1,
        }
    }
}

impl Table {
    /// Adds a device under `name`. Inode numbers are never reused within a mount, so a kernel
    /// that still caches a detached file's inode cannot reach a newer device through it.
    pub(crate) fn insert(&mut self, name: &str, dev: Arc<dyn BlockDevice>) -> Result<Arc<Entry>> {
        check_name(name)?;
        if self.by_ino.values().any(|e| e.name == name) {
            return Err(Error::new(
                Code::INVALID_PARAMETER_VALUE,
                format!("device file {name} is already in use on this mount"),
            ));
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let size = dev.len();
        let entry = Arc::new(Entry {
            name: name.to_owned(),
            ino,
            dev,
            size,
            dirty: AtomicBool::new(false),
            opens: Mutex::new(Opens::default()),
            closed: Condvar::new(),
        });
        self.visible.insert(name.to_owned(), entry.clone());
        self.by_ino.insert(ino, entry.clone());
        Ok(entry)
    }

    /// The visible file called `name`.
    pub(crate) fn by_name(&self, name: &str) -> Option<&Arc<Entry>> {
        self.visible.get(name)
    }

    /// The served entry with inode `ino` (visible or being detached).
    pub(crate) fn by_ino(&self, ino: u64) -> Option<&Arc<Entry>> {
        self.by_ino.get(&ino)
    }

    /// The visible files, in listing order.
    pub(crate) fn visible(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.visible.values()
    }

    /// Every served entry, visible or not.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.by_ino.values()
    }

    /// Hides `name` from the directory (lookups fail from now on) and returns its entry; the
    /// entry stays reachable by inode for the handles still open.
    pub(crate) fn hide(&mut self, name: &str) -> Result<Arc<Entry>> {
        self.visible.remove(name).ok_or_else(|| {
            Error::new(
                Code::INVALID_ATTACHMENT_NOT_FOUND,
                format!("no device file {name} on this mount"),
            )
        })
    }

    /// Shows a hidden entry again (a detach that failed).
    pub(crate) fn unhide(&mut self, entry: &Arc<Entry>) {
        entry.undrain();
        self.visible.insert(entry.name.clone(), entry.clone());
    }

    /// Forgets a hidden entry for good.
    pub(crate) fn forget(&mut self, entry: &Entry) {
        self.by_ino.remove(&entry.ino);
    }
}

/// Refuses new opens of a hidden entry and waits up to `wait` for its handles to close.
///
/// # Errors
/// `ResourceBusy` if handles are still open when `wait` runs out; the caller unhides the entry.
pub(crate) fn drain(entry: &Entry, wait: Duration) -> Result<()> {
    entry.drain(wait).map_err(|open| {
        Error::new(
            Code::RESOURCE_BUSY,
            format!(
                "device file {} is still open ({open} handle{}) after {wait:?}; close it and retry",
                entry.name,
                if open == 1 { "" } else { "s" }
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use blockseal_engine::MemDevice;

    fn dev(len: usize) -> Arc<dyn BlockDevice> {
        Arc::new(MemDevice::new(len))
    }

    #[test]
    fn names_are_one_path_component() {
        for good in ["xvda", "sdf", "nvme0n1", "a.b"] {
            check_name(good).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "/xvda", "a\0b"] {
            assert_eq!(
                check_name(bad).unwrap_err().code(),
                Code::INVALID_PARAMETER_VALUE
            );
        }
        assert!(check_name(&"x".repeat(256)).is_err());
    }

    #[test]
    fn inodes_are_never_reused_and_names_are_unique() {
        let mut t = Table::default();
        let a = t.insert("xvda", dev(4096)).unwrap();
        assert_eq!(a.ino, 2);
        assert_eq!(a.size, 4096);
        assert!(t.insert("xvda", dev(4096)).is_err());
        let hidden = t.hide("xvda").unwrap();
        // Still served by inode while being detached, and its name stays taken.
        assert!(t.by_name("xvda").is_none());
        assert!(t.by_ino(2).is_some());
        assert!(t.insert("xvda", dev(4096)).is_err());
        t.forget(&hidden);
        let b = t.insert("xvda", dev(8192)).unwrap();
        assert_eq!(b.ino, 3);
        assert_eq!(
            t.visible().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["xvda"]
        );
        assert_eq!(
            t.hide("sdz").unwrap_err().code(),
            Code::INVALID_ATTACHMENT_NOT_FOUND
        );
    }

    #[test]
    fn drain_waits_for_handles_then_refuses_opens() {
        let mut t = Table::default();
        let e = t.insert("sdf", dev(512)).unwrap();
        assert!(e.try_open());
        let hidden = t.hide("sdf").unwrap();
        let err = drain(&hidden, Duration::from_millis(20)).unwrap_err();
        assert_eq!(err.code(), Code::RESOURCE_BUSY);
        // A failed drain accepts opens again.
        assert!(e.try_open());
        e.close();
        let closer = {
            let e = e.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                e.close();
            })
        };
        drain(&hidden, Duration::from_secs(10)).unwrap();
        closer.join().unwrap();
        assert_eq!(e.open_count(), 0);
        assert!(!e.try_open(), "opens are refused once drained");
        t.unhide(&hidden);
        assert!(e.try_open());
    }
}
