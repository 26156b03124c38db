//! `cargo xtask build`: the npm package in `pkg/`.
//!
//! Release wasm → wasm-bindgen glue for each target into `pkg/gen/<target>/` (generated, never
//! committed, never edited by hand; minified last, see [`minify_glue`]) → `wasm-opt -Oz` from
//! the npm `binaryen` package. The hand-written files of `pkg/` (package.json, the thin JS
//! layer, the TypeScript declarations) import from there.
//!
//! The wasm is the same for every target (the glue differs), and the npm tarball carries one
//! copy, the web target's (issue 13): the bundler target's glue moves beside the web target's
//! wasm (see [`share_with_bundler`]), since the wasm imports its shims by a path relative to
//! itself, and `pkg/node.cjs` runs on the web target's glue too, bundled into its CommonJS
//! module (see [`shell_commonjs`]), with the web target's wasm read on first use.

use crate::cmd::{root, run};
use crate::setup::{node_bin, node_modules, target_dir, wasm_target, WASM_TARGET};
use std::fs;
use std::path::{Path, PathBuf};
use wasm_bindgen_cli_support::Bindgen;

pub mod miniprogram;

/// The glue flavours the package ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// ES module with an `init()`; what browsers and Vite use (`new URL(…, import.meta.url)`).
    Web,
    /// ES module importing the `.wasm` directly, for bundlers with wasm ESM integration.
    Bundler,
}

impl Target {
    pub const ALL: [Target; 2] = [Target::Web, Target::Bundler];

    pub fn name(self) -> &'static str {
        match self {
            Target::Web => "web",
            Target::Bundler => "bundler",
        }
    }

    /// Where wasm-bindgen writes this target's glue (the bundler's then moves: see
    /// [`Target::glue_files`]).
    pub fn out_dir(self) -> PathBuf {
        root().join("pkg/gen").join(self.name())
    }

    /// The glue this target ships, once built: the bundler target's two modules sit beside the
    /// web target's wasm, which they import (see [`share_with_bundler`]).
    pub fn glue_files(self) -> Vec<PathBuf> {
        let web = Target::Web.out_dir();
        match self {
            Target::Web => vec![web.join(format!("{STEM}.js"))],
            Target::Bundler => vec![
                web.join(format!("{STEM}_bundler.js")),
                web.join(format!("{STEM}_bg.js")),
            ],
        }
    }
}

/// The generated module's file stem: `checkout_guard.js`, `checkout_guard_bg.wasm`.
pub const STEM: &str = "checkout_guard";

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
    let wasm = target_dir()?
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{STEM}.wasm"));
    for target in Target::ALL {
        bindgen(&wasm, target)?;
        match target {
            Target::Web => optimize(&target.out_dir().join(format!("{STEM}_bg.wasm")))?,
            Target::Bundler => share_with_bundler(&target.out_dir())?,
        }
    }
    shell_commonjs()?;
    for license in ["LICENSE-MIT", "LICENSE-APACHE"] {
        // The tarball is packed from pkg/: it carries the repository's licence files.
        std::fs::copy(root().join(license), root().join("pkg").join(license))
            .map_err(|e| format!("{license}: {e}"))?;
    }
    demo_vendor()?;
    // The mini-program bundle turns the bundler glue's `_bg.js` into CommonJS line by line, so it
    // is built from the glue as wasm-bindgen wrote it, before the glue is minified.
    miniprogram::build()?;
    minify_glue()?;
    println!("\nxtask build: package ready in pkg/ (generated glue in pkg/gen/)");
    Ok(())
}

