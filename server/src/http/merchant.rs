//! The merchant API: business orders, create-payment, payment status, provider notify.

use crate::app::App;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::faults::Faults;
use crate::http::extract::{JsonBody, PathParam};
use crate::ids;
use crate::payments;
use crate::provider::TradeState;
use crate::records::{self, Order};
use crate::signing;
use crate::stats::{self, Counter};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use checkout_guard::core::fingerprint::fingerprint;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// `POST /api/orders` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    content: Value,
    #[serde(default, rename = "orderNo")]
    order_no: Option<String>,
}

/// `PUT /api/orders/{orderNo}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderContent {
    content: Value,
}

fn checked_content(content: &Value) -> Result<(String, i64), ApiError> {
    if !content.is_object() {
        return Err(ApiError::invalid_body("`content` must be a JSON object"));
    }
    let print = fingerprint(content).map_err(|err| {
        ApiError::invalid_body(format!("`content` cannot be fingerprinted: {err}"))
    })?;
    let amount = match content.get("amount") {
        None => 0,
        Some(v) => v.as_i64().filter(|a| *a >= 0).ok_or_else(|| {
            ApiError::invalid_body("`content.amount` must be a non-negative integer (cents)")
        })?,
    };
    Ok((print.as_str().to_owned(), amount))
}

fn order_json(order: &Order) -> Value {
    json!({
        "orderNo": order.order_no,
        "fingerprint": order.fingerprint,
        "content": order.content,
        "amount": order.amount,
        "paid": order.paid_attempt.is_some(),
        "createdAt": order.created_at,
        "updatedAt": order.updated_at,
    })
}

/// `POST /api/orders`: creates a business order from its content.
pub async fn create_order(
    State(app): State<Arc<App>>,
    JsonBody(req): JsonBody<NewOrder>,
) -> Result<Response, ApiError> {
    let (print, amount) = checked_content(&req.content)?;
    let order_no = match req.order_no {
        Some(no) if ids::valid_order_no(&no) => no,
        Some(_) => {
            return Err(ApiError::invalid_body(
                "`orderNo` must be 6-24 characters of A-Z a-z 0-9 - _",
            ))
        }
        None => ids::new_order_no(),
    };
    let now = now_ms();
    let order = Order {
        order_no,
        content: req.content,
        fingerprint: print,
        amount,
        paid_attempt: None,
        created_at: now,
        updated_at: now,
    };
    if !app.store.with(|c| records::insert_order(c, &order))? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "order_exists",
            format!("order {} exists", order.order_no),
        ));
    }
    Ok((StatusCode::CREATED, Json(order_json(&order))).into_response())
}

/// `GET /api/orders/{orderNo}`.
pub async fn get_order(
    State(app): State<Arc<App>>,
    PathParam(order_no): PathParam,
) -> Result<Json<Value>, ApiError> {
    let order = app
        .store
        .with(|c| records::get_order(c, &order_no))?
        .ok_or_else(|| ApiError::unknown_order(&order_no))?;
    Ok(Json(order_json(&order)))
}

/// `PUT /api/orders/{orderNo}`: changes an unpaid order's content (and so its fingerprint).
pub async fn update_order(
    State(app): State<Arc<App>>,
    PathParam(order_no): PathParam,
    JsonBody(req): JsonBody<OrderContent>,
) -> Result<Json<Value>, ApiError> {
    let (print, amount) = checked_content(&req.content)?;
    payments::ensure_order(&app, &order_no)?;
    let slot = app.slots.get(&order_no);
    let Ok(_guard) = slot.lock.try_lock() else {
        return Err(ApiError::in_progress("a payment request for this order"));
    };
    let now = now_ms();
    let order = app.store.with(|c| {
        let tx = c.transaction()?;
        let Some(order) = records::get_order(&tx, &order_no)? else {
            return Ok(Err(ApiError::unknown_order(&order_no)));
        };
        if order.paid_attempt.is_some() {
            return Ok(Err(ApiError::already_paid(&order_no)));
        }
        records::update_order_content(&tx, &order_no, &req.content, &print, amount, now)?;
        let updated = records::get_order(&tx, &order_no)?;
        tx.commit()?;
        Ok(updated.ok_or_else(|| ApiError::unknown_order(&order_no)))
    })??;
    Ok(Json(order_json(&order)))
}

