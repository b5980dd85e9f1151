//! A circuit breaker per upstream, so a dead or hanging service costs clients one fast 503 instead
//! of a timeout each.
//!
//! Closed: requests pass and consecutive failures are counted. At the threshold the circuit opens
//! and refuses everything for `open_for`. Then it is half-open: exactly one trial request passes;
//! its success closes the circuit, its failure opens it again.
//!
//! The closed state, which is the hot path, costs one atomic load per request; the mutex is only
//! taken while the circuit is not closed or when it trips. Time is passed in so the state machine
//! is tested without sleeping.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

/// The breaker of one upstream.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    /// Consecutive failures while closed.
    failures: AtomicU32,
    /// Whether `state` is anything but closed, read without the lock.
    tripped: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// A trial request started at `since` and has not finished.
    HalfOpen {
        since: Instant,
    },
}

/// Permission to send one request; report its outcome with [`Permit::success`] or
/// [`Permit::failure`]. A trial permit dropped without an outcome (the client went away) lets the
/// next request be the trial.
#[derive(Debug)]
#[must_use = "report the outcome of the request"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    trial: bool,
    reported: bool,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures, for `open_for`.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            failures: AtomicU32::new(0),
            tripped: AtomicBool::new(false),
            state: Mutex::new(State::Closed),
        }
    }

    /// A permit to send a request, or how long the circuit stays open.
    pub fn try_acquire(&self, now: Instant) -> Result<Permit<'_>, Duration> {
        if !self.tripped.load(Ordering::Acquire) {
            return Ok(self.permit(false));
        }
        let mut state = self.state.lock().unwrap();
        match *state {
            State::Closed => Ok(self.permit(false)),
            State::Open { until } if now < until => Err(until - now),
            State::Open { .. } => {
                *state = State::HalfOpen { since: now };
                Ok(self.permit(true))
            }
            // The trial's own timeout bounds how long this lasts.
            State::HalfOpen { .. } => Err(self.open_for),
        }
    }

    /// Whether requests are being refused or trialled.
    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.tripped.load(Ordering::Acquire)
    }

    fn permit(&self, trial: bool) -> Permit<'_> {
        Permit { breaker: self, trial, reported: false }
    }

    fn on_success(&self, trial: bool) {
        if trial {
            *self.state.lock().unwrap() = State::Closed;
            self.failures.store(0, Ordering::Relaxed);
            self.tripped.store(false, Ordering::Release);
        } else if self.failures.load(Ordering::Relaxed) != 0 {
            // Checked first so the common case does not write to a shared cache line.
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    fn on_failure(&self, trial: bool, now: Instant) {
        if trial {
            *self.state.lock().unwrap() = State::Open { until: now + self.open_for };
            return;
        }
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.threshold {
            let mut state = self.state.lock().unwrap();
            // Requests admitted before the circuit opened finish later; they must not extend it.
            if *state == State::Closed {
                *state = State::Open { until: now + self.open_for };
                self.failures.store(0, Ordering::Relaxed);
                self.tripped.store(true, Ordering::Release);
            }
        }
    }

    fn on_abandoned_trial(&self) {
        let mut state = self.state.lock().unwrap();
        if let State::HalfOpen { since } = *state {
            *state = State::Open { until: since };
        }
    }
}

impl Permit<'_> {
    /// The upstream answered (whatever the status).
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.on_success(self.trial);
    }

    /// The upstream could not be reached, timed out or broke the protocol.
    pub fn failure(mut self, now: Instant) {
        self.reported = true;
        self.breaker.on_failure(self.trial, now);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.trial && !self.reported {
            self.breaker.on_abandoned_trial();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Duration = Duration::from_secs(5);

    fn fail(breaker: &CircuitBreaker, now: Instant) {
        breaker.try_acquire(now).unwrap().failure(now);
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let breaker = CircuitBreaker::new(3, OPEN);
        let t0 = Instant::now();
        fail(&breaker, t0);
        fail(&breaker, t0);
        breaker.try_acquire(t0).unwrap().success();
        fail(&breaker, t0);
        fail(&breaker, t0);
        assert!(!breaker.is_open(), "a success in between resets the count");
        fail(&breaker, t0);
        assert!(breaker.is_open());
        assert_eq!(breaker.try_acquire(t0 + Duration::from_secs(2)).unwrap_err(), Duration::from_secs(3));
    }

    #[test]
    fn half_open_lets_one_trial_through_and_its_success_closes() {
        let breaker = CircuitBreaker::new(1, OPEN);
        let t0 = Instant::now();
        fail(&breaker, t0);
        let later = t0 + OPEN;
        let trial = breaker.try_acquire(later).expect("the trial passes once the circuit has been open long enough");
        assert!(breaker.try_acquire(later).is_err(), "only one trial at a time");
        trial.success();
        assert!(!breaker.is_open());
        assert!(breaker.try_acquire(later).is_ok());
    }

    #[test]
    fn a_failed_trial_reopens_for_the_full_period() {
        let breaker = CircuitBreaker::new(2, OPEN);
        let t0 = Instant::now();
        fail(&breaker, t0);
        fail(&breaker, t0);
        let t1 = t0 + OPEN;
        breaker.try_acquire(t1).unwrap().failure(t1);
        assert_eq!(breaker.try_acquire(t1 + Duration::from_secs(1)).unwrap_err(), Duration::from_secs(4));
        assert!(breaker.try_acquire(t1 + OPEN).is_ok());
    }

    #[test]
    fn an_abandoned_trial_lets_the_next_request_try() {
        let breaker = CircuitBreaker::new(1, OPEN);
        let t0 = Instant::now();
        fail(&breaker, t0);
        drop(breaker.try_acquire(t0 + OPEN).unwrap());
        assert!(breaker.try_acquire(t0 + OPEN).is_ok());
    }

    #[test]
    fn late_failures_from_before_the_trip_do_not_extend_the_open_period() {
        let breaker = CircuitBreaker::new(1, OPEN);
        let t0 = Instant::now();
        let early = breaker.try_acquire(t0).unwrap();
        fail(&breaker, t0);
        early.failure(t0 + Duration::from_secs(4));
        assert!(breaker.try_acquire(t0 + OPEN).is_ok());
    }
}
