//! Jobs: the data work of an operation (copying or re-keying snapshots, filling a new volume),
//! separated from its admission so the API endpoint can answer at once.
//!
//! An operation is *admitted* in one transaction: checked, its keys resolved and its data keys
//! made (so KMS problems fail it the way AWS does, before any data moves), its new rows stored in
//! their pending states (`pending` snapshots and images, `creating` volumes) and a job row stored
//! with every fact the data work needs. A worker then *runs* the job: it makes each new blob in a
//! temporary file, then in one transaction moves the files into place and flips the rows to
//! `completed`/`available` — or, if it failed, to `error`/`failed` (a failed volume disappears, as
//! on AWS). A job whose worker died (the server was killed) is run again from the start by the
//! next worker: its temporary files died with it, so there is never a half image.
//!
//! Callers that wait (the CLI) skip the pending rows: they run the same data work inline and
//! commit final rows directly, exactly as before jobs existed.
//!
//! The state machine is pure ([`JobState::next`]); the shell below reads and writes the catalog.

use crate::api::{Context, Engine};
use crate::blob::TempBlob;
use crate::catalog::{Record, Tx};
use crate::ec2::imports::ImportSource;
use crate::ec2::model::{
    Encryption, ImageRec, ImageState, InstanceRec, InstanceState, SnapshotRec, SnapshotState,
    VolumeRec, VolumeState,
};
use crate::ec2::{is_key_problem, Core, DataPlan, Planned, KEY_NOT_ACCESSIBLE};
use crate::error::{Code, Error, Result};
use crate::progress::Progress;
use crate::xts::Xts;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Where a new blob's bytes come from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct SourceRef {
    pub id: String,
    pub size: u64,
    pub encryption: Option<Encryption>,
}

/// One new blob to make.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Task {
    pub new_id: String,
    pub size: u64,
    pub sector_size: u32,
    pub encryption: Option<Encryption>,
    pub source: Option<SourceRef>,
}

impl Task {
    /// The bytes a task moves (for progress).
    fn bytes(&self) -> u64 {
        self.source.as_ref().map_or(0, |s| s.size)
    }
}

/// What the rows become when the data is in place.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) enum Target {
    /// New snapshots, and the image that maps them (CopyImage), if any.
    Snapshots {
        ids: Vec<String>,
        image: Option<String>,
    },
    /// A new volume.
    Volume { id: String },
    /// A launched instance and its new volumes (RunInstances).
    Instance { id: String, volumes: Vec<String> },
    /// An import task, whose snapshot (the job's one task, without a source blob) is made from
    /// the disk image `source` and stored when its data is in place (ImportSnapshot).
    Import { task: String, source: ImportSource },
}

/// Operations whose jobs capture a volume at the time of the call (CreateSnapshot,
/// CreateImage): they start at once on their own thread, holding the mount's freeze (if the
/// volume is served) until the copy is made, and calls that would let the volume change
/// (AttachVolume) or disappear (DeleteVolume, TerminateInstances) wait for them.
pub(crate) const CAPTURES: &[&str] = &["CreateSnapshot", "CreateImage"];

/// A job's life. `Running` names the process that runs it, so a job whose process died can be
/// told from one still in progress.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum JobState {
    Queued,
    Running { pid: u32 },
}

/// What happens to a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// Worker process `pid` wants to run it; `owner_alive` says whether a current owner lives.
    Claim { pid: u32, owner_alive: bool },
}

impl JobState {
    /// The state after `event`, or `None` if the event does not apply (another live worker
    /// holds the job).
    pub(crate) fn next(self, event: Event) -> Option<JobState> {
        match (self, event) {
            (JobState::Queued, Event::Claim { pid, .. }) => Some(JobState::Running { pid }),
            (JobState::Running { pid: owner }, Event::Claim { pid, owner_alive })
                if owner != pid && !owner_alive =>
            {
                Some(JobState::Running { pid })
            }
            (JobState::Running { .. }, Event::Claim { .. }) => None,
        }
    }
}

/// How a job ended, for the rows it made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    /// A key could not be used (disabled, deleted, no permission).
    KeyFailed,
    /// Anything else (a full disk, a damaged source).
    Failed,
}

/// The snapshot and image states of an ended job (a volume that failed is removed instead).
pub(crate) fn final_states(outcome: Outcome) -> (SnapshotState, ImageState) {
    match outcome {
        Outcome::Done => (SnapshotState::Completed, ImageState::Available),
        Outcome::KeyFailed | Outcome::Failed => (SnapshotState::Error, ImageState::Failed),
    }
}

/// A job row.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct JobRec {
    pub id: String,
    pub region: String,
    pub account: String,
    /// The user the data work acts for (KMS Decrypt of the data keys).
    pub principal: String,
    /// The operation that admitted it, e.g. `CopyImage`.
    pub operation: String,
    pub tasks: Vec<Task>,
    pub target: Target,
    pub state: JobState,
    pub total_bytes: u64,
    pub done_bytes: u64,
}

impl Record for JobRec {
    const TABLE: &'static str = "jobs";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn region(&self) -> &str {
        &self.region
    }
}

impl JobRec {
    /// Progress as AWS shows it, `"42%"`.
    pub(crate) fn percent(&self) -> String {
        let p = (self.done_bytes * 100)
            .checked_div(self.total_bytes)
            .unwrap_or(0)
            .min(99);
        format!("{p}%")
    }

