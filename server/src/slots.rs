//! Per-order coordination in memory: one lock so a close/create for an order never runs twice
//! at once, and one change signal that wakes long-polls.
//!
//! The lock is only about this process's concurrency; what must survive a crash is in SQLite.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The coordination state of one order.
#[derive(Debug)]
pub struct Slot {
    /// Held while a create or a status evaluation for the order runs.
    pub lock: tokio::sync::Mutex<()>,
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
                    lock: tokio::sync::Mutex::new(()),
                    changed: watch::Sender::new(0),
                })
            })
            .clone()
    }

    /// Wakes everyone waiting on `order_no`.
    pub fn signal(&self, order_no: &str) {
        self.get(order_no)
            .changed
            .send_modify(|v| *v = v.wrapping_add(1));
    }
}
