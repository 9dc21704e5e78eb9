//! `Downsample`: one point per time bucket from a time-ordered stream of whole samples, for
//! the history of values the store keeps only inside whole samples (disk I/O, pressure,
//! temperatures, network errors, kernel counters, file handles, inodes).
//!
//! Counters become rates with [`Rates::between`], the live view's arithmetic, taken between
//! the first sample of a bucket and the first sample of the next one: the average rate over
//! the bucket, exact however long it is. A bucket followed by an empty one (a gap, or the
//! newest bucket) takes its rates over its first two samples instead, so a rate never
//! spans a gap. Gauges (temperatures, tasks, file handles, inodes) are those of the
//! bucket's first sample. So only the first two samples of a bucket matter
//! ([`Downsample::wants`] tells the reader which, so it decodes no others), at most two
//! are held at a time, and any range costs the memory of its points. Pure: no store, no
//! clock; what a point looks like is the caller's `build`.

use std::collections::VecDeque;

use utizmon_protocol::Sample;

use crate::rates::Rates;

/// Turns samples (oldest first) into at most `max_points` points of type `T`.
pub struct Downsample<T, F> {
    /// Bucket width, ms; `0`: one point per sample (raw), rates since the previous one.
    step_ms: u64,
    max_points: usize,
    build: F,
    /// Raw: the previous sample. Bucketed: the first sample of the open bucket.
    first: Option<Sample>,
    /// Bucketed: the second sample of the open bucket, once seen.
    last: Option<Sample>,
    points: VecDeque<T>,
}

