//! The business system's API (`/v1/business/...`): server to server, authenticated with an
//! API key (`Authorization: Bearer <key>`, compared in constant time with every configured
//! key). See `docs/business-api.md`.
//!
//! The business system owns its orders: it registers one (and gets the buyer token its page
//! hands to the guard), changes or cancels it while unpaid, and reads its payments. Every
//! operation goes through the same merchant rules as the guard-facing API, so a change still
//! closes the old content's attempt at the provider first (rule 1.3) and paid stays final.
//!
//! **Cancelled** is recorded in the order's content (`"cancelled": true`, a reserved key),
//! because the store has no column for it yet: a cancel is a content change (so it closes
//! every open attempt first), and the guard-facing create refuses a cancelled order with
//! `409 order_cancelled` whatever fingerprint it is sent.

use crate::app::App;
use crate::buyer_token::{self, Claims};
use crate::error::ApiError;
use crate::http::extract::{JsonBody, PathParam};
use crate::model::Order;
use crate::rules::{self, RuleError};
use crate::store::Store;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The content key that marks a cancelled order.
pub const CANCELLED: &str = "cancelled";

/// Longest `description` (WeChat Pay's limit for `description`).
const MAX_DESCRIPTION_CHARS: usize = 127;
/// Longest `payerId` (an openid is 28; leave room for other providers).
const MAX_PAYER_ID_CHARS: usize = 128;

/// The routes, without their guard (the caller adds [`guard`]).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/business/orders", post(register))
        .route("/v1/business/orders/{order_no}", get(read).put(change))
        .route("/v1/business/orders/{order_no}/cancel", post(cancel))
        .route(
            "/v1/business/orders/{order_no}/buyer-token",
            post(new_buyer_token),
        )
        .route("/v1/{*rest}", axum::routing::any(not_found))
        .route("/v1", axum::routing::any(not_found))
        .route("/v1/", axum::routing::any(not_found))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Lets a request through only with one of the configured API keys. Every key is compared,
/// whatever matched, so the time taken says nothing about which key came close.
pub async fn guard(
    State(app): State<Arc<App>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let given = crate::http::bearer(req.headers()).unwrap_or_default();
    let ok = app
        .api_keys
        .iter()
        .fold(false, |ok, key| key.matches(given.as_bytes()) | ok);
    if ok {
        return Ok(next.run(req).await);
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "the business API needs `Authorization: Bearer <API key>`",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"business\""),
    );
    Ok(response)
}

/// `POST /v1/business/orders` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterOrder {
    order_no: String,
    #[serde(default)]
    content: Option<Value>,
    amount: i64,
    currency: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    payer_id: Option<String>,
    #[serde(default)]
    scene: Option<String>,
    #[serde(default)]
    buyer: Option<String>,
}

/// `PUT /v1/business/orders/{orderNo}` body: the new terms (every field as at registration,
/// except the order number and the buyer, which never change).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeOrder {
    #[serde(default)]
    content: Option<Value>,
    amount: i64,
    currency: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    payer_id: Option<String>,
    #[serde(default)]
    scene: Option<String>,
}

/// What the buyer agrees to: the order's content and the fields the provider needs.
#[derive(Debug)]
struct Terms {
    content: Option<Value>,
    amount: i64,
    currency: String,
    description: Option<String>,
    payer_id: Option<String>,
    scene: Option<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid_body(message)
}

