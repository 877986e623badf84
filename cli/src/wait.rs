//! `blockseal ec2 wait …`: the AWS CLI waiters. Each polls its Describe call until every
//! resource is in the success state, and gives up on a failure state, an unexpected error or
//! time running out, with the AWS CLI's messages (`Waiter ImageAvailable failed: …`).
//!
//! The verdict on one response is pure ([`evaluate`]); [`poll`] drives it with any describe
//! function, clock-free apart from the sleep between attempts.

use crate::args::WaitCommand;
use serde_json::Value;
use std::time::Duration;

/// One waiter, as the AWS SDKs define it.
#[derive(Debug, PartialEq, Eq)]
pub struct Waiter {
    /// The waiter's name, e.g. `ImageAvailable`.
    pub name: &'static str,
    /// The expression whose values are tested, e.g. `Images[].State`.
    pub path: &'static str,
    /// Success when every value equals this (and there is at least one).
    pub success: &'static str,
    /// Failure when any value equals one of these.
    pub failures: &'static [&'static str],
    /// Error codes that mean "not yet" rather than failure.
    pub retry_errors: &'static [&'static str],
}

pub const IMAGE_AVAILABLE: Waiter = Waiter {
    name: "ImageAvailable",
    path: "Images[].State",
    success: "available",
    failures: &["failed"],
    retry_errors: &[],
};

pub const SNAPSHOT_COMPLETED: Waiter = Waiter {
    name: "SnapshotCompleted",
    path: "Snapshots[].State",
    success: "completed",
    failures: &["error"],
    retry_errors: &[],
};

pub const VOLUME_AVAILABLE: Waiter = Waiter {
    name: "VolumeAvailable",
    path: "Volumes[].State",
    success: "available",
    failures: &["deleted"],
    retry_errors: &[],
};

pub const INSTANCE_RUNNING: Waiter = Waiter {
    name: "InstanceRunning",
    path: "Reservations[].Instances[].State.Name",
    success: "running",
    failures: &["shutting-down", "terminated", "stopping"],
    retry_errors: &["InvalidInstanceID.NotFound"],
};

/// The waiter of a `wait` subcommand.
pub fn waiter_of(cmd: &WaitCommand) -> &'static Waiter {
    match cmd {
        WaitCommand::ImageAvailable(_) => &IMAGE_AVAILABLE,
        WaitCommand::SnapshotCompleted(_) => &SNAPSHOT_COMPLETED,
        WaitCommand::VolumeAvailable(_) => &VOLUME_AVAILABLE,
        WaitCommand::InstanceRunning(_) => &INSTANCE_RUNNING,
    }
}

/// 0.2 s between attempts, 10 minutes in all.
pub const DELAY: Duration = Duration::from_millis(200);
pub const MAX_ATTEMPTS: u32 = 3000;

/// What one response means.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// A terminal failure, with the reason to print after `Waiter NAME failed: `.
    Failure(String),
    Retry,
}

/// Values of `path` in `v`: `A[]` flattens the list under `A`, `.B` takes member `B`.
fn project<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current = vec![v];
    for seg in path.split('.') {
        let (name, flatten) = match seg.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (seg, false),
        };
        let mut next = Vec::new();
        for c in current {
            if let Some(x) = c.get(name) {
                if flatten {
                    if let Some(items) = x.as_array() {
                        next.extend(items.iter());
                    }
                } else {
                    next.push(x);
                }
            }
        }
        current = next;
    }
    current
}

/// The verdict on a successful Describe response.
pub fn evaluate(w: &Waiter, response: &Value) -> Verdict {
    let values = project(response, w.path);
    if !values.is_empty() && values.iter().all(|v| v.as_str() == Some(w.success)) {
        return Verdict::Success;
    }
    for f in w.failures {
        if values.iter().any(|v| v.as_str() == Some(f)) {
            return Verdict::Failure(format!(
                "Waiter encountered a terminal failure state: For expression \"{}\" we matched \
                 expected path: \"{f}\" at least once",
                w.path
            ));
        }
    }
    Verdict::Retry
}