impl<T, F> Downsample<T, F>
where
    F: FnMut(u64, &Sample, Option<&Rates>) -> T,
{
    /// Points of `step_ms` buckets (`0`: raw), each made by `build(ts_ms, sample, rates)`
    /// from the sample whose gauges it shows and the rates over its span (`None` when
    /// nothing follows it in its bucket, or a counter reset). Beyond `max_points` the
    /// oldest points are dropped (only raw points can get there: an edge sending faster
    /// than it announced).
    pub fn new(step_ms: u64, max_points: usize, build: F) -> Downsample<T, F> {
        Downsample {
            step_ms,
            max_points,
            build,
            first: None,
            last: None,
            points: VecDeque::new(),
        }
    }

    /// Whether the sample at `ts_ms` (the next one, oldest first) counts: every raw
    /// sample, and the first two of each bucket. Samples it does not want may be left
    /// out of [`Downsample::push`].
    pub fn wants(&self, ts_ms: u64) -> bool {
        if self.step_ms == 0 {
            return true;
        }
        match &self.first {
            Some(first) => {
                first.ts_ms / self.step_ms != ts_ms / self.step_ms || self.last.is_none()
            }
            None => true,
        }
    }

    /// Takes the next sample; samples must come oldest first.
    pub fn push(&mut self, sample: Sample) {
        if self.step_ms == 0 {
            let rates = self
                .first
                .as_ref()
                .and_then(|prev| Rates::between(prev, &sample, None));
            let point = (self.build)(sample.ts_ms, &sample, rates.as_ref());
            self.emit(point);
            self.first = Some(sample);
            return;
        }
        let bucket = sample.ts_ms / self.step_ms;
        let open = self.first.as_ref().map(|s| s.ts_ms / self.step_ms);
        match open {
            Some(open) if open == bucket => {
                if self.last.is_none() {
                    self.last = Some(sample);
                }
            }
            Some(open) => {
                // The next bucket's first sample ends this one's span; after a gap, this
                // bucket's second sample does.
                let last = self.last.take();
                let end = if bucket == open + 1 {
                    Some(&sample)
                } else {
                    last.as_ref()
                };
                self.close(end);
                self.first = Some(sample);
            }
            None => self.first = Some(sample),
        }
    }

    /// The points, oldest first (the newest bucket spans its first two samples).
    pub fn finish(mut self) -> Vec<T> {
        if self.step_ms > 0 {
            let last = self.last.take();
            self.close(last.as_ref());
        }
        self.points.into()
    }

    fn close(&mut self, end: Option<&Sample>) {
        let Some(first) = &self.first else {
            return;
        };
        let rates = end.and_then(|end| Rates::between(first, end, None));
        let ts_ms = first.ts_ms - first.ts_ms % self.step_ms;
        let point = (self.build)(ts_ms, first, rates.as_ref());
        self.emit(point);
    }

    fn emit(&mut self, point: T) {
        if self.points.len() == self.max_points {
            self.points.pop_front();
        }
        self.points.push_back(point);
    }
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::KernelCounters;

    use super::*;

    /// A sample at `ts_ms` whose context-switch counter is `switches`.
    fn at(ts_ms: u64, switches: u64) -> Sample {
        Sample {
            ts_ms,
            kernel: Some(KernelCounters {
                context_switches: switches,
                procs_running: ts_ms / 1000,
                ..KernelCounters::default()
            }),
            ..Sample::default()
        }
    }

    /// `(ts_ms, procs_running of the gauge sample, switches per second)` per point.
    fn run(step_ms: u64, max: usize, samples: &[(u64, u64)]) -> Vec<(u64, u64, Option<f64>)> {
        let mut d = Downsample::new(step_ms, max, |ts, s: &Sample, r: Option<&Rates>| {
            (
                ts,
                s.kernel.unwrap().procs_running,
                r.and_then(|r| r.kernel)
                    .map(|k| k.context_switches_per_second),
            )
        });
        for &(ts, switches) in samples {
            if d.wants(ts) {
                d.push(at(ts, switches));
            }
        }
        d.finish()
    }

    #[test]
    fn raw_points_have_rates_since_the_previous_sample() {
        let got = run(0, 10, &[(1000, 10), (2000, 30), (3000, 35)]);
        assert_eq!(
            got,
            vec![(1000, 1, None), (2000, 2, Some(20.0)), (3000, 3, Some(5.0))]
        );
    }

    #[test]
    fn buckets_average_the_rate_from_one_first_sample_to_the_next() {
        // 10 s buckets; 100 switches per second throughout, then a gap of two buckets.
        let samples: Vec<(u64, u64)> = (0..25)
            .map(|i| (1000 + i * 1000, 100 * i))
            .chain([(60_000, 100_000), (61_000, 100_050)])
            .collect();
        let got = run(10_000, 10, &samples);
        assert_eq!(
            got,
            vec![
                (0, 1, Some(100.0)),
                (10_000, 10, Some(100.0)),
                // Followed by a gap: its rates span its first two samples.
                (20_000, 20, Some(100.0)),
                (60_000, 60, Some(50.0)),
            ]
        );
        // A bucket with a single sample and nothing after it: gauges, no rates.
        assert_eq!(run(10_000, 10, &[(5000, 1)]), vec![(0, 5, None)]);
    }

    #[test]
    fn only_the_first_two_samples_of_a_bucket_are_wanted() {
        let mut d = Downsample::new(10_000, 10, |ts, _: &Sample, _: Option<&Rates>| ts);
        let mut wanted = Vec::new();
        for ts in (1000..=25_000).step_by(1000) {
            if d.wants(ts) {
                wanted.push(ts);
                d.push(at(ts, ts));
            }
        }
        assert_eq!(wanted, vec![1000, 2000, 10_000, 11_000, 20_000, 21_000]);
        let raw = Downsample::new(0, 10, |ts, _: &Sample, _: Option<&Rates>| ts);
        assert!(raw.wants(5));
    }

    #[test]
    fn a_counter_reset_gives_no_rate_and_the_newest_points_are_kept() {
        let got = run(10_000, 10, &[(1000, 500), (11_000, 10), (21_000, 20)]);
        assert_eq!(got[0].2, None, "rebooted: the counter went backwards");
        assert_eq!(got[1].2, Some(1.0));
        let got = run(0, 2, &[(1000, 1), (2000, 2), (3000, 3)]);
        assert_eq!(
            got.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![2000, 3000]
        );
    }
}
