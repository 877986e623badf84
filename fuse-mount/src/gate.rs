//! The write gate behind [`Mount::freeze`](crate::Mount::freeze): every request that changes
//! device bytes (write, discard) passes through it, and a freeze closes it.
//!
//! Pure synchronisation: a counter of holders, a counter of writes in flight, one condition
//! variable. No I/O here; the caller syncs devices once the gate is closed.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Admits writers while open; holds new ones back while any freeze is held.
#[derive(Default)]
pub(crate) struct Gate {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Freezes currently held (they nest: the gate opens when the last one thaws).
    frozen: usize,
    /// Writes admitted and not yet finished.
    in_flight: usize,
}

/// A write admitted through the gate; finishing it is dropping it.
pub(crate) struct Pass<'a>(&'a Gate);

impl Gate {
    // Nothing that runs under this lock can panic, so a poisoned lock still holds valid
    // counters: keep going rather than take the whole mount down.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits one write, waiting while the gate is frozen.
    pub(crate) fn enter(&self) -> Pass<'_> {
        let mut s = self.lock();
        while s.frozen > 0 {
            s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        s.in_flight += 1;
        Pass(self)
    }

    /// Closes the gate to new writes. With `wait`, returns only once every write admitted
    /// before has finished; without, returns at once (writes already past the gate may still
    /// be landing: the crash-consistent variant).
    pub(crate) fn freeze(&self, wait: bool) {
        let mut s = self.lock();
        s.frozen += 1;
        if wait {
            while s.in_flight > 0 {
                s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    /// Releases one freeze; writers resume when none is left.
    pub(crate) fn thaw(&self) {
        let mut s = self.lock();
        s.frozen = s.frozen.saturating_sub(1);
        if s.frozen == 0 {
            self.changed.notify_all();
        }
    }

    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.lock().in_flight
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight -= 1;
        if s.in_flight == 0 {
            self.0.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn freeze_holds_new_writers_until_thaw() {
        let gate = Arc::new(Gate::default());
        gate.freeze(true);
        let done = Arc::new(AtomicBool::new(false));
        let t = {
            let (gate, done) = (gate.clone(), done.clone());
            std::thread::spawn(move || {
                let _p = gate.enter();
                done.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !done.load(Ordering::SeqCst),
            "a writer passed a frozen gate"
        );
        gate.thaw();
        t.join().unwrap();
        assert!(done.load(Ordering::SeqCst));
        assert_eq!(gate.in_flight(), 0);
    }

    #[test]
    fn freeze_waits_for_writes_in_flight_unless_told_not_to() {
        let gate = Arc::new(Gate::default());
        let pass = gate.enter();
        // The crash-consistent freeze does not wait.
        gate.freeze(false);
        gate.thaw();
        let frozen = Arc::new(AtomicBool::new(false));
        let t = {
            let (gate, frozen) = (gate.clone(), frozen.clone());
            std::thread::spawn(move || {
                gate.freeze(true);
                frozen.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !frozen.load(Ordering::SeqCst),
            "freeze returned with a write in flight"
        );
        drop(pass);
        t.join().unwrap();
        assert!(frozen.load(Ordering::SeqCst));
        gate.thaw();
    }

    #[test]
    fn freezes_nest() {
        let gate = Gate::default();
        gate.freeze(true);
        gate.freeze(true);
        gate.thaw();
        let s = gate.lock();
        assert_eq!(s.frozen, 1);
    }
}
