//! Reconnect delays: jittered exponential backoff. Pure; the caller supplies the random
//! number, so tests are deterministic.

use std::time::Duration;

/// Delay before the next connection attempt, doubling per failure up to a cap.
///
/// The delay for attempt `n` is drawn from `[c/2, c)` with `c = min(max, initial * 2^n)`
/// ("equal jitter"), so a fleet that lost its server at the same moment does not come back
/// in one burst, yet every edge retries at least every `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Default for Backoff {
    /// Starts around 0.5 s and is capped at 30 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

impl Backoff {
    /// A backoff from `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The delay before the next attempt; `jitter` is a random number in `0.0..1.0`.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(20));
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// Back to the initial delay: the last connection was healthy.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_initial_delay() {
        let mut backoff = Backoff::default();
        let delays: Vec<_> = (0..4).map(|_| backoff.next_delay(1.0)).collect();
        let ms: Vec<_> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![500, 1000, 2000, 4000]);
    }

    #[test]
    fn jitter_stays_within_half_to_full() {
        let mut low = Backoff::default();
        let mut high = Backoff::default();
        for _ in 0..5 {
            let (l, h) = (low.next_delay(0.0), high.next_delay(0.999));
            assert!(l * 2 >= h.mul_f64(0.999) && l < h);
        }
    }

    #[test]
    fn capped_at_thirty_seconds_forever() {
        let mut backoff = Backoff::default();
        for _ in 0..1000 {
            assert!(backoff.next_delay(1.0) <= Duration::from_secs(30));
        }
        assert_eq!(backoff.next_delay(1.0), Duration::from_secs(30));
        assert!(backoff.next_delay(0.0) >= Duration::from_secs(15));
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::default();
        for _ in 0..10 {
            backoff.next_delay(0.5);
        }
        backoff.reset();
        assert_eq!(backoff.next_delay(1.0), Duration::from_millis(500));
    }
}
