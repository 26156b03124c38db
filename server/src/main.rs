//! `checkout-guard-server`: the reference backend as a program. See `server/README.md`.

use checkout_guard_server::{start, Config, Settings, Storage};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Reference merchant backend + simulated WeChat-Pay-like provider for checkout-guard.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on (port 0: any free port).
    #[arg(long, env = "CG_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// SQLite file, `:memory:` for a throw-away database, or a PostgreSQL URL
    /// (`postgres://user@host:port/db`) shared by any number of server processes.
    #[arg(long, env = "CG_DB", default_value = "./data/demo.sqlite")]
    db: String,
    /// Folder served at `/` (the demo page).
    #[arg(long, default_value = "www")]
    www: PathBuf,
    /// Folder served at `/pkg/` (the built wasm package).
    #[arg(long, default_value = "pkg")]
    pkg: PathBuf,
    /// How long a prepay is valid, in milliseconds (WeChat: 2 hours).
    #[arg(long, default_value_t = Settings::default().prepay_ttl_ms)]
    prepay_ttl_ms: i64,
    /// A live attempt is reused only while its prepay has this long left (ms).
    #[arg(long, default_value_t = Settings::default().reuse_margin_ms)]
    reuse_margin_ms: i64,
    /// Delay before the provider's notify after a confirm (ms).
    #[arg(long, default_value_t = Settings::default().notify_delay_ms)]
    notify_delay_ms: u64,
    /// Minimum time between two active provider queries for one order (ms).
    #[arg(long, default_value_t = Settings::default().query_interval_ms)]
    query_interval_ms: i64,
    /// Order-submission window (ms): a keyed `POST /api/orders` with the same content from the
    /// same buyer within this long of an order's creation returns that order.
    #[arg(long, default_value_t = Settings::default().submit_window_ms)]
    submit_window_ms: i64,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    max_body_bytes: usize,
    /// Token that opens the admin endpoints from anywhere (`Authorization: Bearer <token>`).
    #[arg(long, env = "CG_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Refuse admin calls from loopback unless they carry the token.
    #[arg(long)]
    admin_token_only: bool,
    /// The provider's notify signing key (default: random per start).
    #[arg(long, env = "CG_NOTIFY_SECRET")]
    notify_secret: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = Config {
        listen: cli.listen,
        storage: Storage::parse(&cli.db),
        www_dir: cli.www,
        pkg_dir: cli.pkg,
        max_body_bytes: cli.max_body_bytes,
        settings: Settings {
            prepay_ttl_ms: cli.prepay_ttl_ms.max(1000),
            reuse_margin_ms: cli.reuse_margin_ms,
            notify_delay_ms: cli.notify_delay_ms,
            query_interval_ms: cli.query_interval_ms,
            submit_window_ms: cli.submit_window_ms.max(0),
            ..Settings::default()
        },
        admin_token: cli.admin_token,
        admin_from_loopback: !cli.admin_token_only,
        notify_secret: cli
            .notify_secret
            .map(String::into_bytes)
            .unwrap_or_default(),
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
