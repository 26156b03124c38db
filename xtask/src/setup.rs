//! Installing what the build and the tests need, only when it is missing, so that every
//! command works on a fresh machine of this kind (see `shared/TOOLCHAIN.md` for why each).

use crate::cmd::{on_path, output, root, run, run_command};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The wasm-bindgen version everything is pinned to: the crate, the bindgen library in this
/// xtask and the test runner must agree exactly.
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";

/// `rustup target add wasm32-unknown-unknown` unless it is installed.
pub fn wasm_target() -> Result<(), String> {
    let installed = output("rustup", &["target", "list", "--installed"])?;
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        return Ok(());
    }
    run("rustup", &["target", "add", WASM_TARGET])
}

/// `npm ci` from the committed lockfile unless `node_modules` has every tool the tasks run.
pub fn node_modules() -> Result<(), String> {
    let bin = root().join("node_modules/.bin");
    if ["wasm-opt", "tsc", "attw", "publint"]
        .iter()
        .all(|tool| bin.join(tool).exists())
    {
        return Ok(());
    }
    run("npm", &["ci", "--no-audit", "--no-fund"])
}

/// A tool installed by `npm ci`, e.g. the npm `binaryen`'s `wasm-opt` (Debian's version 108
/// breaks wasm-bindgen output).
pub fn node_bin(name: &str) -> PathBuf {
    root().join("node_modules/.bin").join(name)
}

/// Debian's `chromium` and `chromium-driver` unless both are there (CI runs as root).
pub fn chromium() -> Result<(), String> {
    if Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists() {
        return Ok(());
    }
    run("apt-get", &["update"])?;
    let mut install = Command::new("apt-get");
    install
        .args([
            "install",
            "-y",
            "--no-install-recommends",
            "chromium",
            "chromium-driver",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive");
    run_command(&mut install)
}

/// `wasm-bindgen-test-runner` of the pinned version, via `cargo install` (about two minutes)
/// unless that exact version is on `PATH`. The bindgen library has no test runner.
pub fn test_runner() -> Result<(), String> {
    let wanted = format!("wasm-bindgen-test-runner {WASM_BINDGEN_VERSION}");
    if on_path("wasm-bindgen-test-runner") {
        let version = output("wasm-bindgen-test-runner", &["--version"]).unwrap_or_default();
        if version.trim() == wanted {
            return Ok(());
        }
    }
    run(
        "cargo",
        &[
            "install",
            "wasm-bindgen-cli",
            "--version",
            WASM_BINDGEN_VERSION,
        ],
    )
}

/// The reference backend's binary name (the `checkout-guard-server` package).
pub const SERVER: &str = "checkout-guard-server";

/// `cargo build -p checkout-guard-server` (debug: it shares its dependencies with `cargo test
/// --workspace`), returning the binary's path: the browser tests serve their pages with it.
pub fn build_server() -> Result<PathBuf, String> {
    run("cargo", &["build", "--package", SERVER, "--bin", SERVER])?;
    let binary = target_dir()?.join("debug").join(SERVER);
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!("{} was not built", binary.display()))
    }
}

/// The cargo target directory, honouring `CARGO_TARGET_DIR` and config (`cargo metadata`).
pub fn target_dir() -> Result<PathBuf, String> {
    let json = output("cargo", &["metadata", "--format-version", "1", "--no-deps"])?;
    let metadata: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("cargo metadata: {e}"))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata has no target_directory".to_string())
}
