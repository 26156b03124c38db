//! `cargo xtask fuzz [--seconds N] [TARGET…]`: every libFuzzer target in `fuzz/` for a bounded
//! time, one after the other, with a table of what each did.
//!
//! The targets live in their own workspace (`fuzz/Cargo.toml`) because libFuzzer needs nightly
//! and its own compiler flags; stable `cargo test --workspace` and clippy never see them. This
//! command installs `cargo-fuzz` when it is missing, builds every target once, then runs each
//! with `-max_total_time`, and exits non-zero if any target crashed, naming the input that
//! libFuzzer saved under `fuzz/artifacts/`.
//!
//! Builds use `--sanitizer none` and `--debug-assertions`: the code under test is safe Rust
//! (plus SQLite's C, which is not instrumented either way), so AddressSanitizer would only cost
//! speed, while overflow checks turn an arithmetic overflow on hostile input into a finding
//! instead of a silent wrap.

use crate::cmd;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Seconds per target unless `--seconds` says otherwise.
pub const DEFAULT_SECONDS: u64 = 30;

/// A fuzz target and the libFuzzer options it needs beyond the common ones.
struct Target {
    name: &'static str,
    /// Largest input tried. Above libFuzzer's default of 4096 where the code under test has a
    /// larger limit of its own, so that the fuzzer reaches it (a record may be 16 KiB).
    max_len: usize,
}

/// Every target in `fuzz/fuzz_targets/`, in the order they run.
const TARGETS: &[Target] = &[
    Target {
        name: "json",
        max_len: 4096,
    },
    Target {
        name: "record_decode",
        max_len: 20_000,
    },
    Target {
        name: "options_decode",
        max_len: 4096,
    },
    Target {
        name: "canonicalize",
        max_len: 4096,
    },
    Target {
        name: "contract_replies",
        max_len: 8192,
    },
    Target {
        name: "server_requests",
        max_len: 8192,
    },
    Target {
        name: "sha256",
        max_len: 4096,
    },
];

/// What one target's run came to.
struct Outcome {
    name: &'static str,
    runs: u64,
    seconds: f64,
    execs_per_sec: u64,
    /// `None` when the run ended cleanly; otherwise libFuzzer's summary and the saved input.
    crash: Option<String>,
}

/// Parses the command line and runs the targets it names (all by default).
pub fn run(args: &[String]) -> Result<(), String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut chosen: Vec<&Target> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a number")?;
                seconds =
                    value.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("--seconds needs a positive number, not `{value}`")
                    })?;
            }
            name => {
                let target = TARGETS.iter().find(|t| t.name == name).ok_or_else(|| {
                    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
                    format!(
                        "unknown fuzz target `{name}` (targets: {})",
                        names.join(", ")
                    )
                })?;
                chosen.push(target);
            }
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.iter().collect();
    }

    ensure_cargo_fuzz()?;
    let started = Instant::now();
    cmd::run_command(nightly_fuzz().args(["build", "--sanitizer", "none", "--debug-assertions"]))?;
    let build_seconds = started.elapsed().as_secs_f64();

    let mut outcomes = Vec::new();
    for target in chosen {
        outcomes.push(run_target(target, seconds)?);
    }
    report(&outcomes, build_seconds, started.elapsed());
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crash.is_some())
        .map(|o| o.name)
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzzing found a crash in {}", crashed.join(", ")))
    }
}

/// `cargo +nightly fuzz`, from the repository root (where cargo-fuzz looks for `fuzz/`).
///
/// Always into `fuzz/target`: a `CARGO_TARGET_DIR` meant for the stable workspace would mix
/// nightly, instrumented artifacts into it and rebuild everything each time it changes.
fn nightly_fuzz() -> Command {
    let mut command = Command::new("cargo");
    command
        .args(["+nightly", "fuzz"])
        .current_dir(cmd::root())
        .env_remove("CARGO_TARGET_DIR");
    command
}

/// Installs cargo-fuzz from crates.io when it is not there (a fresh machine has only the
/// toolchains). Nightly itself cannot be installed here, so its absence is an error that says so.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let toolchains = cmd::output("rustup", &["toolchain", "list"])?;
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        return Err(
            "fuzzing needs the nightly toolchain (`rustup toolchain list` has none)".into(),
        );
    }
    if !cmd::on_path("cargo-fuzz") {
        cmd::run("cargo", &["install", "cargo-fuzz", "--locked"])?;
    }
    Ok(())
}