/// The order's content: `content` with `amount`, `currency` and, when given, `description`,
/// `payerId` and `scene` set in it, so the fingerprint covers all of them. A field already in
/// `content` must agree.
fn content_of(terms: Terms) -> Result<rules::Content, ApiError> {
    let mut content = match terms.content {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(invalid("`content` must be a JSON object")),
    };
    if content.contains_key(CANCELLED) {
        return Err(invalid(
            "`content.cancelled` is reserved (cancel the order instead)",
        ));
    }
    if terms.amount < 0 {
        return Err(invalid("`amount` must be a non-negative integer (cents)"));
    }
    let currency_ok =
        terms.currency.len() == 3 && terms.currency.bytes().all(|b| b.is_ascii_uppercase());
    if !currency_ok {
        return Err(invalid("`currency` must be an ISO 4217 code such as CNY"));
    }
    if terms
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        return Err(invalid(format!(
            "`description` must be at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    if terms
        .payer_id
        .as_ref()
        .is_some_and(|p| p.is_empty() || p.chars().count() > MAX_PAYER_ID_CHARS)
    {
        return Err(invalid(format!(
            "`payerId` must be 1-{MAX_PAYER_ID_CHARS} characters"
        )));
    }
    let fields = [
        ("amount", Some(json!(terms.amount))),
        ("currency", Some(json!(terms.currency))),
        ("description", terms.description.map(Value::from)),
        ("payerId", terms.payer_id.map(Value::from)),
        ("scene", terms.scene.map(Value::from)),
    ];
    for (name, value) in fields {
        let Some(value) = value else { continue };
        match content.get(name) {
            Some(existing) if *existing != value => {
                return Err(invalid(format!(
                    "`content.{name}` differs from `{name}`; send it once"
                )))
            }
            _ => {
                content.insert(name.to_owned(), value);
            }
        }
    }
    Ok(rules::checked_content(Value::Object(content))?)
}

/// Whether the order was cancelled through this API.
pub fn is_cancelled(order: &Order) -> bool {
    order.content.get(CANCELLED) == Some(&Value::Bool(true))
}

fn cancelled_error(order_no: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "order_cancelled",
        format!("order {order_no} is cancelled"),
    )
}

/// The order as the business API shows it, with `now`.
fn order_reply(app: &App, order: &Order) -> Value {
    let mut body = rules::order_body(order);
    if let Some(map) = body.as_object_mut() {
        map.insert("buyer".into(), json!(order.buyer));
        map.insert("cancelled".into(), json!(is_cancelled(order)));
        map.insert("now".into(), json!(app.clock.now_ms()));
    }
    body
}

/// A fresh buyer token for `order`, added to `body`.
fn with_token(app: &App, order: &Order, mut body: Value) -> Value {
    let expires_at = app.clock.now_ms().saturating_add(app.buyer_token_ttl_ms);
    let token = buyer_token::issue(
        &app.buyer_token_secret,
        &Claims {
            order_no: order.order_no.clone(),
            buyer: order.buyer.clone(),
            expires_at,
        },
    );
    if let Some(map) = body.as_object_mut() {
        map.insert("buyerToken".into(), json!(token));
        map.insert("buyerTokenExpiresAt".into(), json!(expires_at));
    }
    body
}

/// `POST /v1/business/orders`: registers a business order; `201` with a buyer token, or
/// `200` when the same order (number, buyer, content) was registered before (a retry);
/// another order under a taken number is `409 order_exists`.
pub async fn register(
    State(app): State<Arc<App>>,
    body: Result<JsonBody<RegisterOrder>, ApiError>,
) -> Result<Response, ApiError> {
    let JsonBody(req) = body?;
    let order_no = rules::checked_order_no(Some(req.order_no))?
        .ok_or_else(|| invalid("`orderNo` is required"))?;
    let buyer = req.buyer.or_else(|| req.payer_id.clone());
    let content = content_of(Terms {
        content: req.content,
        amount: req.amount,
        currency: req.currency,
        description: req.description,
        payer_id: req.payer_id,
        scene: req.scene,
    })?;
    // The submission key is derived from the order number: a retried registration is the
    // same keyed submission (contract §4 rule 1), so it returns the order instead of failing.
    let submit = rules::Submit {
        content,
        key: Some(format!("business-order-{order_no}")),
        buyer: rules::checked_buyer(buyer)?,
        order_no: Some(order_no.clone()),
    };
    let claimed = app.merchant().claim_submission(submit).await?;
    let done = app
        .merchant()
        .submit(claimed)
        .await
        .map_err(|err| match err {
            // Another buyer's or another content's registration under this number.
            RuleError::SubmissionKeyReused => {
                ApiError::from(RuleError::OrderExists(order_no.clone()))
            }
            other => other.into(),
        })?;
    let status = if done.reused {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = with_token(&app, &done.order, order_reply(&app, &done.order));
    Ok((status, Json(body)).into_response())
}

/// `GET /v1/business/orders/{orderNo}`: the order and every payment attempt, oldest first.
pub async fn read(
    State(app): State<Arc<App>>,
    PathParam(order_no): PathParam,
) -> Result<Json<Value>, ApiError> {
    let order = app.merchant().order(&order_no).await?;
    let attempts = app
        .merchant()
        .store()
        .attempts(&order_no)
        .await
        .map_err(RuleError::from)?;
    let payments: Vec<Value> = attempts
        .iter()
        .map(|a| {
            json!({
                "attemptId": a.attempt_id,
                "seq": a.seq,
                "state": a.state.as_str(),
                "amount": a.amount,
                "fingerprint": a.fingerprint,
                "expiresAt": a.expires_at,
                "createdAt": a.created_at,
            })
        })
        .collect();
    let mut body = order_reply(&app, &order);
    if let Some(map) = body.as_object_mut() {
        map.insert("payments".into(), json!(payments));
    }
    Ok(Json(body))
}

/// `PUT /v1/business/orders/{orderNo}`: changes an unpaid order's terms, closing its open
/// attempt at the provider first (rule 1.3).
pub async fn change(
    State(app): State<Arc<App>>,
    PathParam(order_no): PathParam,
    body: Result<JsonBody<ChangeOrder>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(req) = body?;
    let content = content_of(Terms {
        content: req.content,
        amount: req.amount,
        currency: req.currency,
        description: req.description,
        payer_id: req.payer_id,
        scene: req.scene,
    })?;
    let order = app.merchant().order(&order_no).await?;
    if is_cancelled(&order) {
        return Err(cancelled_error(&order_no));
    }
    let order = app.merchant().change_content(&order_no, content).await?;
    Ok(Json(order_reply(&app, &order)))
}

/// `POST /v1/business/orders/{orderNo}/cancel`: cancels an unpaid order. Every attempt not
/// known dead is closed at the provider first; a close that reveals a payment is `409
/// already_paid`, a provider that cannot close is `409 attempt_open` (retry). Cancelling again
/// answers the cancelled order.
pub async fn cancel(
    State(app): State<Arc<App>>,
    PathParam(order_no): PathParam,
) -> Result<Json<Value>, ApiError> {
    let order = app.merchant().order(&order_no).await?;
    if is_cancelled(&order) {
        return Ok(Json(order_reply(&app, &order)));
    }
    if order.paid_attempt.is_some() {
        return Err(RuleError::AlreadyPaid(order_no).into());
    }
    let mut content = order.content.clone();
    if let Some(map) = content.as_object_mut() {
        map.insert(CANCELLED.into(), Value::Bool(true));
    }
    let content = rules::checked_content(content)?;
    let order = app.merchant().change_content(&order_no, content).await?;
    Ok(Json(order_reply(&app, &order)))
}

/// `POST /v1/business/orders/{orderNo}/buyer-token`: a fresh buyer token (the first one
/// expired, or the page was reloaded elsewhere).
pub async fn new_buyer_token(
    State(app): State<Arc<App>>,
    PathParam(order_no): PathParam,
) -> Result<Json<Value>, ApiError> {
    let order = app.merchant().order(&order_no).await?;
    if is_cancelled(&order) {
        return Err(cancelled_error(&order_no));
    }
    let body = json!({"orderNo": order.order_no, "now": app.clock.now_ms()});
    Ok(Json(with_token(&app, &order, body)))
}