    /// Whether this job captures volume `volume_id` (see [`CAPTURES`]).
    pub(crate) fn captures(&self, volume_id: &str) -> bool {
        CAPTURES.contains(&self.operation.as_str())
            && self
                .tasks
                .iter()
                .any(|t| t.source.as_ref().is_some_and(|s| s.id == volume_id))
    }

    /// Whether this job makes resource `id`.
    pub(crate) fn makes(&self, id: &str) -> bool {
        match &self.target {
            Target::Snapshots { ids, image } => {
                ids.iter().any(|s| s == id) || image.as_deref() == Some(id)
            }
            Target::Volume { id: v } => v == id,
            Target::Instance { id: i, volumes } => i == id || volumes.iter().any(|v| v == id),
            Target::Import { task, .. } => task == id,
        }
    }
}

impl Core<'_> {
    /// The data plan of a task: same data key (same lineage) is a clone of the ciphertext, else
    /// a re-key with both keys unwrapped through the KMS as the caller.
    fn task_plan(&self, t: &Task) -> Result<Planned> {
        let plan = match &t.source {
            None => DataPlan::Empty,
            Some(s) => {
                let same = match (&s.encryption, &t.encryption) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.wrapped.dek_id == b.wrapped.dek_id,
                    _ => false,
                };
                if same {
                    DataPlan::Clone {
                        source: s.id.clone(),
                    }
                } else {
                    let (from, to) = self.cat.read_mostly(|tx| {
                        let from = self.xts_of(tx, s.encryption.as_ref())?;
                        let to = self.xts_of(tx, t.encryption.as_ref())?;
                        Ok((from, to))
                    })?;
                    let to: Xts = to.ok_or_else(|| {
                        Error::new(Code::INTERNAL_ERROR, "a re-key needs a destination key")
                    })?;
                    DataPlan::Rekey {
                        source: s.id.clone(),
                        from,
                        to,
                    }
                }
            }
        };
        Ok(Planned {
            encryption: t.encryption.clone(),
            plan,
        })
    }

    /// Makes every task's blob in a temporary file.
    pub(crate) fn run_tasks(&self, tasks: &[Task], p: &dyn Progress) -> Result<Vec<TempBlob>> {
        let mut temps = Vec::with_capacity(tasks.len());
        for t in tasks {
            let planned = self.task_plan(t)?;
            let meta = t.source.as_ref().map(|s| (s.size, s.encryption.as_ref()));
            temps.push(self.produce(&t.new_id, t.size, t.sector_size, &planned, meta, p)?);
        }
        Ok(temps)
    }

    /// Stores a job and its pending rows in `tx` (admission of an asynchronous call).
    pub(crate) fn queue_job(
        &self,
        tx: &Tx<'_>,
        operation: &str,
        tasks: Vec<Task>,
        target: Target,
    ) -> Result<String> {
        let id = format!("job-{:032x}", crate::secret::random_u128());
        self.queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Queued {
                id: id.clone(),
                frozen: None,
                urgent: CAPTURES.contains(&operation),
            });
        let total_bytes = tasks.iter().map(Task::bytes).sum();
        tx.put(&JobRec {
            id: id.clone(),
            region: self.region().to_owned(),
            account: self.account().to_owned(),
            principal: self.caller.user_name().to_owned(),
            operation: operation.to_owned(),
            tasks,
            target,
            state: JobState::Queued,
            total_bytes,
            done_bytes: 0,
        })?;
        Ok(id)
    }

    /// Hands `frozen` (the freeze of the mount serving the volumes job `id` captures) to the
    /// job: it is released when the job's copies are made.
    pub(crate) fn hold_freeze(&self, id: &str, frozen: crate::mountctl::Frozen) {
        let mut q = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(job) = q.iter_mut().find(|j| j.id == id) {
            job.frozen = Some(frozen);
        }
    }

    /// Waits until no job is capturing volume `volume_id` (CreateSnapshot or CreateImage
    /// admitted before this call): the capture holds the data as it was at its call.
    ///
    /// # Errors
    /// `IncorrectState` if the capture is not being run: its process died, or no worker claimed
    /// it within [`CAPTURE_START`].
    pub(crate) fn wait_for_captures(&self, volume_id: &str) -> Result<()> {
        let started = Instant::now();
        loop {
            let jobs = self.cat.read(|tx| tx.list_all::<JobRec>())?;
            let Some(job) = jobs.iter().find(|j| j.captures(volume_id)) else {
                return Ok(());
            };
            // A queued capture is claimed within moments by its process's workers; one whose
            // process died is run again only when a server starts.
            let stuck = match job.state {
                JobState::Running { pid } => !crate::blob::pid_alive(pid),
                JobState::Queued => started.elapsed() > CAPTURE_START,
            };
            if stuck {
                return Err(Error::new(
                    Code::INCORRECT_STATE,
                    format!(
                        "The volume '{volume_id}' is being captured by {} ({}), which is not \
                         running; retry once a server runs it.",
                        job.operation, job.id
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends job `job`: in one transaction, moves `temps` into place and flips the target rows
    /// to their final states (only rows still pending: a row deleted meanwhile stays deleted and
    /// its file is dropped), then deletes the job row.
    fn finish_job(&self, job: &JobRec, temps: Vec<TempBlob>, outcome: Outcome) -> Result<()> {
        let (snap_state, image_state) = final_states(outcome);
        self.cat.write(|tx| {
            let mut keep = Vec::new();
            match &job.target {
                Target::Snapshots { ids, image } => {
                    for id in ids {
                        let Some(mut s) = tx.get::<SnapshotRec>(id)? else {
                            continue;
                        };
                        if s.state != SnapshotState::Pending {
                            continue;
                        }
                        s.state = snap_state;
                        s.has_data = outcome == Outcome::Done;
                        if outcome != Outcome::Done {
                            s.state_message = Some(match outcome {
                                Outcome::KeyFailed => KEY_NOT_ACCESSIBLE.to_owned(),
                                _ => "The snapshot could not be created".to_owned(),
                            });
                        }
                        keep.push(s.id.clone());
                        tx.put(&s)?;
                    }
                    if let Some(img) = image {
                        if let Some(mut i) = tx.get::<ImageRec>(img)? {
                            if i.state == ImageState::Pending {
                                i.state = image_state;
                                if outcome != Outcome::Done {
                                    let what = if job.operation == "CreateImage" {
                                        "Create"
                                    } else {
                                        "Copy"
                                    };
                                    i.state_reason = Some((
                                        "Client.InternalError".to_owned(),
                                        format!("{what} image failed with an internal error"),
                                    ));
                                }
                                tx.put(&i)?;
                            }
                        }
                    }
                }
                Target::Instance { id, volumes } => {
                    let done = outcome == Outcome::Done;
                    for vid in volumes {
                        let Some(mut v) = tx.get::<VolumeRec>(vid)? else {
                            continue;
                        };
                        if v.state != VolumeState::Creating {
                            continue;
                        }
                        if done {
                            v.state = VolumeState::InUse;
                            keep.push(v.id.clone());
                            tx.put(&v)?;
                        } else {
                            tx.delete::<VolumeRec>(&v.id)?;
                            crate::ec2::tags::remove(tx, &v.id)?;
                            crate::kms::retire_attachment_grants(tx, &v.region, &v.id)?;
                        }
                    }
                    if let Some(mut i) = tx.get::<InstanceRec>(id)? {
                        if i.state == InstanceState::Pending {
                            if done {
                                i.state = InstanceState::Running;
                            } else {
                                // SEMANTICS.md §13 rule 8: the launch fails, no volumes left.
                                i.state = InstanceState::Terminated;
                                i.state_reason = Some(match outcome {
                                    Outcome::KeyFailed => (
                                        crate::ec2::KMS_REASON.0.to_owned(),
                                        crate::ec2::KMS_REASON.1.to_owned(),
                                    ),
                                    _ => (
                                        "Server.InternalError".to_owned(),
                                        "Server.InternalError: Internal error on launch".to_owned(),
                                    ),
                                });
                            }
                            tx.put(&i)?;
                        }
                    }
                }
                // Ended by `Core::finish_import` instead.
                Target::Import { .. } => {}
                Target::Volume { id } => {
                    if let Some(mut v) = tx.get::<VolumeRec>(id)? {
                        if v.state == VolumeState::Creating {
                            if outcome == Outcome::Done {
                                v.state = VolumeState::Available;
                                keep.push(v.id.clone());
                                tx.put(&v)?;
                            } else {
                                // SEMANTICS.md §5 rule 7: the volume fails and disappears.
                                tx.delete::<VolumeRec>(&v.id)?;
                                crate::ec2::tags::remove(tx, &v.id)?;
                            }
                        }
                    }
                }
            }
            if outcome == Outcome::Done {
                for mut t in temps {
                    if keep.iter().any(|k| t.header().owner == *k) {
                        let id = t.header().owner.clone();
                        let record = match tx.get::<SnapshotRec>(&id)? {
                            Some(s) => s.blob_record(false),
                            None => tx
                                .get::<VolumeRec>(&id)?
                                .and_then(|v| v.blob_record(self.account())),
                        };
                        t.set_record(record)?;
                        t.persist_in(tx)?;
                    }
                }
            }
            tx.delete::<JobRec>(&job.id)?;
            Ok(())
        })
    }
}

/// Progress of a running job, saved in its row at most a few times a second.
struct JobProgress<'a> {
    core: &'a Core<'a>,
    job_id: String,
    done: AtomicU64,
    saved: Mutex<Instant>,
    outer: &'a dyn Progress,
}

impl Progress for JobProgress<'_> {
    fn begin(&self, label: &str, total: u64) {
        self.outer.begin(label, total);
    }

    fn advance(&self, bytes: u64) {
        self.outer.advance(bytes);
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let Ok(mut saved) = self.saved.try_lock() else {
            return;
        };
        if saved.elapsed() < Duration::from_millis(250) {
            return;
        }
        *saved = Instant::now();
        // Progress is advisory: a busy catalog only delays the next update.
        let _ = self.core.cat.write(|tx| {
            if let Some(mut j) = tx.get::<JobRec>(&self.job_id)? {
                j.done_bytes = done;
                tx.put(&j)?;
            }
            Ok(())
        });
    }

    fn end(&self) {
        self.outer.end();
    }
}

impl Engine {
    /// Claims and runs job `id` if it is queued or its worker died; returns whether it ran.
    ///
    /// # Errors
    /// Catalog errors. A job's own failure is not an error: it ends in failed states.
    pub(crate) fn run_job(&self, id: &str, p: &dyn Progress) -> Result<bool> {
        let me = std::process::id();
        let job = self.catalog().write(|tx| {
            let Some(mut job) = tx.get::<JobRec>(id)? else {
                return Ok(None);
            };
            let owner_alive = match job.state {
                JobState::Running { pid } => pid == me || crate::blob::pid_alive(pid),
                JobState::Queued => false,
            };
            let Some(next) = job.state.next(Event::Claim {
                pid: me,
                owner_alive,
            }) else {
                return Ok(None);
            };
            job.state = next;
            job.done_bytes = 0;
            tx.put(&job)?;
            Ok(Some(job))
        })?;
        let Some(job) = job else { return Ok(false) };
        let ctx = Context::new(&job.account, &job.region, &job.principal)?;
        let core = self.core(&ctx)?;
        let progress = JobProgress {
            core: &core,
            job_id: job.id.clone(),
            done: AtomicU64::new(0),
            saved: Mutex::new(Instant::now()),
            outer: p,
        };
        if let Target::Import { task, source } = &job.target {
            let made = match job.tasks.first() {
                Some(t) => core.import_blob(
                    &t.new_id,
                    t.sector_size,
                    t.encryption.as_ref(),
                    source,
                    &progress,
                ),
                None => Err(Error::new(
                    Code::INTERNAL_ERROR,
                    "an import job has no task",
                )),
            };
            if let Err(e) = &made {
                if e.kind() == crate::error::ErrorKind::Io {
                    log_job_failure(&job, e);
                }
            }
            core.finish_import(task, made, Some(&job.id))?;
            return Ok(true);
        }
        let ran = core.run_tasks(&job.tasks, &progress);
        // The copies are made (or failed): a mount frozen for the capture writes again. They
        // are one point in time only if the freeze held until now.
        let held = self.held_freezes().remove(&job.id);
        let ran = match (ran, held.map(crate::mountctl::Frozen::release)) {
            (Ok(_), Some(Err(lapsed))) => Err(lapsed),
            (ran, _) => ran,
        };
        let (temps, outcome) = match ran {
            Ok(t) => (t, Outcome::Done),
            Err(e) if is_key_problem(&e) => (Vec::new(), Outcome::KeyFailed),
            Err(e) => {
                log_job_failure(&job, &e);
                (Vec::new(), Outcome::Failed)
            }
        };
        core.finish_job(&job, temps, outcome)?;
        Ok(true)
    }

    /// Jobs a worker may run now: queued ones, and running ones whose process died.
    pub(crate) fn runnable_jobs(&self) -> Result<Vec<String>> {
        let me = std::process::id();
        let jobs = self.catalog().read(|tx| tx.list_all::<JobRec>())?;
        Ok(jobs
            .into_iter()
            .filter(|j| match j.state {
                JobState::Queued => true,
                JobState::Running { pid } => pid != me && !crate::blob::pid_alive(pid),
            })
            .map(|j| j.id)
            .collect())
    }

    /// Starts `n` worker threads that run this home's jobs until the returned [`Workers`] is
    /// stopped: jobs admitted through this engine at once, others (another process's, or ones
    /// whose worker died) within a second.
    pub fn start_workers(self: &Arc<Self>, n: usize) -> Workers {
        let shared = Arc::new(WorkerShared {
            queue: Mutex::new(WorkQueue::default()),
            wake: Condvar::new(),
            engine: Arc::downgrade(self),
        });
        *self.workers.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&shared));
        let threads = (0..n.max(1))
            .map(|_| {
                let engine = Arc::clone(self);
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || engine.work(&shared))
            })
            .collect();
        Workers { shared, threads }
    }

    fn work(&self, shared: &WorkerShared) {
        loop {
            let next = {
                let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if q.stop {
                        return;
                    }
                    if let Some(id) = q.ids.pop() {
                        break Some(id);
                    }
                    let (guard, timeout) = shared
                        .wake
                        .wait_timeout(q, Duration::from_secs(1))
                        .unwrap_or_else(|p| p.into_inner());
                    q = guard;
                    if timeout.timed_out() {
                        break None;
                    }
                }
            };
            let ids = match next {
                Some(id) => vec![id],
                // Poll for jobs of other processes and of dead workers.
                None => self.runnable_jobs().unwrap_or_default(),
            };
            for id in ids {
                if let Err(e) = self.run_job(&id, &crate::progress::NoProgress) {
                    log_job_error(&id, &e);
                }
            }
        }
    }

    /// The freezes held for capture jobs of this process, by job id.
    fn held_freezes(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, crate::mountctl::Frozen>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands admitted job `q` to this engine's workers, if it has any: a capture starts at once
    /// on its own thread (it may hold a mount's writes), others queue for the pool.
    /// Without workers in this process the freeze is let go at once: the job runs in the next
    /// process that has workers, on the volume as it is then.
    pub(crate) fn notify_job(&self, q: Queued) {
        let id = q.id.as_str();
        let w = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shared) = w.as_ref() {
            if let Some(f) = q.frozen {
                self.held_freezes().insert(q.id.clone(), f);
            }
            if q.urgent {
                if let Some(engine) = shared.engine.upgrade() {
                    let id = id.to_owned();
                    std::thread::spawn(move || {
                        if let Err(e) = engine.run_job(&id, &crate::progress::NoProgress) {
                            log_job_error(&id, &e);
                        }
                    });
                    return;
                }
            }
            shared
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .ids
                .push(id.to_owned());
            shared.wake.notify_one();
        }
    }
}

