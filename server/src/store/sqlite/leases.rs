//! The SQLite store's leases, in memory: one lock per order so a close/create for an order
//! never runs twice at once, one change signal per order that wakes long-polls, and the
//! order-submission keys in flight.
//!
//! Only about this process's concurrency (run one server per database file); what must
//! survive a crash is in SQLite, and the store's conditional writes keep the contract even
//! without these locks (see [`crate::store`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The coordination state of one order.
#[derive(Debug)]
pub struct Slot {
    /// Held while a create, a close or a status evaluation for the order runs.
    pub lock: Arc<tokio::sync::Mutex<()>>,
    /// Bumped whenever the order's payment state changes.
    pub changed: watch::Sender<u64>,
}

/// All orders' slots, created on first use and kept (a few hundred bytes per order touched
/// since the start: fine for a reference backend; a production one would evict idle slots).
#[derive(Debug, Default)]
pub struct Slots {
    map: Mutex<HashMap<String, Arc<Slot>>>,
}

impl Slots {
    /// The slot of `order_no`.
    pub fn get(&self, order_no: &str) -> Arc<Slot> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(order_no.to_owned())
            .or_insert_with(|| {
                Arc::new(Slot {
                    lock: Arc::new(tokio::sync::Mutex::new(())),
                    changed: watch::Sender::new(0),
                })
            })
            .clone()
    }

    /// Wakes everyone waiting on any order (a store that may have missed changes: they
    /// re-read).
    pub fn signal_all(&self) {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for slot in map.values() {
            slot.changed.send_modify(|v| *v = v.wrapping_add(1));
        }
    }

    /// Wakes everyone waiting on `order_no`.
    pub fn signal(&self, order_no: &str) {
        self.get(order_no)
            .changed
            .send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Submission keys being handled right now (contract §4: a second request with a key whose
/// first request is still running is `409 in_progress`, not a second order). In memory, like
/// the order locks: what must survive a crash is the stored submission, written before the
/// reply.
#[derive(Debug, Default)]
pub struct KeyClaims {
    held: Arc<Mutex<HashSet<(String, String)>>>,
}

/// A claimed key; dropping it (the request ended, was cancelled or lost its connection)
/// releases the key.
#[derive(Debug)]
pub struct KeyClaim {
    held: Arc<Mutex<HashSet<(String, String)>>>,
    key: (String, String),
}

impl KeyClaims {
    /// Claims `key` of `buyer`; `None` while another request holds it.
    pub fn claim(&self, buyer: &str, key: &str) -> Option<KeyClaim> {
        let key = (buyer.to_owned(), key.to_owned());
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(key.clone()).then(|| KeyClaim {
            held: self.held.clone(),
            key,
        })
    }
}

impl Drop for KeyClaim {
    fn drop(&mut self) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_held_until_its_claim_is_dropped() {
        let claims = KeyClaims::default();
        let first = claims.claim("buyer", "k");
        assert!(first.is_some());
        assert!(claims.claim("buyer", "k").is_none());
        assert!(claims.claim("other", "k").is_some(), "keys are per buyer");
        drop(first);
        assert!(claims.claim("buyer", "k").is_some());
    }
}
