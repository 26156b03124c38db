//! The simulated provider over HTTP (`/sim/...`) and its wallet.

use crate::app::App;
use crate::error::ApiError;
use crate::faults::Faults;
use crate::http::extract::{JsonBody, PathPair, PathParam};
use crate::provider::sim::notify::DeliveryPlan;
use crate::provider::sim::{wallet, NewTransaction, SimError, WalletAction, WalletRefusal};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

fn provider_error(err: SimError) -> ApiError {
    match err {
        SimError::Duplicate => ApiError::new(
            StatusCode::BAD_REQUEST,
            "out_trade_no_duplicate",
            "201 商户订单号重复: this out_trade_no was used before",
        ),
        SimError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "order_not_exist",
            "no such out_trade_no",
        ),
        SimError::Paid => ApiError::new(
            StatusCode::CONFLICT,
            "order_paid",
            "ORDERPAID: a paid transaction cannot be closed",
        ),
        SimError::Invalid(why) => ApiError::invalid_body(why),
        SimError::Store(err) => err.into(),
    }
}

/// `POST /sim/transactions` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTransaction {
    out_trade_no: String,
    #[serde(default)]
    attach: String,
    #[serde(default)]
    amount: i64,
    #[serde(default)]
    notify_url: String,
    #[serde(default)]
    ttl_ms: Option<i64>,
}

/// `POST /sim/transactions`: create a transaction, get its prepay.
pub async fn create(
    State(app): State<Arc<App>>,
    JsonBody(req): JsonBody<CreateTransaction>,
) -> Result<Response, ApiError> {
    let valid = (6..=32).contains(&req.out_trade_no.len())
        && req
            .out_trade_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_|*".contains(&b));
    if !valid {
        return Err(ApiError::invalid_body(
            "outTradeNo must be 6-32 characters of A-Z a-z 0-9 - _ | *",
        ));
    }
    let ttl_ms = req
        .ttl_ms
        .unwrap_or(app.settings().prepay_ttl_ms)
        .clamp(1000, 7 * 24 * 3600 * 1000);
    let grant = app
        .sim
        .create_transaction(&NewTransaction {
            out_trade_no: &req.out_trade_no,
            order_no: &req.attach,
            amount: req.amount,
            notify_url: &req.notify_url,
            ttl_ms,
        })
        .map_err(provider_error)?;
    Ok((StatusCode::OK, Json(grant)).into_response())
}

/// `GET /sim/transactions/{outTradeNo}`: query.
pub async fn query(
    State(app): State<Arc<App>>,
    PathParam(out_trade_no): PathParam,
) -> Result<Response, ApiError> {
    let tx = app
        .sim
        .query_transaction(&out_trade_no)
        .map_err(provider_error)?;
    Ok(Json(tx).into_response())
}

/// `POST /sim/transactions/{outTradeNo}/close`: close.
pub async fn close(
    State(app): State<Arc<App>>,
    PathParam(out_trade_no): PathParam,
) -> Result<Response, ApiError> {
    app.sim
        .close_transaction(&out_trade_no)
        .map_err(provider_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /sim/wallet/{prepayId}`: the wallet page.
pub async fn wallet_page(
    State(app): State<Arc<App>>,
    PathParam(prepay_id): PathParam,
) -> Result<Response, ApiError> {
    let Some(tx) = app.sim.by_prepay(&prepay_id)? else {
        return Ok((
            StatusCode::NOT_FOUND,
            Html(wallet::result_page(false, "Unknown payment.", &prepay_id)),
        )
            .into_response());
    };
    Ok(Html(wallet::wallet_page(&tx, app.clock.now_ms())).into_response())
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// `POST /sim/wallet/{prepayId}/{action}`: `start`, `confirm`, `cancel` or `fail`. Answers
/// HTML for a browser form, JSON when asked with `Accept: application/json`.
pub async fn wallet_action(
    State(app): State<Arc<App>>,
    Extension(faults): Extension<Faults>,
    PathPair(prepay_id, action): PathPair,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let json = wants_json(&headers);
    let Some(action) = WalletAction::parse(&action) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_action",
            "actions are start, confirm, cancel, fail",
        ));
    };
    let result = app.sim.wallet(&prepay_id, action);
    let (status, code, message) = match &result {
        Ok((tx, _)) => {
            let done = match action {
                WalletAction::Start => "Paying: enter your password",
                WalletAction::Confirm => "Payment successful",
                WalletAction::Cancel => "You left the payment; it can still be paid",
                WalletAction::Fail => "The payment failed",
            };
            (
                StatusCode::OK,
                "ok",
                format!("{done} (state {}).", tx.trade_state.as_str()),
            )
        }
        Err(WalletRefusal::Store(_)) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "storage failure",
            ))
        }
        Err(WalletRefusal::Unknown) => (
            StatusCode::NOT_FOUND,
            "unknown_prepay",
            WalletRefusal::Unknown.to_string(),
        ),
        Err(refusal @ WalletRefusal::Closed) => {
            (StatusCode::CONFLICT, "prepay_closed", refusal.to_string())
        }
        Err(refusal @ WalletRefusal::Expired) => {
            (StatusCode::CONFLICT, "prepay_expired", refusal.to_string())
        }
        Err(refusal @ WalletRefusal::Paid) => {
            (StatusCode::CONFLICT, "already_paid", refusal.to_string())
        }
        Err(refusal @ WalletRefusal::Failed) => {
            (StatusCode::CONFLICT, "payment_failed", refusal.to_string())
        }
    };
    let tx = match result {
        Ok((tx, notify)) => {
            if let Some(message) = notify {
                let settings = app.settings();
                app.deliverer.schedule(
                    message,
                    DeliveryPlan {
                        delay_ms: faults.notify_delay_ms.unwrap_or(settings.notify_delay_ms),
                        lost: faults.notify_lost,
                        copies: if faults.notify_duplicate { 2 } else { 1 },
                        tries: settings.notify_tries,
                        retry_ms: settings.notify_retry_ms,
                    },
                );
            }
            Some(tx)
        }
        Err(_) => None,
    };
    if json {
        if status.is_success() {
            return Ok(Json(json!({"ok": true, "transaction": tx})).into_response());
        }
        return Err(ApiError::new(status, code, message));
    }
    Ok((
        status,
        Html(wallet::result_page(
            status.is_success(),
            &message,
            &prepay_id,
        )),
    )
        .into_response())
}

/// `GET /sim/provider` (demo profile): which provider the rules call, so the demo page knows
/// how to launch a prepay: the in-process simulation's wallet page (`walletUrl`), or, with
/// `provider = "wechatpay"`, the real shapes from the WeChat Pay simulator at `baseUrl` (the
/// page draws `codeUrl` as a QR code and shows the simulator's scan page as the buyer's phone).
pub async fn provider_info(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(match &app.wechatpay {
        Some(wechatpay) => json!({"provider": "wechatpay", "baseUrl": wechatpay.base_url()}),
        None => json!({"provider": "sim"}),
    })
}