fn log_job_failure(job: &JobRec, e: &Error) {
    eprintln!(
        "blockseal: job {} ({}) failed: {} {}",
        job.id,
        job.operation,
        e.code(),
        e.message()
    );
}

fn log_job_error(id: &str, e: &Error) {
    eprintln!(
        "blockseal: job {id} could not be run: {} {}",
        e.code(),
        e.message()
    );
}

/// How long a call waits for a queued capture to be claimed before it gives up.
const CAPTURE_START: Duration = Duration::from_secs(10);

/// A job admitted by a call, handed to the workers when the call returns.
pub(crate) struct Queued {
    pub id: String,
    /// The mount freeze the job holds until its copies are made.
    pub frozen: Option<crate::mountctl::Frozen>,
    /// Run at once on its own thread rather than queued for the pool.
    pub urgent: bool,
}

#[derive(Default)]
struct WorkQueue {
    ids: Vec<String>,
    stop: bool,
}

pub(crate) struct WorkerShared {
    queue: Mutex<WorkQueue>,
    wake: Condvar,
    /// The engine, for threads started for capture jobs.
    engine: std::sync::Weak<Engine>,
}

/// Running job workers; [`Workers::stop`] lets each finish its current job and ends them. Jobs
/// still queued stay in the catalog for the next start.
pub struct Workers {
    shared: Arc<WorkerShared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Workers({})", self.threads.len())
    }
}

