//! `cargo xtask ci`: every check and test, in the order that fails fastest.
//!
//! Installs what is missing first (wasm target, npm packages from the lockfile, Debian's
//! Chromium and its driver, PostgreSQL), so a fresh clone on a new
//! machine of this kind passes with nothing else done.

use crate::build::build;
use crate::cmd::{root, run, run_command};
use crate::setup::{build_server, chromium, wasm_target, WASM_TARGET};
use std::process::Command;
use std::time::Instant;

pub fn run_ci() -> Result<(), String> {
    let started = Instant::now();
    // A CI run starts from a clean clone, so incremental caches (GBs in `target/debug/incremental`)
    // are never reused: not writing them keeps the run's disk use down.
    std::env::set_var("CARGO_INCREMENTAL", "0");
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
    wasm_target()?;
    // The root crate's tests need proptest, which cannot build for wasm32: its library is
    // linted for wasm32 here (the wasm binding, `src/wasm/step.rs`).
    run(
        "cargo",
        &[
            "clippy",
            "--package",
            "checkout-guard",
            "--lib",
            "--target",
            WASM_TARGET,
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // One `cargo test` per package, not one `--workspace` run: cargo unifies features over
    // the packages it is asked for, so a `--workspace` build and the `-p` runs on PostgreSQL
    // below would each build every server test binary, with different features (twice the
    // ~25 binaries: what filled CI's disk once). Per package, those runs reuse these builds.
    for package in crate::setup::workspace_packages()? {
        run("cargo", &["test", "--package", &package])?;
    }
    fuzz_targets_compile()?;
    server_tests_on_postgres()?;
    build()?;
    crate::size::report()?;
    run("node", &["--test", "tests/node/"])?;
    // The package's types as a strict TypeScript merchant uses them (tests/types/).
    let tsc = crate::setup::node_bin("tsc");
    run(&tsc.display().to_string(), &["-p", "tests/types"])?;
    crate::release::package_lints()?;
    guide_tests()?;
    crate::build::miniprogram::tests()?;
    packaging_tests()?;
    stack_tests()?;
    crate::demo::e2e_tests()?;
    println!("\nxtask ci: all checks passed in {:.0?}", started.elapsed());
    Ok(())
}

/// The fuzz targets (`fuzz/`, their own workspace: libFuzzer runs need nightly, see
/// `cargo xtask fuzz`) still compile against today's crates: a `cargo check` on stable, in a
/// target folder of their own. Without it a changed server type broke them unnoticed.
fn fuzz_targets_compile() -> Result<(), String> {
    let target = crate::setup::target_dir()?.join("fuzz-check");
    let mut check = Command::new("cargo");
    check
        .args(["check", "--manifest-path", "fuzz/Cargo.toml", "--bins"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root());
    run_command(&mut check)
}

/// The server's whole test suite again, on PostgreSQL (issue 12): a throw-away cluster
/// (installed when missing, see `postgres.rs`) whose URL the tests read from
/// `CG_TEST_DATABASE_URL`; each test server gets a schema of its own in it. The tests that are
/// about SQLite files (restarts on a file, the file's migrations) stay on SQLite.
fn server_tests_on_postgres() -> Result<(), String> {
    let cluster = crate::postgres::Cluster::start()?;
    let mut test = Command::new("cargo");
    test.args(["test", "-p", "checkout-guard-server"])
        .env("CG_TEST_DATABASE_URL", cluster.url());
    run_command(&mut test)?;
    // The conformance kit against the payment center on PostgreSQL (its SQLite run is part of
    // the per-package `cargo test` above), on the same throw-away cluster.
    let mut kit = Command::new("cargo");
    kit.args([
        "test",
        "-p",
        "checkout-guard-conformance",
        "--test",
        "kit",
        "the_payment_center_passes_every_case",
    ])
    .env("CG_TEST_DATABASE_URL", cluster.url());
    run_command(&mut kit)
}

/// `docs/guide.md`'s code, run as written against the reference backend (`tests/guide/`).
fn guide_tests() -> Result<(), String> {
    let server = build_server()?;
    let mut test = Command::new("node");
    test.args(["--test", "tests/guide/"])
        .env("CG_SERVER_BIN", &server);
    run_command(&mut test)
}

/// The packaging tests (`tests/packaging/`): `npm pack` of `pkg/`, the tarball installed into a
/// fresh Node project and a fresh Vite app, whose build the reference backend serves to headless
/// Chromium, and into a fresh mini-program project laid out as WeChat DevTools' "build npm"
/// does, run in the emulated runtime of `tests/miniprogram/`. Needs the package built first; the
/// tests are given the server binary.
fn packaging_tests() -> Result<(), String> {
    chromium()?;
    let server = build_server()?;
    let mut test = Command::new("node");
    test.args(["--test", "tests/packaging/"])
        .env("CG_SERVER_BIN", &server);
    run_command(&mut test)
}

/// The stack tests (`tests/stacks/`, issue 16): one fresh app per common stack (React in
/// StrictMode and Vue through the package's bindings, Vite 5, 6 and 8, webpack 5, Next.js, a
/// Vite SSR build, Node ESM and CJS, an edge bundle, a plain module script, an IIFE), each
/// installed with `npm ci` from its lockfile with the packed package, built and driven against
/// the reference backend. Needs the package built first.
fn stack_tests() -> Result<(), String> {
    chromium()?;
    let server = build_server()?;
    let mut test = Command::new("node");
    test.args(["--test", "tests/stacks/"])
        .env("CG_SERVER_BIN", &server);
    run_command(&mut test)
}
