//! The merchant API: business orders, create-payment, payment status (generic over the
//! provider and the store: [`crate::guard_api::router`] mounts them), and the reference
//! server's provider notifies.

use crate::app::App;
use crate::buyer_token::{self, TokenError};
use crate::clock::Clock;
use crate::error::ApiError;
use crate::faults::Faults;
use crate::guard_api::GuardApi;
use crate::http::extract::{JsonBody, PathParam};
use crate::ids;
use crate::provider::sim::TradeState;
use crate::provider::Provider;
use crate::rules::{self, PaymentNotice};
use crate::signing;
use crate::store::Store;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use checkout_guard::core::fingerprint::Fingerprint;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// `POST /api/orders` body (contract §4).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    content: Value,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    buyer: Option<String>,
    #[serde(default, rename = "orderNo")]
    order_no: Option<String>,
}

/// `PUT /api/orders/{orderNo}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderContent {
    content: Value,
}

/// Adds `"now"`: the server's clock when this reply is made (docs/contract.md, "The server's
/// clock"). Read here, at the end of the handler, so a stored reply sent again carries the
/// time of this reply, never the stored one.
fn stamped(clock: &Clock, mut body: Value) -> Value {
    if let Some(map) = body.as_object_mut() {
        map.insert("now".into(), json!(clock.now_ms()));
    }
    body
}

/// The `Idempotency-Key` header: `None` when absent, `400 invalid_idempotency_key` when
/// malformed or repeated (docs/contract.md §1: an sf-string or the bare token, 16–64 of
/// `A-Z a-z 0-9 - _`).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut keys = headers.get_all("idempotency-key").iter();
    match (keys.next(), keys.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => value
            .to_str()
            .ok()
            .and_then(ids::parse_idempotency_key)
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid_idempotency_key(
                    "Idempotency-Key must be an sf-string of 16-64 characters of A-Z a-z 0-9 - _",
                )
            }),
        (Some(_), Some(_)) => Err(ApiError::invalid_idempotency_key(
            "more than one Idempotency-Key header",
        )),
    }
}

/// `POST /api/orders`: submits a business order (contract §4): idempotent with an
/// `Idempotency-Key`, a new order every time without one.
pub async fn create_order<P: Provider, S: Store>(
    State(api): State<Arc<GuardApi<P, S>>>,
    faults: Option<Extension<Faults>>,
    headers: HeaderMap,
    body: Result<JsonBody<NewOrder>, ApiError>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let JsonBody(req) = body?;
    let content = rules::checked_content(req.content)?;
    if let Some(given) = &req.fingerprint {
        let Some(given) = Fingerprint::parse(given) else {
            return Err(ApiError::invalid_body(
                "`fingerprint` must be 64 lowercase hex digits",
            ));
        };
        if given.as_str() != content.fingerprint {
            return Err(ApiError::fingerprint_mismatch(
                "the fingerprint is not the one of the content sent",
            ));
        }
    }
    let submit = rules::Submit {
        content,
        key,
        buyer: rules::checked_buyer(req.buyer)?,
        order_no: rules::checked_order_no(req.order_no)?,
    };
    let merchant = api.merchant();
    let claimed = merchant.claim_submission(submit).await?;
    let latency = faults.map_or(0, |Extension(f)| f.submit_latency_ms);
    if claimed.is_keyed() && latency > 0 {
        // The `submit-latency` fault: a slow submission, with its key claimed.
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let done = merchant.submit(claimed).await?;
    let status = if done.reused {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(stamped(merchant.clock(), done.body()))).into_response())
}

/// `GET /api/orders/{orderNo}` (with the buyer token in the production profile).
pub async fn get_order<P: Provider, S: Store>(
    State(api): State<Arc<GuardApi<P, S>>>,
    PathParam(order_no): PathParam,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize_buyer(&api, &headers, &order_no).await?;
    let order = api.merchant().order(&order_no).await?;
    Ok(Json(stamped(
        api.merchant().clock(),
        rules::order_body(&order),
    )))
}

