//! What the edge logs about its master, rate-limited and made safe.
//!
//! A misbehaving or hostile master controls how often the edge has something to say
//! (error frames, junk frames, close reasons, reconnects) and the text it says it with.
//! [`PeerLog`] lets at most [`PeerLog::LINES_PER_MINUTE`] lines of each [`Kind`] through per
//! minute and reports how many it held back; [`peer_text`] cuts and escapes the master's
//! words so they cannot forge log lines or terminal escapes. Pure: callers pass the time.

use std::time::{Duration, Instant};

/// Most characters of master-supplied text kept in one log line.
pub const MAX_PEER_TEXT_CHARS: usize = 160;

/// The kinds of master behaviour that are logged, each limited on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The master sent an error frame.
    ErrorFrame,
    /// The master sent a frame that does not decode.
    BadFrame,
    /// The master closed the connection (with or without a reason).
    Closed,
    /// The connection failed (socket error, no ack, stalled send).
    Lost,
    /// Connected / disconnected lifecycle lines.
    Lifecycle,
}

/// Per-kind fixed one-minute windows: the first [`PeerLog::LINES_PER_MINUTE`] occurrences
/// of a kind in a window are logged, the rest only counted.
#[derive(Debug, Default)]
pub struct PeerLog {
    windows: [Window; Kind::COUNT],
}

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl Kind {
    const COUNT: usize = 5;

    fn index(self) -> usize {
        match self {
            Kind::ErrorFrame => 0,
            Kind::BadFrame => 1,
            Kind::Closed => 2,
            Kind::Lost => 3,
            Kind::Lifecycle => 4,
        }
    }
}

impl PeerLog {
    /// Lines of one kind logged per minute at most.
    pub const LINES_PER_MINUTE: u32 = 5;

    /// Length of one window.
    pub const WINDOW: Duration = Duration::from_secs(60);

    /// Whether to log an occurrence of `kind` now. `Some(n)`: log it, and say that `n`
    /// occurrences were held back since the last line of this kind; `None`: stay quiet
    /// (the occurrence is counted).
    pub fn allow(&mut self, kind: Kind, now: Instant) -> Option<u64> {
        let window = &mut self.windows[kind.index()];
        let expired = window
            .started
            .is_none_or(|started| now.saturating_duration_since(started) >= Self::WINDOW);
        if expired {
            window.started = Some(now);
            window.logged = 0;
        }
        if window.logged >= Self::LINES_PER_MINUTE {
            window.suppressed += 1;
            return None;
        }
        window.logged += 1;
        Some(std::mem::take(&mut window.suppressed))
    }
}

/// Master-supplied text made safe for one log line: control characters, quotes and
/// backslashes escaped (`\n`, `\u{1b}`, ...), cut to [`MAX_PEER_TEXT_CHARS`] characters with
/// the number of bytes left out.
pub fn peer_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_PEER_TEXT_CHARS * 2));
    let mut taken_bytes = 0;
    for (i, c) in text.chars().enumerate() {
        if i == MAX_PEER_TEXT_CHARS {
            break;
        }
        out.extend(c.escape_debug());
        taken_bytes += c.len_utf8();
    }
    if taken_bytes < text.len() {
        out.push_str(&format!("... ({} more bytes)", text.len() - taken_bytes));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_gets_its_own_lines_per_minute() {
        let mut log = PeerLog::default();
        let t0 = Instant::now();
        let logged = (0..1000)
            .filter(|i| {
                let at = t0 + Duration::from_millis(*i);
                log.allow(Kind::ErrorFrame, at).is_some()
            })
            .count();
        assert_eq!(logged, PeerLog::LINES_PER_MINUTE as usize);
        // Another kind is not starved by the first.
        assert_eq!(log.allow(Kind::BadFrame, t0), Some(0));
        // The next window reports what was held back.
        let later = t0 + PeerLog::WINDOW + Duration::from_millis(1);
        assert_eq!(
            log.allow(Kind::ErrorFrame, later),
            Some(1000 - u64::from(PeerLog::LINES_PER_MINUTE))
        );
        assert_eq!(log.allow(Kind::ErrorFrame, later), Some(0));
    }

    #[test]
    fn peer_text_is_escaped_and_cut() {
        assert_eq!(peer_text("plain reason"), "plain reason");
        assert_eq!(
            peer_text("line\nINFO forged\u{1b}[31mred\"q\\"),
            "line\\nINFO forged\\u{1b}[31mred\\\"q\\\\"
        );
        let long = "é".repeat(1000);
        let cut = peer_text(&long);
        assert!(cut.starts_with(&"é".repeat(MAX_PEER_TEXT_CHARS)));
        assert!(cut.ends_with("... (1680 more bytes)"), "{cut}");
        assert!(!cut.contains('\n'));
    }
}
