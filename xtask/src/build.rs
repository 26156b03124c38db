//! `cargo xtask build`: the npm package in `pkg/`.
//!
//! Release wasm → `pkg/gen/web/checkout_guard_bg.wasm` (generated, never committed) →
//! `wasm-opt -Oz` from the npm `binaryen` package. The hand-written files of `pkg/`
//! (package.json, the thin JS layer with the core's binding `pkg/core.js` and its loader
//! `pkg/load.js`, the TypeScript declarations) use it; no JS is generated for it (issue 13: the
//! wasm's exports are a small ABI of its own, `src/wasm/step.rs`, in place of wasm-bindgen).
//!
//! The npm tarball carries one wasm, for every entry: the browser's and Node's (`pkg/load.js`;
//! `pkg/node.cjs` runs on a CommonJS bundle of the shell, see [`shell_commonjs`], and reads the
//! wasm on first use) and the bundlers' (`pkg/bundler.js` imports it as a module).

use crate::cmd::{root, run};
use crate::setup::{node_bin, node_modules, target_dir, wasm_target, WASM_TARGET};
use std::fs;
use std::path::{Path, PathBuf};

pub mod miniprogram;

/// The built wasm's file stem: `checkout_guard_bg.wasm`, as wasm-bindgen named it (apps and
/// the mini-program examples copy it by that name).
pub const STEM: &str = "checkout_guard";

/// Where the built wasm sits: `pkg/gen/web/`.
pub fn wasm_dir() -> PathBuf {
    root().join("pkg/gen/web")
}

/// The built wasm: `pkg/gen/web/checkout_guard_bg.wasm`.
pub fn wasm_path() -> PathBuf {
    wasm_dir().join(format!("{STEM}_bg.wasm"))
}

/// `cargo build --release` of the library for wasm32, with `extra` arguments (features, a
/// target directory): the one build step of the web package and of the mini-program flavour.
pub fn cargo_wasm(extra: &[&str]) -> Result<(), String> {
    let mut args = vec![
        "build",
        "--release",
        "--lib",
        "--package",
        "checkout-guard",
        "--target",
        WASM_TARGET,
    ];
    args.extend_from_slice(extra);
    run("cargo", &args)
}

pub fn build() -> Result<(), String> {
    wasm_target()?;
    node_modules()?;
    // The core alone (`src/wasm/step.rs`): the package's JS (pkg/guard.js) does the I/O.
    cargo_wasm(&[])?;
    let built = target_dir()?
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{STEM}.wasm"));
    let dir = wasm_dir();
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let wasm = wasm_path();
    fs::copy(&built, &wasm).map_err(|e| format!("cannot copy {}: {e}", built.display()))?;
    optimize(&wasm)?;
    check_exports(&wasm)?;
    shell_commonjs()?;
    for license in ["LICENSE-MIT", "LICENSE-APACHE"] {
        // The tarball is packed from pkg/: it carries the repository's licence files.
        std::fs::copy(root().join(license), root().join("pkg").join(license))
            .map_err(|e| format!("{license}: {e}"))?;
    }
    demo_vendor()?;
    miniprogram::build()?;
    println!("\nxtask build: package ready in pkg/ (the wasm in pkg/gen/web/)");
    Ok(())
}

/// The exports `pkg/core.js` binds (src/wasm/step.rs), and no import: a wasm that lost one, or
/// gained an import (a dependency reaching for the host), fails the build rather than a page.
const EXPORTS: [&str; 20] = [
    "memory",
    "cg_input",
    "cg_output",
    "cg_output_len",
    "cg_new",
    "cg_free",
    "cg_namespace",
    "cg_scope",
    "cg_would_start",
    "cg_pay",
    "cg_submit",
    "cg_resume",
    "cg_forget",
    "cg_timer",
    "cg_shown",
    "cg_heard",
    "cg_replied",
    "cg_lost",
    "cg_stored",
    "cg_locked",
];

