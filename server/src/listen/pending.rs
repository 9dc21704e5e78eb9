//! The set of connections that have not yet sent a complete request, bounded.
//!
//! A connection joins when it is accepted and leaves when its first request's headers
//! are complete (or it closes). When the set is full, admitting a new connection evicts
//! the oldest one: a flood of slow or silent sockets then costs each of them its place
//! in the queue, never a newcomer that talks at once, and never more descriptors than
//! the bound. Connections that have sent a request are not in the set and are never
//! evicted by it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// Connections that have not sent a complete request yet; cheap to clone.
#[derive(Debug, Clone)]
pub struct PendingSet(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    capacity: usize,
    /// Oldest first: keys are admission numbers.
    members: Mutex<Members>,
}

#[derive(Debug, Default)]
struct Members {
    next_id: u64,
    by_id: BTreeMap<u64, CancellationToken>,
    evicted: u64,
}

/// One connection's place in a [`PendingSet`]; leaving the set is [`PendingTicket::release`]
/// or dropping the ticket.
#[derive(Debug)]
pub struct PendingTicket {
    set: PendingSet,
    id: u64,
    released: AtomicBool,
    /// Cancelled when a newer connection took this one's place.
    pub evicted: CancellationToken,
}

impl PendingSet {
    /// A set holding at most `capacity` connections (at least one).
    pub fn new(capacity: usize) -> PendingSet {
        PendingSet(Arc::new(Inner {
            capacity: capacity.max(1),
            members: Mutex::new(Members::default()),
        }))
    }

    /// Adds a connection, evicting the oldest member first when the set is full.
    pub fn admit(&self) -> PendingTicket {
        let evicted = CancellationToken::new();
        let id = {
            let mut members = lock(&self.0.members);
            while members.by_id.len() >= self.0.capacity {
                if !members.evict_oldest() {
                    break;
                }
            }
            let id = members.next_id;
            members.next_id += 1;
            members.by_id.insert(id, evicted.clone());
            id
        };
        PendingTicket {
            set: self.clone(),
            id,
            released: AtomicBool::new(false),
            evicted,
        }
    }

    /// Evicts the oldest member, if any; used when the process runs out of descriptors.
    pub fn evict_oldest(&self) -> bool {
        lock(&self.0.members).evict_oldest()
    }

    /// Members right now.
    pub fn len(&self) -> usize {
        lock(&self.0.members).by_id.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Connections evicted since start.
    pub fn evicted(&self) -> u64 {
        lock(&self.0.members).evicted
    }

    fn remove(&self, id: u64) {
        lock(&self.0.members).by_id.remove(&id);
    }
}

impl Members {
    fn evict_oldest(&mut self) -> bool {
        match self.by_id.pop_first() {
            Some((_, token)) => {
                token.cancel();
                self.evicted += 1;
                true
            }
            None => false,
        }
    }
}

impl PendingTicket {
    /// Leaves the set: the connection has sent a complete request. Idempotent and cheap
    /// after the first call, so it can run on every request.
    pub fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.set.remove(self.id);
        }
    }

    /// Whether [`PendingTicket::release`] has run.
    pub fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }
}

impl Drop for PendingTicket {
    fn drop(&mut self) {
        self.release();
    }
}

/// Locks, tolerating poison: the set stays consistent after every statement.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_set_evicts_its_oldest_member() {
        let set = PendingSet::new(2);
        let a = set.admit();
        let b = set.admit();
        assert_eq!(set.len(), 2);
        let c = set.admit();
        assert!(a.evicted.is_cancelled());
        assert!(!b.evicted.is_cancelled());
        assert!(!c.evicted.is_cancelled());
        assert_eq!(set.len(), 2);
        assert_eq!(set.evicted(), 1);
    }

    #[test]
    fn released_connections_leave_and_are_never_evicted() {
        let set = PendingSet::new(1);
        let a = set.admit();
        a.release();
        a.release();
        assert!(a.is_released());
        assert!(set.is_empty());
        let _b = set.admit();
        let _c = set.admit();
        assert!(!a.evicted.is_cancelled());
    }

    #[test]
    fn dropping_a_ticket_frees_its_place() {
        let set = PendingSet::new(3);
        let a = set.admit();
        let _b = set.admit();
        drop(a);
        assert_eq!(set.len(), 1);
        assert!(set.evict_oldest());
        assert!(!set.evict_oldest());
    }
}
