//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! Every command installs what it needs and is safe to run on a fresh clone: the README's two
//! commands (`demo`, `ci`) must work on a new machine of this kind with nothing else done.

mod bench;
mod bench_server;
mod build;
mod ci;
mod cmd;
mod demo;
mod fuzz;
mod postgres;
mod release;
mod setup;
mod size;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  demo    build the package, the reference backend and the WeChat Pay simulator, serve the
          demo page on http://127.0.0.1:8080 (`--port N` for another port; the simulator
          on the port + 10) until Ctrl-C: the payment center on WeChat Pay API v3, the
          simulator as WeChat Pay; `--simulated`: the in-process simulated provider instead
  build   the npm package: release wasm in pkg/gen/web/ (bound by pkg/core.js for every
          entry), wasm-opt -Oz; and the WeChat mini-program bundle in pkg/miniprogram/ (copied into
          www/miniprogram/checkout-guard/)
  size    build, then measure the web download (browser entry bundled + minified by esbuild,
          and its wasm; brotli 11), the mini-program bundle (.wasm.br + JS) and the npm
          tarball (npm pack); print them beside the goals and fail when one is above the
          figure recorded in xtask/size-budget.toml (a ratchet: lower it with every cut);
          `--no-build` measures what `build` left in pkg/
  bench   build, then measure size, start-up, click path, fingerprint, polling and core
          throughput beside the alternatives, and the payment center (release server over
          HTTP: creates/s, status/s, memory of 1,000 long-polls, on SQLite and PostgreSQL);
          prints a table, writes <target>/bench.json (`--quick`: small samples, a smoke test;
          `--server`: only the payment center). Not part of `ci`
  ci      every check and test that CI runs (fmt, clippy -D warnings native and wasm32, tests,
          the size ratchet, node tests of the package, the mini-program in an emulated
          runtime, the packaging test, the demo page's and the adversarial suite's browser
          tests in headless Chromium, the stacks)
  postgres -- CMD [ARGS…]
          start a throw-away PostgreSQL cluster (Debian's postgresql, installed when missing;
          a temp folder, a free loopback port, an unprivileged user), run CMD with
          DATABASE_URL set to it, then stop and delete the cluster
  release the npm tarball as it would be published: build, publint --strict and
          arethetypeswrong on the packed package, a pkg/CHANGELOG.md entry for its version,
          then <target>/release-pkg/checkout-guard-<version>.tgz and SHA256SUMS
  fuzz    every cargo-fuzz target in fuzz/ on nightly, `--seconds N` each (default 30; names
          pick targets); non-zero exit on a crash. Not part of `ci`
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo::demo(&args[1..]),
        Some("build") => build::build(),
        Some("size") if args.get(1).is_some_and(|a| a == "--no-build") => size::report(),
        Some("size") => build::build().and_then(|()| size::report()),
        Some("bench") => bench::bench(&args[1..]),
        Some("ci") => ci::run_ci(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("postgres") => postgres::with_cluster(&args[1..]),
        Some("release") => release::release(),
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
