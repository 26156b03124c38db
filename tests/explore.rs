//! Exhaustive bounded exploration: from a few starting points, **every** interleaving of the
//! world's moves (clicks in two tabs, request/reply delivery in any order, losses, duplicates,
//! time-outs, wallet results, the buyer paying any live attempt, timers, reloads, broadcasts,
//! the page shown again, content changes, a clock jump) up to a depth, breadth-first, with
//! states deduplicated by hash. The promise is checked in every state reached, and every
//! state at the last level is then settled (reliable network, buyer walks away) to check that
//! nothing is left stuck and a paid order stays paid.
//!
//! Depth comes from `EXPLORE_DEPTH` (default 3 here; `cargo xtask ci` runs a deeper release
//! build) so that a plain `cargo test` stays quick.

mod sim;

use sim::{Move, Wallet, World};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::time::Instant;

/// A state's identity: everything but the log and step counter.
fn fingerprint(world: &World) -> u64 {
    let mut probe = world.clone();
    probe.log.clear();
    probe.steps = 0;
    let mut hasher = DefaultHasher::new();
    format!("{probe:?}").hash(&mut hasher);
    hasher.finish()
}

struct Report {
    states: usize,
    transitions: usize,
    settled: usize,
}

fn explore(name: &str, start: World, depth: usize) -> Report {
    let started = Instant::now();
    let mut seen = HashSet::new();
    seen.insert(fingerprint(&start));
    let mut frontier = vec![(start, Vec::<Move>::new())];
    let mut transitions = 0;
    for _ in 0..depth {
        let mut next = Vec::new();
        for (world, path) in &frontier {
            for m in world.moves() {
                let mut after = world.clone();
                let mut path = path.clone();
                path.push(m);
                transitions += 1;
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    after.apply(m);
                    after
                }));
                let after = result.unwrap_or_else(|_| panic!("{name}: promise broken by {path:?}"));
                if seen.insert(fingerprint(&after)) {
                    next.push((after, path));
                }
            }
        }
        frontier = next;
    }
    let settled = frontier.len();
    for (world, path) in frontier {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let mut world = world;
            world.settle();
            world.pay_again_after_settling();
            world.buyer_can_finish();
        }));
        if result.is_err() {
            panic!("{name}: settling after {path:?} failed");
        }
    }
    println!(
        "explore {name}: depth {depth}, {} states, {transitions} transitions, {settled} settled, {:.1} s",
        seen.len(),
        started.elapsed().as_secs_f64()
    );
    Report {
        states: seen.len(),
        transitions,
        settled,
    }
}

fn depth() -> usize {
    std::env::var("EXPLORE_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(3)
}

/// Plays a fixed opening, answering each request as it comes.
fn opening(moves: &[Move]) -> World {
    let mut world = World::new(2);
    for &m in moves {
        world.apply(m);
    }
    world
}

#[test]
fn two_idle_tabs() {
    let report = explore("idle", World::new(2), depth() + 1);
    assert!(report.states > 100 && report.transitions > report.states);
}

#[test]
fn create_in_flight() {
    // Tab 0 clicked; the server said `none`; the create request is on its way.
    let start = opening(&[
        Move::Click(0),
        Move::DeliverRequest(0),
        Move::DeliverReply(0),
    ]);
    assert_eq!(start.network.len(), 1, "{:?}", start.log);
    let report = explore("create-in-flight", start, depth());
    assert!(report.settled > 0);
}

#[test]
fn wallet_open() {
    // Tab 0's payment is launched: the buyer is in the wallet.
    let start = opening(&[
        Move::Click(0),
        Move::DeliverRequest(0),
        Move::DeliverReply(0),
        Move::DeliverRequest(0),
        Move::DeliverReply(0),
    ]);
    assert_eq!(start.tabs[0].launches.len(), 1, "{:?}", start.log);
    let report = explore("wallet-open", start, depth());
    assert!(report.settled > 0);
}

#[test]
fn paid_while_polling() {
    // The buyer paid and the launcher returned; the page polls the status.
    let start = opening(&[
        Move::Click(0),
        Move::DeliverRequest(0),
        Move::DeliverReply(0),
        Move::DeliverRequest(0),
        Move::DeliverReply(0),
        Move::FinishLaunch(0, Wallet::PayThenOk),
    ]);
    assert_eq!(start.server.charges, 1);
    let report = explore("paid-while-polling", start, depth());
    assert!(report.settled > 0);
}
