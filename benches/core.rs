//! How fast the native core runs: scenario steps per second of the simulated world (the engine
//! of the property test and the exhaustive exploration), and the raw cost of one guard input.
//! Run with `cargo bench --bench core`. The point is to show the core is never the bottleneck:
//! a page feeds it a handful of inputs per click.
//!
//! `cargo xtask bench` runs this with `BENCH_JSON=<file>` (the numbers are also written there
//! as JSON) and, for `--quick`, `BENCH_QUICK=1` (a twentieth of the work).

#[path = "../tests/sim/mod.rs"]
mod sim;

use checkout_guard::core::config::Config;
use checkout_guard::core::fingerprint::Fingerprint;
use checkout_guard::core::ids::OrderNo;
use checkout_guard::core::machine::{CallerId, Guard, Input};
use checkout_guard::core::time::Millis;
use sim::World;
use std::hint::black_box;
use std::time::Instant;

fn main() {
    // Scenario steps: the seeded sweep of the property test, in a release build.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let sequences = if quick { 1_000u32 } else { 20_000 };
    let started = Instant::now();
    let mut steps = 0u64;
    for _ in 0..sequences {
        let mut world = World::new(1 + (next() % 2) as usize);
        for _ in 0..(next() % 150) {
            world.step(
                (next() % u64::from(World::EVENTS)) as u16,
                (next() % 64) as u16,
            );
        }
        world.settle();
        steps += world.steps;
    }
    let secs = started.elapsed().as_secs_f64();
    let steps_per_sec = steps as f64 / secs;
    println!(
        "core: simulated world: {sequences} sequences, {steps} steps in {secs:.2} s = {:.0} sequences/s, {:.0} steps/s",
        f64::from(sequences) / secs,
        steps_per_sec
    );

    // The double click: a pay for an order already in flight joins it.
    let mut guard = Guard::new(Config::default(), [7; 32]).unwrap_or_else(|e| panic!("{e}"));
    let order = OrderNo::parse("A1").unwrap_or_else(|e| panic!("{e}"));
    let fingerprint = Fingerprint::parse(&"ab".repeat(32)).unwrap_or_else(|| panic!("fp"));
    let now = Millis(1_800_000_000_000);
    guard.handle(
        Input::Pay {
            order_no: order.clone(),
            fingerprint: fingerprint.clone(),
            caller: CallerId(0),
        },
        now,
    );
    while guard.poll_action().is_some() {}
    let joins = if quick { 50_000 } else { 1_000_000u64 };
    let started = Instant::now();
    for caller in 1..=joins {
        guard.handle(
            Input::Pay {
                order_no: order.clone(),
                fingerprint: fingerprint.clone(),
                caller: CallerId(caller),
            },
            now,
        );
        black_box(guard.poll_action());
    }
    let ns = started.elapsed().as_nanos() as f64 / joins as f64;
    println!("core: a click joining a payment in flight: {ns:.0} ns per input (native)");
    if let Some(path) = std::env::var_os("BENCH_JSON") {
        let json = serde_json::json!({
            "sequences": sequences,
            "steps": steps,
            "secs": secs,
            "stepsPerSec": steps_per_sec,
            "joinNs": ns,
        });
        if let Err(e) = std::fs::write(&path, json.to_string()) {
            eprintln!("core: cannot write {}: {e}", path.to_string_lossy());
            std::process::exit(1);
        }
    }
}
