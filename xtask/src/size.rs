//! `cargo xtask size`: what a buyer downloads, per glue target.
//!
//! Prints the optimised wasm raw / gzip / brotli and the generated JS glue gzip / brotli, and
//! checks the web budget (wasm + web glue, brotli) that the README promises.

use crate::build::{Target, STEM};
use std::fs;
use std::io::Write;
use std::path::Path;

/// wasm + web glue, brotli-compressed, in bytes: the number the README promises.
pub const WEB_BUDGET_BROTLI: usize = 30 * 1024;

/// WeChat's limit for one code package (main package or subpackage), in bytes.
pub const MINIPROGRAM_PACKAGE_LIMIT: usize = 2 * 1024 * 1024;

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

pub fn report() -> Result<(), String> {
    println!(
        "\n{:<8} {:>10} {:>10} {:>10}   {:>10} {:>10}",
        "target", "wasm", "gzip", "brotli", "glue gzip", "brotli"
    );
    let mut web_total = 0;
    for target in Target::ALL {
        let dir = target.out_dir();
        let wasm = sizes(&dir.join(format!("{STEM}_bg.wasm")))?;
        let glue = glue_sizes(&dir)?;
        println!(
            "{:<8} {:>10} {:>10} {:>10}   {:>10} {:>10}",
            target.name(),
            wasm.raw,
            wasm.gzip,
            wasm.brotli,
            glue.gzip,
            glue.brotli
        );
        if target == Target::Web {
            web_total = wasm.brotli + glue.brotli;
        }
    }
    let verdict = if web_total <= WEB_BUDGET_BROTLI {
        "within"
    } else {
        "OVER"
    };
    println!(
        "\nweb (wasm + glue, brotli): {web_total} bytes = {:.1} KiB, {verdict} the {} KiB budget",
        web_total as f64 / 1024.0,
        WEB_BUDGET_BROTLI / 1024
    );
    miniprogram()
}

/// The mini-program row: what the bundle adds to a code package (`.wasm.br` + the JS files as
/// they are), against WeChat's 2 MB package limit.
fn miniprogram() -> Result<(), String> {
    let dir = crate::build::miniprogram::out_dir();
    let wasm = sizes(&dir.join(format!("{STEM}_bg.wasm")))?;
    let shipped = sizes(&dir.join(format!("{STEM}_bg.wasm.br")))?.raw;
    let glue = glue_sizes(&dir)?;
    println!(
        "{:<8} {:>10} {:>10} {:>10}   {:>10} {:>10}   (glue: loader, adapters, polyfill; {} raw)",
        "mini", wasm.raw, wasm.gzip, wasm.brotli, glue.gzip, glue.brotli, glue.raw
    );
    let total = shipped + glue.raw;
    let verdict = if total <= MINIPROGRAM_PACKAGE_LIMIT {
        "within"
    } else {
        "OVER"
    };
    println!(
        "mini-program package (.wasm.br + JS as shipped): {total} bytes = {:.1} KiB, {:.1}% of the 2 MiB limit ({verdict})",
        total as f64 / 1024.0,
        total as f64 * 100.0 / MINIPROGRAM_PACKAGE_LIMIT as f64
    );
    Ok(())
}

/// Every generated `.js` file of a target (the bundler target splits its glue in two).
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
