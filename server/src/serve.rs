//! Starting and stopping the server: binding, the accept loop, shutdown.
//!
//! The accept loop is hand-written (hyper directly, not `axum::serve`) for one reason: the
//! `drop-reply` fault must close a connection **after** its request's work committed and
//! without any reply, which only the owner of the connection task can do. Tests start the
//! server in-process with [`start`] and stop it with [`RunningServer::shutdown`].

use crate::app::{App, AppParts};
use crate::clock::Clock;
use crate::config::{Config, ConfigError, Storage};
use crate::http::{router, ConnAbort};
use crate::provider::sim::notify::Deliverer;
use crate::provider::wechatpay::WechatPayV3;
use crate::secret::Secret;
use crate::store::postgres::PgStore;
use crate::store::sqlite::Db;
use crate::store::sqlite::SqliteStore;
use crate::store::{AnyStore, StoreError};
use crate::webhook::push::{self, Sender};
use axum::extract::ConnectInfo;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration cannot run (it names the setting).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    app: Arc<App>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared state (tests inspect the database through it).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Stops accepting, drops every open connection and pending notify, and waits for all
    /// tasks to end. Everything committed stays in the database.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Opens the database, binds, and starts serving in the background.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    config.validate()?;
    let (db, store) = match &config.storage {
        Storage::Postgres(url) => {
            // The simulated provider and the stats are this process's own (in memory); the
            // merchant's rows are shared in PostgreSQL.
            let db = Arc::new(Db::open(&Storage::Memory)?);
            (db, AnyStore::from(PgStore::connect(url).await?))
        }
        local => {
            let db = Arc::new(Db::open(local)?);
            let store = AnyStore::from(SqliteStore::new(db.clone()));
            (db, store)
        }
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let secret = match &config.notify_secret {
        Some(secret) if !secret.is_empty() => secret.expose().as_bytes().to_vec(),
        _ => crate::ids::random_token(40).into_bytes(),
    };
    // `validate` made sure production has its own; a demo's tokens may die with the process.
    let buyer_token_secret = match &config.buyer_token_secret {
        Some(secret) if !secret.is_empty() => secret.clone(),
        _ => Secret::new(crate::ids::random_token(40)),
    };
    let wechatpay = match &config.wechatpay {
        Some(wechatpay) => Some(
            WechatPayV3::new(wechatpay, Clock::system())
                .map_err(|err| ConfigError::new("wechatpay", err.to_string()))?,
        ),
        None => None,
    };
    let app = Arc::new(App::new(AppParts {
        db,
        store,
        clock: Clock::system(),
        deliverer: Deliverer::new(secret.clone(), tasks.clone(), shutdown.clone()),
        notify_url: format!("http://{addr}/api/notify"),
        notify_secret: secret,
        admin_token: config.admin_token.clone(),
        admin_from_loopback: config.admin_from_loopback,
        profile: config.profile,
        api_keys: config.api_keys.clone(),
        buyer_token_secret,
        buyer_token_ttl_ms: i64::try_from(config.buyer_token_ttl_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX),
        cors_origins: config.cors_origins.clone(),
        settings: config.settings,
        wechatpay,
        // `validate` checked it is a header name.
        client_ip_header: config
            .client_ip_header
            .as_deref()
            .and_then(|name| axum::http::HeaderName::from_bytes(name.as_bytes()).ok()),
    }));
    let routes = router(
        app.clone(),
        &config.www_dir,
        &config.pkg_dir,
        config.max_body_bytes,
    );
    // Results pushed to the business system, and the sweeper: on every instance, each event
    // and attempt claimed by one of them at a time.
    if let (Some(url), Some(secret)) = (&config.webhook_url, &config.webhook_secret) {
        let sender = Sender::new(url.clone(), secret.clone())
            .map_err(|err| ConfigError::new("webhook_url", err.to_string()))?;
        let (app, shutdown) = (app.clone(), shutdown.clone());
        tasks.spawn(async move {
            push::run(
                app.store(),
                &sender,
                &app.clock,
                app.shared_settings(),
                shutdown,
            )
            .await;
        });
    }
    {
        let (app, shutdown) = (app.clone(), shutdown.clone());
        tasks.spawn(async move { app.merchant().run_sweeper(shutdown).await });
    }
    tasks.spawn(accept_loop(
        listener,
        routes,
        shutdown.clone(),
        tasks.clone(),
    ));
    tracing::info!(%addr, profile = ?config.profile, "checkout-guard-server listening");
    Ok(RunningServer {
        addr,
        shutdown,
        tasks,
        app,
    })
}

async fn accept_loop(
    listener: TcpListener,
    routes: axum::Router,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let routes = routes.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let abort = Arc::new(Notify::new());
            let conn_abort = abort.clone();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut req = req.map(axum::body::Body::new);
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req.extensions_mut().insert(ConnAbort(conn_abort.clone()));
                    routes.clone().oneshot(req)
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                () = abort.notified() => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}
