//! `cargo xtask release`: the two npm tarballs as they would be published (publishing happens
//! outside this machine), with their checks: publint (strict) and arethetypeswrong on each packed
//! package, a changelog entry for each one's version, and SHA-256 checksums beside them.

use crate::cmd::{root, run_command};
use crate::setup::node_bin;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// Where `release` writes the tarball and `SHA256SUMS`.
fn out_dir() -> Result<PathBuf, String> {
    Ok(crate::setup::target_dir()?.join("release-pkg"))
}

/// The two npm packages: `checkout-guard` (`pkg/`) and `checkout-guard-miniprogram`
/// (`pkg-miniprogram/`, the mini-program bundle on its own, so each tarball has one wasm).
fn packages() -> [PathBuf; 2] {
    [root().join("pkg"), crate::build::miniprogram::package_dir()]
}

/// The package linters on both packages (built): publint with warnings as errors, and
/// arethetypeswrong on every entry and resolution mode. `checkout-guard/web`, `/bundler` and
/// the wasm asset are ES modules only by design (their glue uses `import.meta.url`), so a
/// `require` of them resolving to ESM is expected and that one rule is not counted.
pub fn package_lints() -> Result<(), String> {
    for pkg in packages() {
        let mut publint = Command::new(node_bin("publint"));
        publint.args(["--strict"]).current_dir(&pkg);
        run_command(&mut publint)?;
        let mut attw = Command::new(node_bin("attw"));
        attw.args(["--pack", ".", "--ignore-rules", "cjs-resolves-to-esm"])
            .current_dir(&pkg);
        run_command(&mut attw)?;
    }
    Ok(())
}

/// Packs both packages into `target/release-pkg/` with a `SHA256SUMS` over them, after the
/// build, the linters and a changelog entry for each one's version.
pub fn release() -> Result<(), String> {
    crate::build::build()?;
    package_lints()?;
    let out = out_dir()?;
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut sums = String::new();
    for pkg in packages() {
        let (file, sum, entry) = pack(&pkg, &out)?;
        println!("\nxtask release: {file}\n  sha256 {sum}\n\n{entry}");
        sums.push_str(&format!("{sum}  {file}\n"));
    }
    let sums_path = out.join("SHA256SUMS");
    fs::write(&sums_path, sums).map_err(|e| format!("{}: {e}", sums_path.display()))?;
    println!("\n  {}", sums_path.display());
    Ok(())
}

/// `npm pack` of `pkg` into `out`: the tarball's file name, its SHA-256 and the changelog entry
/// of its version (refused when there is none).
fn pack(pkg: &std::path::Path, out: &std::path::Path) -> Result<(String, String, String), String> {
    let where_ = pkg.display();
    let manifest: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(pkg.join("package.json"))
            .map_err(|e| format!("{where_}/package.json: {e}"))?,
    )
    .map_err(|e| format!("{where_}/package.json: {e}"))?;
    let (name, version) = match (manifest["name"].as_str(), manifest["version"].as_str()) {
        (Some(n), Some(v)) => (n.to_owned(), v.to_owned()),
        _ => return Err(format!("{where_}/package.json has no name or version")),
    };
    let changelog = fs::read_to_string(pkg.join("CHANGELOG.md"))
        .map_err(|e| format!("{where_}/CHANGELOG.md: {e}"))?;
    let entry = changelog_entry(&changelog, &version).ok_or_else(|| {
        format!("{where_}/CHANGELOG.md has no `## {version}` entry: write it first")
    })?;
    let mut npm = Command::new("npm");
    npm.args(["pack", "--pack-destination"])
        .arg(out)
        .current_dir(pkg);
    run_command(&mut npm)?;
    let file = format!("{name}-{version}.tgz");
    let tarball = out.join(&file);
    let bytes = fs::read(&tarball).map_err(|e| format!("{}: {e}", tarball.display()))?;
    Ok((file, sha256_hex(&bytes), entry))
}

/// The text of `## {version}` up to the next `## ` heading.
fn changelog_entry(changelog: &str, version: &str) -> Option<String> {
    let heading = format!("## {version}");
    let start = changelog.lines().position(|l| l.trim() == heading)?;
    let body: Vec<&str> = changelog
        .lines()
        .skip(start)
        .enumerate()
        .take_while(|(i, l)| *i == 0 || !l.starts_with("## "))
        .map(|(_, l)| l)
        .collect();
    Some(body.join("\n").trim_end().to_owned())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changelog_entry_is_its_section_only() {
        let log = "# Changelog\n\n## 0.2.0\n\n- b\n\n## 0.1.0\n\n- a\n";
        assert_eq!(
            changelog_entry(log, "0.2.0").as_deref(),
            Some("## 0.2.0\n\n- b")
        );
        assert_eq!(
            changelog_entry(log, "0.1.0").as_deref(),
            Some("## 0.1.0\n\n- a")
        );
        assert_eq!(changelog_entry(log, "0.3.0"), None);
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