/// `POST /api/orders/{orderNo}/payments` body.
#[derive(Debug, Deserialize)]
pub struct CreatePayment {
    fingerprint: String,
}

/// `POST /api/orders/{orderNo}/payments`: contract §1.
pub async fn create_payment(
    State(app): State<Arc<App>>,
    Extension(faults): Extension<Faults>,
    PathParam(order_no): PathParam,
    headers: HeaderMap,
    body: Result<JsonBody<CreatePayment>, ApiError>,
) -> Result<Response, ApiError> {
    let mut keys = headers.get_all("idempotency-key").iter();
    let key = match (keys.next(), keys.next()) {
        (Some(value), None) => value
            .to_str()
            .ok()
            .and_then(ids::parse_idempotency_key)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_idempotency_key",
                    "Idempotency-Key must be an sf-string of 16-64 characters of A-Z a-z 0-9 - _",
                )
            })?,
        (None, _) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "the Idempotency-Key header is missing",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "more than one Idempotency-Key header",
            ))
        }
    };
    let JsonBody(req) = body?;
    let Some(print) = checkout_guard::core::fingerprint::Fingerprint::parse(&req.fingerprint)
    else {
        return Err(ApiError::invalid_body(
            "`fingerprint` must be 64 lowercase hex digits",
        ));
    };
    let reply = payments::create_payment(&app, &order_no, &key, print.as_str(), &faults).await?;
    let status = if reply.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(reply.body)).into_response())
}

/// The `wait=n` of a `Prefer` header, if any.
fn prefer_wait(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|pref| {
            let (name, value) = pref.trim().split_once('=')?;
            (name.trim().eq_ignore_ascii_case("wait"))
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        })
        .next()
}

/// `GET /api/orders/{orderNo}/payment`: contract §2, with `Prefer: wait=n`.
pub async fn payment_status(
    State(app): State<Arc<App>>,
    Extension(faults): Extension<Faults>,
    PathParam(order_no): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (view, applied) =
        payments::payment_status(&app, &order_no, prefer_wait(&headers), &faults).await?;
    let mut response = Json(view.body(&order_no)).into_response();
    if let Some(wait) = applied {
        if let Ok(value) = HeaderValue::from_str(&format!("wait={wait}")) {
            response.headers_mut().insert("preference-applied", value);
        }
    }
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The notify body the merchant needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotifyBody {
    id: String,
    out_trade_no: String,
    trade_state: String,
}

/// `POST /api/notify`: the provider's payment notify (contract §3). The signature is checked
/// first; a repeated notify (same id, or an attempt already paid) changes nothing and is
/// acknowledged again so the provider stops retrying.
pub async fn notify(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let now = now_ms();
    if !signing::verify(
        &app.notify_secret,
        &header(signing::TIMESTAMP_HEADER),
        &header(signing::NONCE_HEADER),
        &body,
        &header(signing::SIGNATURE_HEADER),
        now,
    ) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "the notify signature is missing, stale or wrong",
        ));
    }
    let msg: NotifyBody = serde_json::from_slice(&body)
        .map_err(|err| ApiError::invalid_body(format!("not a payment notify: {err}")))?;
    if msg.trade_state != TradeState::Success.as_str() {
        return Err(ApiError::invalid_body("only SUCCESS notifies are expected"));
    }
    let attempt = app
        .store
        .with(|c| records::get_attempt(c, &msg.out_trade_no))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_attempt",
                format!("no attempt {:?}", msg.out_trade_no),
            )
        })?;
    let changed = app.store.with(|c| {
        let tx = c.transaction()?;
        let first = records::record_notify(&tx, &msg.id, &attempt.attempt_id, now)?;
        stats::bump(&tx, &attempt.order_no, Counter::NotifiesReceived)?;
        tx.commit()?;
        let changed = records::mark_paid(c, &attempt.attempt_id, now)?;
        if !first || !changed {
            stats::bump(c, &attempt.order_no, Counter::NotifiesDuplicate)?;
        }
        Ok(changed)
    })?;
    if changed {
        app.slots.signal(&attempt.order_no);
    }
    Ok(Json(json!({"code": "SUCCESS", "message": "OK"})))
}
