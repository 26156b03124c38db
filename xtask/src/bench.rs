//! `cargo xtask bench`: what users pay for the guard, beside the alternatives, in one run.
//!
//! Builds the package, then measures: sizes per target; start-up in headless Chromium and in
//! Node; the click path and the fingerprint in one Chromium page (`benches/browser/`); status
//! polling (the simulation `benches/polling.rs`, and the real wasm guard against the real
//! reference backend); the native core (`benches/core.rs`); the payment center per instance on
//! SQLite and PostgreSQL (`bench_server.rs`; `--server` runs only that part). Prints one table
//! and writes every number of the run to `<target dir>/bench.json`. Benchmarks print numbers,
//! they never fail on them; they are not part of `ci`. `--quick` runs every part with small
//! samples (a smoke test that the benches still work; its numbers mean little).

use crate::build::{build, STEM};
use crate::cmd::{output, root, run_command};
use crate::setup::{chromium, node_modules, target_dir};
use crate::size::{glue_sizes, sizes, Sizes};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

pub fn bench(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut server_only = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            "--server" => server_only = true,
            other => {
                return Err(format!(
                    "bench: unknown argument `{other}` (only --quick, --server)"
                ))
            }
        }
    }
    let started = Instant::now();
    let load_start = load()?;
    let target = target_dir()?;
    fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    let mut report = json!({
        "date": output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])?.trim(),
        "machine": machine(),
        "quick": quick,
    });
    if !server_only {
        guard_parts(&target, quick, &mut report)?;
    }
    let load_server = load()?;
    report["server"] = crate::bench_server::bench_server(&target, quick)?;
    report["load"] = json!({
        "start": load_start,
        "beforeBrowser": report["loadBeforeBrowser"].take(),
        "beforeServer": load_server,
        "end": load()?,
    });
    if let Some(map) = report.as_object_mut() {
        map.remove("loadBeforeBrowser");
    }
    report["seconds"] = json!(started.elapsed().as_secs_f64());
    let path = target.join("bench.json");
    fs::write(
        &path,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\n{}", table(&report));
    println!(
        "xtask bench: {:.0} s{}{}, numbers in {}",
        started.elapsed().as_secs_f64(),
        if quick { " (--quick)" } else { "" },
        if server_only { " (--server)" } else { "" },
        path.display()
    );
    Ok(())
}

/// Everything but the server part: the package built, then sizes, the two cargo benches and
/// the browser and Node measurements, written into `report`.
fn guard_parts(target: &Path, quick: bool, report: &mut Value) -> Result<(), String> {
    build()?;
    let size = size_rows()?;
    let polling = cargo_bench("polling", target, quick)?;
    let core = cargo_bench("core", target, quick)?;

    node_modules()?;
    chromium()?;
    let server = Server::start(&release_server(target)?, ":memory:")?;
    let js_out = target.join("bench-js.json");
    let mut node = Command::new("node");
    node.arg("benches/browser/run.mjs")
        .arg("--out")
        .arg(&js_out)
        .arg("--backend")
        .arg(&server.url);
    if quick {
        node.arg("--quick");
    }
    let load_js = load()?;
    let js = run_command(&mut node).and_then(|()| read_json(&js_out));
    drop(server);
    let js = js?;

    report["loadBeforeBrowser"] = load_js;
    report["size"] = size;
    report["startup"] = json!({ "chromium": js["startupChromium"], "chromiumBundled": js["startupChromiumBundled"], "node": js["startupNode"], "chromiumVersion": js["chromium"] });
    report["clickPath"] = js["clickPath"].clone();
    report["fingerprint"] = js["fingerprint"].clone();
    report["polling"] = json!({ "simulation": polling, "realBackend": js["pollingReal"] });
    report["core"] = core;
    Ok(())
}

