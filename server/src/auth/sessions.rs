//! Login sessions: a random cookie value per login, kept in memory only as its hash, with
//! a lifetime. Bounded: past [`MAX_SESSIONS`] the session closest to expiry is dropped.
//! A restart logs everybody out, which is the safe direction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::secret::{random_token, sha256, Digest256};

/// Most sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;

/// Live sessions; cheap to clone.
#[derive(Debug, Clone)]
pub struct Sessions {
    ttl: Duration,
    by_hash: Arc<Mutex<HashMap<Digest256, Session>>>,
}

#[derive(Debug, Clone)]
struct Session {
    user: Arc<str>,
    expires: Instant,
}

impl Sessions {
    /// An empty store whose sessions last `ttl`.
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            ttl,
            by_hash: Arc::default(),
        }
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Starts a session for `user`; returns the cookie value.
    pub fn start(&self, user: &str, now: Instant) -> String {
        let token = random_token();
        let mut by_hash = self.lock();
        if by_hash.len() >= MAX_SESSIONS {
            by_hash.retain(|_, s| s.expires > now);
        }
        if by_hash.len() >= MAX_SESSIONS {
            let soonest = by_hash
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(hash, _)| *hash);
            if let Some(hash) = soonest {
                by_hash.remove(&hash);
            }
        }
        by_hash.insert(
            sha256(&token),
            Session {
                user: Arc::from(user),
                expires: now + self.ttl,
            },
        );
        token
    }

    /// The user of a live session, or `None` (unknown or expired; expired ones are removed).
    pub fn user(&self, token: &str, now: Instant) -> Option<Arc<str>> {
        let hash = sha256(token);
        let mut by_hash = self.lock();
        match by_hash.get(&hash) {
            Some(session) if session.expires > now => Some(session.user.clone()),
            Some(_) => {
                by_hash.remove(&hash);
                None
            }
            None => None,
        }
    }

    /// Ends a session (logout).
    pub fn end(&self, token: &str) {
        self.lock().remove(&sha256(token));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest256, Session>> {
        self.by_hash.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = Instant::now();
        let token = sessions.start("alice", now);
        assert_eq!(sessions.user(&token, now).as_deref(), Some("alice"));
        assert_eq!(sessions.user("forged", now), None);
        assert_eq!(sessions.user(&token, now + Duration::from_secs(61)), None);
        let token = sessions.start("alice", now);
        sessions.end(&token);
        assert_eq!(sessions.user(&token, now), None);
    }

    #[test]
    fn the_store_is_bounded() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = Instant::now();
        let first = sessions.start("a", now);
        for i in 0..MAX_SESSIONS {
            sessions.start("b", now + Duration::from_millis(1 + i as u64));
        }
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
        assert_eq!(sessions.user(&first, now), None, "the oldest was dropped");
    }
}
