//! `checkout-guard-server`: the reference backend as a program. See `server/README.md`.

use checkout_guard_server::config::load::{self, LoadError};
use checkout_guard_server::start;
use std::process::ExitCode;

/// The most verbose level logged: `RUST_LOG` when it names one (`error`, `warn`, `info`,
/// `debug`, `trace`, any case), else `info`. Only a level: per-module filters are not taken.
fn log_level(setting: Option<&str>) -> tracing::Level {
    setting
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(tracing::Level::INFO)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_max_level(log_level(std::env::var("RUST_LOG").ok().as_deref()))
        .init();
    let config = match load::from_process() {
        Ok(config) => config,
        // `--help`, `--version` and bad flags: clap prints and picks the exit code.
        Err(LoadError::Flags(err)) => err.exit(),
        Err(LoadError::Config(err)) => {
            eprintln!("checkout-guard-server: {err}");
            return ExitCode::FAILURE;
        }
    };
    let stop = StopSignal::install();
    let server = match start(config).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("checkout-guard-server: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("checkout-guard-server listening on {}", server.url());
    stop.wait().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Ctrl-C (SIGINT) or, on Unix, SIGTERM (what `kill` and service managers send), so the server
/// always stops through [`checkout_guard_server::RunningServer::shutdown`]. Installed before
/// the server announces its address: a signal right after that must not kill it uncleanly.
struct StopSignal {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
fn watch(kind: tokio::signal::unix::SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
        .map_err(|err| eprintln!("checkout-guard-server: cannot watch a signal: {err}"))
        .ok()
}

#[cfg(unix)]
async fn received(stream: Option<&mut tokio::signal::unix::Signal>) {
    match stream {
        Some(stream) => {
            stream.recv().await;
        }
        None => std::future::pending().await,
    }
}

impl StopSignal {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::SignalKind;
            StopSignal {
                interrupt: watch(SignalKind::interrupt()),
                terminate: watch(SignalKind::terminate()),
            }
        }
        #[cfg(not(unix))]
        StopSignal {}
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        if self.interrupt.is_some() || self.terminate.is_some() {
            tokio::select! {
                () = received(self.interrupt.as_mut()) => {}
                () = received(self.terminate.as_mut()) => {}
            }
            return;
        }
        if let Err(err) = tokio::signal::ctrl_c().await {
            eprintln!("checkout-guard-server: cannot wait for Ctrl-C: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::log_level;
    use tracing::Level;

    #[test]
    fn rust_log_names_the_level() {
        assert_eq!(log_level(None), Level::INFO);
        assert_eq!(log_level(Some("error")), Level::ERROR);
        assert_eq!(log_level(Some(" WARN ")), Level::WARN);
        assert_eq!(log_level(Some("checkout_guard_server=debug")), Level::INFO);
    }
}