/// wasm and glue sizes per target, and the mini-program bundle when it has been built.
fn size_rows() -> Result<Value, String> {
    let mut rows = Vec::new();
    let row = |name: &str, wasm: Sizes, glue: Sizes| {
        let wasm = (wasm.raw > 0)
            .then(|| json!({ "raw": wasm.raw, "gzip": wasm.gzip, "brotli": wasm.brotli }));
        json!({
            "target": name,
            "wasm": wasm,
            "glue": { "raw": glue.raw, "gzip": glue.gzip, "brotli": glue.brotli },
        })
    };
    // The package's one wasm, and the core's binding and loader (pkg/core.js, pkg/load.js).
    let mut binding = Sizes::default();
    for file in ["pkg/core.js", "pkg/load.js"] {
        binding += sizes(&root().join(file))?;
    }
    rows.push(row("web", sizes(&crate::build::wasm_path())?, binding));
    rows.push(row(
        "bundler",
        Sizes::default(),
        sizes(&root().join("pkg/bundler.js"))?,
    ));
    // The hand-written layer every browser build also loads (entry + JS fast paths).
    let mut layer = Sizes::default();
    for file in [
        "pkg/index.js",
        "pkg/shell.js",
        "pkg/guard.js",
        "pkg/canonical.js",
        "pkg/platform.js",
        "pkg/button.js",
        "pkg/errors.js",
    ] {
        layer += sizes(&root().join(file))?;
    }
    rows.push(row("web: the JS shell (pkg/*.js)", Sizes::default(), layer));
    let mini = crate::build::miniprogram::out_dir();
    let mini_wasm = mini.join(format!("{STEM}_bg.wasm"));
    if mini_wasm.exists() {
        rows.push(row("miniprogram", sizes(&mini_wasm)?, glue_sizes(&mini)?));
    }
    Ok(Value::Array(rows))
}

/// `cargo bench --bench <name>` with its JSON written to the target dir.
fn cargo_bench(name: &str, target: &Path, quick: bool) -> Result<Value, String> {
    let out = target.join(format!("bench-{name}.json"));
    let mut cargo = Command::new("cargo");
    cargo
        .args(["bench", "--package", "checkout-guard", "--bench", name])
        .env("BENCH_JSON", &out);
    if quick {
        cargo.env("BENCH_QUICK", "1");
    }
    run_command(&mut cargo)?;
    read_json(&out)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The reference backend on a free loopback port, stopped (killed) on drop.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`, as it announced.
    pub(crate) url: String,
}

impl Server {
    /// Starts `binary` in the demo profile on `db` (`:memory:`, a SQLite path or a
    /// `postgres://` URL) and waits for the address it announces.
    pub(crate) fn start(binary: &Path, db: &str) -> Result<Server, String> {
        let mut child = Command::new(binary)
            .args(["--profile", "demo", "--listen", "127.0.0.1:0", "--db", db])
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .map(str::to_owned);
        match url {
            Some(url) => Ok(Server { child, url }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "the backend did not announce its address: {line:?}"
                ))
            }
        }
    }

    /// The server's process id (its `/proc/<pid>` for memory readings).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// `cargo build --release -p checkout-guard-server` and the binary's path: benchmarks measure
/// the build a deployment would run, never a debug one.
pub(crate) fn release_server(target: &Path) -> Result<PathBuf, String> {
    run_command(Command::new("cargo").args([
        "build",
        "--release",
        "--package",
        "checkout-guard-server",
    ]))?;
    let binary = target.join("release/checkout-guard-server");
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!("{} was not built", binary.display()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 1, 5 and 15 minute load averages.
fn load() -> Result<Value, String> {
    let text = fs::read_to_string("/proc/loadavg").map_err(|e| format!("/proc/loadavg: {e}"))?;
    let numbers: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|n| n.parse().ok())
        .collect();
    Ok(json!(numbers))
}

fn machine() -> Value {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let memory_gib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| (kb / 1024.0 / 1024.0).round())
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({ "cpu": cpu, "cores": cores, "memoryGiB": memory_gib })
}

/// A duration in nanoseconds, in the unit that reads best.
fn time(ns: &Value) -> String {
    match ns.as_f64() {
        None => "-".into(),
        Some(ns) if ns < 1_000.0 => format!("{ns:.1} ns"),
        Some(ns) if ns < 1_000_000.0 => format!("{:.2} µs", ns / 1e3),
        Some(ns) => format!("{:.2} ms", ns / 1e6),
    }
}

fn ms(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".into(), |v| format!("{v:.1} ms"))
}

