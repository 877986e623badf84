//! Failpoints: named places at every durable step (an fsync, a rename or link, a catalog commit,
//! a commit marker written or removed) where a test can make the process die or the step fail.
//!
//! Compiled only with the `failpoints` feature (the `blockseal` binary gets it as a
//! dev-dependency feature, so only `cargo test` builds have it) and in the engine's own unit
//! tests; otherwise [`point`] is an empty inline function and release builds carry no trace of
//! it. With the feature, `BLOCKSEAL_FAILPOINTS` configures the process once, as a
//! comma-separated list of directives:
//! - `trace:PATH` appends each point's name to `PATH`, one line per hit, in order;
//! - `crash:N` kills the process with SIGKILL at the Nth point hit (1-based): no destructor,
//!   no buffered write, no after-commit hook runs, as in a power cut of the process;
//! - `error:N` makes the Nth point hit fail with `EIO`, `enospc:N` with `ENOSPC`, as if the
//!   step itself had failed.
//!
//! Without the variable every point is a counter increment and nothing else. This module must
//! not decide anything for the caller: a point returns an I/O error and the caller handles it
//! as it would handle the real step's.

#[cfg(any(test, feature = "failpoints"))]
mod active {
    use std::io::{self, Write};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, OnceLock};

    /// The environment variable read once per process.
    pub(crate) const ENV: &str = "BLOCKSEAL_FAILPOINTS";

    /// What happens at the chosen hit.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Action {
        /// SIGKILL to this process.
        Crash,
        /// The step fails with this errno.
        Fail(i32),
    }

    /// A parsed `BLOCKSEAL_FAILPOINTS`.
    #[derive(Debug, Default, PartialEq, Eq)]
    pub(crate) struct Config {
        /// Where to append the names of the points hit.
        pub trace: Option<std::path::PathBuf>,
        /// The 1-based hit at which to act, and how.
        pub at: Option<(u64, Action)>,
    }

    impl Config {
        /// Parses the directives of `BLOCKSEAL_FAILPOINTS` (see the module docs).
        pub(crate) fn parse(text: &str) -> Result<Config, String> {
            let mut c = Config::default();
            for d in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                let (kind, arg) = d
                    .split_once(':')
                    .ok_or_else(|| format!("{ENV}: {d:?} is not KIND:ARG"))?;
                if kind == "trace" {
                    c.trace = Some(arg.into());
                    continue;
                }
                let action = match kind {
                    "crash" => Action::Crash,
                    "error" => Action::Fail(libc::EIO),
                    "enospc" => Action::Fail(libc::ENOSPC),
                    _ => return Err(format!("{ENV}: unknown directive {kind:?}")),
                };
                let n: u64 = arg
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("{ENV}: {d:?} needs a hit number from 1"))?;
                if c.at.replace((n, action)).is_some() {
                    return Err(format!("{ENV}: more than one crash/error directive"));
                }
            }
            Ok(c)
        }
    }

    /// The failpoints of one process: its configuration and how many points were hit.
    #[derive(Debug)]
    pub(crate) struct Failpoints {
        config: Config,
        hits: AtomicU64,
        /// Serialises trace lines, so hits of several threads never interleave within a line.
        trace: Mutex<Option<std::fs::File>>,
    }

    impl Failpoints {
        pub(crate) fn new(config: Config) -> Failpoints {
            let trace = config.trace.as_ref().map(|p| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .unwrap_or_else(|e| panic!("{ENV}: cannot open {}: {e}", p.display()))
            });
            Failpoints {
                config,
                hits: AtomicU64::new(0),
                trace: Mutex::new(trace),
            }
        }

        /// Records a hit of point `name` and does what the configuration says for it.
        pub(crate) fn hit(&self, name: &'static str) -> io::Result<()> {
            let n = self.hits.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(f) = self
                .trace
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
            {
                // One write per line (O_APPEND), so a crash right after leaves whole lines.
                f.write_all(format!("{name}\n").as_bytes())
                    .unwrap_or_else(|e| panic!("{ENV}: trace write failed: {e}"));
            }
            match self.config.at {
                Some((at, Action::Crash)) if at == n => {
                    let _ = rustix::process::kill_process(
                        rustix::process::getpid(),
                        rustix::process::Signal::KILL,
                    );
                    // SIGKILL cannot be caught; should the kill itself fail, die without
                    // running anything either.
                    std::process::abort()
                }
                // The bare errno, as the real step would report it (ENOSPC must still read as
                // a full disk to the caller).
                Some((at, Action::Fail(errno))) if at == n => {
                    Err(io::Error::from_raw_os_error(errno))
                }
                _ => Ok(()),
            }
        }
    }

    /// The process's failpoints, configured from the environment on first use. A malformed
    /// variable panics: a test that asked for a fault must not run without it.
    pub(crate) fn global() -> &'static Failpoints {
        static FP: OnceLock<Failpoints> = OnceLock::new();
        FP.get_or_init(|| {
            let config = match std::env::var(ENV) {
                Ok(text) => Config::parse(&text).unwrap_or_else(|e| panic!("{e}")),
                Err(_) => Config::default(),
            };
            Failpoints::new(config)
        })
    }
}

