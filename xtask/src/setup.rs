//! Installing what the build and the tests need, only when it is missing, so that every
//! command works on a fresh machine of this kind (see `shared/TOOLCHAIN.md` for why each).

use crate::cmd::{output, root, run, run_command};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

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

/// A tool installed by `npm ci`, e.g. the npm `binaryen`'s `wasm-opt` (pinned by the lockfile,
/// not Debian's older one).
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

/// The workspace's packages, by name (`cargo metadata`), in the order the manifest lists them.
pub fn workspace_packages() -> Result<Vec<String>, String> {
    let json = output("cargo", &["metadata", "--format-version", "1", "--no-deps"])?;
    let metadata: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("cargo metadata: {e}"))?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or_else(|| "cargo metadata has no packages".to_string())?;
    packages
        .iter()
        .map(|package| {
            package["name"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| "cargo metadata has a package without a name".to_string())
        })
        .collect()
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
