//! The WeChat mini-program bundle: `pkg/miniprogram/` (generated, ignored by git).
//!
//! The wasm is the web build's (the core alone, `Core`: src/wasm/step.rs), which names no
//! browser API. wasm-bindgen's `bundler` output is used because its `_bg.js` holds only the
//! import shims and the classes, with no loading code (the `web` target's loader calls the
//! browser's request function, which a mini-program does not have); it is turned into CommonJS
//! here, mechanically, and fails the build on anything it does not recognise. The guard's JS
//! driver (pkg/guard.js, the same as the browser's) is bundled beside it as `driver.js`, then the
//! hand-written loader and adapters of `pkg/miniprogram-src/` are copied beside them, the wasm is
//! brotli-compressed (`WXWebAssembly.instantiate` takes `.wasm.br` from base library 2.14), every
//! JS file is minified by esbuild (the bundle counts against the code package's 2 MB; the
//! readable sources are `pkg/miniprogram-src/` and wasm-bindgen's output) and then checked for
//! the names a mini-program lacks.
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
/// The wasm and its shims are the web build's (`pkg/gen/web/`, built first): the core alone
/// (`Core`, src/wasm/step.rs), the same bytes, so no second cargo build. The shims (the bundler
/// target's `_bg.js`) become CommonJS; the guard's JS driver (pkg/guard.js with the shared
/// platform pieces and the canonical JSON) is bundled by esbuild as `driver.js`.
pub fn build() -> Result<(), String> {
    let web = super::Target::Web.out_dir();
    let out = out_dir();
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let glue = read(&web.join(format!("{STEM}_bg.js")))?;
    write(
        &out.join(format!("{STEM}_bg.js")),
        commonjs(&glue)?.as_bytes(),
    )?;
    let wasm_out = out.join(format!("{STEM}_bg.wasm"));
    fs::copy(web.join(format!("{STEM}_bg.wasm")), &wasm_out)
        .map_err(|e| format!("cannot copy the wasm: {e}"))?;
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
/// pkg/platform.js, pkg/canonical.js) as one CommonJS module for ES2018, which the loader
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
        &["--external:*/errors.js"],
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

/// wasm-bindgen's bundler `_bg.js` (an ES module of `export function` / `export class`
/// declarations) as a CommonJS module that takes `TextEncoder` / `TextDecoder` from `./text.js`.
pub fn commonjs(glue: &str) -> Result<String, String> {
    let mut names = Vec::new();
    let mut body = String::with_capacity(glue.len());
    for line in glue.lines() {
        let declaration = ["export function ", "export class "]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix).map(|rest| (prefix, rest)));
        if let Some((prefix, rest)) = declaration {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '$')
                .collect();
            if name.is_empty() {
                return Err(format!("unexpected glue line: {line}"));
            }
            names.push(name);
            body.push_str(&prefix["export ".len()..]);
            body.push_str(rest);
        } else if line.starts_with("export ") || line.starts_with("import ") {
            return Err(format!(
                "the mini-program build does not know this glue line (wasm-bindgen changed?): {line}"
            ));
        } else if line.contains("typeof window === 'undefined' ? undefined : window") {
            // js-sys's `global()` tries `globalThis`, `self`, `window`, `global` in turn; a
            // mini-program has no `window`, so this accessor's answer there is `undefined`.
            body.push_str("    const ret = undefined; // rewritten by xtask: a mini-program has no such global");
        } else {
            body.push_str(line);
        }
        body.push('\n');
    }
    if !names.iter().any(|n| n == "__wbg_set_wasm") {
        return Err("the glue has no __wbg_set_wasm (wasm-bindgen changed?)".into());
    }
    let mut out = String::new();
    out.push_str(
        "// Generated by `cargo xtask build` from wasm-bindgen's bundler output, as CommonJS:\n\
         // never edit. TextEncoder / TextDecoder: the platform's where present, else ./text.js.\n\
         'use strict';\n\
         const { TextEncoder, TextDecoder } = require('./text.js');\n\n",
    );
    out.push_str(&body);
    out.push_str("\nmodule.exports = {\n");
    for name in &names {
        out.push_str(&format!("    {name},\n"));
    }
    out.push_str("};\n");
    Ok(out)
}

/// The first line of every minified file: where to read it.
const BANNER: &str =
    "// checkout-guard for mini-programs, minified by `cargo xtask build` (sources: pkg/miniprogram-src/)";

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
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_become_module_exports() {
        let glue = "export class A {\n}\nfunction helper() {}\nexport function __wbg_set_wasm(v) {\n    wasm = v;\n}\n";
        let out = commonjs(glue).unwrap_or_default();
        assert!(out.contains("\nclass A {\n"));
        assert!(out.contains("\nfunction __wbg_set_wasm(v) {\n"));
        assert!(out.contains("module.exports = {\n    A,\n    __wbg_set_wasm,\n};"));
        assert!(out.contains("require('./text.js')"));
        assert!(!out.contains("export "));
    }

    #[test]
    fn unknown_module_syntax_fails_the_build() {
        assert!(commonjs("import x from 'y';\nexport function __wbg_set_wasm() {}\n").is_err());
        assert!(commonjs("export { a };\nexport function __wbg_set_wasm() {}\n").is_err());
        assert!(commonjs("export function f() {}\n").is_err());
    }

    #[test]
    fn the_window_accessor_answers_undefined() {
        let glue = "export function __wbg_static_accessor_WINDOW_1() {\n    const ret = typeof window === 'undefined' ? undefined : window;\n}\nexport function __wbg_set_wasm() {}\n";
        let out = commonjs(glue).unwrap_or_default();
        assert!(!out.contains("window;"));
        assert!(out.contains("const ret = undefined;"));
    }
}
