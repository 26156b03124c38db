//! What status polling costs: requests per payment against how late the page learns it was
//! paid, for the guard's own schedule (the real `PollRun` of the core, on a virtual clock) and
//! the usual alternatives. Prints a table; run with `cargo bench --bench polling`.
//!
//! Model. A buyer pays at time D after the launch, D drawn from two documented distributions:
//! uniform 5–120 s, and lognormal with median 20 s and sigma 0.8, clamped to 3–600 s. The server
//! sees the payment at once (it queries the provider actively, `docs/contract.md` §2 rule 2). A
//! status request takes one round trip (RTT 150 ms); the server reads the state half-way. At
//! most one request is in flight. With long-poll (`Prefer: wait=N`) the server holds the reply
//! until the status changes or N seconds pass. Two flows:
//! - **signal**: the wallet returns to the page at D (JSAPI, mini-program, the buyer coming
//!   back). The guard starts its fast checks then; the alternatives poll from the launch.
//! - **qr**: a QR code on screen, no signal: everyone polls from the launch.
//!
//! Reported per strategy: mean requests per payment, detection delay (reply time minus D)
//! p50/p95/p99, the product requests × p95 (lower is better), and payments missed by the
//! strategy's deadline (10 minutes for all).
//!
//! `cargo xtask bench` runs this with `BENCH_JSON=<file>` (the rows are also written there as
//! JSON) and, for `--quick`, `BENCH_QUICK=1` (1,000 payments per row instead of 20,000).

use checkout_guard::core::schedule::{PollConfig, PollRun};
use checkout_guard::core::time::Millis;

const RTT: u64 = 150;
const DEADLINE: u64 = 600_000;
const SAMPLES: usize = 20_000;
const QUICK_SAMPLES: usize = 1_000;

/// splitmix64: a small seeded generator so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        // Box–Muller.
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[derive(Clone, Copy)]
enum Delay {
    Uniform,
    Lognormal,
}

impl Delay {
    fn name(self) -> &'static str {
        match self {
            Delay::Uniform => "uniform 5-120 s",
            Delay::Lognormal => "lognormal median 20 s, sigma 0.8",
        }
    }

    fn sample(self, rng: &mut Rng) -> u64 {
        let secs = match self {
            Delay::Uniform => 5.0 + 115.0 * rng.unit(),
            Delay::Lognormal => (20f64.ln() + 0.8 * rng.normal()).exp().clamp(3.0, 600.0),
        };
        (secs * 1000.0) as u64
    }
}

/// When the next request may be sent, given how many were sent and when the last one was.
type NextAt<'a> = Box<dyn FnMut(u32, u64, &mut Rng) -> Option<u64> + 'a>;

struct Strategy {
    name: &'static str,
    /// Long-poll seconds (0: plain polling).
    wait_secs: u64,
    /// Starts at the signal when there is one (only the guard listens for it).
    uses_signal: bool,
    make: fn() -> NextAt<'static>,
}

fn fixed(interval: u64) -> NextAt<'static> {
    Box::new(move |n, last, _| Some(if n == 0 { last } else { last + interval }))
}

fn guard_schedule(long_poll: u32) -> NextAt<'static> {
    let config = PollConfig {
        long_poll_secs: long_poll,
        ..PollConfig::default()
    };
    let mut run: Option<PollRun> = None;
    Box::new(move |n, last, rng| {
        let run = run.get_or_insert_with(|| PollRun::start(&config, Millis(last), None));
        if n > 0 {
            run.on_sent(Millis(last));
        }
        run.next_at(&config, rng.unit(), None).map(|at| at.0)
    })
}

fn strategies() -> Vec<Strategy> {
    vec![
        Strategy {
            name: "guard default (long-poll 20 s)",
            wait_secs: 20,
            uses_signal: true,
            make: || guard_schedule(20),
        },
        Strategy {
            name: "guard, server without long-poll",
            wait_secs: 0,
            uses_signal: true,
            make: || guard_schedule(0),
        },
        Strategy {
            name: "fixed 1 s",
            wait_secs: 0,
            uses_signal: false,
            make: || fixed(1000),
        },
        Strategy {
            name: "fixed 3 s",
            wait_secs: 0,
            uses_signal: false,
            make: || fixed(3000),
        },
        Strategy {
            name: "Adyen-like (2 s, 10 s after 60 s)",
            wait_secs: 0,
            uses_signal: false,
            make: || {
                let mut start = None;
                Box::new(move |n, last, _| {
                    let start = *start.get_or_insert(last);
                    Some(match n {
                        0 => last,
                        _ if last - start < 60_000 => last + 2000,
                        _ => last + 10_000,
                    })
                })
            },
        },
        Strategy {
            name: "backoff 1 s x2 cap 30 s, full jitter",
            wait_secs: 0,
            uses_signal: false,
            make: || {
                Box::new(|n, last, rng| {
                    if n == 0 {
                        return Some(last);
                    }
                    let ceiling = (1000u64 << (n - 1).min(20)).min(30_000);
                    Some(last + (ceiling as f64 * rng.unit()) as u64)
                })
            },
        },
        Strategy {
            name: "long-poll only (Prefer: wait=20)",
            wait_secs: 20,
            uses_signal: false,
            make: || fixed(0),
        },
    ]
}

