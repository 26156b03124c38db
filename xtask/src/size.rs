//! `cargo xtask size`: the sizes of issue 13, against their goals and a ratchet.
//!
//! - **web**: what a browser downloads for the package's browser entry (`pkg/index.js`): its
//!   JS bundled and minified by esbuild (Vite's bundler), plus the wasm it loads, each
//!   brotli-compressed at quality 11;
//! - **mini-program**: the bundle as it sits in a native mini-program's code package: `.wasm.br`
//!   plus its JS files, uncompressed (the uni-app and Taro entries, which only those frameworks'
//!   builds require, are reported beside it, not counted);
//! - **tarball**: the npm package `checkout-guard` as `npm pack` packs it;
//! - **mini-program tarball**: the npm package `checkout-guard-miniprogram` (`pkg-miniprogram/`,
//!   the mini-program bundle published on its own so that each tarball has one wasm).
//!
//! Sizes are deterministic, so each is checked against the figure recorded in
//! [`BUDGET_FILE`]: a build that weighs more fails. The figures only go down (a ratchet): when a
//! cut makes a figure smaller, the recorded one is lowered in the same commit, which the report
//! says how to do, until it reaches the goal.

use crate::build::STEM;
use crate::cmd::root;
use crate::setup::{node_bin, target_dir};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The ratchet, relative to the repository root.
pub const BUDGET_FILE: &str = "xtask/size-budget.toml";

/// WeChat's limit for one code package (main package or subpackage), in bytes.
pub const MINIPROGRAM_PACKAGE_LIMIT: usize = 2 * 1024 * 1024;

/// The figures, by their name in [`BUDGET_FILE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Web,
    MiniProgram,
    Tarball,
    MiniProgramTarball,
}

impl Figure {
    /// The key in [`BUDGET_FILE`].
    pub fn key(self) -> &'static str {
        match self {
            Figure::Web => "web",
            Figure::MiniProgram => "miniprogram",
            Figure::Tarball => "tarball",
            Figure::MiniProgramTarball => "miniprogram_tarball",
        }
    }

    /// What is measured.
    pub fn what(self) -> &'static str {
        match self {
            Figure::Web => "web: entry JS minified + wasm, brotli 11",
            Figure::MiniProgram => "mini-program: .wasm.br + JS, as shipped",
            Figure::Tarball => "npm tarball: npm pack, packed",
            Figure::MiniProgramTarball => "mini-program npm tarball, packed",
        }
    }

    /// Issue 13's goal, in bytes (KiB: 1024 bytes).
    pub fn goal(self) -> usize {
        match self {
            Figure::Web => 30 * 1024,
            Figure::MiniProgram => 60 * 1024,
            // Issue 13's tarball goal (one wasm, 80 KB), for each of the two packages.
            Figure::Tarball | Figure::MiniProgramTarball => 80 * 1024,
        }
    }
}

/// The sizes of one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    pub raw: usize,
    pub gzip: usize,
    pub brotli: usize,
}

impl std::ops::AddAssign for Sizes {
    fn add_assign(&mut self, other: Sizes) {
        self.raw += other.raw;
        self.gzip += other.gzip;
        self.brotli += other.brotli;
    }
}

