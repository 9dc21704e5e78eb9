//! `Series`: a bounded, thinned window of one object's values and the least-squares line
//! through it, for rules with `predict:` (e.g. `DiskFillingUp`: full within 24 h by a
//! linear fit over the last 6 h). Pure: time is passed in.

use std::collections::VecDeque;
use std::time::Duration;

/// Most points a series keeps; the step between kept points grows with the window.
pub const MAX_POINTS: usize = 360;

/// Values of one object over the fit window, at most one per step, oldest first.
///
/// Bounded: `MAX_POINTS + 1` points whatever the sample rate, so a 6 h window costs the
/// same few kilobytes for an edge sampling every second as for one sampling every minute.
#[derive(Debug, Clone)]
pub struct Series {
    points: VecDeque<(u64, f64)>,
    window_ms: u64,
    step_ms: u64,
}

impl Series {
    /// An empty series over `window` (one point per `window / MAX_POINTS`, at least 1 s).
    pub fn new(window: Duration) -> Series {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        Series {
            points: VecDeque::new(),
            window_ms,
            step_ms: (window_ms / MAX_POINTS as u64).max(1000),
        }
    }

    /// Adds the value measured at `now_ms`, unless the last kept point is less than a step
    /// old, and forgets points older than the window.
    pub fn push(&mut self, now_ms: u64, value: f64) {
        if self
            .points
            .back()
            .is_some_and(|&(t, _)| now_ms < t.saturating_add(self.step_ms))
        {
            return;
        }
        self.points.push_back((now_ms, value));
        let oldest = now_ms.saturating_sub(self.window_ms);
        while self.points.front().is_some_and(|&(t, _)| t < oldest) {
            self.points.pop_front();
        }
        while self.points.len() > MAX_POINTS + 1 {
            self.points.pop_front();
        }
    }

    /// The fitted line's value `ahead` of `now_ms`; `None` until the points span a quarter
    /// of the window (a fit over a few minutes would cry wolf at every log rotation).
    pub fn predict(&self, now_ms: u64, ahead: Duration) -> Option<f64> {
        let (&(first, _), &(last, _)) = (self.points.front()?, self.points.back()?);
        if self.points.len() < 3 || last - first < self.window_ms / 4 {
            return None;
        }
        // Least squares on seconds since the first point, for numeric stability.
        let n = self.points.len() as f64;
        let xs = self
            .points
            .iter()
            .map(|&(t, _)| (t - first) as f64 / 1000.0);
        let mean_x = xs.clone().sum::<f64>() / n;
        let mean_y = self.points.iter().map(|&(_, v)| v).sum::<f64>() / n;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (x, &(_, y)) in xs.zip(&self.points) {
            sxy += (x - mean_x) * (y - mean_y);
            sxx += (x - mean_x) * (x - mean_x);
        }
        if sxx == 0.0 {
            return None;
        }
        let slope = sxy / sxx;
        let at = (now_ms.saturating_sub(first)) as f64 / 1000.0 + ahead.as_secs_f64();
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
        assert!(s.points.front().unwrap().0 >= 9 * HOUR - 10_000);
        // Flat line: the prediction is the level.
        assert_eq!(s.predict(10 * HOUR, Duration::from_secs(3600)), Some(1.0));
    }
}