/// Plays one payment: returns (requests, detection time) or `None` for detection when missed.
fn play(strategy: &Strategy, paid_at: u64, signal: bool, rng: &mut Rng) -> (u32, Option<u64>) {
    let start = if signal && strategy.uses_signal {
        paid_at
    } else {
        0
    };
    let mut next_at = (strategy.make)();
    let wait = strategy.wait_secs * 1000;
    let mut requests = 0;
    let Some(mut sent) = next_at(0, start, rng) else {
        return (0, None);
    };
    loop {
        if sent > start + DEADLINE {
            return (requests, None);
        }
        requests += 1;
        let seen = sent + RTT / 2;
        if seen >= paid_at {
            return (requests, Some(sent + RTT));
        }
        let reply_at = if wait > 0 {
            if paid_at <= seen + wait {
                return (requests, Some(paid_at + RTT / 2));
            }
            seen + wait + RTT / 2
        } else {
            sent + RTT
        };
        let Some(at) = next_at(requests, sent, rng) else {
            return (requests, None);
        };
        sent = at.max(reply_at);
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let samples = if std::env::var_os("BENCH_QUICK").is_some() {
        QUICK_SAMPLES
    } else {
        SAMPLES
    };
    let mut rows = Vec::new();
    println!(
        "status polling cost: {samples} payments per row, RTT {RTT} ms, deadline {} s\n",
        DEADLINE / 1000
    );
    for delay in [Delay::Uniform, Delay::Lognormal] {
        for signal in [true, false] {
            let flow = if signal { "signal" } else { "qr" };
            println!("{} / {flow} flow", delay.name());
            println!(
                "  {:<38} {:>9} {:>8} {:>8} {:>8} {:>11} {:>7}",
                "strategy", "requests", "p50 s", "p95 s", "p99 s", "req x p95", "missed"
            );
            for strategy in strategies() {
                let mut rng = Rng(0x5eed ^ delay as u64 ^ u64::from(signal));
                let mut delays = Vec::with_capacity(samples);
                let (mut requests, mut missed) = (0u64, 0u32);
                for _ in 0..samples {
                    let paid_at = delay.sample(&mut rng);
                    let (n, detected) = play(&strategy, paid_at, signal, &mut rng);
                    requests += u64::from(n);
                    match detected {
                        Some(at) => delays.push(at - paid_at),
                        None => missed += 1,
                    }
                }
                delays.sort_unstable();
                let mean_requests = requests as f64 / samples as f64;
                let (p50, p95, p99) = (
                    percentile(&delays, 50.0),
                    percentile(&delays, 95.0),
                    percentile(&delays, 99.0),
                );
                println!(
                    "  {:<38} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>11.1} {:>7}",
                    strategy.name,
                    mean_requests,
                    p50,
                    p95,
                    p99,
                    mean_requests * p95,
                    missed
                );
                rows.push(serde_json::json!({
                    "delay": delay.name(),
                    "flow": flow,
                    "strategy": strategy.name,
                    "payments": samples,
                    "requests": mean_requests,
                    "p50s": p50,
                    "p95s": p95,
                    "p99s": p99,
                    "requestsTimesP95": mean_requests * p95,
                    "missed": missed,
                }));
            }
            println!();
        }
    }
    if let Some(path) = std::env::var_os("BENCH_JSON") {
        let json = serde_json::json!({ "rttMs": RTT, "deadlineS": DEADLINE / 1000, "rows": rows });
        if let Err(e) = std::fs::write(&path, json.to_string()) {
            eprintln!("polling: cannot write {}: {e}", path.to_string_lossy());
            std::process::exit(1);
        }
    }
}
