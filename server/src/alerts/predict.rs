//! `Series`: a bounded, thinned window of one object's values and the least-squares line
//! through it, for rules with `predict:` (e.g. `DiskFillingUp`: full within 24 h by a
//! linear fit over the last 6 h). Pure: time is passed in.

use std::collections::VecDeque;
use std::time::Duration;

/// Most points a series keeps; the step between kept points grows with the window (one
/// point per 2 minutes over the default rule's 6 hours: far more than a straight line
/// needs, and a series stays within about 1.5 KiB).
pub const MAX_POINTS: usize = 180;

/// Values of one object over the fit window, at most one per step, oldest first.
///
/// Bounded: `MAX_POINTS + 1` points whatever the sample rate, so a 6 h window costs the
/// same for an edge sampling every second as for one sampling every minute. A server
/// keeps one series per host and filesystem for hours, so its size is part of the
/// per-host memory: a point is 8 bytes (seconds since the series began and an `f32`,
/// not a 16-byte `(u64, f64)`), and the buffer grows to exactly `MAX_POINTS + 1` rather
/// than doubling past it. Precision is not the fit's limit: an `f32` keeps 7 significant
/// digits of a filesystem's used share, and a line over hours does not move with the
/// sub-second part of a timestamp.
#[derive(Debug, Clone)]
pub struct Series {
    /// `(seconds since base_ms, value)`.
    points: VecDeque<(u32, f32)>,
    /// Unix ms the offsets count from: the first push.
    base_ms: u64,
    /// When the newest point was pushed, Unix ms (the step is checked in ms).
    last_ms: u64,
    window_ms: u64,
    step_ms: u64,
}

impl Series {
    /// An empty series over `window` (one point per `window / MAX_POINTS`, at least 1 s).
    pub fn new(window: Duration) -> Series {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        Series {
            points: VecDeque::new(),
            base_ms: 0,
            last_ms: 0,
            window_ms,
            step_ms: (window_ms / MAX_POINTS as u64).max(1000),
        }
    }

    /// Adds the value measured at `now_ms`, unless the last kept point is less than a step
    /// old, and forgets points older than the window.
    pub fn push(&mut self, now_ms: u64, value: f64) {
        if self.points.is_empty() {
            self.base_ms = now_ms;
        } else if now_ms < self.last_ms.saturating_add(self.step_ms) {
            return;
        }
        let oldest = self.offset(now_ms.saturating_sub(self.window_ms));
        while self.points.front().is_some_and(|&(t, _)| t < oldest) {
            self.points.pop_front();
        }
        while self.points.len() > MAX_POINTS {
            self.points.pop_front();
        }
        if self.points.len() == self.points.capacity() {
            // Double as usual, but never past the bound.
            let room = (MAX_POINTS + 1 - self.points.len()).min(self.points.len().max(4));
            self.points.reserve_exact(room);
        }
        self.points.push_back((self.offset(now_ms), value as f32));
        self.last_ms = now_ms;
    }

    /// `at_ms` as seconds since the series began (0 before it; saturating after 136
    /// years).
    fn offset(&self, at_ms: u64) -> u32 {
        u32::try_from(at_ms.saturating_sub(self.base_ms) / 1000).unwrap_or(u32::MAX)
    }

    /// The fitted line's value `ahead` of `now_ms`; `None` until the points span a quarter
    /// of the window (a fit over a few minutes would cry wolf at every log rotation).
    pub fn predict(&self, now_ms: u64, ahead: Duration) -> Option<f64> {
        let (&(first, _), &(last, _)) = (self.points.front()?, self.points.back()?);
        if self.points.len() < 3 || u64::from(last - first) * 1000 < self.window_ms / 4 {
            return None;
        }
        // Least squares on seconds since the first point, for numeric stability.
        let n = self.points.len() as f64;
        let xs = self.points.iter().map(|&(t, _)| f64::from(t - first));
        let mean_x = xs.clone().sum::<f64>() / n;
        let mean_y = self.points.iter().map(|&(_, v)| f64::from(v)).sum::<f64>() / n;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (x, &(_, y)) in xs.zip(&self.points) {
            sxy += (x - mean_x) * (f64::from(y) - mean_y);
            sxx += (x - mean_x) * (x - mean_x);
        }
        if sxx == 0.0 {
            return None;
        }
        let slope = sxy / sxx;
        let first_ms = self.base_ms + u64::from(first) * 1000;
        let at = now_ms.saturating_sub(first_ms) as f64 / 1000.0 + ahead.as_secs_f64();
        Some(mean_y + slope * (at - mean_x))
    }

    /// Number of kept points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether no point is kept.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;
    const HOUR: u64 = 60 * MIN;

    #[test]
    fn a_steady_rise_is_extrapolated() {
        let mut s = Series::new(Duration::from_secs(6 * 3600));
        // 1 % per hour from 50 %, sampled every second for 2 hours.
        for t in (0..2 * HOUR).step_by(1000) {
            s.push(t, 0.5 + 0.01 * t as f64 / HOUR as f64);
        }
        let now = 2 * HOUR - 1000;
        let p = s.predict(now, Duration::from_secs(24 * 3600)).unwrap();
        assert!((p - (0.52 + 0.24)).abs() < 0.001, "{p}");
        assert!(s.len() <= MAX_POINTS + 1);
    }

    #[test]
    fn too_short_a_history_predicts_nothing() {
        let mut s = Series::new(Duration::from_secs(6 * 3600));
        for t in (0..HOUR).step_by(60_000) {
            s.push(t, 0.5);
        }
        assert_eq!(s.predict(HOUR, Duration::from_secs(3600)), None);
    }

    #[test]
    fn stays_bounded_and_forgets_the_old() {
        let mut s = Series::new(Duration::from_secs(3600));
        for t in (0..10 * HOUR).step_by(1000) {
            s.push(t, 1.0);
        }
        assert!(s.len() <= MAX_POINTS + 1, "{}", s.len());
        assert!(u64::from(s.points.front().unwrap().0) * 1000 >= 9 * HOUR - 30_000);
        // Flat line: the prediction is the level.
        assert_eq!(s.predict(10 * HOUR, Duration::from_secs(3600)), Some(1.0));
    }

    #[test]
    fn six_hours_of_one_hertz_cost_one_bounded_buffer() {
        // A real clock's Unix ms, so offsets (not absolute times) are what is stored.
        let start = 1_764_000_000_000;
        let mut s = Series::new(Duration::from_secs(6 * 3600));
        for t in (0..7 * HOUR).step_by(1000) {
            s.push(start + t, 0.4 + 0.02 * t as f64 / HOUR as f64);
        }
        assert_eq!(s.len(), MAX_POINTS + 1);
        assert_eq!(
            s.points.capacity(),
            MAX_POINTS + 1,
            "grown exactly to the bound"
        );
        assert_eq!(std::mem::size_of::<(u32, f32)>(), 8);
        // 2 % per hour: 24 h ahead of 0.54 at 7 h is 1.02.
        let now = start + 7 * HOUR - 1000;
        let p = s.predict(now, Duration::from_secs(24 * 3600)).unwrap();
        assert!((p - 1.02).abs() < 0.001, "{p}");
    }
}
