//! Running commands from the repository root, with their command line echoed first.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root: the parent of this crate's manifest directory.
///
/// Read at run time (`cargo run` sets it) before the compile-time value: two checkouts sharing
/// one `CARGO_TARGET_DIR` may share one xtask binary, which must work on the caller's tree.
pub fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs `program args…` in the workspace root; an error names the command that failed.
pub fn run<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<(), String> {
    let mut command = Command::new(program);
    command.args(args);
    run_command(&mut command)
}

/// Runs a prepared command in the workspace root (unless it set its own directory).
pub fn run_command(command: &mut Command) -> Result<(), String> {
    let line = describe(command);
    println!("\n$ {line}");
    if command.get_current_dir().is_none() {
        command.current_dir(root());
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot start `{line}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{line}` failed ({status})"))
    }
}

/// Runs `program args…` in the workspace root and returns its standard output.
pub fn output<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<String, String> {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(root())
        .stderr(Stdio::inherit());
    let line = describe(&command);
    let out = command
        .output()
        .map_err(|e| format!("cannot start `{line}`: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{line}` failed ({})", out.status));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("`{line}` printed non-UTF-8: {e}"))
}

/// Whether `program` can be found on `PATH` (or is a path that exists).
pub fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}
