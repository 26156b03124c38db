//! `cargo xtask ci`: every check and test, in the order that fails fastest.

use crate::cmd::run;
use std::time::Instant;

pub fn run_ci() -> Result<(), String> {
    let started = Instant::now();
    run("cargo", &["fmt", "--all", "--", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run("cargo", &["test", "--workspace"])?;
    println!("\nxtask ci: all checks passed in {:.0?}", started.elapsed());
    Ok(())
}