fn run_target(target: &Target, seconds: u64) -> Result<Outcome, String> {
    let root = cmd::root();
    let log_dir = root.join("fuzz/target/xtask-logs");
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
    let log_path = log_dir.join(format!("{}.log", target.name));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log_path.display()))?;

    let mut command = nightly_fuzz();
    command
        .args([
            "run",
            "--sanitizer",
            "none",
            "--debug-assertions",
            target.name,
            "--",
        ])
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-max_len={}", target.max_len))
        // A real hang (the server target runs on a paused clock, so no sleep counts here).
        .arg("-timeout=20")
        .arg("-print_final_stats=1")
        .stdout(log)
        .stderr(log_err);
    // Tokens the target's code branches on (routes, placeholders, member names), which random
    // mutation alone takes long to spell.
    let dict = root
        .join("fuzz/dicts")
        .join(format!("{}.dict", target.name));
    if dict.is_file() {
        command.arg(format!("-dict={}", dict.display()));
    }
    println!(
        "\n$ cargo +nightly fuzz run {} -- -max_total_time={seconds}   (log: {})",
        target.name,
        relative(&log_path, &root).display()
    );
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("cannot start cargo fuzz: {e}"))?;
    let elapsed = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log_path)
        .map_err(|e| format!("cannot read {}: {e}", log_path.display()))?;

    let stat = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim_start_matches(':').trim().parse().ok())
    };
    let runs = stat("stat::number_of_executed_units").unwrap_or(0);
    // libFuzzer divides by whole seconds, so a run that crashed within one reports 0.
    let execs_per_sec = stat("stat::average_exec_per_sec")
        .filter(|&n| n > 0)
        .unwrap_or_else(|| (runs as f64 / elapsed.max(0.001)) as u64);
    let crash = if status.success() {
        None
    } else if runs == 0 && !text.contains("Test unit written to") {
        // Never got to fuzzing: a build or start-up failure, not a finding.
        return Err(format!(
            "fuzz target {} did not run ({status}); see {}",
            target.name,
            log_path.display()
        ));
    } else {
        Some(crash_summary(target.name, &text, &log_path))
    };
    Ok(Outcome {
        name: target.name,
        runs,
        seconds: elapsed,
        execs_per_sec,
        crash,
    })
}

/// The lines that say what failed and where libFuzzer saved the input.
fn crash_summary(name: &str, log: &str, log_path: &Path) -> String {
    let mut lines: Vec<&str> = Vec::new();
    let mut in_panic = false;
    for line in log.lines() {
        if line.contains("panicked at") {
            in_panic = true;
        }
        if in_panic && (line.starts_with("stack backtrace") || line.starts_with("note:")) {
            in_panic = false;
        }
        let keep = in_panic
            || line.starts_with("SUMMARY:")
            || line.contains("Test unit written to")
            || line.starts_with("==") && line.contains("ERROR");
        if keep && !lines.contains(&line) {
            lines.push(line);
        }
    }
    let mut summary = lines.join("\n");
    if let Some(artifact) = log
        .lines()
        .find_map(|l| l.split("Test unit written to ").nth(1))
    {
        summary.push_str(&format!(
            "\nreproduce: cargo +nightly fuzz run --sanitizer none --debug-assertions {name} {}",
            artifact.trim()
        ));
    }
    summary.push_str(&format!("\nfull log: {}", log_path.display()));
    summary
}

fn relative<'a>(path: &'a Path, root: &Path) -> &'a Path {
    path.strip_prefix(root).unwrap_or(path)
}

fn report(outcomes: &[Outcome], build_seconds: f64, total: Duration) {
    println!(
        "\n{:<18} {:>12} {:>9} {:>10}   result",
        "target", "executions", "seconds", "exec/s"
    );
    for o in outcomes {
        let result = if o.crash.is_some() { "CRASH" } else { "ok" };
        println!(
            "{:<18} {:>12} {:>9.1} {:>10}   {result}",
            o.name, o.runs, o.seconds, o.execs_per_sec
        );
    }
    println!(
        "\nbuild {build_seconds:.0} s, total {:.0} s",
        total.as_secs_f64()
    );
    for o in outcomes {
        if let Some(crash) = &o.crash {
            println!("\n{} crashed:\n{crash}", o.name);
        }
    }
}
