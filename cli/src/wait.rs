//! `blockseal ec2 wait …`: the AWS CLI waiters, from botocore's own model
//! (`server/model/ec2-waiters.json`, the ec2 `waiters-2.json` trimmed to the waiters whose
//! operation blockseal serves). Each waiter polls its operation and evaluates the model's
//! acceptors in order, as botocore's `waiter.py` does: `path`, `pathAll` and `pathAny` test a
//! JMESPath expression on a successful response, `status` the HTTP status the call would have
//! had, `error` the error code; the first acceptor that matches sets the state (`success`,
//! `failure` or `retry`). Messages and exit codes are the AWS CLI's (`Waiter X failed: …`).
//!
//! The verdict on one response is pure ([`Waiter::evaluate`]); [`poll`] drives it with any
//! call, clock-free apart from the sleep between attempts.

use crate::args::WaitCommand;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

/// botocore's ec2 waiters for the operations blockseal serves.
const MODEL: &str = include_str!("../../server/model/ec2-waiters.json");

/// One acceptor of a waiter (`waiters-2.json`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Acceptor {
    /// `path`, `pathAll`, `pathAny`, `status` or `error`.
    pub matcher: String,
    /// The JMESPath expression of the path matchers.
    #[serde(default)]
    pub argument: Option<String>,
    /// The value (or status code, or error code) that matches.
    pub expected: Value,
    /// `success`, `failure` or `retry`.
    pub state: String,
}

/// One waiter, as the AWS SDKs define it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Waiter {
    /// The operation it polls, e.g. `DescribeImages`.
    pub operation: String,
    /// Seconds between attempts on AWS.
    pub delay: u64,
    /// Attempts on AWS.
    pub max_attempts: u32,
    pub acceptors: Vec<Acceptor>,
    /// The waiter's name, e.g. `ImageAvailable` (the model's key).
    #[serde(skip)]
    pub name: String,
}

#[derive(Deserialize)]
struct Model {
    waiters: BTreeMap<String, Waiter>,
}

/// Every waiter of the model, by name.
pub fn waiters() -> &'static BTreeMap<String, Waiter> {
    static W: OnceLock<BTreeMap<String, Waiter>> = OnceLock::new();
    W.get_or_init(|| {
        let m: Model = serde_json::from_str(MODEL).expect("the embedded waiter model parses");
        m.waiters
            .into_iter()
            .map(|(name, mut w)| {
                w.name.clone_from(&name);
                (name, w)
            })
            .collect()
    })
}

/// The waiter named `name` (e.g. `InstanceStopped`).
///
/// # Panics
/// If the model has no such waiter (the `wait` subcommands name only the model's).
pub fn waiter(name: &str) -> &'static Waiter {
    waiters()
        .get(name)
        .unwrap_or_else(|| panic!("the waiter model has {name}"))
}

/// The waiter of a `wait` subcommand: its name in PascalCase.
pub fn waiter_of(cmd: &WaitCommand) -> &'static Waiter {
    waiter(match cmd {
        WaitCommand::ImageAvailable(_) => "ImageAvailable",
        WaitCommand::ImageExists(_) => "ImageExists",
        WaitCommand::SnapshotCompleted(_) => "SnapshotCompleted",
        WaitCommand::SnapshotImported(_) => "SnapshotImported",
        WaitCommand::VolumeAvailable(_) => "VolumeAvailable",
        WaitCommand::VolumeInUse(_) => "VolumeInUse",
        WaitCommand::VolumeDeleted(_) => "VolumeDeleted",
        WaitCommand::InstanceRunning(_) => "InstanceRunning",
        WaitCommand::InstanceExists(_) => "InstanceExists",
        WaitCommand::InstanceStopped(_) => "InstanceStopped",
        WaitCommand::InstanceTerminated(_) => "InstanceTerminated",
    })
}

/// The pause between attempts: 0.2 s (a local call answers at once), or
/// `BLOCKSEAL_WAITER_DELAY` seconds.
pub fn delay() -> Duration {
    std::env::var("BLOCKSEAL_WAITER_DELAY")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_millis(200), Duration::from_secs_f64)
}