/// Measures the built package (`cargo xtask build` first), prints the figures beside their
/// goals and recorded limits, and fails when one is above its limit.
pub fn report() -> Result<(), String> {
    let web_wasm = sizes(&crate::build::wasm_path())?;
    let web_js = web_bundle()?;
    let mini = crate::build::miniprogram::out_dir();
    let mini_wasm_br = sizes(&mini.join(format!("{STEM}_bg.wasm.br")))?.raw;
    let frameworks = crate::build::miniprogram::FRAMEWORK_FILES;
    let mut framework_js = 0;
    for name in frameworks {
        framework_js += sizes(&mini.join(name))?.raw;
    }
    let mini_js = glue_sizes(&mini)?.raw - framework_js;
    let tarball = packed_size(&root().join("pkg"))?;
    let mini_tarball = packed_size(&crate::build::miniprogram::package_dir())?;

    println!(
        "\nweb wasm: {} raw, {} gzip, {} brotli; web JS bundled + minified: {} raw, {} brotli",
        web_wasm.raw, web_wasm.gzip, web_wasm.brotli, web_js.raw, web_js.brotli
    );
    println!(
        "mini-program: .wasm.br {mini_wasm_br}, JS {mini_js} ({:.1}% of WeChat's 2 MiB package limit)",
        (mini_wasm_br + mini_js) as f64 * 100.0 / MINIPROGRAM_PACKAGE_LIMIT as f64
    );
    println!(
        "mini-program uni-app and Taro entries ({}): JS {framework_js}, not counted in the native figure",
        frameworks.join(", ")
    );
    let measured = [
        (Figure::Web, web_wasm.brotli + web_js.brotli),
        (Figure::MiniProgram, mini_wasm_br + mini_js),
        (Figure::Tarball, tarball),
        (Figure::MiniProgramTarball, mini_tarball),
    ];
    let budget_path = root().join(BUDGET_FILE);
    let text =
        fs::read_to_string(&budget_path).map_err(|e| format!("{}: {e}", budget_path.display()))?;
    let recorded = parse_budget(&text)?;
    println!(
        "\n{:<42} {:>9} {:>9} {:>9}",
        "figure (bytes)", "now", "recorded", "goal"
    );
    for (figure, now) in measured {
        let limit = limit_of(&recorded, figure)?;
        println!(
            "{:<42} {:>9} {:>9} {:>9}{}",
            figure.what(),
            now,
            limit,
            figure.goal(),
            if now <= figure.goal() {
                "  goal reached"
            } else {
                ""
            }
        );
    }
    let verdict = check(&measured, &recorded)?;
    for line in &verdict.lower {
        println!("{line}");
    }
    if verdict.over.is_empty() {
        println!("\nxtask size: every figure is within {BUDGET_FILE}");
        Ok(())
    } else {
        Err(verdict.over.join("\n"))
    }
}

/// What [`check`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// One message per figure above its recorded limit.
    pub over: Vec<String>,
    /// One hint per figure that could be recorded lower.
    pub lower: Vec<String>,
}

/// Compares `measured` with the `recorded` limits.
pub fn check(
    measured: &[(Figure, usize)],
    recorded: &[(String, usize)],
) -> Result<Verdict, String> {
    let mut verdict = Verdict::default();
    for &(figure, now) in measured {
        let limit = limit_of(recorded, figure)?;
        let key = figure.key();
        if now > limit {
            verdict.over.push(format!(
                "size: {key} is {now} bytes, above the {limit} recorded in {BUDGET_FILE}. The \
                 recorded figures only go down: find what grew (twiggy on the wasm, see README \
                 \"Size\") and cut it; raise `{key}` only for a growth that is deliberate, in \
                 its own commit that says why."
            ));
        } else if suggested(now) < limit {
            verdict.lower.push(format!(
                "size: {key} is {now} bytes: lower `{key} = {limit}` to `{key} = {}` in \
                 {BUDGET_FILE} (the ratchet)",
                suggested(now)
            ));
        }
    }
    Ok(verdict)
}

/// The figure to record for a measurement: at least 256 bytes more, rounded up to a multiple of
/// 512, so that a toolchain change of a few bytes does not fail the build but any real growth
/// does.
pub fn suggested(measured: usize) -> usize {
    ((measured + 256) / 512 + 1) * 512
}

fn limit_of(recorded: &[(String, usize)], figure: Figure) -> Result<usize, String> {
    recorded
        .iter()
        .find(|(key, _)| key == figure.key())
        .map(|(_, limit)| *limit)
        .ok_or_else(|| format!("{BUDGET_FILE} has no `{}`", figure.key()))
}

/// Reads `key = 123_456` lines (comments with `#`, blank lines allowed): the subset of TOML the
/// budget file uses.
pub fn parse_budget(text: &str) -> Result<Vec<(String, usize)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let bad = || format!("{BUDGET_FILE}:{}: expected `name = bytes`", i + 1);
        let (key, value) = line.split_once('=').ok_or_else(bad)?;
        let value: usize = value.trim().replace('_', "").parse().map_err(|_| bad())?;
        out.push((key.trim().to_owned(), value));
    }
    Ok(out)
}

