//! The payment center as a library: the guard-facing routes of `docs/contract.md` over **any**
//! [`Provider`] and [`Store`], to mount in a merchant's own axum app.
//!
//! ```no_run
//! # async fn run<P, S>(provider: P, store: S) -> std::io::Result<()>
//! # where P: checkout_guard_server::provider::Provider + 'static,
//! #       S: checkout_guard_server::store::Store + 'static {
//! use checkout_guard_server::clock::Clock;
//! use checkout_guard_server::rules::{Merchant, MerchantParts};
//! use checkout_guard_server::stats::Ignore;
//! use checkout_guard_server::{router, GuardApi, GuardApiOptions, Secret, SharedSettings};
//! use std::sync::Arc;
//!
//! let merchant = Merchant::new(MerchantParts {
//!     provider,                      // your `Provider` (or `WechatPayV3`)
//!     store,                         // your `Store` (or `SqliteStore`, `PgStore`)
//!     clock: Clock::system(),
//!     observer: Arc::new(Ignore),
//!     settings: SharedSettings::default(),
//! });
//! let api = Arc::new(GuardApi::new(merchant, GuardApiOptions {
//!     buyer_token_secret: Secret::new(std::env::var("BUYER_TOKEN_SECRET").unwrap_or_default()),
//!     require_buyer_token: true,
//!     page_orders: false,
//!     client_ip_header: None,
//! }));
//! let app = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     .merge(router(api.clone()));
//! // Your notify endpoint verifies the provider's signature, then calls
//! // `api.merchant().apply_notify(..)`; run `api.merchant().run_sweeper(shutdown)` beside it.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! The routes are the reference server's own (`http::merchant`): the reference server mounts
//! this same router around its simulated provider, so what is tested is what a library user
//! gets. What stays the reference server's: the simulated provider's endpoints, faults, the
//! admin and business APIs, static files, the notify endpoints (a notify's signature is the
//! provider's protocol).

use crate::http::merchant;
use crate::provider::Provider;
use crate::rules::Merchant;
use crate::secret::Secret;
use crate::store::Store;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// How the guard-facing routes authorize and what they offer.
#[derive(Debug, Clone)]
pub struct GuardApiOptions {
    /// Checks buyer tokens (`X-Buyer-Token`, [`crate::buyer_token`]): share it with whatever
    /// issues them (the business API, or your own code calling [`crate::buyer_token::issue`]).
    pub buyer_token_secret: Secret,
    /// Whether create and status need a valid buyer token for the order (production: yes;
    /// without one, a token that is sent is still checked).
    pub require_buyer_token: bool,
    /// Whether pages may submit and change orders (`POST /api/orders`, `PUT
    /// /api/orders/{orderNo}`, contract §4): the page then chooses the content and so the
    /// amount, so only for demos, or when your own layer in front checks the content.
    pub page_orders: bool,
    /// The request header that carries the buyer's IP address behind a reverse proxy
    /// (`x-forwarded-for`: its last entry, the one the proxy added; `x-real-ip`: the whole
    /// value). `None`: the connection's peer address. Only H5 payments use it.
    pub client_ip_header: Option<axum::http::HeaderName>,
}

/// The guard-facing API: the merchant rules and how requests are authorized.
#[derive(Debug)]
pub struct GuardApi<P, S> {
    merchant: Merchant<P, S>,
    options: GuardApiOptions,
}

impl<P: Provider, S: Store> GuardApi<P, S> {
    /// The API over `merchant`.
    pub fn new(merchant: Merchant<P, S>, options: GuardApiOptions) -> Self {
        GuardApi { merchant, options }
    }

    /// The rules (for a notify endpoint, the sweeper, the business side).
    pub fn merchant(&self) -> &Merchant<P, S> {
        &self.merchant
    }

    /// The options it was made with.
    pub fn options(&self) -> &GuardApiOptions {
        &self.options
    }
}

/// The guard-facing routes over `api`, ready to merge into any router:
/// `POST /api/orders/{orderNo}/payments` (§1), `GET /api/orders/{orderNo}/payment` (§2, with
/// `Prefer: wait`), `GET /api/orders/{orderNo}`, and with [`GuardApiOptions::page_orders`]
/// `POST /api/orders` (§4) and `PUT /api/orders/{orderNo}`. Errors are the contract's JSON
/// bodies with their stable codes; every reply carries `now`.
pub fn router<P, S, T>(api: Arc<GuardApi<P, S>>) -> Router<T>
where
    P: Provider + 'static,
    S: Store + 'static,
    T: Clone + Send + Sync + 'static,
{
    let page_orders = api.options.page_orders;
    let routes = Router::new()
        .route(
            "/api/orders/{order_no}/payments",
            post(merchant::create_payment::<P, S>),
        )
        .route(
            "/api/orders/{order_no}/payment",
            get(merchant::payment_status::<P, S>),
        );
    let routes = if page_orders {
        routes
            .route("/api/orders", post(merchant::create_order::<P, S>))
            .route(
                "/api/orders/{order_no}",
                get(merchant::get_order::<P, S>).put(merchant::update_order::<P, S>),
            )
    } else {
        routes.route("/api/orders/{order_no}", get(merchant::get_order::<P, S>))
    };
    routes.with_state(api)
}
