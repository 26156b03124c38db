//! A throw-away PostgreSQL cluster for tests that must work across server instances
//! (issue 12): Debian's `postgresql` installed when missing, `initdb` in a fresh temporary
//! folder, started on a free loopback port as an unprivileged user, stopped and deleted when
//! the [`Cluster`] is dropped. Nothing is left behind and nothing system-wide is touched
//! (Debian's own cluster, if any, stays as it is).
//!
//! `initdb` and `postgres` refuse to run as root, and CI runs as root: the cluster then runs
//! as the `postgres` user the Debian package creates (checked, never created by hand).

use crate::cmd::{output, run, run_command};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The database, role and the only password-less way in (trust, loopback only).
const DATABASE: &str = "checkout_guard";
const ROLE: &str = "checkout_guard";

/// A running cluster; stopped and removed on drop.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    run_as: Option<String>,
}

impl Cluster {
    /// Installs PostgreSQL when missing, then creates and starts a cluster with one database.
    pub fn start() -> Result<Cluster, String> {
        let bin = install()?;
        let run_as = unprivileged_user()?;
        let dir = temp_dir()?;
        if let Some(user) = &run_as {
            run("chown", &[user.as_str(), &dir.display().to_string()])?;
        }
        let port = free_port()?;
        let cluster = Cluster {
            dir,
            bin,
            port,
            run_as,
        };
        let data = cluster.data_dir();
        cluster.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                ROLE,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        )?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            cluster.dir.display()
        );
        let log = cluster.dir.join("server.log").display().to_string();
        cluster.pg(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        )?;
        let port_text = port.to_string();
        cluster.pg(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port_text, "-U", ROLE, DATABASE],
        )?;
        Ok(cluster)
    }

    /// `postgres://…` for the cluster's database.
    pub fn url(&self) -> String {
        format!("postgres://{ROLE}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// One of PostgreSQL's programs, as the unprivileged user when xtask runs as root.
    fn pg(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let path = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        command.args(args).current_dir(&self.dir);
        run_command(&mut command)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        // Best effort: a cluster that will not stop is killed with the temp folder's removal
        // failing loudly in the log, never silently kept running by a green run.
        if let Err(e) = self.pg("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]) {
            eprintln!("xtask: stopping the PostgreSQL cluster: {e}");
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("xtask: removing {}: {e}", self.dir.display());
        }
    }
}

/// `cargo xtask postgres -- CMD [ARGS…]`: CMD runs with `DATABASE_URL` set to a fresh
/// cluster, which is stopped and deleted afterwards whatever CMD did. `CG_TEST_DATABASE_URL`
/// is set to it too, so `cargo xtask postgres -- cargo test -p checkout-guard-server` runs the
/// server's tests on it (they read that variable, never `DATABASE_URL`, which a developer's
/// shell may point at a database of their own).
pub fn with_cluster(args: &[String]) -> Result<(), String> {
    let args = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => args,
    };
    let (program, rest) = args
        .split_first()
        .ok_or("usage: cargo xtask postgres -- CMD [ARGS…]")?;
    let cluster = Cluster::start()?;
    println!(
        "xtask postgres: DATABASE_URL=CG_TEST_DATABASE_URL={}",
        cluster.url()
    );
    let mut command = Command::new(program);
    command
        .args(rest)
        .env("DATABASE_URL", cluster.url())
        .env("CG_TEST_DATABASE_URL", cluster.url());
    let result = run_command(&mut command);
    drop(cluster);
    result
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb`, installing Debian's
/// `postgresql` first when there is none.
fn install() -> Result<PathBuf, String> {
    if let Some(bin) = newest_bin(Path::new("/usr/lib/postgresql")) {
        return Ok(bin);
    }
    run("apt-get", &["update"])?;
    let mut apt = Command::new("apt-get");
    apt.args(["install", "-y", "--no-install-recommends", "postgresql"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    run_command(&mut apt)?;
    newest_bin(Path::new("/usr/lib/postgresql"))
        .ok_or_else(|| "postgresql installed, but no /usr/lib/postgresql/*/bin/initdb".to_owned())
}

fn newest_bin(root: &Path) -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(root)
        .ok()?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let version = path.file_name()?.to_str()?.parse().ok()?;
            let bin = path.join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// `Some("postgres")` when running as root (PostgreSQL refuses root), `None` otherwise.
fn unprivileged_user() -> Result<Option<String>, String> {
    let uid = output("id", &["-u"])?;
    if uid.trim() != "0" {
        return Ok(None);
    }
    output("id", &["-u", "postgres"]).map_err(|e| {
        format!("running as root and no `postgres` user (the postgresql package makes it): {e}")
    })?;
    Ok(Some("postgres".to_owned()))
}

/// A new, empty folder under the system's temp folder, readable by the cluster's user.
fn temp_dir() -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let name = format!("checkout-guard-pg-{}-{attempt}", std::process::id());
        let dir = base.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
    }
    Err("no free temporary folder name for the PostgreSQL cluster".to_owned())
}

/// A loopback port nothing listens on right now.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("a free port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `sql` with `psql` and returns what it printed (unaligned, tuples only).
    fn psql(cluster: &Cluster, sql: &str) -> Result<String, String> {
        let program = cluster.bin.join("psql");
        output(
            &program.display().to_string(),
            &["-X", "-A", "-t", "-d", &cluster.url(), "-c", sql],
        )
    }

    #[test]
    fn a_cluster_starts_answers_and_is_gone_after_drop() {
        let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
        let dir = cluster.dir.clone();
        assert_eq!(
            psql(&cluster, "SELECT 40 + 2").map(|s| s.trim().to_owned()),
            Ok("42".into())
        );
        let version = psql(&cluster, "SHOW server_version_num").unwrap_or_default();
        assert!(
            version.trim().parse::<u32>().is_ok_and(|v| v >= 120_000),
            "{version}"
        );
        drop(cluster);
        assert!(!dir.exists(), "the temp folder is removed");
    }
}
