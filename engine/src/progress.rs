//! Progress reporting for long data work (import, export, copy, re-key). The engine calls these
//! hooks; the CLI draws a bar on a terminal and stays quiet otherwise.

/// Receives progress of long data work. Called from worker threads, hence `Sync`.
pub trait Progress: Sync {
    /// Work named `label` starts; `total` bytes will be processed.
    fn begin(&self, label: &str, total: u64);
    /// `bytes` more bytes are done.
    fn advance(&self, bytes: u64);
    /// The work ended (successfully or not).
    fn end(&self);
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}
