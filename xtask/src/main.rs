//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! Every command installs what it needs and is safe to run on a fresh clone: the README's two
//! commands (`demo`, `ci`) must work on a new machine of this kind with nothing else done.

mod ci;
mod cmd;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci      every check and test that CI runs (fmt, clippy -D warnings, tests)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run_ci(),
        Some("help") | Some("--help") | Some("-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