impl Workers {
    /// Stops the workers after their current jobs.
    pub fn stop(self) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stop = true;
        self.shared.wake.notify_all();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_follow_the_state_machine() {
        let claim = |pid, owner_alive| Event::Claim { pid, owner_alive };
        assert_eq!(
            JobState::Queued.next(claim(7, false)),
            Some(JobState::Running { pid: 7 })
        );
        let running = JobState::Running { pid: 7 };
        assert_eq!(running.next(claim(8, true)), None, "a live owner keeps it");
        assert_eq!(
            running.next(claim(8, false)),
            Some(JobState::Running { pid: 8 }),
            "a dead owner's job is taken over"
        );
        assert_eq!(
            running.next(claim(7, true)),
            None,
            "never claimed twice by one process"
        );
    }

    #[test]
    fn outcomes_give_aws_states() {
        assert_eq!(
            final_states(Outcome::Done),
            (SnapshotState::Completed, ImageState::Available)
        );
        assert_eq!(
            final_states(Outcome::KeyFailed),
            (SnapshotState::Error, ImageState::Failed)
        );
        assert_eq!(
            final_states(Outcome::Failed),
            (SnapshotState::Error, ImageState::Failed)
        );
    }

    #[test]
    fn progress_never_shows_done_before_the_commit() {
        let mut j = JobRec {
            id: "job-1".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            principal: "admin".into(),
            operation: "CopyImage".into(),
            tasks: vec![],
            target: Target::Volume { id: "vol-1".into() },
            state: JobState::Queued,
            total_bytes: 0,
            done_bytes: 0,
        };
        assert_eq!(j.percent(), "0%");
        j.total_bytes = 200;
        j.done_bytes = 84;
        assert_eq!(j.percent(), "42%");
        j.done_bytes = 200;
        assert_eq!(j.percent(), "99%");
        assert!(j.makes("vol-1") && !j.makes("vol-2"));
    }
}

