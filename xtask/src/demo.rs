//! `cargo xtask demo [--port N] [--simulated]`: the demo page on the reference backend, and the
//! browser test of that page that `cargo xtask ci` runs.
//!
//! The demo builds the npm package (`build`), the server and the WeChat Pay simulator, and runs
//! them from the workspace root until Ctrl-C: the payment center on `127.0.0.1:<port>`, serving
//! `www/` at `/` and `pkg/` at `/pkg/`, with `--provider wechatpay`, talking WeChat Pay API v3
//! to the simulator (`wechatpay-sim`, on `<port> + 10`). The page launches the real shapes: the
//! Native `codeUrl` drawn as a QR code beside the simulator's scan page (the buyer's phone), or
//! the H5 `h5_url` the buyer is sent to and comes back from. The keys are the throw-away ones
//! of the WeChat Pay test vectors (`wechatpay/tests/vectors/`), written to
//! `target/demo-wechatpay/`: never a real merchant's. The simulator keeps its ledger in memory,
//! so the payment center's database is in memory too: a restart forgets both together.
//!
//! `--simulated` runs the payment center's in-process simulated provider instead (its wallet
//! page framed in the demo, every fault toggle, no second process). Its database is the
//! server's default (`data/demo.sqlite`, ignored by git), so a restart keeps the orders the
//! page's stored records refer to. `--wechatpay`, the default, is still accepted.

use crate::build::build;
use crate::cmd::{root, run, run_command};
use crate::setup::{build_server, chromium, target_dir, SERVER};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The port the demo listens on unless `--port` says otherwise.
pub const DEFAULT_PORT: u16 = 8080;
/// The WeChat Pay simulator's binary.
pub const WECHATPAY_SIM: &str = "wechatpay-sim";

/// The usage line of `cargo xtask demo`.
const USAGE: &str = "usage `cargo xtask demo [--port N] [--simulated]`";

/// What `cargo xtask demo` was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Options {
    port: u16,
    /// WeChat Pay API v3 against the simulator (the default), or the in-process provider
    /// (`--simulated`).
    wechatpay: bool,
}

/// `cargo xtask demo [--port N] [--simulated]`.
pub fn demo(args: &[String]) -> Result<(), String> {
    let options = parse_options(args)?;
    let port = options.port;
    // The simulator's port is checked before minutes of building.
    let sim_port = if options.wechatpay {
        Some(port.checked_add(10).ok_or(
            "the WeChat Pay simulator listens on the port + 10: pick a port below 65526 \
             (or `--simulated`)",
        )?)
    } else {
        None
    };
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
    // Kept alive (and killed on the way out) while the server runs.
    let _sim = match sim_port {
        Some(sim_port) => {
            let sim = WechatpaySim::start(sim_port)?;
            command.envs(sim.server_env(port));
            // The simulator forgets its ledger on a restart: so does the payment center.
            command.args(["--provider", "wechatpay", "--db", ":memory:"]);
            Some(sim)
        }
        None => None,
    };
    println!(
        "\n$ {} --profile demo --listen 127.0.0.1:{port}{}",
        server.display(),
        if options.wechatpay {
            " --provider wechatpay --db :memory:"
        } else {
            ""
        }
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
            if let Some(sim_port) = sim_port {
                println!(
                    "  The provider is WeChat Pay API v3, simulated on port {sim_port}: scan the QR\n  \
                     code in the simulator's page beside it, confirm, then press \"I have paid\";\n  \
                     or pick \"Phone browser (H5)\", go to WeChat Pay's page and back.\n  \
                     WeChat Pay's own charge count: http://127.0.0.1:{sim_port}/sim/admin/stats/<order>\n  \
                     (`cargo xtask demo --simulated`: the in-process provider instead.)"
                );
            }
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

/// Builds the WeChat Pay simulator's binary; its path.
pub fn build_wechatpay_sim() -> Result<PathBuf, String> {
    run(
        "cargo",
        &[
            "build",
            "--package",
            "checkout-guard-wechatpay-sim",
            "--bin",
            WECHATPAY_SIM,
        ],
    )?;
    let binary = target_dir()?.join("debug").join(WECHATPAY_SIM);
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!("{} was not built", binary.display()))
    }
}

/// The WeChat Pay simulator, running for the demo; killed when dropped.
struct WechatpaySim {
    child: Child,
    url: String,
    keys: PathBuf,
    vectors: serde_json::Value,
}

