//! The HTTP surface: routes, the fault-injection layer, CORS, static files.
//!
//! - [`merchant`]: the contract's API and business orders (`/api/...`).
//! - [`business`]: the business system's server-to-server API (`/v1/business/...`, API key).
//! - [`sim`]: the simulated provider and its wallet (`/sim/...`, demo profile only).
//! - [`admin`]: stats, faults, settings (`/admin/...`, token; loopback in the demo profile).
//! - [`extract`]: extractors that fail with contract-shaped JSON errors.
//!
//! What is mounted depends on the [`Profile`]: the production profile has no fault
//! injection (an `X-Fault` header is ignored), no `/sim/...` and no `/admin/faults` (both
//! `404`), and no page-submitted orders (`POST`/`PUT /api/orders`): orders come from the
//! business API there, with a buyer token for the page.

pub mod admin;
pub mod business;
pub mod extract;
pub mod merchant;
pub mod sim;

use crate::app::App;
use crate::buyer_token;
use crate::config::Profile;
use crate::error::ApiError;
use crate::faults::{Faults, FAULT_HEADER};
use crate::provider::faulty;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

/// Put in every request's extensions by the accept loop: notifying it closes the request's
/// connection without a reply (the `drop-reply` fault).
#[derive(Debug, Clone)]
pub struct ConnAbort(pub Arc<Notify>);

/// The token of an `Authorization: Bearer <token>` header, if there is exactly that.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// CORS for the configured origins only; `None` when none are configured (same-origin
/// pages need no CORS, and answering with no CORS headers refuses every other origin).
/// Allows what the guard sends and exposes what it reads.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if allowed.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::GET, Method::POST, Method::PUT])
            .allow_headers([
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("prefer"),
                HeaderName::from_static(buyer_token::HEADER),
            ])
            .expose_headers([
                HeaderName::from_static("preference-applied"),
                header::RETRY_AFTER,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

async fn api_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// Applies the request's faults: `X-Fault` plus the matching global rules.
async fn inject_faults(
    State(app): State<Arc<App>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let mut faults = match req.headers().get(FAULT_HEADER) {
        None => Faults::default(),
        Some(value) => {
            let spec = value.to_str().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_fault",
                    "X-Fault is not ASCII",
                )
            })?;
            Faults::parse(spec).map_err(|err| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_fault", err.to_string())
            })?
        }
    };
    faults.merge(
        &app.faults
            .for_request(req.method().as_str(), req.uri().path()),
    );
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if let Some(code) = faults.status {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let err = ApiError::new(status, "injected_fault", format!("injected status {code}"));
        return Err(if matches!(code, 429 | 503) {
            err.retry_after(1)
        } else {
            err
        });
    }
    let drop_reply = faults.drop_reply;
    let abort = req.extensions().get::<ConnAbort>().cloned();
    let provider_faults = faults.provider_faults();
    req.extensions_mut().insert(faults);
    // The provider faults ride beside the request, for the `Faulty` provider to apply.
    let response = faulty::scope(provider_faults, next.run(req)).await;
    if drop_reply {
        if let Some(ConnAbort(abort)) = abort {
            // The work is committed; now lose the reply: the accept loop drops the connection.
            abort.notify_one();
            std::future::pending::<()>().await;
        }
    }
    Ok(response)
}

/// A request target without a leading `/` (`GET nts HTTP/1.1`) has an empty path, which the
/// static file service cannot answer (it fails building a redirect): refuse it as bad input.
async fn reject_relative_paths(req: Request, next: Next) -> Response {
    if req.uri().path().starts_with('/') {
        return next.run(req).await;
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_path",
        "the request target must be an absolute path",
    )
    .into_response()
}

fn panic_reply(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
    .into_response()
}

/// The whole router, for the app's profile.
pub fn router(app: Arc<App>, www: &Path, pkg: &Path, max_body_bytes: usize) -> Router {
    let demo = app.profile == Profile::Demo;
    // The guard-facing routes are the library's (`crate::guard_api::router`), over the
    // reference pieces. Page-submitted orders (contract §4) let the page choose the content
    // and so the amount: the demo profile turns them on, production registers orders through
    // the business API.
    let mut api = Router::new()
        .merge(crate::guard_api::router(app.guard.clone()))
        .route("/api/notify", post(merchant::notify))
        .route("/api/wechatpay/notify", post(merchant::wechatpay_notify));
    if demo {
        api = api
            .route("/sim/provider", get(sim::provider_info))
            .route("/sim/transactions", post(sim::create))
            .route("/sim/transactions/{out_trade_no}", get(sim::query))
            .route("/sim/transactions/{out_trade_no}/close", post(sim::close))
            .route("/sim/wallet/{prepay_id}", get(sim::wallet_page))
            .route("/sim/wallet/{prepay_id}/{action}", post(sim::wallet_action));
    }
    api = api
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        // `{*rest}` does not match an empty rest: the bare prefixes need their own routes, or
        // they fall through to the static files and answer with an empty body.
        .route("/api", axum::routing::any(api_not_found))
        .route("/api/", axum::routing::any(api_not_found))
        .route("/sim/{*rest}", axum::routing::any(api_not_found))
        .route("/sim", axum::routing::any(api_not_found))
        .route("/sim/", axum::routing::any(api_not_found));
    let api = if demo {
        api.route_layer(middleware::from_fn_with_state(app.clone(), inject_faults))
    } else {
        // No fault injection: `X-Fault` is ignored, and the handlers see no faults.
        api.route_layer(Extension(Faults::default()))
    };
    let mut admin = Router::new()
        .route("/admin/stats", get(admin::all_stats))
        .route("/admin/stats/{order_no}", get(admin::order_stats))
        .route("/admin/orders/{order_no}", get(admin::order_dump))
        .route(
            "/admin/settings",
            get(admin::get_settings).put(admin::put_settings),
        );
    if demo {
        admin = admin.route(
            "/admin/faults",
            get(admin::list_faults)
                .post(admin::add_fault)
                .delete(admin::clear_faults),
        );
    }
    let admin = admin
        .route("/admin/{*rest}", axum::routing::any(api_not_found))
        .route("/admin", axum::routing::any(api_not_found))
        .route("/admin/", axum::routing::any(api_not_found))
        .route_layer(middleware::from_fn_with_state(app.clone(), admin::guard));
    let business = business::routes()
        .route_layer(middleware::from_fn_with_state(app.clone(), business::guard));
    let routes = Router::new()
        .merge(api)
        .merge(admin)
        .merge(business)
        .nest_service("/pkg", ServeDir::new(pkg))
        .fallback_service(ServeDir::new(www))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn(reject_relative_paths))
        .layer(CatchPanicLayer::custom(panic_reply));
    let routes = match cors(&app.cors_origins) {
        Some(cors) => routes.layer(cors),
        None => routes,
    };
    routes.with_state(app)
}