/// Failpoint `name`: with the `failpoints` feature, counts the hit and crashes or fails here
/// when `BLOCKSEAL_FAILPOINTS` asks for it; without the feature, nothing at all.
///
/// # Errors
/// The injected I/O error (`EIO`, or `ENOSPC`), at the configured hit only.
#[cfg(any(test, feature = "failpoints"))]
#[inline]
pub(crate) fn point(name: &'static str) -> std::io::Result<()> {
    active::global().hit(name)
}

/// Failpoint `name`: with the `failpoints` feature, counts the hit and crashes or fails here
/// when `BLOCKSEAL_FAILPOINTS` asks for it; without the feature, nothing at all.
///
/// # Errors
/// Never without the feature.
#[cfg(not(any(test, feature = "failpoints")))]
#[inline(always)]
pub(crate) fn point(_name: &'static str) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::active::{Action, Config, Failpoints};

    #[test]
    fn directives_parse_and_bad_ones_are_refused() {
        let c = Config::parse("trace:/tmp/t, crash:3").unwrap();
        assert_eq!(c.trace.as_deref(), Some(std::path::Path::new("/tmp/t")));
        assert_eq!(c.at, Some((3, Action::Crash)));
        assert_eq!(
            Config::parse("error:2").unwrap().at,
            Some((2, Action::Fail(libc::EIO)))
        );
        assert_eq!(
            Config::parse("enospc:1").unwrap().at,
            Some((1, Action::Fail(libc::ENOSPC)))
        );
        assert_eq!(Config::parse("").unwrap(), Config::default());
        for bad in ["crash", "crash:0", "crash:x", "boom:1", "crash:1,error:2"] {
            assert!(Config::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_the_chosen_hit_fails_and_every_hit_is_traced() {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("trace");
        let fp = Failpoints::new(Config {
            trace: Some(trace.clone()),
            at: Some((2, Action::Fail(libc::ENOSPC))),
        });
        assert!(fp.hit("a.one").is_ok());
        let e = fp.hit("a.two").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        assert!(fp.hit("a.three").is_ok());
        assert_eq!(
            std::fs::read_to_string(&trace).unwrap(),
            "a.one\na.two\na.three\n"
        );
    }

    #[test]
    fn a_crash_point_kills_the_process_without_unwinding() {
        // Runs this very test binary as a child with only this test selected and the crash
        // armed; the child must die of SIGKILL before it can print its result.
        if std::env::var_os("BLOCKSEAL_FAIL_CHILD").is_some() {
            let fp = Failpoints::new(Config {
                trace: None,
                at: Some((1, Action::Crash)),
            });
            let _ = fp.hit("x.crash");
            unreachable!("the crash point returned");
        }
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "fail::tests::a_crash_point_kills_the_process_without_unwinding",
                "--nocapture",
            ])
            .env("BLOCKSEAL_FAIL_CHILD", "1")
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{out:?}");
    }
}