/// The browser entry bundled and minified by esbuild (what Vite does to it in a production
/// build), the wasm left out as Vite leaves it: `new URL(…, import.meta.url)`.
fn web_bundle() -> Result<Sizes, String> {
    let out = target_dir()?.join("size").join("web-entry.min.js");
    let esbuild = node_bin("esbuild");
    if !esbuild.exists() {
        return Err(format!(
            "{} is missing (it comes with Vite: run `npm ci`)",
            esbuild.display()
        ));
    }
    let mut command = Command::new(&esbuild);
    command
        .current_dir(root())
        .args([
            "pkg/index.js",
            "--bundle",
            "--minify",
            "--format=esm",
            "--platform=browser",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", out.display()));
    let status = command
        .status()
        .map_err(|e| format!("cannot start {}: {e}", esbuild.display()))?;
    if !status.success() {
        return Err(format!("esbuild pkg/index.js failed ({status})"));
    }
    sizes(&out)
}

/// `npm pack --dry-run --json` in `pkg/`: the packed size of the tarball.
fn packed_size(package: &Path) -> Result<usize, String> {
    let out = Command::new("npm")
        .args(["pack", "--dry-run", "--json"])
        .current_dir(package)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start npm pack: {e}"))?;
    if !out.status.success() {
        return Err(format!("npm pack --dry-run failed ({})", out.status));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("npm pack --json: {e}"))?;
    json[0]["size"]
        .as_u64()
        .map(|size| size as usize)
        .ok_or_else(|| "npm pack --json printed no size".to_string())
}

/// Every `.js` file of a folder (the bundler target splits its glue in two).
pub fn glue_sizes(dir: &Path) -> Result<Sizes, String> {
    let entries = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e} (run `cargo xtask build`)", dir.display()))?;
    let mut total = Sizes::default();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|ext| ext == "js") {
            total += sizes(&path)?;
        }
    }
    Ok(total)
}

pub fn sizes(path: &Path) -> Result<Sizes, String> {
    let bytes =
        fs::read(path).map_err(|e| format!("{}: {e} (run `cargo xtask build`)", path.display()))?;
    Ok(Sizes {
        raw: bytes.len(),
        gzip: gzip(&bytes)?,
        brotli: brotli(&bytes)?,
    })
}

/// gzip -9, as a static file server would precompress.
fn gzip(bytes: &[u8]) -> Result<usize, String> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).map_err(|e| e.to_string())?;
    Ok(encoder.finish().map_err(|e| e.to_string())?.len())
}

/// brotli quality 11, window 22 (`brotli -q 11`).
fn brotli(bytes: &[u8]) -> Result<usize, String> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).map_err(|e| e.to_string())?;
    Ok(out.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> Vec<(String, usize)> {
        parse_budget("# ratchet\nweb = 100_000\n\nminiprogram = 2000 # KiB\ntarball=5000\n")
            .unwrap_or_default()
    }

    #[test]
    fn the_budget_file_is_read() {
        assert_eq!(
            recorded(),
            [
                ("web".to_owned(), 100_000),
                ("miniprogram".to_owned(), 2000),
                ("tarball".to_owned(), 5000)
            ]
        );
        assert!(parse_budget("web 5").is_err());
        assert!(parse_budget("web = five").is_err());
    }

    #[test]
    fn the_committed_budget_names_every_figure() {
        let text = fs::read_to_string(root().join(BUDGET_FILE)).unwrap_or_default();
        let recorded = parse_budget(&text).unwrap_or_default();
        for figure in [Figure::Web, Figure::MiniProgram, Figure::Tarball] {
            assert!(limit_of(&recorded, figure).is_ok(), "{}", figure.key());
        }
    }

    #[test]
    fn a_figure_above_its_record_fails_and_one_well_below_asks_to_lower_it() {
        let same = [
            (Figure::Web, 100_000),
            (Figure::MiniProgram, 1900),
            (Figure::Tarball, 5000),
        ];
        let verdict = check(&same, &recorded()).unwrap_or_default();
        assert!(verdict.over.is_empty());
        assert!(verdict.lower.is_empty(), "{:?}", verdict.lower);

        let grown = [(Figure::Web, 100_001)];
        let verdict = check(&grown, &recorded()).unwrap_or_default();
        assert_eq!(verdict.over.len(), 1);
        assert!(verdict.over[0].contains("web is 100001 bytes"));

        let cut = [(Figure::Tarball, 3000)];
        let verdict = check(&cut, &recorded()).unwrap_or_default();
        assert!(verdict.over.is_empty());
        assert_eq!(
            verdict.lower,
            ["size: tarball is 3000 bytes: lower `tarball = 5000` to `tarball = 3584` in xtask/size-budget.toml (the ratchet)"]
        );
    }

    #[test]
    fn the_suggestion_rounds_up_a_little() {
        assert_eq!(suggested(0), 512);
        assert_eq!(suggested(255), 512);
        assert_eq!(suggested(256), 1024);
        assert_eq!(suggested(767), 1024);
        assert_eq!(suggested(243_710), 244_224);
        for measured in [0, 1, 255, 256, 511, 512, 100_000] {
            let slack = suggested(measured) - measured;
            assert!((256..=768).contains(&slack), "{measured}: {slack}");
        }
    }
}