/// Checks the optimised wasm's imports and exports against [`EXPORTS`] (and `cg_launched`,
/// `cg_sha256`), with Node's `WebAssembly` reading the module as a page would.
fn check_exports(wasm: &Path) -> Result<(), String> {
    let script = "const m = new WebAssembly.Module(require('fs').readFileSync(process.argv[1])); \
                  console.log(JSON.stringify({ imports: WebAssembly.Module.imports(m).length, \
                  exports: WebAssembly.Module.exports(m).map((e) => e.name) }))";
    let out = std::process::Command::new("node")
        .args(["-e", script])
        .arg(wasm)
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "node could not read {}: {}",
            wasm.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let seen: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("node's answer: {e}"))?;
    if seen["imports"] != 0 {
        return Err(format!(
            "{} imports from its host: it must not",
            wasm.display()
        ));
    }
    let exports: Vec<&str> = seen["exports"]
        .as_array()
        .map(|names| names.iter().filter_map(|name| name.as_str()).collect())
        .unwrap_or_default();
    for name in EXPORTS.iter().chain(&["cg_launched", "cg_sha256"]) {
        if !exports.contains(name) {
            return Err(format!(
                "{} does not export {name}, which pkg/core.js binds",
                wasm.display()
            ));
        }
    }
    Ok(())
}

/// The demo page's one third-party module: the npm `qrcode` package (pinned in the root
/// `package.json`), bundled by esbuild into `www/vendor/qrcode.js` (build output, ignored by
/// git) so the page can draw a Native `codeUrl` as a QR code (issue 14) with no CDN.
fn demo_vendor() -> Result<(), String> {
    let out = root().join("www/vendor/qrcode.js");
    let esbuild = node_bin("esbuild");
    let mut child = std::process::Command::new(&esbuild)
        .args([
            "--bundle",
            "--format=esm",
            "--platform=browser",
            "--minify",
            "--log-level=warning",
            "--banner:js=// The npm `qrcode` package (MIT), bundled by `cargo xtask build` for the demo page.",
        ])
        .arg(format!("--outfile={}", out.display()))
        .current_dir(root())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", esbuild.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        stdin
            .write_all(b"export { toCanvas } from 'qrcode';\n")
            .map_err(|e| format!("esbuild stdin: {e}"))?;
    }
    let status = child.wait().map_err(|e| format!("esbuild: {e}"))?;
    if !status.success() {
        return Err(format!("esbuild (the demo's QR module) failed ({status})"));
    }
    Ok(())
}

/// `wasm-opt -Oz --converge` in place, with the npm `binaryen` (pinned in the root lockfile).
pub fn optimize(wasm: &Path) -> Result<(), String> {
    let wasm_opt = node_bin("wasm-opt");
    let wasm_opt = wasm_opt
        .to_str()
        .ok_or_else(|| format!("non-UTF-8 path {}", wasm_opt.display()))?;
    run(
        wasm_opt,
        &[
            wasm.as_os_str(),
            "-Oz".as_ref(),
            // Repeats the passes until the module stops shrinking: 0.2% of the brotli figure
            // for a few seconds of build (measured 2026-12-01: 66,483 -> 66,336 bytes).
            "--converge".as_ref(),
            // The names, DWARF and the toolchain's producers section, which wasm-bindgen used
            // to remove: nothing of the module's behaviour.
            "--strip-debug".as_ref(),
            "--strip-producers".as_ref(),
            // Lets the optimizer fold a pointer's constant offsets into loads and stores, on the
            // promise that nothing lives in the first 1 KiB of memory. It holds: the linker puts
            // the stack first, 1 MiB of it growing down from 0x100000 to the data above it, and
            // the core never nests that deep (JSON at most 127 levels; the machine does not
            // recurse), so the low 1 KiB is never touched, and an access that would reach it is
            // a trap either way. Measured 2026-12-02: 77,149 -> 76,791 raw, 30,489 -> 30,347
            // brotli. (`--traps-never-happen` would save 0.2 KB more but let the optimizer drop
            // the traps a broken ABI call or a panic must end in: not taken.)
            "--low-memory-unused".as_ref(),
            // A function with one caller is inlined into it only while small (100 bytes): by
            // default wasm-opt inlines every one, which folded the machine's handlers into one
            // 15 KB function whose hundreds of locals take two-byte indices and whose code
            // repeats itself less. Measured 2026-12-02: 76,791 -> 77,231 raw but 35,399 ->
            // 34,973 gzip and 30,347 -> 30,009 brotli; every limit from 5 to 150 bytes gave
            // 30,009 to 30,136, unlimited 30,347.
            "--one-caller-inline-max-function-size".as_ref(),
            "100".as_ref(),
            // The `target_features` section is read by tools (wasm-opt learns from it which
            // features the module may use) and ignored by engines: out of the shipped module,
            // after this last pass has read it (-151 B raw, -150 B brotli, measured 2026-12-02).
            "--strip-target-features".as_ref(),
            "-o".as_ref(),
            wasm.as_os_str(),
        ],
    )
}

