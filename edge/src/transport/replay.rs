//! The bounded buffer of samples the server has not acknowledged yet. Pure data structure:
//! no I/O, no clock, tested on its own.

use std::collections::VecDeque;

/// Samples taken but not yet acknowledged by the server, oldest first, each with its `seq`.
///
/// Bounded: when full, [`push`](Self::push) drops the oldest sample and counts it in
/// [`n_dropped`](Self::n_dropped), so a long outage costs the oldest samples, never
/// unbounded memory. It also remembers how far the current connection has sent, so a
/// sample is never sent twice on one connection, and [`rewind`](Self::rewind) makes
/// everything unacknowledged due again for the next one.
#[derive(Debug)]
pub struct ReplayBuffer<T> {
    entries: VecDeque<(u64, T)>,
    capacity: usize,
    /// Highest `seq` handed out by [`take_unsent`](Self::take_unsent) on this connection.
    sent_upto: u64,
    /// Highest `seq` acknowledged so far.
    acked_upto: u64,
    n_dropped: u64,
}

impl<T: Clone> ReplayBuffer<T> {
    /// An empty buffer holding at most `capacity` samples (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        ReplayBuffer {
            entries: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            sent_upto: 0,
            acked_upto: 0,
            n_dropped: 0,
        }
    }

    /// Appends a sample; `seq` must be above every `seq` pushed before. When the buffer is
    /// full the oldest sample is dropped first and its `seq` returned.
    pub fn push(&mut self, seq: u64, item: T) -> Option<u64> {
        debug_assert!(self.entries.back().is_none_or(|(last, _)| *last < seq));
        let dropped = if self.entries.len() >= self.capacity {
            self.n_dropped += 1;
            self.entries.pop_front().map(|(seq, _)| seq)
        } else {
            None
        };
        self.entries.push_back((seq, item));
        dropped
    }

    /// Forgets every sample up to and including `seq`: the server has taken them.
    ///
    /// An ack never reaches beyond what this connection has sent, so a confused server
    /// cannot make the edge forget samples it never received. Returns how many were freed.
    pub fn ack(&mut self, seq: u64) -> usize {
        let seq = seq.min(self.sent_upto);
        self.acked_upto = self.acked_upto.max(seq);
        let before = self.entries.len();
        while self.entries.front().is_some_and(|(s, _)| *s <= seq) {
            self.entries.pop_front();
        }
        before - self.entries.len()
    }

    /// Hands out up to `max` samples not yet sent on this connection, in order, and marks
    /// them sent.
    pub fn take_unsent(&mut self, max: usize, out: &mut Vec<T>) {
        let start = self
            .entries
            .partition_point(|(seq, _)| *seq <= self.sent_upto);
        for (seq, item) in self.entries.range(start..).take(max) {
            out.push(item.clone());
            self.sent_upto = *seq;
        }
    }

    /// A new connection starts: every unacknowledged sample is due again, oldest first.
    pub fn rewind(&mut self) {
        self.sent_upto = self.acked_upto;
    }

    /// Samples held (sent or not).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held: everything taken was acknowledged (or dropped).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Samples sent on this connection and not acknowledged yet.
    pub fn in_flight(&self) -> usize {
        self.entries
            .partition_point(|(seq, _)| *seq <= self.sent_upto)
    }

    /// Whether some samples were never sent on this connection.
    pub fn has_unsent(&self) -> bool {
        self.entries
            .back()
            .is_some_and(|(seq, _)| *seq > self.sent_upto)
    }

    /// Samples dropped because the buffer was full, since the start.
    pub fn n_dropped(&self) -> u64 {
        self.n_dropped
    }

    /// Most samples held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(capacity: usize, n: u64) -> ReplayBuffer<u64> {
        let mut buffer = ReplayBuffer::new(capacity);
        for seq in 1..=n {
            buffer.push(seq, seq * 10);
        }
        buffer
    }

    fn take(buffer: &mut ReplayBuffer<u64>, max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        buffer.take_unsent(max, &mut out);
        out
    }

    #[test]
    fn sends_in_order_and_never_twice_on_one_connection() {
        let mut buffer = filled(10, 3);
        assert_eq!(take(&mut buffer, 2), vec![10, 20]);
        assert_eq!(take(&mut buffer, 10), vec![30]);
        assert_eq!(take(&mut buffer, 10), Vec::<u64>::new());
        buffer.push(4, 40);
        assert_eq!(take(&mut buffer, 10), vec![40]);
        assert_eq!(buffer.in_flight(), 4);
        assert!(!buffer.has_unsent());
    }

    #[test]
    fn ack_is_cumulative() {
        let mut buffer = filled(10, 5);
        take(&mut buffer, 10);
        assert_eq!(buffer.ack(3), 3);
        assert_eq!(buffer.len(), 2);
        assert_eq!(buffer.ack(2), 0, "an older ack changes nothing");
        assert_eq!(buffer.ack(5), 2);
        assert!(buffer.is_empty());
    }

    #[test]
    fn rewind_resends_everything_unacknowledged() {
        let mut buffer = filled(10, 5);
        take(&mut buffer, 10);
        buffer.ack(2);
        buffer.rewind();
        assert_eq!(take(&mut buffer, 10), vec![30, 40, 50]);
    }

    #[test]
    fn ack_beyond_what_was_sent_is_clamped() {
        let mut buffer = filled(10, 5);
        take(&mut buffer, 2);
        assert_eq!(buffer.ack(99), 2);
        assert_eq!(take(&mut buffer, 10), vec![30, 40, 50]);
    }

    #[test]
    fn full_buffer_drops_the_oldest() {
        let mut buffer = filled(3, 3);
        take(&mut buffer, 1);
        assert_eq!(buffer.push(4, 40), Some(1));
        assert_eq!(buffer.push(5, 50), Some(2));
        assert_eq!(buffer.n_dropped(), 2);
        assert_eq!(buffer.len(), 3);
        // Seq 1 was in flight and is gone; the rest go out in order with no repeat.
        assert_eq!(take(&mut buffer, 10), vec![30, 40, 50]);
        buffer.rewind();
        assert_eq!(take(&mut buffer, 10), vec![30, 40, 50]);
    }

    #[test]
    fn capacity_is_at_least_one() {
        let mut buffer = ReplayBuffer::new(0);
        assert_eq!(buffer.capacity(), 1);
        buffer.push(1, 1);
        assert_eq!(buffer.push(2, 2), Some(1));
    }
}