/// The glue the tarball ships (the web target's module, the bundler target's `_bg.js`), minified
/// in place by esbuild for whitespace only: wasm-bindgen's output is build output, whose readable
/// form is a `cargo xtask build` away, and a browser may load it unbundled (a plain module
/// script). The code is unchanged (names, the exports the wasm imports by name, and
/// `new URL('checkout_guard_bg.wasm', import.meta.url)`, which Vite and webpack find by its
/// shape: the stack tests build with both); what goes is the indentation, the blank lines and
/// the Rust doc comments copied in as JSDoc, which the package's hand-written `.d.ts` carry for
/// its users. Measured 2026-12-01: tarball -1,136 bytes packed, web figure -11 (esbuild's
/// syntax minification as well: 70 bytes fewer packed but the web figure +24, so not used).
fn minify_glue() -> Result<(), String> {
    let web = Target::Web.out_dir();
    for name in [format!("{STEM}.js"), format!("{STEM}_bg.js")] {
        let path = web.join(name);
        let mut command = std::process::Command::new(node_bin("esbuild"));
        command
            .arg(&path)
            .args([
                "--minify-whitespace",
                "--allow-overwrite",
                "--log-level=warning",
            ])
            .arg(format!("--outfile={}", path.display()));
        crate::cmd::run_command(&mut command)?;
    }
    let glue = web.join(format!("{STEM}.js"));
    let text = fs::read_to_string(&glue).map_err(|e| format!("{}: {e}", glue.display()))?;
    if !text.contains(&format!("new URL(\"{STEM}_bg.wasm\",import.meta.url)")) {
        return Err(format!(
            "{} no longer finds its wasm by `new URL(…, import.meta.url)` (wasm-bindgen or esbuild changed?)",
            glue.display()
        ));
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

fn bindgen(wasm: &Path, target: Target) -> Result<(), String> {
    let out = target.out_dir();
    println!(
        "\n$ wasm-bindgen --target {} --out-dir {}",
        target.name(),
        out.display()
    );
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    let mut bindgen = Bindgen::new();
    bindgen
        .input_path(wasm)
        .out_name(STEM)
        .typescript(true)
        // Without the default path, `init()` with no argument fails in browsers.
        .omit_default_module_path(false)
        // Names are removed here rather than by `strip = true` (see the release profile).
        .remove_name_section(true)
        .remove_producers_section(true);
    let flavoured = match target {
        Target::Web => bindgen.web(true),
        Target::Bundler => bindgen.bundler(true),
    };
    flavoured
        .map_err(|e| format!("wasm-bindgen ({}): {e:#}", target.name()))?
        .generate(&out)
        .map_err(|e| format!("wasm-bindgen ({}): {e:#}", target.name()))?;
    Ok(())
}

/// Checks that the wasm the bundler target built in `dir` is, optimised, the web target's bytes,
/// then moves its glue beside the web target's wasm and deletes the rest of `dir`: the
/// bundler's entry module (renamed `checkout_guard_bundler.js`, as the web glue is
/// `checkout_guard.js`) imports `./checkout_guard_bg.wasm`, whose imports name
/// `./checkout_guard_bg.js`, relative to the wasm; so both modules must sit in the wasm's own
/// folder. `pkg/bundler.js` imports the entry from there. One wasm fewer in the npm tarball
/// (77 KB packed, measured 2026-12-01). Fails the build when wasm-bindgen's output changed shape.
fn share_with_bundler(dir: &Path) -> Result<(), String> {
    let own = dir.join(format!("{STEM}_bg.wasm"));
    let web_dir = Target::Web.out_dir();
    let read = |path: &Path| fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    optimize(&own)?;
    if read(&own)? != read(&web_dir.join(format!("{STEM}_bg.wasm")))? {
        return Err(
            "the bundler and web wasm differ (wasm-bindgen changed?): cannot share one".into(),
        );
    }
    let entry_path = dir.join(format!("{STEM}.js"));
    let entry =
        fs::read_to_string(&entry_path).map_err(|e| format!("{}: {e}", entry_path.display()))?;
    let wasm_import = format!("from \"./{STEM}_bg.wasm\"");
    let shims_import = format!("from \"./{STEM}_bg.js\"");
    if !entry.contains(&wasm_import) || !entry.contains(&shims_import) {
        return Err(format!(
            "the bundler glue does not import {STEM}_bg.wasm and {STEM}_bg.js by relative paths (wasm-bindgen changed?)"
        ));
    }
    let moves = [
        (entry_path, web_dir.join(format!("{STEM}_bundler.js"))),
        (
            dir.join(format!("{STEM}_bg.js")),
            web_dir.join(format!("{STEM}_bg.js")),
        ),
    ];
    for (from, to) in moves {
        fs::rename(&from, &to)
            .map_err(|e| format!("cannot move {} to {}: {e}", from.display(), to.display()))?;
    }
    fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))
}

/// `wasm-opt -Oz --converge` in place, with the npm `binaryen` (never Debian's: version 108 breaks
/// wasm-bindgen output).
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
/// its bundle, [`shell_commonjs`]).
pub fn write_errors_commonjs(out: &Path) -> Result<(), String> {
    bundle_commonjs("pkg/errors.js", out, "es2018", &[])
}

/// What `pkg/node.cjs` needs of the package's ES modules (`pkg/node-shell.mjs`: the API of
/// `pkg/shell.js` over the web target's glue, and the errors) as one CommonJS module,
/// `pkg/gen/shell.cjs`: `require` of an ES module needs Node >= 20.19 / 22.12, the package
/// supports 18. The web glue serves Node as it is (Node 18 has `TextEncoder`, `TextDecoder`
/// and `WebAssembly`; node.cjs reads the wasm and calls its `initSync`), so the package ships
/// no Node.js glue of its own; its `fetch` loader, which names `import.meta.url`, is left out by
/// esbuild's tree shaking (checked below, which is why esbuild's warning about `import.meta` in
/// CommonJS is silenced).
///
/// Minified for whitespace and syntax only (build output: the readable sources ship beside
/// it): names stay, so a stack trace through it still reads `guardClass`, `pay`, `Core`;
/// renaming too would save 0.7 KB more gzip. Measured 2026-12-01: the Node.js glue (16.5 KB)
/// and `gen/errors.cjs` gone, gen/shell.cjs 41.2 KB -> 38.0 KB with the web glue in it; the
/// tarball -701 bytes packed (the Node.js glue had compressed well beside the web glue).
fn shell_commonjs() -> Result<(), String> {
    let out = root().join("pkg/gen/shell.cjs");
    bundle_commonjs(
        "pkg/node-shell.mjs",
        &out,
        "es2020",
        &[
            "--minify-whitespace",
            "--minify-syntax",
            "--log-override:empty-import-meta=silent",
        ],
    )?;
    let text = fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    if text.contains("import_meta") || text.contains("import.meta") {
        return Err(format!(
            "{} keeps the web glue's `import.meta` loader (wasm-bindgen changed?)",
            out.display()
        ));
    }
    Ok(())
}