#[cfg(test)]
mod engine_tests {
    use super::*;
    use crate::progress::NoProgress;
    use serde_json::{json, Value};

    struct Fixture {
        _dir: tempfile::TempDir,
        scratch: tempfile::TempDir,
        engine: Arc<Engine>,
        ctx: Context,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let engine = Arc::new(Engine::open(dir.path()).unwrap());
            let ctx = engine.context("us-east-1", "admin").unwrap();
            Fixture {
                _dir: dir,
                scratch: tempfile::tempdir().unwrap(),
                engine,
                ctx,
            }
        }

        fn call(&self, ctx: &Context, op: &str, req: Value) -> Value {
            self.engine.invoke(ctx, op, req, &NoProgress).unwrap()
        }

        fn key(&self) -> String {
            self.call(&self.ctx, "CreateKey", json!({}))["KeyMetadata"]["Arn"]
                .as_str()
                .unwrap()
                .to_owned()
        }

        /// An image of `data`, encrypted under `key`.
        fn image(&self, data: &[u8], key: &str) -> String {
            let f = self.scratch.path().join("disk.raw");
            std::fs::write(&f, data).unwrap();
            let imp = json!({"File": f, "Encrypted": true, "KmsKeyId": key});
            let snap = self.call(&self.ctx, "ImportSnapshot", imp)["SnapshotTaskDetail"]
                ["SnapshotId"]
                .as_str()
                .unwrap()
                .to_owned();
            let reg = json!({"Name": "src", "RootDeviceName": "/dev/xvda",
                             "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap}}]});
            self.call(&self.ctx, "RegisterImage", reg)["ImageId"]
                .as_str()
                .unwrap()
                .to_owned()
        }

        fn image_view(&self, id: &str) -> Value {
            self.call(&self.ctx, "DescribeImages", json!({"ImageIds": [id]}))["Images"][0].clone()
        }

        fn root_snapshot(&self, image: &str) -> Value {
            let sid = self.image_view(image)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"].clone();
            self.call(
                &self.ctx,
                "DescribeSnapshots",
                json!({"SnapshotIds": [sid]}),
            )["Snapshots"][0]
                .clone()
        }

        /// Marks job `id` as run by a process that has since exited.
        fn owned_by_a_dead_process(&self, id: &str) {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let dead = child.id();
            child.wait().unwrap();
            self.engine
                .catalog()
                .write(|tx| {
                    let mut j = tx.get::<JobRec>(id)?.unwrap();
                    j.state = JobState::Running { pid: dead };
                    tx.put(&j)
                })
                .unwrap();
        }

        fn export(&self, snap: &Value, len: usize) -> Vec<u8> {
            let out = self.scratch.path().join("out.raw");
            let req = json!({"SnapshotId": snap["SnapshotId"], "File": out});
            self.call(&self.ctx, "ExportSnapshot", req);
            let mut b = std::fs::read(&out).unwrap();
            b.truncate(len);
            b
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    #[test]
    fn an_asynchronous_copy_is_pending_until_its_job_runs() {
        let f = Fixture::new();
        let (k1, k2) = (f.key(), f.key());
        let bytes = data(3 << 20);
        let src = f.image(&bytes, &k1);
        let a = f.ctx.clone().asynchronous();
        let req = json!({"SourceImageId": src, "SourceRegion": "us-east-1", "Name": "copy",
                         "Encrypted": true, "KmsKeyId": k2});
        let copy = f.call(&a, "CopyImage", req)["ImageId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(f.image_view(&copy)["State"], "pending");
        let snap = f.root_snapshot(&copy);
        assert_eq!(snap["State"], "pending");
        assert_eq!(snap["Progress"], "0%");
        assert_eq!(snap["KmsKeyId"], json!(k2), "the key is known at admission");
        // A pending snapshot is not usable, and this one is held by its pending image.
        let del = json!({"SnapshotId": snap["SnapshotId"]});
        let e = f
            .engine
            .invoke(&f.ctx, "DeleteSnapshot", del, &NoProgress)
            .unwrap_err();
        assert_eq!(e.code(), Code::INVALID_SNAPSHOT_IN_USE);
        let vol = json!({"AvailabilityZone": "us-east-1a", "SnapshotId": snap["SnapshotId"]});
        let e = f
            .engine
            .invoke(&f.ctx, "CreateVolume", vol, &NoProgress)
            .unwrap_err();
        assert_eq!(e.code(), Code::INCORRECT_STATE);

        let jobs = f.engine.runnable_jobs().unwrap();
        assert_eq!(jobs.len(), 1);
        assert!(f.engine.run_job(&jobs[0], &NoProgress).unwrap());
        assert!(f.engine.runnable_jobs().unwrap().is_empty());
        assert_eq!(f.image_view(&copy)["State"], "available");
        let snap = f.root_snapshot(&copy);
        assert_eq!(
            (snap["State"].as_str(), snap["Progress"].as_str()),
            (Some("completed"), Some("100%"))
        );
        assert_eq!(f.export(&snap, bytes.len()), bytes);
    }

    #[test]
    fn a_key_disabled_before_the_job_runs_fails_the_image() {
        let f = Fixture::new();
        let (k1, k2) = (f.key(), f.key());
        let src = f.image(&data(1 << 20), &k1);
        let a = f.ctx.clone().asynchronous();
        let req = json!({"SourceImageId": src, "SourceRegion": "us-east-1", "Name": "copy",
                         "Encrypted": true, "KmsKeyId": k2});
        let copy = f.call(&a, "CopyImage", req)["ImageId"]
            .as_str()
            .unwrap()
            .to_owned();
        f.call(&f.ctx, "DisableKey", json!({"KeyId": k2}));
        for id in f.engine.runnable_jobs().unwrap() {
            f.engine.run_job(&id, &NoProgress).unwrap();
        }
        let img = f.image_view(&copy);
        assert_eq!(img["State"], "failed");
        assert_eq!(img["StateReason"]["Code"], "Client.InternalError");
        let snap = f.root_snapshot(&copy);
        assert_eq!(snap["State"], "error");
        assert_eq!(snap["StateMessage"], KEY_NOT_ACCESSIBLE);
        // What AWS shows of a failed encrypted copy: encrypted, under the requested key.
        assert_eq!(snap["Encrypted"], true);
        assert_eq!(snap["KmsKeyId"], k2);
        assert_eq!(img["BlockDeviceMappings"][0]["Ebs"]["Encrypted"], true);
    }

    #[test]
    fn a_copy_refused_by_its_key_at_admission_still_shows_the_key() {
        let f = Fixture::new();
        let (k1, k2) = (f.key(), f.key());
        let src = f.image(&data(1 << 16), &k1);
        let src_snap = f.root_snapshot(&src)["SnapshotId"].clone();
        f.call(&f.ctx, "DisableKey", json!({"KeyId": k2}));
        let a = f.ctx.clone().asynchronous();
        let k2_id = k2.rsplit('/').next().unwrap().to_owned();
        // CopySnapshot through the asynchronous context, naming the disabled key by id.
        let req = json!({"SourceSnapshotId": src_snap, "SourceRegion": "us-east-1",
                         "Encrypted": true, "KmsKeyId": k2_id});
        let id = f.call(&a, "CopySnapshot", req)["SnapshotId"].clone();
        let snap = f.call(&f.ctx, "DescribeSnapshots", json!({"SnapshotIds": [id]}))["Snapshots"]
            [0]
        .clone();
        assert_eq!(snap["State"], "error");
        assert_eq!(snap["StateMessage"], KEY_NOT_ACCESSIBLE);
        assert_eq!(snap["Encrypted"], true);
        assert_eq!(snap["KmsKeyId"], k2, "the key ARN, though an id was given");
        assert!(snap.get("DataEncryptionKeyId").is_none());
        let filtered = f.call(
            &f.ctx,
            "DescribeSnapshots",
            json!({"Filters": [{"Name": "kms-key-id", "Values": [k2]}]}),
        );
        assert_eq!(filtered["Snapshots"][0]["SnapshotId"], id);
        // CopyImage, waiting: the image fails and its snapshot shows the key too.
        let req = json!({"SourceImageId": src, "SourceRegion": "us-east-1", "Name": "copy-2",
                         "Encrypted": true, "KmsKeyId": k2});
        let copy = f.call(&f.ctx, "CopyImage", req)["ImageId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(f.image_view(&copy)["State"], "failed");
        let snap = f.root_snapshot(&copy);
        assert_eq!(
            (&snap["State"], &snap["Encrypted"], &snap["KmsKeyId"]),
            (&json!("error"), &json!(true), &json!(k2))
        );
    }

    #[test]
    fn snapshots_made_before_a_rotation_still_copy_and_read_back() {
        let f = Fixture::new();
        let (k1, k2) = (f.key(), f.key());
        let bytes = data(1 << 20);
        let src = f.image(&bytes, &k1);
        f.call(&f.ctx, "RotateKeyOnDemand", json!({"KeyId": k1}));
        assert_eq!(f.export(&f.root_snapshot(&src), bytes.len()), bytes);
        for (name, key) in [("same", &k1), ("other", &k2)] {
            let req = json!({"SourceImageId": src, "SourceRegion": "us-east-1", "Name": name,
                             "Encrypted": true, "KmsKeyId": key});
            let copy = f.call(&f.ctx, "CopyImage", req)["ImageId"]
                .as_str()
                .unwrap()
                .to_owned();
            let snap = f.root_snapshot(&copy);
            assert_eq!(snap["State"], "completed", "{name}");
            assert_eq!(&snap["KmsKeyId"], key);
            assert_eq!(f.export(&snap, bytes.len()), bytes, "{name}");
        }
    }

    #[test]
    fn an_asynchronous_launch_runs_once_its_volumes_are_made() {
        let f = Fixture::new();
        let k1 = f.key();
        let bytes = data(1 << 20);
        let src = f.image(&bytes, &k1);
        let a = f.ctx.clone().asynchronous();
        let r = f.call(
            &a,
            "RunInstances",
            json!({"ImageId": src, "MinCount": 1, "MaxCount": 1}),
        );
        let id = r["Instances"][0]["InstanceId"].clone();
        let desc = |f: &Fixture| {
            f.call(&f.ctx, "DescribeInstances", json!({"InstanceIds": [id]}))["Reservations"][0]
                ["Instances"][0]
                .clone()
        };
        assert_eq!(desc(&f)["State"]["Name"], "pending");
        let vols = f.call(&f.ctx, "DescribeVolumes", json!({}))["Volumes"].clone();
        assert_eq!(vols[0]["State"], "creating");
        // Not stoppable or imageable while its volumes are being made.
        let e = f
            .engine
            .invoke(
                &f.ctx,
                "TerminateInstances",
                json!({"InstanceIds": [id]}),
                &NoProgress,
            )
            .unwrap_err();
        assert_eq!(e.code(), Code::INCORRECT_INSTANCE_STATE);
        for j in f.engine.runnable_jobs().unwrap() {
            f.engine.run_job(&j, &NoProgress).unwrap();
        }
        assert_eq!(desc(&f)["State"]["Name"], "running");
        let vols = f.call(&f.ctx, "DescribeVolumes", json!({}))["Volumes"].clone();
        assert_eq!(vols[0]["State"], "in-use");
        assert_eq!(vols[0]["KmsKeyId"], json!(k1));
        // Its root volume holds the image's bytes: image it and read them back.
        let img = f.call(
            &f.ctx,
            "CreateImage",
            json!({"InstanceId": id, "Name": "again"}),
        );
        let snap = f.root_snapshot(img["ImageId"].as_str().unwrap());
        assert_eq!(f.export(&snap, bytes.len()), bytes);
        f.call(&f.ctx, "TerminateInstances", json!({"InstanceIds": [id]}));
    }

    #[test]
    fn asynchronous_snapshots_and_images_capture_the_volume_at_their_call() {
        let f = Fixture::new();
        let k1 = f.key();
        let bytes = data(2 << 20);
        let src = f.image(&bytes, &k1);
        let run = f.call(
            &f.ctx,
            "RunInstances",
            json!({"ImageId": src, "MinCount": 1, "MaxCount": 1}),
        );
        let inst = run["Instances"][0]["InstanceId"].clone();
        let root = run["Instances"][0]["BlockDeviceMappings"][0]["Ebs"]["VolumeId"].clone();
        let a = f.ctx.clone().asynchronous();
        let snap = f.call(&a, "CreateSnapshot", json!({"VolumeId": root}));
        assert_eq!(snap["State"], "pending");
        assert_eq!(snap["KmsKeyId"], json!(k1));
        let img = f.call(
            &a,
            "CreateImage",
            json!({"InstanceId": inst, "Name": "later"}),
        );
        let img = img["ImageId"].as_str().unwrap().to_owned();
        assert_eq!(f.image_view(&img)["State"], "pending");
        let img_snap = f.root_snapshot(&img);
        assert_eq!(img_snap["State"], "pending");
        assert_eq!(img_snap["Progress"], "0%");
        // The name is taken at admission, and a pending snapshot cannot be deleted.
        let again = json!({"InstanceId": inst, "Name": "later"});
        let e = f
            .engine
            .invoke(&a, "CreateImage", again, &NoProgress)
            .unwrap_err();
        assert_eq!(e.code(), Code::INVALID_AMI_NAME_DUPLICATE);
        let e = f
            .engine
            .invoke(
                &f.ctx,
                "DeleteSnapshot",
                json!({"SnapshotId": snap["SnapshotId"]}),
                &NoProgress,
            )
            .unwrap_err();
        assert_eq!(e.code(), Code::INCORRECT_STATE);
        let jobs = f.engine.runnable_jobs().unwrap();
        assert_eq!(jobs.len(), 2);
        for j in jobs {
            assert!(f.engine.run_job(&j, &NoProgress).unwrap());
        }
        let desc = |id: &Value| {
            f.call(&f.ctx, "DescribeSnapshots", json!({"SnapshotIds": [id]}))["Snapshots"][0]
                .clone()
        };
        let snap = desc(&snap["SnapshotId"]);
        assert_eq!(
            (snap["State"].as_str(), snap["Progress"].as_str()),
            (Some("completed"), Some("100%"))
        );
        assert_eq!(f.export(&snap, bytes.len()), bytes);
        assert_eq!(f.image_view(&img)["State"], "available");
        let img_snap = f.root_snapshot(&img);
        assert_eq!(img_snap["State"], "completed");
        assert_eq!(img_snap["KmsKeyId"], json!(k1));
        assert_eq!(f.export(&img_snap, bytes.len()), bytes);
    }

    #[test]
    fn a_capture_not_run_holds_back_calls_that_would_change_its_volume() {
        let f = Fixture::new();
        let k1 = f.key();
        let src = f.image(&data(1 << 20), &k1);
        let snap = f.root_snapshot(&src)["SnapshotId"].clone();
        let vol = f.call(
            &f.ctx,
            "CreateVolume",
            json!({"AvailabilityZone": "us-east-1a", "SnapshotId": snap}),
        )["VolumeId"]
            .clone();
        let a = f.ctx.clone().asynchronous();
        f.call(&a, "CreateSnapshot", json!({"VolumeId": vol}));
        // Pretend the process running the capture died.
        let ids = f.engine.runnable_jobs().unwrap();
        f.owned_by_a_dead_process(&ids[0]);
        let attach = json!({"VolumeId": vol, "InstanceId": "i-0123456789abcdef0",
                            "Device": "/dev/sdf"});
        for (op, req) in [
            ("AttachVolume", attach),
            ("DeleteVolume", json!({"VolumeId": vol})),
        ] {
            let e = f.engine.invoke(&f.ctx, op, req, &NoProgress).unwrap_err();
            assert_eq!(e.code(), Code::INCORRECT_STATE, "{op}");
        }
        // Once it runs, the volume can be deleted.
        assert!(f.engine.run_job(&ids[0], &NoProgress).unwrap());
        f.call(&f.ctx, "DeleteVolume", json!({"VolumeId": vol}));
    }

    #[test]
    fn workers_run_new_jobs_and_take_over_a_dead_workers() {
        let f = Fixture::new();
        let k1 = f.key();
        let src = f.image(&data(1 << 20), &k1);
        let snap = f.root_snapshot(&src)["SnapshotId"].clone();
        let a = f.ctx.clone().asynchronous();
        let vol = f.call(
            &a,
            "CreateVolume",
            json!({"AvailabilityZone": "us-east-1a", "SnapshotId": snap}),
        );
        assert_eq!(vol["State"], "creating");
        let vid = vol["VolumeId"].clone();
        let e = f
            .engine
            .invoke(
                &f.ctx,
                "DeleteVolume",
                json!({"VolumeId": vid}),
                &NoProgress,
            )
            .unwrap_err();
        assert_eq!(e.code(), Code::INCORRECT_STATE);
        // Pretend a process that has since died was running the job.
        let ids = f.engine.runnable_jobs().unwrap();
        f.owned_by_a_dead_process(&ids[0]);
        assert_eq!(
            f.engine.runnable_jobs().unwrap(),
            ids,
            "a dead worker's job is runnable"
        );
        let workers = f.engine.start_workers(1);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = f.call(&f.ctx, "DescribeVolumes", json!({"VolumeIds": [vid]}));
            if v["Volumes"][0]["State"] == "available" {
                assert_eq!(v["Volumes"][0]["KmsKeyId"], json!(k1));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the volume never became available: {v}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        workers.stop();
    }
}
