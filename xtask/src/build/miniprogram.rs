//! The WeChat mini-program bundle: `pkg/miniprogram/` (generated, ignored by git).
//!
//! The wasm is the web build's (the core alone, `Core`: src/wasm/step.rs), which imports
//! nothing. The guard's JS driver (pkg/guard.js, the same as the browser's) and the core's
//! binding (pkg/core.js, which loads nothing itself) are bundled as `driver.js`, then the
//! hand-written loader and adapters of `pkg/miniprogram-src/` are copied beside them, the wasm is
//! brotli-compressed (`WXWebAssembly.instantiate` takes `.wasm.br` from base library 2.14), every
//! JS file is minified by esbuild (the bundle counts against the code package's 2 MB; the
//! readable sources are `pkg/miniprogram-src/` and `pkg/`) and then checked for the names a
//! mini-program lacks.
//!
//! It is published as its own npm package, `checkout-guard-miniprogram` ([`package_dir`]: a
//! hand-written `package.json`, README and changelog, and a copy of the bundle as its
//! `miniprogram/` folder), so that `checkout-guard`'s tarball carries one wasm (issue 13). Its
//! `miniprogram` field names that folder, so WeChat DevTools' "build npm" copies it (as packed:
//! the `.wasm.br`, not the raw `.wasm`) to `miniprogram_npm/checkout-guard-miniprogram/`.
//! Its uni-app and Taro entries ([`FRAMEWORK_FILES`]) are required only by those frameworks'
//! builds, so `cargo xtask size` counts them apart from the native bundle.
//!
//! The bundle is also copied into the example mini-programs ([`EXAMPLES`], ignored by git), so
//! WeChat DevTools can open `www/miniprogram/` right after a build and `tests/miniprogram/` can
//! run all three.

use crate::build::STEM;
use crate::cmd::{root, run_command};
use crate::setup::{build_server, node_bin};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Names the bundle's JS must not contain: a mini-program has none of them (and `eval` /
/// `new Function` are refused by its review).
pub const FORBIDDEN: [&str; 6] = [
    "window",
    "document",
    "fetch",
    "localStorage",
    "eval",
    "new Function",
];

/// The hand-written files copied into the bundle.
const SOURCES: [&str; 10] = [
    "index.js",
    "adapters.js",
    "text.js",
    "index.d.ts",
    "package.json",
    "framework.js",
    "uniapp.js",
    "uniapp.d.ts",
    "taro.js",
    "taro.d.ts",
];

/// The JS files only uni-app and Taro builds require (`checkout-guard-miniprogram/uniapp`,
/// `/taro`): not part of what a native mini-program loads, so not of its size figure.
pub const FRAMEWORK_FILES: [&str; 3] = ["framework.js", "uniapp.js", "taro.js"];

/// The example mini-programs (code package root, folder the bundle is copied to inside it): where
/// each loads the wasm from by default (native: by hand, `wasmPath`; uni-app: `static/`; Taro:
/// a `copy.patterns` entry).
pub const EXAMPLES: [(&str, &str); 3] = [
    ("www/miniprogram", "checkout-guard"),
    ("www/miniprogram-uniapp", "static/checkout-guard"),
    ("www/miniprogram-taro", "checkout-guard"),
];

/// Where the bundle goes.
pub fn out_dir() -> PathBuf {
    root().join("pkg/miniprogram")
}

/// The npm package `checkout-guard-miniprogram`: committed `package.json`, README and changelog;
/// its `miniprogram/` folder (the bundle) and licence files are copied in by the build.
pub fn package_dir() -> PathBuf {
    root().join("pkg-miniprogram")
}

/// Builds `pkg/miniprogram/` and copies it into the example mini-programs and the
/// `checkout-guard-miniprogram` package.
///
/// The wasm is the web build's (`pkg/gen/web/`, built first): the core alone (`Core`,
/// src/wasm/step.rs), the same bytes, so no second cargo build. The guard's JS driver
/// (pkg/guard.js with the shared platform pieces, the canonical JSON and the core's binding) is
/// bundled by esbuild as `driver.js`.
pub fn build() -> Result<(), String> {
    let out = out_dir();
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let wasm_out = out.join(format!("{STEM}_bg.wasm"));
    fs::copy(super::wasm_path(), &wasm_out).map_err(|e| format!("cannot copy the wasm: {e}"))?;
    let bytes = fs::read(&wasm_out).map_err(|e| format!("{}: {e}", wasm_out.display()))?;
    write(&out.join(format!("{STEM}_bg.wasm.br")), &brotli(&bytes)?)?;
    bundle_driver(&out.join("driver.js"))?;
    let sources = root().join("pkg/miniprogram-src");
    for name in SOURCES {
        fs::copy(sources.join(name), out.join(name))
            .map_err(|e| format!("cannot copy pkg/miniprogram-src/{name}: {e}"))?;
    }
    // The package's one error module (pkg/errors.js), as CommonJS.
    super::write_errors_commonjs(&out.join("errors.js"))?;
    minify(&out)?;
    check_forbidden(&out)?;
    for (package, folder) in EXAMPLES {
        copy_bundle(&out, &root().join(package).join(folder))?;
    }
    let package = package_dir();
    copy_bundle(&out, &package.join("miniprogram"))?;
    for license in ["LICENSE-MIT", "LICENSE-APACHE"] {
        fs::copy(root().join(license), package.join(license))
            .map_err(|e| format!("{license}: {e}"))?;
    }
    println!(
        "\nxtask build: mini-program bundle ready in pkg/miniprogram/ (and the examples' and pkg-miniprogram/'s copies)"
    );
    Ok(())
}