/// `PUT /api/orders/{orderNo}`: changes an unpaid order's content (and so its fingerprint),
/// closing its open attempt at the provider first.
pub async fn update_order<P: Provider, S: Store>(
    State(api): State<Arc<GuardApi<P, S>>>,
    PathParam(order_no): PathParam,
    JsonBody(req): JsonBody<OrderContent>,
) -> Result<Json<Value>, ApiError> {
    let content = rules::checked_content(req.content)?;
    let order = api.merchant().change_content(&order_no, content).await?;
    Ok(Json(stamped(
        api.merchant().clock(),
        rules::order_body(&order),
    )))
}

/// Checks the buyer token of a guard-facing request for `order_no`: required when the options
/// say so (the production profile), else optional (but checked when sent). A token opens one order, for
/// the order's buyer, until it expires; anything else is `401 invalid_buyer_token`. Returns
/// the order when it was read for the check.
async fn authorize_buyer<P: Provider, S: Store>(
    api: &GuardApi<P, S>,
    headers: &HeaderMap,
    order_no: &str,
) -> Result<Option<crate::model::Order>, ApiError> {
    let refused = |why: TokenError| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_buyer_token",
            why.to_string(),
        )
    };
    let token = headers
        .get(buyer_token::HEADER)
        // Not ASCII: cannot be one of ours.
        .map(|v| v.to_str().unwrap_or_default());
    let options = api.options();
    if token.is_none() && !options.require_buyer_token {
        return Ok(None);
    }
    let now = api.merchant().clock().now_ms();
    let claims =
        buyer_token::check(&options.buyer_token_secret, token, order_no, now).map_err(refused)?;
    let order = api.merchant().order(order_no).await?;
    if order.buyer != claims.buyer {
        return Err(refused(TokenError::WrongBuyer));
    }
    Ok(Some(order))
}

/// `POST /api/orders/{orderNo}/payments` body.
#[derive(Debug, Deserialize)]
pub struct CreatePayment {
    fingerprint: String,
}

/// `POST /api/orders/{orderNo}/payments`: contract §1.
pub async fn create_payment<P: Provider, S: Store>(
    State(api): State<Arc<GuardApi<P, S>>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    PathParam(order_no): PathParam,
    headers: HeaderMap,
    body: Result<JsonBody<CreatePayment>, ApiError>,
) -> Result<Response, ApiError> {
    let merchant = api.merchant();
    let order = match authorize_buyer(&api, &headers, &order_no).await? {
        Some(order) => Some(order),
        // An unknown order goes on to the rules, which answer `unknown_order` (rule 2.5).
        None => merchant.store().order(&order_no).await?,
    };
    if order
        .as_ref()
        .is_some_and(crate::http::business::is_cancelled)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "order_cancelled",
            format!("order {order_no} is cancelled"),
        ));
    }
    let key = idempotency_key(&headers)?.ok_or_else(|| {
        ApiError::invalid_idempotency_key("the Idempotency-Key header is missing")
    })?;
    let JsonBody(req) = body?;
    let Some(print) = Fingerprint::parse(&req.fingerprint) else {
        return Err(ApiError::invalid_body(
            "`fingerprint` must be 64 lowercase hex digits",
        ));
    };
    let reply = merchant
        .create_payment(&rules::CreatePayment {
            order_no: &order_no,
            key: &key,
            fingerprint: print.as_str(),
            client_ip: client_ip(
                &headers,
                peer.map(|Extension(ConnectInfo(addr))| addr.ip()),
                api.options().client_ip_header.as_ref(),
            ),
        })
        .await?;
    let status = if reply.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(stamped(merchant.clock(), reply.body))).into_response())
}

