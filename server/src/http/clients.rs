//! Limits on dashboard WebSocket clients, so browsers (or anything posing as one) cannot
//! cost the server unbounded memory.
//!
//! Two bounds: at most `--max-dashboard-clients` connections (more are refused with 503
//! before the upgrade), and at most [`SEND_BUDGET_BYTES`] of dashboard messages being sent
//! at once across all clients. A client that never reads keeps its message's bytes until
//! its send times out and it is dropped; while the budget is used up, other clients wait
//! for their turn instead of adding more (see `live.rs`).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of dashboard messages that may be in the middle of being sent, all clients
/// together. Permits are counted in KiB.
pub const SEND_BUDGET_BYTES: usize = 64 * 1024 * 1024;

/// Default of `--max-dashboard-clients`.
pub const DEFAULT_MAX_CLIENTS: usize = 128;

const KIB: usize = 1024;

/// Client slots and the send budget; cheap to clone.
#[derive(Debug, Clone)]
pub struct DashboardLimits {
    slots: Arc<Semaphore>,
    budget: Arc<Semaphore>,
}

/// A connected client's slot, freed when dropped.
#[derive(Debug)]
pub struct ClientSlot(#[allow(dead_code)] OwnedSemaphorePermit);

/// A share of the send budget, returned when dropped.
#[derive(Debug)]
pub struct SendShare(#[allow(dead_code)] OwnedSemaphorePermit);

impl DashboardLimits {
    /// At most `max_clients` clients (0 refuses every one).
    pub fn new(max_clients: usize) -> DashboardLimits {
        DashboardLimits {
            slots: Arc::new(Semaphore::new(max_clients)),
            budget: Arc::new(Semaphore::new(SEND_BUDGET_BYTES / KIB)),
        }
    }

    /// A slot for a new client, or `None` when every slot is taken.
    pub fn admit(&self) -> Option<ClientSlot> {
        Arc::clone(&self.slots)
            .try_acquire_owned()
            .ok()
            .map(ClientSlot)
    }

    /// Waits for `bytes` of the send budget (a message larger than the whole budget takes
    /// all of it).
    pub async fn share(&self, bytes: usize) -> SendShare {
        let kib = bytes.div_ceil(KIB).clamp(1, SEND_BUDGET_BYTES / KIB);
        // Cannot fail: the semaphore is never closed, and `kib` fits in u32.
        let permit = Arc::clone(&self.budget)
            .acquire_many_owned(kib as u32)
            .await
            .expect("the dashboard send budget is never closed");
        SendShare(permit)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn slots_are_counted_and_freed() {
        let limits = DashboardLimits::new(2);
        let a = limits.admit().unwrap();
        let _b = limits.admit().unwrap();
        assert!(limits.admit().is_none());
        drop(a);
        assert!(limits.admit().is_some());
        assert!(DashboardLimits::new(0).admit().is_none());
    }

    #[tokio::test]
    async fn the_send_budget_makes_later_messages_wait() {
        let limits = DashboardLimits::new(10);
        let stalled = limits.share(SEND_BUDGET_BYTES).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), limits.share(10)).await;
        assert!(waiting.is_err(), "the budget is used up");
        drop(stalled);
        let _small = limits.share(10).await;
        // Larger than the whole budget: takes all of it rather than waiting forever.
        drop(_small);
        let _huge = limits.share(10 * SEND_BUDGET_BYTES).await;
    }
}