/// The guard's JS driver for the bundle: `pkg/miniprogram-src/driver.mjs` (pkg/guard.js,
/// pkg/platform.js, pkg/canonical.js, pkg/core.js) as one CommonJS module for ES2018, which the loader
/// requires. pkg/errors.js is left out of it: the bundle's own `errors.js` (the same module as
/// CommonJS, which the loader and framework.js require) is the one copy, so the driver's
/// imports of `./errors.js` stay `require("./errors.js")` and resolve to it, beside the driver
/// (-0.5 KB, measured 2026-12-01). Fails the build when the driver requires anything else.
/// Minified with the rest of the bundle afterwards.
fn bundle_driver(out: &Path) -> Result<(), String> {
    // A pattern, not a path: esbuild keeps a matched import as written (`./errors.js`), where
    // an external given as a path would be rewritten relative to the output (`../errors.js`).
    super::bundle_commonjs(
        "pkg/miniprogram-src/driver.mjs",
        out,
        "es2018",
        &["--external:*/errors.js", super::COMMONJS_ENTRY],
    )?;
    let driver = read(out)?;
    let requires: Vec<&str> = driver.split("require(").skip(1).collect();
    if requires.is_empty() || requires.iter().any(|r| !r.starts_with("\"./errors.js\")")) {
        return Err(format!(
            "{} must require ./errors.js and nothing else (did an import of pkg/errors.js change its path?)",
            out.display()
        ));
    }
    Ok(())
}

/// Replaces `to` with a copy of the bundle.
fn copy_bundle(out: &Path, to: &Path) -> Result<(), String> {
    if to.exists() {
        fs::remove_dir_all(to).map_err(|e| format!("cannot clear {}: {e}", to.display()))?;
    }
    fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in fs::read_dir(out).map_err(|e| format!("{}: {e}", out.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if let Some(name) = path.file_name() {
            fs::copy(&path, to.join(name)).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// The mini-program tests (`tests/miniprogram/`, Node's test runner): the example pages (native,
/// uni-app and Taro) in an emulated mini-program runtime against the real reference backend on
/// its WeChat Pay provider and the WeChat Pay simulator, which the tests start themselves on
/// free loopback ports. Needs the bundle built first.
pub fn tests() -> Result<(), String> {
    let server = build_server()?;
    let sim = crate::demo::build_wechatpay_sim()?;
    let mut test = Command::new("node");
    test.args(["--test", "tests/miniprogram/"])
        .env("CG_SERVER_BIN", &server)
        .env("CG_WECHATPAY_SIM_BIN", &sim);
    run_command(&mut test)
}

/// The first line of every minified file: where to read it (kept short: it is in every file of
/// the bundle, whose uncompressed size is issue 13's mini-program figure).
const BANNER: &str = "// checkout-guard, minified; sources: pkg/miniprogram-src/, pkg/";

/// Minifies every JS file of the bundle in place with esbuild (from Vite's `node_modules`).
/// CommonJS stays CommonJS, and the syntax stays ES2018, as in the sources (object spread), so
/// the bundle runs on the same base libraries as before.
fn minify(dir: &Path) -> Result<(), String> {
    let esbuild = node_bin("esbuild");
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|ext| ext != "js") {
            continue;
        }
        let mut command = Command::new(&esbuild);
        command
            .arg(&path)
            .args([
                "--minify",
                "--format=cjs",
                "--target=es2018",
                "--allow-overwrite",
                "--log-level=warning",
            ])
            .arg(format!("--banner:js={BANNER}"))
            .arg(format!("--outfile={}", path.display()));
        run_command(&mut command)?;
    }
    Ok(())
}

/// Fails when a bundle JS file names something a mini-program lacks.
fn check_forbidden(dir: &Path) -> Result<(), String> {
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|ext| ext != "js") {
            continue;
        }
        let text = read(&path)?;
        for word in FORBIDDEN {
            if let Some(at) = text.find(word) {
                let line = text[..at].lines().count().max(1);
                return Err(format!(
                    "{}:{line} names `{word}`, which a mini-program does not have",
                    path.display()
                ));
            }
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// brotli quality 11, window 22: what `WXWebAssembly` decompresses.
fn brotli(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        // Input blocks of 64 KiB rather than the encoder's own choice: 64 bytes smaller for
        // this wasm (measured 2026-12-02 over windows 17-24 and blocks 16-24: 34,751 -> 34,687).
        lgblock: 16,
        size_hint: bytes.len(),
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    Ok(out)
}