/// The buyer's IP address: from `header` when configured (a reverse proxy's), else the peer's.
/// A configured header that is missing or unreadable gives `None`, not the proxy's address.
fn client_ip(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    header: Option<&HeaderName>,
) -> Option<IpAddr> {
    let Some(name) = header else {
        return peer;
    };
    let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    value.rsplit(',').next()?.trim().parse().ok()
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
pub async fn payment_status<P: Provider, S: Store>(
    State(api): State<Arc<GuardApi<P, S>>>,
    faults: Option<Extension<Faults>>,
    PathParam(order_no): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize_buyer(&api, &headers, &order_no).await?;
    let merchant = api.merchant();
    let (view, applied) = merchant
        .payment_status(&order_no, prefer_wait(&headers))
        .await?;
    let slow_poll = faults.map_or(0, |Extension(f)| f.slow_poll_ms);
    if applied.is_some() && slow_poll > 0 {
        // The `slow-poll` fault: a long-poll that holds its reply this much longer.
        tokio::time::sleep(Duration::from_millis(slow_poll)).await;
    }
    let mut response = Json(stamped(merchant.clock(), view.body(&order_no))).into_response();
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
    /// What the provider charged; recorded as the order's paid amount.
    #[serde(default)]
    amount: Option<i64>,
}

/// `POST /api/notify`: the in-process simulated provider's payment notify (contract §3). The
/// signature is checked first; a repeated notify (same id, or an attempt already paid) changes
/// nothing and is acknowledged again so the provider stops retrying. A payment center on WeChat
/// Pay takes notifies only at `/api/wechatpay/notify` (signed by WeChat Pay, encrypted with the
/// APIv3 key): this one answers `404` there, so a leaked or configured `notify_secret` is not a
/// second way to mark an attempt paid.
pub async fn notify(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    if app.wechatpay.is_some() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this payment center takes notifies from WeChat Pay at /api/wechatpay/notify",
        ));
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let now = app.clock.now_ms();
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
    app.merchant()
        .apply_notify(PaymentNotice {
            notify_id: &msg.id,
            attempt_id: &msg.out_trade_no,
            charged: msg.amount,
        })
        .await?;
    Ok(Json(json!({"code": "SUCCESS", "message": "OK"})))
}

/// `POST /api/wechatpay/notify`: WeChat Pay's payment notify, when the provider is
/// `wechatpay` (404 otherwise). Signature, timestamp and probe checks and the AEAD decryption
/// are `WechatPayV3::open_notify`'s; a refused notify is answered 401 `FAIL`, so WeChat Pay
/// retries it and the active query still finds the truth. A `SUCCESS` transaction is applied
/// idempotently by its notify id; any other state is acknowledged and changes nothing (the
/// rules learn it from a query).
pub async fn wechatpay_notify(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Some(wechatpay) = &app.wechatpay else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the WeChat Pay provider is not configured",
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let notified = match wechatpay.open_notify(header, &body) {
        Ok(notified) => notified,
        Err(refusal) => {
            tracing::warn!(%refusal, "a WeChat Pay notify was refused");
            return Ok((
                StatusCode::UNAUTHORIZED,
                Json(json!({"code": "FAIL", "message": "notify refused"})),
            )
                .into_response());
        }
    };
    if notified.payment.state == crate::provider::PaymentState::Paid {
        app.merchant()
            .apply_notify(PaymentNotice {
                notify_id: &notified.notify_id,
                attempt_id: &notified.attempt_id,
                charged: Some(notified.payment.amount),
            })
            .await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_ip_is_the_peers_unless_a_proxy_header_is_configured() {
        let peer = Some(IpAddr::from([10, 0, 0, 2]));
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.9"),
        );
        let xff = HeaderName::from_static("x-forwarded-for");
        assert_eq!(client_ip(&headers, peer, None), peer);
        // The last entry: the one the merchant's own proxy added (the first can be forged).
        assert_eq!(
            client_ip(&headers, peer, Some(&xff)),
            Some(IpAddr::from([203, 0, 113, 9]))
        );
        let real = HeaderName::from_static("x-real-ip");
        assert_eq!(
            client_ip(&headers, peer, Some(&real)),
            None,
            "not the proxy's address"
        );
        headers.insert("x-real-ip", HeaderValue::from_static("2001:db8::1"));
        assert_eq!(
            client_ip(&headers, peer, Some(&real)).map(|ip| ip.to_string()),
            Some("2001:db8::1".into())
        );
    }
}