/// An ES module of `pkg/` and what it imports, bundled by esbuild as one CommonJS module at
/// `out` for `target` (`es2020` for Node, `es2018` for mini-program base libraries), the
/// banner naming its source, with `extra` esbuild arguments. Not minified here: the
/// mini-program bundle is minified as a whole afterwards, and the caller of a server bundle
/// says how.
pub fn bundle_commonjs(
    entry: &str,
    out: &Path,
    target: &str,
    extra: &[&str],
) -> Result<(), String> {
    let mut command = std::process::Command::new(node_bin("esbuild"));
    command
        .arg(root().join(entry))
        .args(["--bundle", "--format=cjs", "--platform=neutral"])
        .arg(format!("--target={target}"))
        .arg("--log-level=warning")
        .arg(format!(
            "--banner:js=// Generated by `cargo xtask build` from {entry} and its imports, as CommonJS: never edit."
        ))
        .args(extra)
        .arg(format!("--outfile={}", out.display()));
    crate::cmd::run_command(&mut command)
}

/// `pkg/errors.js`, the one place the package's JS makes and recognises its errors, as
/// CommonJS at `out`: for the mini-program bundle, whose files are CommonJS (node.cjs has it in
/// its bundle, [`shell_commonjs`]). Through `pkg/miniprogram-src/errors.mjs`, which sets
/// `module.exports` itself (no ES-module interop in the output).
pub fn write_errors_commonjs(out: &Path) -> Result<(), String> {
    bundle_commonjs(
        "pkg/miniprogram-src/errors.mjs",
        out,
        "es2018",
        &[COMMONJS_ENTRY],
    )
}

/// For an ES-module entry that sets `module.exports` itself (node.cjs's shell, the
/// mini-program's driver and errors): esbuild's warning that `module` is then the output's CommonJS variable, which is the
/// point.
pub const COMMONJS_ENTRY: &str = "--log-override:commonjs-variable-in-esm=silent";

/// What `pkg/node.cjs` needs of the package's ES modules (`pkg/node-shell.mjs`: the API of
/// `pkg/shell.js` over the core's binding, and the errors) as one CommonJS module,
/// `pkg/gen/shell.cjs`: `require` of an ES module needs Node >= 20.19 / 22.12, the package
/// supports 18. The binding serves Node as it is (Node 18 has `TextEncoder`, `TextDecoder`
/// and `WebAssembly`; node.cjs reads the wasm and calls `initSync` of `pkg/load.js`); the
/// `fetch` loader of `pkg/load.js`, which names `import.meta.url`, is left out by esbuild's tree
/// shaking (checked below, which is why esbuild's warning about `import.meta` in CommonJS is
/// silenced).
///
/// Minified for whitespace and syntax only (build output: the readable sources ship beside
/// it): names stay, so a stack trace through it still reads `guardClass`, `pay`, `Core`;
/// renaming too would save 0.7 KB more gzip. Measured 2026-12-01: the Node.js glue (16.5 KB)
/// and `gen/errors.cjs` gone, gen/shell.cjs 41.2 KB -> 38.0 KB with the web glue in it; the
/// tarball -701 bytes packed (the Node.js glue had compressed well beside the web glue).
///
/// ES2022, the oldest Node the package supports (18) runs all of it: the classes' private
/// fields and methods stay as written instead of esbuild's `WeakMap` helpers for ES2020
/// (measured 2026-12-02: 31.7 -> 28.3 KB, 9.5 -> 8.9 KB gzip).
fn shell_commonjs() -> Result<(), String> {
    let out = root().join("pkg/gen/shell.cjs");
    bundle_commonjs(
        "pkg/node-shell.mjs",
        &out,
        "es2022",
        &[
            "--minify-whitespace",
            "--minify-syntax",
            "--log-override:empty-import-meta=silent",
            COMMONJS_ENTRY,
        ],
    )?;
    let text = fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    if text.contains("import_meta") || text.contains("import.meta") {
        return Err(format!(
            "{} keeps pkg/load.js's `import.meta` loader (did node-shell.mjs take `init`?)",
            out.display()
        ));
    }
    Ok(())
}
