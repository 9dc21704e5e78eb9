//! When to acknowledge: cumulative acks, at most one per gap, never before the commit.
//!
//! The connection loop only reports what happened (a commit resolved, an ack went out) and
//! asks when the next ack is due; all the arithmetic lives here, without a socket, so it is
//! tested with tokio's paused clock.

use std::time::Duration;

use tokio::time::Instant;

/// Ack state of one edge connection.
#[derive(Debug)]
pub struct AckPacer {
    gap: Duration,
    /// Highest sequence number whose commit (and every earlier one) has resolved.
    committed: u64,
    /// Highest sequence number sent in an ack.
    acked: u64,
    last_sent: Option<Instant>,
    /// When the next ack should go out; `None` when nothing is owed.
    due: Option<Instant>,
}

impl AckPacer {
    /// A pacer that sends at most one ack per `gap`.
    pub fn new(gap: Duration) -> AckPacer {
        AckPacer {
            gap,
            committed: 0,
            acked: 0,
            last_sent: None,
            due: None,
        }
    }

    /// A commit of `seq` resolved at `now`. An ack is owed even when `seq` does not advance
    /// the cumulative position: a replaying edge learns the server has its duplicates and
    /// moves on.
    pub fn committed(&mut self, seq: u64, now: Instant) {
        self.committed = self.committed.max(seq);
        if self.due.is_none() {
            let earliest = self.last_sent.map_or(now, |at| at + self.gap);
            self.due = Some(earliest.max(now));
        }
    }

    /// When the owed ack should be sent, if one is owed.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// The sequence number to send now; call [`AckPacer::sent`] once it went out.
    pub fn next(&self) -> u64 {
        self.committed
    }

    /// The ack for [`AckPacer::next`] was sent at `now`.
    pub fn sent(&mut self, now: Instant) {
        self.acked = self.committed;
        self.last_sent = Some(now);
        self.due = None;
    }

    /// When the last ack went out.
    pub fn last_sent(&self) -> Option<Instant> {
        self.last_sent
    }

    /// The last ack before the connection closes: owed when anything committed since the
    /// last one, whatever the gap.
    pub fn final_ack(&self) -> Option<u64> {
        (self.committed > self.acked || self.due.is_some()).then_some(self.committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::advance;

    const GAP: Duration = Duration::from_millis(100);

    #[tokio::test(start_paused = true)]
    async fn the_first_commit_is_acked_at_once() {
        let mut pacer = AckPacer::new(GAP);
        assert_eq!(pacer.due(), None);
        let now = Instant::now();
        pacer.committed(1, now);
        assert_eq!(pacer.due(), Some(now));
        assert_eq!(pacer.next(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn commits_within_the_gap_share_one_cumulative_ack() {
        let mut pacer = AckPacer::new(GAP);
        pacer.committed(1, Instant::now());
        pacer.sent(Instant::now());
        let sent_at = Instant::now();
        advance(Duration::from_millis(10)).await;
        pacer.committed(2, Instant::now());
        advance(Duration::from_millis(10)).await;
        pacer.committed(3, Instant::now());
        assert_eq!(pacer.due(), Some(sent_at + GAP), "paced, not immediate");
        assert_eq!(pacer.next(), 3, "cumulative");
        advance(Duration::from_millis(80)).await;
        pacer.sent(Instant::now());
        assert_eq!(pacer.due(), None);
        assert_eq!(pacer.final_ack(), None, "nothing owed after the ack");
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_quiet_spell_the_next_commit_is_acked_at_once() {
        let mut pacer = AckPacer::new(GAP);
        pacer.committed(1, Instant::now());
        pacer.sent(Instant::now());
        advance(Duration::from_secs(1)).await;
        let now = Instant::now();
        pacer.committed(2, now);
        assert_eq!(pacer.due(), Some(now));
    }

    #[tokio::test(start_paused = true)]
    async fn a_duplicate_is_acked_even_though_the_position_does_not_move() {
        let mut pacer = AckPacer::new(GAP);
        pacer.committed(5, Instant::now());
        pacer.sent(Instant::now());
        advance(GAP).await;
        pacer.committed(3, Instant::now());
        assert!(pacer.due().is_some());
        assert_eq!(pacer.next(), 5, "never goes backwards");
        assert_eq!(pacer.final_ack(), Some(5));
    }

    #[tokio::test(start_paused = true)]
    async fn the_final_ack_covers_commits_not_yet_acked() {
        let mut pacer = AckPacer::new(GAP);
        assert_eq!(pacer.final_ack(), None, "nothing committed");
        pacer.committed(1, Instant::now());
        pacer.sent(Instant::now());
        pacer.committed(2, Instant::now());
        assert_eq!(pacer.final_ack(), Some(2));
    }
}