fn ratio(a: &Value, b: &Value) -> String {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

/// An integer, or `-` (`Value`'s own `Display` ignores widths).
fn int(value: &Value) -> String {
    value.as_u64().map_or_else(|| "-".into(), |v| v.to_string())
}

fn num(value: &Value, digits: usize) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// The report as one plain-text table (also the README's): the guard's parts when they ran,
/// then the payment center's.
fn table(r: &Value) -> String {
    let mut t = String::new();
    let m = &r["machine"];
    let load = |k: &str| num(&r["load"][k][0], 2);
    let browser = if r["load"]["beforeBrowser"].is_array() {
        format!(", {} before the browser runs", load("beforeBrowser"))
    } else {
        String::new()
    };
    let _ = writeln!(
        t,
        "checkout-guard benchmarks, {}: {} ({} cores, {} GiB), load (1 min) {} at start{browser}, {} before the server part, {} at end{}",
        r["date"].as_str().unwrap_or(""),
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["memoryGiB"],
        load("start"),
        load("beforeServer"),
        load("end"),
        if r["quick"] == true { "; --quick: small samples, indicative only" } else { "" }
    );
    if r["size"].is_array() {
        guard_tables(&mut t, r);
    }
    if r["server"].is_object() {
        crate::bench_server::table(&mut t, &r["server"]);
    }
    t
}

/// The guard's rows: sizes, start-up, click path, fingerprint, polling, core.
fn guard_tables(t: &mut String, r: &Value) {
    let _ = writeln!(
        t,
        "\nSize (bytes)          wasm raw      gzip    brotli   glue gzip    brotli"
    );
    for row in r["size"].as_array().into_iter().flatten() {
        let _ = writeln!(
            t,
            "  {:<18} {:>9} {:>9} {:>9}   {:>9} {:>9}",
            row["target"].as_str().unwrap_or(""),
            int(&row["wasm"]["raw"]),
            int(&row["wasm"]["gzip"]),
            int(&row["wasm"]["brotli"]),
            int(&row["glue"]["gzip"]),
            int(&row["glue"]["brotli"])
        );
    }

    let s = &r["startup"];
    let _ = writeln!(t, "\nStart-up (median)                                   ");
    let _ = writeln!(
        t,
        "  Chromium {}, {} cold page loads: import {} + wasm fetch, compile, instantiate {} + new CheckoutGuard {} = {} (goal 10 ms; the context's first request, not counted: {})",
        s["chromiumVersion"].as_str().unwrap_or(""),
        s["chromium"]["loads"],
        ms(&s["chromium"]["importMs"]),
        ms(&s["chromium"]["wasmMs"]),
        ms(&s["chromium"]["constructMs"]),
        ms(&s["chromium"]["totalMs"]),
        ms(&s["chromium"]["firstRequestMs"])
    );
    let _ = writeln!(
        t,
        "  the entry bundled as an app ships it (esbuild, one JS request): import {} + wasm {} + new CheckoutGuard {} = {} (first request, not counted: {})",
        ms(&s["chromiumBundled"]["importMs"]),
        ms(&s["chromiumBundled"]["wasmMs"]),
        ms(&s["chromiumBundled"]["constructMs"]),
        ms(&s["chromiumBundled"]["totalMs"]),
        ms(&s["chromiumBundled"]["firstRequestMs"])
    );
    let _ = writeln!(
        t,
        "  one request's floor here (a tiny module, cold): {}; the bundled load makes two in turn (the JS, then the wasm it loads): JS arrived at {}, the wasm's request {}",
        ms(&s["chromiumBundled"]["requestFloorMs"]),
        ms(&s["chromiumBundled"]["jsArrivedMs"]),
        ms(&s["chromiumBundled"]["wasmFetchMs"])
    );
    let floor = &s["chromiumBundled"]["floorParts"];
    let _ = writeln!(
        t,
        "  that floor by resource timing: {} from import() to the fetch, {} until the request is sent, {} to its first byte, {} to its last (a one-line module), {} from there to import() resolving",
        ms(&floor["beforeFetchMs"]),
        ms(&floor["sendMs"]),
        ms(&floor["firstByteMs"]),
        ms(&floor["lastByteMs"]),
        ms(&floor["afterMs"])
    );
    let _ = writeln!(
        t,
        "  Node {}, {} fresh processes: require + instantiate {}, new CheckoutGuard {}",
        s["node"]["node"].as_str().unwrap_or(""),
        s["node"]["runs"],
        ms(&s["node"]["requireMs"]),
        ms(&s["node"]["constructMs"])
    );

    let c = &r["clickPath"];
    let base = &c["map"]["medianNs"];
    let _ = writeln!(
        t,
        "\nClick path, order locked (Chromium)         median        p99      calls   vs Map"
    );
    let click_rows = [
        ("bare JS Map single-flight (baseline)", "map"),
        ("pay(), the same order object", "paySame"),
        ("pay(), an equal copy (fingerprint+join)", "payCopy"),
        ("click on the locked <button>", "clickLockedButton"),
        ("click on a locked role=button element", "clickLockedDiv"),
    ];
    for (label, key) in click_rows {
        let row = &c[key];
        let _ = writeln!(
            t,
            "  {:<40} {:>10} {:>10} {:>10} {:>8}",
            label,
            time(&row["medianNs"]),
            time(&row["p99Ns"]),
            int(&row["calls"]),
            ratio(&row["medianNs"], base)
        );
    }
    let d = &c["clickToDisabled"];
    let _ = writeln!(
        t,
        "  {:<40} {:>10} {:>10} {:>10}   disabled before click() returned: {}/{}",
        "click -> disabled (new order, whole handler)",
        time(&d["medianNs"]),
        time(&d["p99Ns"]),
        int(&d["calls"]),
        d["disabledBeforeReturn"],
        d["samples"]
    );

    let f = &r["fingerprint"];
    let _ = writeln!(
        t,
        "\nFingerprint per call (Chromium)                1 KB      64 KB   vs canonicalize+WebCrypto (1 KB, 64 KB)"
    );
    let fp_rows = [
        ("checkout-guard fingerprint()", "guard"),
        ("  the same, the full walk (paths kept)", "guardWalk"),
        ("canonicalize + WebCrypto digest", "canonicalizeWebCrypto"),
        ("canonicalize + @noble/hashes sha256", "canonicalizeNoble"),
        ("canonicalize + js-sha256", "canonicalizeJsSha256"),
        ("JSON.stringify alone (a floor)", "jsonStringify"),
    ];
    let (small, large) = (&f["1024"], &f["65536"]);
    for (label, key) in fp_rows {
        let _ = writeln!(
            t,
            "  {:<40} {:>10} {:>10}   {} {}",
            label,
            time(&small[key]["medianNs"]),
            time(&large[key]["medianNs"]),
            ratio(
                &small[key]["medianNs"],
                &small["canonicalizeWebCrypto"]["medianNs"]
            ),
            ratio(
                &large[key]["medianNs"],
                &large["canonicalizeWebCrypto"]["medianNs"]
            ),
        );
    }
    let _ = writeln!(
        t,
        "  same hex from all: {} (1 KB), {} (64 KB)",
        small["sameHex"], large["sameHex"]
    );

    let p = &r["polling"]["simulation"];
    let _ = writeln!(
        t,
        "\nStatus polling, simulation (benches/polling.rs, RTT {} ms)     requests   p50 s   p95 s   p99 s  req x p95  missed",
        p["rttMs"]
    );
    let mut group = String::new();
    for row in p["rows"].as_array().into_iter().flatten() {
        let name = format!(
            "{} / {} flow, {} payments",
            row["delay"].as_str().unwrap_or(""),
            row["flow"].as_str().unwrap_or(""),
            row["payments"]
        );
        if name != group {
            let _ = writeln!(t, "  {name}");
            group = name;
        }
        let _ = writeln!(
            t,
            "    {:<56} {:>9} {:>7} {:>7} {:>7} {:>10} {:>7}",
            row["strategy"].as_str().unwrap_or(""),
            num(&row["requests"], 1),
            num(&row["p50s"], 2),
            num(&row["p95s"], 2),
            num(&row["p99s"], 2),
            num(&row["requestsTimesP95"], 1),
            int(&row["missed"])
        );
    }
    let real = &r["polling"]["realBackend"];
    let _ = writeln!(
        t,
        "\nStatus polling, real wasm guard vs the reference backend (D lognormal x{})   requests    p50 s    p95 s   paid",
        num(&real["delayScale"], 1)
    );
    for row in real["rows"].as_array().into_iter().flatten() {
        let label = format!(
            "{} flow, long-poll {}, {} payments",
            row["flow"].as_str().unwrap_or(""),
            match row["longPollSecs"].as_u64() {
                Some(0) | None => "off".to_string(),
                Some(s) => format!("{s} s"),
            },
            row["payments"]
        );
        let _ = writeln!(
            t,
            "  {:<66} {:>9} {:>8} {:>8} {:>6}",
            label,
            num(&row["statusRequests"], 1),
            num(&row["p50s"], 3),
            num(&row["p95s"], 3),
            int(&row["paid"])
        );
    }

    let k = &r["core"];
    let _ = writeln!(
        t,
        "\nCore, native (benches/core.rs): {} simulated steps/s ({} sequences), a click joining a payment in flight {}",
        num(&k["stepsPerSec"], 0),
        k["sequences"],
        time(&k["joinNs"])
    );
}