/// Attempts: as many as fill AWS's time (`delay × maxAttempts`, 10 minutes for most) at
/// `delay`, or `BLOCKSEAL_WAITER_MAX_ATTEMPTS`.
pub fn max_attempts(w: &Waiter, delay: Duration) -> u32 {
    if let Some(n) = std::env::var("BLOCKSEAL_WAITER_MAX_ATTEMPTS")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|n| *n > 0)
    {
        return n;
    }
    let total = w.delay as f64 * f64::from(w.max_attempts);
    let each = delay.as_secs_f64().max(0.001);
    ((total / each).ceil() as u32).max(1)
}

/// What one response means.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// A terminal failure, with the reason to print after `Waiter NAME failed: `.
    Failure(String),
    Retry,
    /// No acceptor matched: keep waiting.
    Waiting,
    /// No acceptor matched an error: the waiter fails with it.
    Error(String),
}

/// The outcome of one call: the response, or the error's (code, message).
pub type Outcome = Result<Value, (String, String)>;

/// The HTTP status a call's outcome would have had: 200, or 400 for a client error and 500 for
/// the service's own.
fn status_of(outcome: &Outcome) -> u64 {
    match outcome {
        Ok(_) => 200,
        Err((code, _)) if code == "InternalError" || code.starts_with("Server") => 500,
        Err(_) => 400,
    }
}

impl Acceptor {
    fn search(&self, response: &Value) -> Option<Value> {
        let expr = jmespath::compile(self.argument.as_deref()?).ok()?;
        let found = expr.search(response).ok()?;
        serde_json::to_value(&*found).ok()
    }

    /// Whether this acceptor matches `outcome` (botocore's matchers).
    pub fn matches(&self, outcome: &Outcome) -> bool {
        match (self.matcher.as_str(), outcome) {
            ("path", Ok(r)) => self.search(r).as_ref() == Some(&self.expected),
            ("pathAll", Ok(r)) => match self.search(r) {
                Some(Value::Array(v)) => !v.is_empty() && v.iter().all(|x| *x == self.expected),
                _ => false,
            },
            ("pathAny", Ok(r)) => match self.search(r) {
                Some(Value::Array(v)) => v.contains(&self.expected),
                _ => false,
            },
            ("status", o) => self.expected.as_u64() == Some(status_of(o)),
            ("error", Err((code, _))) => match &self.expected {
                Value::Bool(b) => *b,
                e => e.as_str() == Some(code),
            },
            ("error", Ok(_)) => self.expected == Value::Bool(false),
            _ => false,
        }
    }

    /// botocore's explanation of a match.
    pub fn explanation(&self) -> String {
        let arg = self.argument.as_deref().unwrap_or_default();
        let exp = match &self.expected {
            Value::String(s) => s.clone(),
            Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
            v => v.to_string(),
        };
        match self.matcher.as_str() {
            "path" => format!("For expression \"{arg}\" we matched expected path: \"{exp}\""),
            "pathAll" => {
                format!("For expression \"{arg}\" all members matched expected path: \"{exp}\"")
            }
            "pathAny" => format!(
                "For expression \"{arg}\" we matched expected path: \"{exp}\" at least once"
            ),
            "status" => format!("Matched expected HTTP status code: {exp}"),
            "error" => format!("Matched expected service error code: {exp}"),
            m => format!("No explanation for unknown waiter type: \"{m}\""),
        }
    }
}

impl Waiter {
    /// The first acceptor that matches `outcome`, if any.
    pub fn accept(&self, outcome: &Outcome) -> Option<&Acceptor> {
        self.acceptors.iter().find(|a| a.matches(outcome))
    }

    /// The verdict on one outcome.
    pub fn evaluate(&self, outcome: &Outcome) -> Verdict {
        match self.accept(outcome) {
            Some(a) => match a.state.as_str() {
                "success" => Verdict::Success,
                "failure" => Verdict::Failure(format!(
                    "Waiter encountered a terminal failure state: {}",
                    a.explanation()
                )),
                _ => Verdict::Retry,
            },
            None => match outcome {
                Err((code, message)) => {
                    Verdict::Error(format!("An error occurred ({code}): {message}"))
                }
                Ok(_) => Verdict::Waiting,
            },
        }
    }
}

