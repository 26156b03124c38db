//! Admin endpoints: stats, the database's view of an order, global faults, settings.
//! Reachable with `Authorization: Bearer <admin token>`, and in the demo profile from loopback
//! without it. Fault rules exist only in the demo profile.

use crate::app::App;
use crate::config::Settings;
use crate::error::ApiError;
use crate::faults::FaultRuleSpec;
use crate::http::extract::{JsonBody, PathParam};
use crate::rules::RuleError;
use crate::stats;
use crate::store::Store;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

/// Lets a request through when it comes from loopback (if allowed) or carries the token.
pub async fn guard(
    State(app): State<Arc<App>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let loopback = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| peer.ip().is_loopback());
    let token_ok = app.admin_token.as_ref().is_some_and(|token| {
        crate::http::bearer(req.headers()).is_some_and(|given| token.matches(given.as_bytes()))
    });
    if (loopback && app.admin_from_loopback) || token_ok {
        Ok(next.run(req).await)
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            if app.profile.is_demo() {
                "admin endpoints need loopback or the admin token"
            } else {
                "admin endpoints need the admin token"
            },
        ))
    }
}

/// `GET /admin/stats`: every order's counters.
pub async fn all_stats(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let all = app.db.with(|c| stats::all(c))?;
    Ok(Json(json!({ "orders": all })))
}

/// `GET /admin/stats/{orderNo}`: one order's counters.
pub async fn order_stats(
    State(app): State<Arc<App>>,
    PathParam(order_no): PathParam,
) -> Result<Json<Value>, ApiError> {
    let found = match app.store().order(&order_no).await? {
        Some(_) => Some(app.db.with(|c| stats::for_order(c, &order_no))?),
        None => None,
    };
    let stats = found.ok_or_else(|| ApiError::from(RuleError::UnknownOrder(order_no.clone())))?;
    Ok(Json(json!(stats)))
}

/// `GET /admin/orders/{orderNo}`: the order (with its `paidAmount` and `flags`), its
/// attempts, its stored create-payment and submission keys (counts), its provider transactions,
/// its webhook events (outbox) and its stats, straight from the database.
pub async fn order_dump(
    State(app): State<Arc<App>>,
    PathParam(order_no): PathParam,
) -> Result<Json<Value>, ApiError> {
    let store = app.store();
    let order = store.order(&order_no).await?;
    let attempts = store.attempts(&order_no).await?;
    let (keys, submission_keys) = store.key_counts(&order_no).await?;
    let stats = app.db.with(|c| stats::for_order(c, &order_no))?;
    let order = order.ok_or_else(|| ApiError::from(RuleError::UnknownOrder(order_no.clone())))?;
    let transactions = app.sim.transactions_of(&order_no)?;
    let webhooks = store.webhook_events(&order_no).await?;
    Ok(Json(json!({
        "order": order,
        "attempts": attempts,
        "idempotencyKeys": keys,
        "submissionKeys": submission_keys,
        "providerTransactions": transactions,
        "webhooks": webhooks,
        "stats": stats,
    })))
}

/// `GET /admin/faults`: the installed global faults.
pub async fn list_faults(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({ "rules": app.faults.list() }))
}

/// `POST /admin/faults`: installs a global fault rule.
pub async fn add_fault(
    State(app): State<Arc<App>>,
    JsonBody(spec): JsonBody<FaultRuleSpec>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    app.faults
        .add(spec)
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, "invalid_fault", err.to_string()))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "rules": app.faults.list() })),
    ))
}

/// `DELETE /admin/faults`: removes every global fault.
pub async fn clear_faults(State(app): State<Arc<App>>) -> StatusCode {
    app.faults.clear();
    StatusCode::NO_CONTENT
}

/// `GET /admin/settings`.
pub async fn get_settings(State(app): State<Arc<App>>) -> Json<Settings> {
    Json(app.settings())
}

/// `PUT /admin/settings`: replaces the runtime settings (every field required).
pub async fn put_settings(
    State(app): State<Arc<App>>,
    JsonBody(settings): JsonBody<Settings>,
) -> Result<Json<Settings>, ApiError> {
    if settings.prepay_ttl_ms < 1000 || settings.max_wait_secs > 25 || settings.submit_window_ms < 0
    {
        return Err(ApiError::invalid_body(
            "prepayTtlMs must be at least 1000, maxWaitSecs at most 25, submitWindowMs at least 0",
        ));
    }
    app.set_settings(settings);
    Ok(Json(settings))
}
