//! `cargo xtask demo [--port N]`: the demo page on the reference backend, and the browser test
//! of that page that `cargo xtask ci` runs.
//!
//! The demo builds the npm package (`build`), builds the server, and runs it from the workspace
//! root on `127.0.0.1:<port>`, serving `www/` at `/` and `pkg/` at `/pkg/`, until Ctrl-C. Its
//! database is the server's default (`data/demo.sqlite`, ignored by git), so a restart keeps
//! the orders the page's stored records refer to.

use crate::build::build;
use crate::cmd::{root, run_command};
use crate::setup::{build_server, chromium, SERVER};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The port the demo listens on unless `--port` says otherwise.
pub const DEFAULT_PORT: u16 = 8080;

/// `cargo xtask demo [--port N]`.
pub fn demo(args: &[String]) -> Result<(), String> {
    let port = parse_port(args)?;
    build()?;
    let server = build_server()?;
    let mut command = Command::new(&server);
    command
        // The demo's surface (the simulated wallet, fault injection) is the demo profile's.
        .args([
            "--profile",
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--www", "www", "--pkg", "pkg"])
        .current_dir(root())
        .stdout(Stdio::piped());
    println!(
        "\n$ {} --profile demo --listen 127.0.0.1:{port}",
        server.display()
    );
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
    // The server prints one line, "checkout-guard-server listening on http://…", once it is
    // bound; its logs go to stderr, which this process shares.
    let stdout = child
        .stdout
        .take()
        .ok_or("unreachable: the server's stdout was piped")?;
    let mut lines = BufReader::new(stdout).lines();
    match lines.next() {
        Some(Ok(line)) => {
            let url = line
                .rsplit(' ')
                .next()
                .filter(|word| word.starts_with("http://"))
                .unwrap_or("")
                .to_string();
            println!("\n  checkout-guard demo: open {url}/\n");
            println!("  Hammer the Pay button, confirm in the simulated wallet, switch faults on,");
            println!("  and watch the charge count stay at 1. Stop with Ctrl-C.\n");
        }
        _ => {
            let status = child.wait().map_err(|e| format!("{SERVER}: {e}"))?;
            return Err(format!(
                "{SERVER} stopped before listening ({status}); is port {port} taken? \
                 Try `cargo xtask demo --port {}`",
                port.checked_add(1).unwrap_or(8081)
            ));
        }
    }
    // Ctrl-C reaches the server too (same process group); it stops cleanly and so do we.
    let status = child.wait().map_err(|e| format!("{SERVER}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{SERVER} exited with {status}"))
    }
}

fn parse_port(args: &[String]) -> Result<u16, String> {
    let mut port = DEFAULT_PORT;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = if arg == "--port" {
            rest.next()
                .ok_or("`--port` needs a number, e.g. `--port 8081`")?
                .as_str()
        } else if let Some(value) = arg.strip_prefix("--port=") {
            value
        } else {
            return Err(format!(
                "unknown argument `{arg}`: usage `cargo xtask demo [--port N]`"
            ));
        };
        port = value
            .parse()
            .ok()
            .filter(|&p: &u16| p != 0)
            .ok_or_else(|| format!("`--port {value}` is not a port (1–65535)"))?;
    }
    Ok(port)
}

/// The demo page in headless Chromium (`tests/e2e/`, Node's test runner + `playwright-core`):
/// the test starts the built server itself on a free loopback port with an in-memory database.
/// Needs the package built first.
pub fn e2e_tests() -> Result<(), String> {
    chromium()?;
    let server = build_server()?;
    let mut test = Command::new("node");
    test.args(["--test", "tests/e2e/"])
        .env("CG_SERVER_BIN", &server)
        .env("CG_SCREENSHOTS", root().join("target/screenshots"));
    run_command(&mut test)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn port_defaults_and_parses() {
        assert_eq!(parse_port(&args(&[])), Ok(DEFAULT_PORT));
        assert_eq!(parse_port(&args(&["--port", "9000"])), Ok(9000));
        assert_eq!(parse_port(&args(&["--port=9001"])), Ok(9001));
    }

    #[test]
    fn bad_ports_are_refused() {
        assert!(parse_port(&args(&["--port"])).is_err());
        assert!(parse_port(&args(&["--port", "0"])).is_err());
        assert!(parse_port(&args(&["--port", "70000"])).is_err());
        assert!(parse_port(&args(&["--verbose"])).is_err());
    }
}
