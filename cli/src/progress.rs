//! The engine's progress hooks drawn as an indicatif bar on stderr (bytes, rate, ETA), only when
//! stderr is a terminal: piped or redirected runs stay silent.

use blockseal_engine::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;

/// A progress bar that appears for each piece of long work the engine reports.
#[derive(Debug)]
pub struct Bar {
    enabled: bool,
    current: Mutex<Option<ProgressBar>>,
}

impl Bar {
    /// A bar on stderr if stderr is a terminal, else one that draws nothing.
    pub fn for_stderr() -> Bar {
        Bar {
            enabled: std::io::stderr().is_terminal(),
            current: Mutex::new(None),
        }
    }

    fn style() -> ProgressStyle {
        // The template is a constant known to parse; fall back to the default style regardless.
        ProgressStyle::with_template(
            "{msg} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        // A panic while holding this lock leaves only a progress bar behind: keep going.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Progress for Bar {
    fn begin(&self, label: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(Self::style());
        bar.set_message(label.to_owned());
        if let Some(old) = self.slot().replace(bar) {
            old.finish_and_clear();
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = self.slot().as_ref() {
            bar.inc(bytes);
        }
    }

    fn end(&self) {
        if let Some(bar) = self.slot().take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disabled_bar_accepts_every_call() {
        let b = Bar {
            enabled: false,
            current: Mutex::new(None),
        };
        b.begin("copying", 100);
        b.advance(50);
        b.end();
        b.end();
        assert!(b.slot().is_none());
    }

    #[test]
    fn an_enabled_bar_tracks_the_current_work() {
        let b = Bar {
            enabled: true,
            current: Mutex::new(None),
        };
        b.begin("a", 10);
        b.advance(4);
        assert_eq!(b.slot().as_ref().map(ProgressBar::position), Some(4));
        b.begin("b", 20);
        assert_eq!(b.slot().as_ref().map(ProgressBar::position), Some(0));
        b.end();
        assert!(b.slot().is_none());
    }
}