/// Polls `describe` until `w` succeeds (Ok) or fails (Err with the full message to print).
/// `describe` returns the response or the error's (code, message).
pub fn poll(
    w: &Waiter,
    mut describe: impl FnMut() -> Result<Value, (String, String)>,
    max_attempts: u32,
    delay: Duration,
) -> Result<(), String> {
    for attempt in 1..=max_attempts {
        match describe() {
            Ok(resp) => match evaluate(w, &resp) {
                Verdict::Success => return Ok(()),
                Verdict::Failure(reason) => {
                    return Err(format!("Waiter {} failed: {reason}", w.name))
                }
                Verdict::Retry => {}
            },
            Err((code, _)) if w.retry_errors.contains(&code.as_str()) => {}
            Err((code, message)) => {
                return Err(format!(
                    "Waiter {} failed: An error occurred ({code}): {message}",
                    w.name
                ))
            }
        }
        if attempt < max_attempts {
            std::thread::sleep(delay);
        }
    }
    Err(format!("Waiter {} failed: Max attempts exceeded", w.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn images(states: &[&str]) -> Value {
        json!({"Images": states.iter().map(|s| json!({"State": s})).collect::<Vec<_>>()})
    }

    #[test]
    fn all_must_succeed_and_one_failure_is_enough() {
        assert_eq!(
            evaluate(&IMAGE_AVAILABLE, &images(&["available", "available"])),
            Verdict::Success
        );
        assert_eq!(
            evaluate(&IMAGE_AVAILABLE, &images(&["available", "pending"])),
            Verdict::Retry
        );
        assert_eq!(
            evaluate(&IMAGE_AVAILABLE, &images(&[])),
            Verdict::Retry,
            "nothing yet"
        );
        let Verdict::Failure(r) = evaluate(&IMAGE_AVAILABLE, &images(&["pending", "failed"]))
        else {
            panic!()
        };
        assert_eq!(
            r,
            "Waiter encountered a terminal failure state: For expression \"Images[].State\" we \
             matched expected path: \"failed\" at least once"
        );
    }

    #[test]
    fn instances_are_found_through_reservations() {
        let r = |a: &str, b: &str| {
            json!({"Reservations": [
                {"Instances": [{"State": {"Code": 16, "Name": a}}]},
                {"Instances": [{"State": {"Code": 0, "Name": b}}]}
            ]})
        };
        assert_eq!(
            evaluate(&INSTANCE_RUNNING, &r("running", "running")),
            Verdict::Success
        );
        assert_eq!(
            evaluate(&INSTANCE_RUNNING, &r("running", "pending")),
            Verdict::Retry
        );
        assert!(matches!(
            evaluate(&INSTANCE_RUNNING, &r("running", "terminated")),
            Verdict::Failure(_)
        ));
    }

    #[test]
    fn snapshots_and_volumes() {
        let s = json!({"Snapshots": [{"State": "completed"}]});
        assert_eq!(evaluate(&SNAPSHOT_COMPLETED, &s), Verdict::Success);
        let e = json!({"Snapshots": [{"State": "error"}]});
        assert!(matches!(
            evaluate(&SNAPSHOT_COMPLETED, &e),
            Verdict::Failure(_)
        ));
        let v = json!({"Volumes": [{"State": "creating"}]});
        assert_eq!(evaluate(&VOLUME_AVAILABLE, &v), Verdict::Retry);
    }

    #[test]
    fn polling_retries_then_succeeds() {
        let mut calls = 0;
        let r = poll(
            &IMAGE_AVAILABLE,
            || {
                calls += 1;
                Ok(images(&[if calls < 3 { "pending" } else { "available" }]))
            },
            10,
            Duration::ZERO,
        );
        assert_eq!(r, Ok(()));
        assert_eq!(calls, 3);
    }

    #[test]
    fn polling_gives_up() {
        let r = poll(
            &IMAGE_AVAILABLE,
            || Ok(images(&["pending"])),
            3,
            Duration::ZERO,
        );
        assert_eq!(
            r,
            Err("Waiter ImageAvailable failed: Max attempts exceeded".into())
        );
        let r = poll(
            &IMAGE_AVAILABLE,
            || Ok(images(&["failed"])),
            3,
            Duration::ZERO,
        );
        assert!(r.unwrap_err().starts_with(
            "Waiter ImageAvailable failed: Waiter encountered a terminal failure state: "
        ));
    }

    #[test]
    fn errors_fail_unless_they_mean_not_yet() {
        let r = poll(
            &VOLUME_AVAILABLE,
            || {
                Err((
                    "InvalidVolume.NotFound".into(),
                    "The volume 'vol-1' does not exist.".into(),
                ))
            },
            3,
            Duration::ZERO,
        );
        assert_eq!(
            r,
            Err(
                "Waiter VolumeAvailable failed: An error occurred (InvalidVolume.NotFound): The \
                 volume 'vol-1' does not exist."
                    .into()
            )
        );
        let mut calls = 0;
        let r = poll(
            &INSTANCE_RUNNING,
            || {
                calls += 1;
                if calls == 1 {
                    Err(("InvalidInstanceID.NotFound".into(), "not yet".into()))
                } else {
                    Ok(json!({"Reservations": [{"Instances": [{"State": {"Name": "running"}}]}]}))
                }
            },
            5,
            Duration::ZERO,
        );
        assert_eq!(r, Ok(()));
    }
}