/// Polls `call` until `w` succeeds (Ok) or fails (Err with the full message to print).
pub fn poll(
    w: &Waiter,
    mut call: impl FnMut() -> Outcome,
    max_attempts: u32,
    delay: Duration,
) -> Result<(), String> {
    let mut last: Option<&Acceptor> = None;
    for attempt in 1..=max_attempts.max(1) {
        let outcome = call();
        if let Some(a) = w.accept(&outcome) {
            last = Some(a);
        }
        match w.evaluate(&outcome) {
            Verdict::Success => return Ok(()),
            Verdict::Failure(reason) | Verdict::Error(reason) => {
                return Err(format!("Waiter {} failed: {reason}", w.name))
            }
            Verdict::Retry | Verdict::Waiting => {}
        }
        if attempt < max_attempts {
            std::thread::sleep(delay);
        }
    }
    Err(match last {
        None => format!("Waiter {} failed: Max attempts exceeded", w.name),
        Some(a) => format!(
            "Waiter {} failed: Max attempts exceeded. Previously accepted state: {}",
            w.name,
            a.explanation()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn images(states: &[&str]) -> Outcome {
        Ok(json!({"Images": states.iter().map(|s| json!({"State": s})).collect::<Vec<_>>()}))
    }

    fn err(code: &str) -> Outcome {
        Err((code.to_owned(), format!("{code} happened")))
    }

    #[test]
    fn the_model_has_every_waiter_of_the_served_operations() {
        let names: Vec<_> = waiters().keys().cloned().collect();
        assert_eq!(
            names,
            [
                "ImageAvailable",
                "ImageExists",
                "InstanceExists",
                "InstanceRunning",
                "InstanceStopped",
                "InstanceTerminated",
                "SnapshotCompleted",
                "SnapshotImported",
                "VolumeAvailable",
                "VolumeDeleted",
                "VolumeInUse"
            ]
        );
        for w in waiters().values() {
            for a in &w.acceptors {
                assert!(
                    ["path", "pathAll", "pathAny", "status", "error"].contains(&a.matcher.as_str())
                );
                assert!(["success", "failure", "retry"].contains(&a.state.as_str()));
                if let Some(arg) = &a.argument {
                    jmespath::compile(arg).unwrap();
                }
            }
        }
    }

    #[test]
    fn all_must_succeed_and_one_failure_is_enough() {
        let w = waiter("ImageAvailable");
        assert_eq!(
            w.evaluate(&images(&["available", "available"])),
            Verdict::Success
        );
        assert_eq!(
            w.evaluate(&images(&["available", "pending"])),
            Verdict::Waiting
        );
        assert_eq!(w.evaluate(&images(&[])), Verdict::Waiting, "nothing yet");
        let Verdict::Failure(r) = w.evaluate(&images(&["pending", "failed"])) else {
            panic!()
        };
        assert_eq!(
            r,
            "Waiter encountered a terminal failure state: For expression \"Images[].State\" we \
             matched expected path: \"failed\" at least once"
        );
    }

    #[test]
    fn exists_waiters_test_a_length_and_retry_not_found() {
        let w = waiter("ImageExists");
        assert_eq!(w.evaluate(&images(&["pending"])), Verdict::Success);
        assert_eq!(w.evaluate(&images(&[])), Verdict::Waiting);
        assert_eq!(w.evaluate(&err("InvalidAMIID.NotFound")), Verdict::Retry);
        assert_eq!(
            w.evaluate(&err("InvalidAMIID.Malformed")),
            Verdict::Error(
                "An error occurred (InvalidAMIID.Malformed): InvalidAMIID.Malformed happened"
                    .into()
            )
        );
        let w = waiter("InstanceExists");
        assert_eq!(
            w.evaluate(&Ok(json!({"Reservations": [{"Instances": []}]}))),
            Verdict::Success
        );
        assert_eq!(
            w.evaluate(&err("InvalidInstanceID.NotFound")),
            Verdict::Retry
        );
    }

    #[test]
    fn instance_states_through_reservations() {
        let r = |a: &str, b: &str| -> Outcome {
            Ok(json!({"Reservations": [
                {"Instances": [{"State": {"Code": 16, "Name": a}}]},
                {"Instances": [{"State": {"Code": 0, "Name": b}}]}
            ]}))
        };
        let running = waiter("InstanceRunning");
        assert_eq!(running.evaluate(&r("running", "running")), Verdict::Success);
        assert_eq!(running.evaluate(&r("running", "pending")), Verdict::Waiting);
        assert!(matches!(
            running.evaluate(&r("running", "terminated")),
            Verdict::Failure(_)
        ));
        let stopped = waiter("InstanceStopped");
        assert_eq!(stopped.evaluate(&r("stopped", "stopped")), Verdict::Success);
        assert_eq!(
            stopped.evaluate(&r("stopped", "stopping")),
            Verdict::Waiting
        );
        let Verdict::Failure(m) = stopped.evaluate(&r("stopped", "terminated")) else {
            panic!()
        };
        assert!(m.ends_with("we matched expected path: \"terminated\" at least once"));
        let terminated = waiter("InstanceTerminated");
        assert_eq!(
            terminated.evaluate(&r("terminated", "terminated")),
            Verdict::Success
        );
        assert!(matches!(
            terminated.evaluate(&r("terminated", "stopping")),
            Verdict::Failure(_)
        ));
    }

    #[test]
    fn volumes_snapshots_and_imports() {
        let deleted = waiter("VolumeDeleted");
        assert_eq!(
            deleted.evaluate(&err("InvalidVolume.NotFound")),
            Verdict::Success,
            "a volume gone is deleted"
        );
        assert_eq!(
            deleted.evaluate(&Ok(json!({"Volumes": [{"State": "available"}]}))),
            Verdict::Waiting
        );
        let in_use = waiter("VolumeInUse");
        assert_eq!(
            in_use.evaluate(&Ok(json!({"Volumes": [{"State": "in-use"}]}))),
            Verdict::Success
        );
        assert!(matches!(
            in_use.evaluate(&Ok(json!({"Volumes": [{"State": "deleted"}]}))),
            Verdict::Failure(_)
        ));
        let snap = waiter("SnapshotCompleted");
        assert!(matches!(
            snap.evaluate(&Ok(json!({"Snapshots": [{"State": "error"}]}))),
            Verdict::Failure(_)
        ));
        let imported = waiter("SnapshotImported");
        let task = |s: &str| -> Outcome {
            Ok(json!({"ImportSnapshotTasks": [{"SnapshotTaskDetail": {"Status": s}}]}))
        };
        assert_eq!(imported.evaluate(&task("completed")), Verdict::Success);
        assert_eq!(imported.evaluate(&task("active")), Verdict::Waiting);
        assert!(matches!(
            imported.evaluate(&task("error")),
            Verdict::Failure(_)
        ));
        assert_eq!(
            imported.evaluate(&task("deleted")),
            Verdict::Waiting,
            "the model names `error`, not `deleted`, as the failure"
        );
    }

    #[test]
    fn status_and_error_matchers() {
        let a = |matcher: &str, expected: Value| Acceptor {
            matcher: matcher.into(),
            argument: None,
            expected,
            state: "success".into(),
        };
        assert!(a("status", json!(200)).matches(&Ok(json!({}))));
        assert!(a("status", json!(400)).matches(&err("InvalidParameterValue")));
        assert!(a("status", json!(500)).matches(&err("InternalError")));
        assert!(a("error", json!(true)).matches(&err("X")));
        assert!(!a("error", json!(true)).matches(&Ok(json!({}))));
        assert!(a("error", json!(false)).matches(&Ok(json!({}))));
        assert_eq!(
            a("error", json!("X")).explanation(),
            "Matched expected service error code: X"
        );
    }

    #[test]
    fn polling_retries_then_succeeds_or_gives_up() {
        let w = waiter("ImageAvailable");
        let mut calls = 0;
        let r = poll(
            w,
            || {
                calls += 1;
                images(&[if calls < 3 { "pending" } else { "available" }])
            },
            10,
            Duration::ZERO,
        );
        assert_eq!(r, Ok(()));
        assert_eq!(calls, 3);
        let r = poll(w, || images(&["pending"]), 3, Duration::ZERO);
        assert_eq!(
            r,
            Err("Waiter ImageAvailable failed: Max attempts exceeded".into())
        );
        let r = poll(w, || images(&["failed"]), 3, Duration::ZERO);
        assert!(r.unwrap_err().starts_with(
            "Waiter ImageAvailable failed: Waiter encountered a terminal failure state: "
        ));
        let r = poll(
            waiter("ImageExists"),
            || err("InvalidAMIID.NotFound"),
            2,
            Duration::ZERO,
        );
        assert_eq!(
            r,
            Err(
                "Waiter ImageExists failed: Max attempts exceeded. Previously accepted state: \
                 Matched expected service error code: InvalidAMIID.NotFound"
                    .into()
            )
        );
    }

    #[test]
    fn attempts_fill_aws_time() {
        let w = waiter("SnapshotImported");
        assert_eq!(max_attempts(w, Duration::from_millis(200)), 3000);
    }
}