impl WechatpaySim {
    fn start(port: u16) -> Result<WechatpaySim, String> {
        let binary = build_wechatpay_sim()?;
        let text =
            std::fs::read_to_string(root().join("wechatpay/tests/vectors/wechatpay-v3.json"))
                .map_err(|e| format!("the WeChat Pay test vectors: {e}"))?;
        let vectors: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("the WeChat Pay test vectors: {e}"))?;
        let keys = target_dir()?.join("demo-wechatpay");
        std::fs::create_dir_all(&keys).map_err(|e| format!("{}: {e}", keys.display()))?;
        for (file, field) in [
            ("merchant_private.pem", "merchant_private_key_pem"),
            ("merchant_public.pem", "merchant_public_key_pem"),
            ("wechatpay_private.pem", "wechatpay_private_key_pem"),
            ("wechatpay_public.pem", "wechatpay_public_key_pem"),
            ("apiv3.key", "apiv3_key"),
        ] {
            write_field(&keys.join(file), &vectors, field)?;
        }
        let field = |name: &str| vectors[name].as_str().unwrap_or_default().to_owned();
        let url = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(&binary);
        command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--mchid", &field("mchid")])
            .args(["--merchant-serial", &field("merchant_serial_no")])
            .arg("--merchant-public-key")
            .arg(keys.join("merchant_public.pem"))
            .arg("--apiv3-key-file")
            .arg(keys.join("apiv3.key"))
            .arg("--wechatpay-private-key")
            .arg(keys.join("wechatpay_private.pem"))
            .args(["--wechatpay-serial", &field("wechatpay_public_key_id")])
            .stdout(Stdio::piped());
        println!("\n$ {} --listen 127.0.0.1:{port} …", binary.display());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("unreachable: the simulator's stdout was piped")?;
        // Its logs go to stdout too: pass them on for as long as it runs (a pipe nobody reads
        // would fill and stall it), and say when it printed its address.
        let (ready, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("wechatpay-sim listening") {
                    let _ = ready.send(());
                }
                println!("{line}");
            }
        });
        if listening
            .recv_timeout(std::time::Duration::from_secs(30))
            .is_err()
        {
            let _ = child.kill();
            return Err(format!(
                "{WECHATPAY_SIM} did not start on port {port} (taken? try another --port)"
            ));
        }
        Ok(WechatpaySim {
            child,
            url,
            keys,
            vectors,
        })
    }

    /// The payment center's `wechatpay_*` settings for this simulator (secrets as files).
    fn server_env(&self, server_port: u16) -> Vec<(String, String)> {
        let field = |name: &str| self.vectors[name].as_str().unwrap_or_default().to_owned();
        let file = |name: &str| self.keys.join(name).display().to_string();
        vec![
            ("CG_WECHATPAY_BASE_URL".into(), self.url.clone()),
            ("CG_WECHATPAY_MCHID".into(), field("mchid")),
            // The vectors' appid (a paySign is signed over it).
            ("CG_WECHATPAY_APPID".into(), "wxd678efh567hg6787".into()),
            (
                "CG_WECHATPAY_MERCHANT_SERIAL".into(),
                field("merchant_serial_no"),
            ),
            (
                "CG_WECHATPAY_MERCHANT_PRIVATE_KEY_FILE".into(),
                file("merchant_private.pem"),
            ),
            (
                "CG_WECHATPAY_PUBLIC_KEY_FILE".into(),
                file("wechatpay_public.pem"),
            ),
            (
                "CG_WECHATPAY_PUBLIC_KEY_ID".into(),
                field("wechatpay_public_key_id"),
            ),
            ("CG_WECHATPAY_APIV3_KEY_FILE".into(), file("apiv3.key")),
            (
                "CG_WECHATPAY_NOTIFY_URL".into(),
                format!("http://127.0.0.1:{server_port}/api/wechatpay/notify"),
            ),
        ]
    }
}

impl Drop for WechatpaySim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_field(path: &Path, vectors: &serde_json::Value, field: &str) -> Result<(), String> {
    let text = vectors[field]
        .as_str()
        .ok_or_else(|| format!("the WeChat Pay test vectors have no `{field}`"))?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let simulated = args.iter().any(|a| a == "--simulated");
    if simulated && args.iter().any(|a| a == "--wechatpay") {
        return Err(format!(
            "`--simulated` and `--wechatpay` exclude each other: {USAGE}"
        ));
    }
    let rest: Vec<String> = args
        .iter()
        .filter(|a| *a != "--wechatpay" && *a != "--simulated")
        .cloned()
        .collect();
    Ok(Options {
        port: parse_port(&rest)?,
        wechatpay: !simulated,
    })
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
            return Err(format!("unknown argument `{arg}`: {USAGE}"));
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
    let sim = build_wechatpay_sim()?;
    let mut test = Command::new("node");
    test.args(["--test", "tests/e2e/"])
        .env("CG_SERVER_BIN", &server)
        .env("CG_WECHATPAY_SIM_BIN", &sim)
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
    fn wechatpay_is_the_default_and_simulated_a_flag_beside_the_port() {
        let wechatpay = |port| {
            Ok(Options {
                port,
                wechatpay: true,
            })
        };
        assert_eq!(parse_options(&args(&[])), wechatpay(DEFAULT_PORT));
        assert_eq!(
            parse_options(&args(&["--wechatpay", "--port", "9000"])),
            wechatpay(9000)
        );
        assert_eq!(
            parse_options(&args(&["--port=9001", "--simulated"])),
            Ok(Options {
                port: 9001,
                wechatpay: false
            })
        );
        assert!(parse_options(&args(&["--simulated", "--wechatpay"])).is_err());
        assert!(parse_options(&args(&["--simulate"])).is_err());
    }

    #[test]
    fn bad_ports_are_refused() {
        assert!(parse_port(&args(&["--port"])).is_err());
        assert!(parse_port(&args(&["--port", "0"])).is_err());
        assert!(parse_port(&args(&["--port", "70000"])).is_err());
        assert!(parse_port(&args(&["--verbose"])).is_err());
    }
}
