//! Routes: the WeChat Pay API (`/v3/…`, authenticated and signed), the wallet (`/sim/wallet/…`,
//! `/sim/h5/checkmweb`, `/sim/scan`), and the admin side (`/sim/admin/…`, never faulted).
//!
//! Only this module knows HTTP and JSON field names; the ledger sees typed requests and `now`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use checkout_guard_wechatpay::{
    ApiError, Authorization, CertificateEntry, CertificateList, ErrorCode, RequestParts,
    UnixSeconds, WechatpaySignature,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock::{now_ms, random_alnum, random_digits, rfc3339_beijing};
use crate::faults::{FaultRuleSpec, Faults, FAULT_HEADER};
use crate::ledger::{
    is_valid_out_trade_no, CloseRefusal, CreateContext, CreateRefusal, CreateRequest, Scene,
    WalletAction,
};
use crate::platform::{RotationError, Signer};
use crate::{notify, ConnAbort, Sim};

type Shared = State<Arc<Sim>>;

pub(crate) fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/v3/pay/transactions/{scene}", post(create))
        .route("/v3/pay/transactions/out-trade-no/{no}", get(query))
        .route("/v3/pay/transactions/out-trade-no/{no}/close", post(close))
        .route("/v3/certificates", get(certificates))
        .route("/sim/wallet/{id}", get(wallet_page))
        .route("/sim/wallet/{id}/{action}", post(wallet_action))
        .route("/sim/h5/checkmweb", get(h5_page))
        .route("/sim/scan", get(scan))
        .route("/sim/wechatpay-public-key", get(public_key))
        .route(
            "/sim/admin/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/sim/admin/certificates",
            get(list_certificates).post(add_certificate),
        )
        .route(
            "/sim/admin/certificates/{serial}",
            axum::routing::delete(drop_certificate),
        )
        .route(
            "/sim/admin/certificates/{serial}/sign",
            post(sign_with_certificate),
        )
        .route("/sim/admin/stats/{attach}", get(stats_by_attach))
        .route(
            "/sim/admin/transactions/{attach}",
            get(transactions_by_attach),
        )
        .route(
            "/sim/admin/stats/out-trade-no/{no}",
            get(stats_by_out_trade_no),
        )
        .layer(middleware::from_fn_with_state(sim.clone(), inject_faults))
        .with_state(sim)
}

// ---- replies -------------------------------------------------------------------------------

/// A `/v3` reply, signed as WeChat Pay signs (fresh timestamp and nonce over the exact body),
/// unless a fault says to leave it unsigned or to forge the signature.
fn signed(sim: &Sim, faults: &Faults, status: StatusCode, body: Vec<u8>) -> Response {
    let mut builder = Response::builder()
        .status(status)
        .header("request-id", random_alnum(32));
    if !body.is_empty() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    if !faults.unsigned {
        let now = UnixSeconds::from_millis(now_ms());
        let nonce = random_alnum(32);
        let Some(Signer { key, serial }) = sim.signer() else {
            tracing::error!("no key signs: the signing certificate is gone");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let (key, serial) = (&key, &serial);
        let signature =
            WechatpaySignature::sign(key, serial, now, &nonce, &body).and_then(|mut signature| {
                if faults.bad_signature {
                    // A real signature, over other bytes: base64 that does not verify.
                    let other = WechatpaySignature::sign(key, serial, now, &nonce, b"forged")?;
                    signature.signature = other.signature;
                }
                Ok(signature)
            });
        match signature {
            Ok(signature) => {
                for (name, value) in signature.headers() {
                    builder = builder.header(name, value);
                }
            }
            Err(err) => {
                tracing::error!(%err, "cannot sign a reply");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        }
    }
    builder
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A signed WeChat Pay error reply with `code`'s documented status.
fn wx_error(sim: &Sim, faults: &Faults, code: ErrorCode, message: impl Into<String>) -> Response {
    let status = code.http_status().unwrap_or(500);
    wx_error_status(sim, faults, status, code, message)
}

fn wx_error_status(
    sim: &Sim,
    faults: &Faults,
    status: u16,
    code: ErrorCode,
    message: impl Into<String>,
) -> Response {
    let error = ApiError {
        code: code.as_str().to_owned(),
        message: message.into(),
        detail: None,
    };
    let body = error.to_json().map(String::into_bytes).unwrap_or_default();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    signed(sim, faults, status, body)
}

fn param_error(sim: &Sim, faults: &Faults, message: impl Into<String>) -> Response {
    wx_error(sim, faults, ErrorCode::ParamError, message)
}

fn json_reply(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

// ---- faults --------------------------------------------------------------------------------

/// Applies `X-Fault` plus the matching global rules to every request but the admin ones.
async fn inject_faults(State(sim): Shared, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/sim/admin/") || path == "/sim/admin" {
        return next.run(req).await;
    }
    let v3 = path.starts_with("/v3/");
    let mut faults = match req.headers().get(FAULT_HEADER).map(|v| v.to_str()) {
        None => Faults::default(),
        Some(text) => match text.map(Faults::parse) {
            Ok(Ok(faults)) => faults,
            Ok(Err(err)) => return bad_fault(&sim, v3, err.to_string()),
            Err(_) => return bad_fault(&sim, v3, "X-Fault is not ASCII".to_owned()),
        },
    };
    faults.merge(&sim.faults.for_request(req.method().as_str(), &path));
    if faults.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.latency_ms)).await;
    }
    if let Some(code) = faults.status {
        return injected_status(&sim, &faults, v3, code);
    }
    let drop_reply = faults.drop_reply;
    let abort = req.extensions().get::<ConnAbort>().cloned();
    req.extensions_mut().insert(faults);
    let response = next.run(req).await;
    if drop_reply {
        if let Some(ConnAbort(abort)) = abort {
            // The work is committed; now lose the reply: the accept loop drops the connection.
            abort.notify_one();
            std::future::pending::<()>().await;
        }
    }
    response
}

fn bad_fault(sim: &Sim, v3: bool, why: String) -> Response {
    if v3 {
        param_error(sim, &Faults::default(), format!("invalid X-Fault: {why}"))
    } else {
        json_reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_fault", "message": why}),
        )
    }
}

/// `status=<code>`: for `/v3`, a signed error body with the code WeChat Pay uses for that
/// status; 429 and 503 carry `Retry-After: 1`.
fn injected_status(sim: &Sim, faults: &Faults, v3: bool, status: u16) -> Response {
    let mut response = if v3 {
        let code = match status {
            401 => ErrorCode::SignError,
            403 => ErrorCode::NoAuth,
            404 => ErrorCode::OrderNotExist,
            429 => ErrorCode::FrequencyLimited,
            500..=599 => ErrorCode::SystemError,
            _ => ErrorCode::InvalidRequest,
        };
        wx_error_status(
            sim,
            faults,
            status,
            code,
            format!("injected status {status}"),
        )
    } else {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_reply(status, json!({"error": "injected_fault"}))
    };
    if matches!(status, 429 | 503) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

// ---- the WeChat Pay API --------------------------------------------------------------------

/// Checks the request's `Authorization` against the merchant's key, at the simulator's clock.
fn authenticate(
    sim: &Sim,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let header = headers
        .get(header::AUTHORIZATION)
        .ok_or("缺少 Authorization 请求头")?
        .to_str()
        .map_err(|_| "Authorization 不是 ASCII")?;
    let auth = Authorization::parse(header).map_err(|e| e.to_string())?;
    if auth.mchid != sim.mchid {
        return Err(format!("商户号 {} 不存在或未配置公钥", auth.mchid));
    }
    let parts = RequestParts {
        method: method.as_str(),
        path_and_query: uri.path_and_query().map_or(uri.path(), |pq| pq.as_str()),
        body,
    };
    auth.verify(
        &sim.merchant_keys,
        &parts,
        UnixSeconds::from_millis(now_ms()),
    )
    .map_err(|e| format!("签名错误: {e}"))
}

fn faults_of(faults: Option<Extension<Faults>>) -> Faults {
    faults.map(|Extension(f)| f).unwrap_or_default()
}

async fn create(
    State(sim): Shared,
    Path(scene): Path<String>,
    faults: Option<Extension<Faults>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let faults = faults_of(faults);
    let Some(scene) = Scene::parse(&scene) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Err(why) = authenticate(&sim, &method, &uri, &headers, &body) {
        return wx_error(&sim, &faults, ErrorCode::SignError, why);
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return param_error(&sim, &faults, "请求体不是合法的 JSON");
    };
    let request = match serde_json::from_value::<CreateRequest>(value.clone()) {
        Ok(request) => request,
        Err(err) => return param_error(&sim, &faults, format!("参数错误: {err}")),
    };
    if let Err(err) = request.validate(scene) {
        return param_error(&sim, &faults, err.0);
    }
    if request.mchid != sim.mchid {
        return param_error(&sim, &faults, "mchid 与请求签名的商户号不一致");
    }
    if let Some(expire) = &request.time_expire {
        if crate::clock::parse_rfc3339(expire).is_none() {
            return param_error(&sim, &faults, "time_expire 应为 RFC 3339 格式");
        }
    }
    let cx = CreateContext {
        scene,
        now: now_ms(),
        prepay_ttl_ms: sim.prepay_ttl_ms,
        min_time_expire_ms: sim.min_time_expire_ms,
    };
    let created = sim
        .ledger()
        .create(&request, value, cx)
        .map(|order| (order.prepay_id.clone(), order.code_token.clone()));
    let (prepay_id, code_token) = match created {
        Ok(ids) => ids,
        Err(refusal) => {
            let code = match refusal {
                CreateRefusal::ParametersDiffer | CreateRefusal::ExpireTooSoon => {
                    ErrorCode::InvalidRequest
                }
                CreateRefusal::Closed => ErrorCode::OutTradeNoUsed,
                CreateRefusal::Paid => ErrorCode::OrderPaid,
            };
            return wx_error(&sim, &faults, code, refusal.to_string());
        }
    };
    let reply = match scene {
        Scene::Jsapi => json!({ "prepay_id": prepay_id }),
        Scene::Native => json!({ "code_url": format!("weixin://wxpay/bizpayurl?pr={code_token}") }),
        Scene::H5 => json!({
            "h5_url": format!(
                "{}/sim/h5/checkmweb?prepay_id={prepay_id}&package={}",
                sim.public_url,
                random_digits(10)
            )
        }),
    };
    signed(
        &sim,
        &faults,
        StatusCode::OK,
        reply.to_string().into_bytes(),
    )
}

/// The `mchid` of a query string (`mchid=…`).
fn mchid_param(uri: &Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("mchid="))
}

async fn query(
    State(sim): Shared,
    Path(no): Path<String>,
    faults: Option<Extension<Faults>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let faults = faults_of(faults);
    if let Err(why) = authenticate(&sim, &method, &uri, &headers, b"") {
        return wx_error(&sim, &faults, ErrorCode::SignError, why);
    }
    match mchid_param(&uri) {
        None | Some("") => return param_error(&sim, &faults, "缺少参数 mchid"),
        Some(mchid) if mchid != sim.mchid => {
            return param_error(&sim, &faults, "mchid 与请求签名的商户号不一致")
        }
        Some(_) => {}
    }
    if !is_valid_out_trade_no(&no) {
        return param_error(&sim, &faults, "out_trade_no 格式不正确");
    }
    let found = sim.ledger().query(&sim.mchid, &no);
    match found {
        Some(order) => signed(
            &sim,
            &faults,
            StatusCode::OK,
            order.transaction().to_string().into_bytes(),
        ),
        None => wx_error(&sim, &faults, ErrorCode::OrderNotExist, "订单不存在"),
    }
}

#[derive(Deserialize)]
struct CloseBody {
    mchid: String,
}

async fn close(
    State(sim): Shared,
    Path(no): Path<String>,
    faults: Option<Extension<Faults>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let faults = faults_of(faults);
    if let Err(why) = authenticate(&sim, &method, &uri, &headers, &body) {
        return wx_error(&sim, &faults, ErrorCode::SignError, why);
    }
    let request = match serde_json::from_slice::<CloseBody>(&body) {
        Ok(request) => request,
        Err(err) => return param_error(&sim, &faults, format!("参数错误: {err}")),
    };
    if request.mchid != sim.mchid {
        return param_error(&sim, &faults, "mchid 与请求签名的商户号不一致");
    }
    if !is_valid_out_trade_no(&no) {
        return param_error(&sim, &faults, "out_trade_no 格式不正确");
    }
    let closed = sim.ledger().close(&sim.mchid, &no);
    match closed {
        Ok(()) => signed(&sim, &faults, StatusCode::NO_CONTENT, Vec::new()),
        Err(CloseRefusal::NotFound) => {
            wx_error(&sim, &faults, ErrorCode::OrderNotExist, "订单不存在")
        }
        Err(CloseRefusal::Paid) => wx_error(&sim, &faults, ErrorCode::OrderPaid, "订单已支付"),
    }
}

// ---- the wallet ----------------------------------------------------------------------------

#[derive(Deserialize)]
struct WalletQuery {
    redirect_url: Option<String>,
}

async fn wallet_page(
    State(sim): Shared,
    Path(id): Path<String>,
    Query(q): Query<WalletQuery>,
) -> Response {
    let order = sim.ledger().by_wallet_id(&id).cloned();
    match order {
        Some(order) => Html(crate::wallet::wallet_page(
            &order,
            &id,
            now_ms(),
            q.redirect_url.as_deref(),
        ))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Html(crate::wallet::result_page(
                false,
                "unknown prepay",
                &id,
                q.redirect_url.as_deref(),
            )),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct H5Query {
    prepay_id: String,
    redirect_url: Option<String>,
}

/// What `h5_url` opens (WeChat Pay's `checkmweb` page): the wallet, with a link back to the
/// merchant's `redirect_url` if one was appended.
async fn h5_page(state: Shared, Query(q): Query<H5Query>) -> Response {
    wallet_page(
        state,
        Path(q.prepay_id),
        Query(WalletQuery {
            redirect_url: q.redirect_url,
        }),
    )
    .await
}

#[derive(Deserialize)]
struct ScanQuery {
    code_url: String,
}

/// "Scanning" a `code_url`: a redirect to its wallet page (for a demo that decodes the QR).
async fn scan(Query(q): Query<ScanQuery>) -> Response {
    match q.code_url.strip_prefix("weixin://wxpay/bizpayurl?pr=") {
        Some(token) if token.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Redirect::to(&format!("/sim/wallet/{token}")).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "not a simulator code_url").into_response(),
    }
}

/// A wallet button (`confirm`, `cancel`, `fail`); an H5 wallet's form keeps the
/// `redirect_url`, which the result page links back to.
async fn wallet_action(
    State(sim): Shared,
    Path((id, action)): Path<(String, String)>,
    Query(q): Query<WalletQuery>,
    faults: Option<Extension<Faults>>,
    headers: HeaderMap,
) -> Response {
    let back = q.redirect_url.as_deref();
    let faults = faults_of(faults);
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let Some(action) = WalletAction::parse(&action) else {
        return json_reply(StatusCode::NOT_FOUND, json!({"error": "unknown_action"}));
    };
    let outcome = sim.ledger().wallet(&id, action, now_ms());
    let order = match outcome {
        Ok(order) => order,
        Err(refusal) => {
            let status = if refusal == crate::ledger::WalletRefusal::Unknown {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::CONFLICT
            };
            if wants_html {
                let page = crate::wallet::result_page(false, &refusal.to_string(), &id, back);
                return (status, Html(page)).into_response();
            }
            return json_reply(
                status,
                json!({"error": refusal.code(), "message": refusal.to_string()}),
            );
        }
    };
    if action == WalletAction::Confirm && !faults.notify_lost {
        match notify::build(&sim, &order) {
            Ok(Some(body)) => {
                let plan = notify::Plan {
                    delay_ms: faults.notify_delay_ms.unwrap_or(0),
                    copies: if faults.notify_duplicate { 2 } else { 1 },
                };
                notify::spawn(&sim, &order, body, plan);
            }
            Ok(None) => {}
            Err(err) => tracing::error!(%err, "cannot build a notify"),
        }
    }
    if wants_html {
        let message = format!("{}: {}", order.out_trade_no, order.state.as_str());
        return Html(crate::wallet::result_page(true, &message, &id, back)).into_response();
    }
    json_reply(
        StatusCode::OK,
        json!({
            "outTradeNo": order.out_trade_no,
            "prepayId": order.prepay_id,
            "tradeState": order.state.as_str(),
            "transactionId": order.transaction_id,
        }),
    )
}

async fn public_key(State(sim): Shared) -> Response {
    let Some(signer) = sim.signer() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match signer.key.public_key().to_pem() {
        Ok(pem) => (
            [
                (header::CONTENT_TYPE, "application/x-pem-file".to_owned()),
                (
                    header::HeaderName::from_static("wechatpay-serial"),
                    signer.serial,
                ),
            ],
            pem,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

// ---- platform certificates -----------------------------------------------------------------

/// `GET /v3/certificates`: every published certificate, each sealed with the APIv3 key under
/// a fresh nonce, signed by the one signing now. A public-key merchant gets `403 NO_AUTH`.
async fn certificates(
    State(sim): Shared,
    faults: Option<Extension<Faults>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let faults = faults_of(faults);
    if let Err(why) = authenticate(&sim, &method, &uri, &headers, b"") {
        return wx_error(&sim, &faults, ErrorCode::SignError, why);
    }
    let published = {
        let platform = sim.platform();
        platform.is_certificate_mode().then(|| platform.published())
    };
    let (Some(published), Some(key)) = (published, sim.apiv3_key.as_ref()) else {
        return wx_error(
            &sim,
            &faults,
            ErrorCode::NoAuth,
            "商户已切换为微信支付公钥模式，无法下载平台证书",
        );
    };
    let entries: Result<Vec<_>, _> = published
        .iter()
        .map(|certificate| {
            CertificateEntry::seal(
                key,
                certificate,
                &random_alnum(12),
                rfc3339_beijing(certificate.not_before().0.saturating_mul(1000)),
                rfc3339_beijing(certificate.not_after().0.saturating_mul(1000)),
            )
        })
        .collect();
    let body = entries.map_err(|e| e.to_string()).and_then(|data| {
        CertificateList { data }
            .to_json()
            .map_err(|e| e.to_string())
    });
    match body {
        Ok(body) => signed(&sim, &faults, StatusCode::OK, body.into_bytes()),
        Err(err) => {
            tracing::error!(%err, "cannot build the certificate list");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn rotation_error(err: &RotationError) -> Response {
    let (status, code) = match err {
        RotationError::PublicKeyMode => (StatusCode::CONFLICT, "public_key_mode"),
        RotationError::Unknown(_) => (StatusCode::NOT_FOUND, "unknown_certificate"),
        RotationError::Signing(_) => (StatusCode::CONFLICT, "certificate_signing"),
        RotationError::Key(_) => (StatusCode::INTERNAL_SERVER_ERROR, "key_error"),
    };
    json_reply(status, json!({"error": code, "message": err.to_string()}))
}

/// `GET /sim/admin/certificates`: who signs, and every certificate held.
async fn list_certificates(State(sim): Shared) -> Response {
    let platform = sim.platform();
    let certificates: Vec<Value> = platform
        .certificates()
        .iter()
        .map(|c| {
            json!({
                "serial": c.certificate.serial(),
                "published": c.published,
                "notBefore": c.certificate.not_before().0,
                "notAfter": c.certificate.not_after().0,
                "pem": c.certificate.to_pem(),
            })
        })
        .collect();
    json_reply(
        StatusCode::OK,
        json!({
            "mode": if platform.is_certificate_mode() { "certificates" } else { "public_key" },
            "signing": platform.signer().map(|s| s.serial),
            "certificates": certificates,
        }),
    )
}

#[derive(Deserialize, Default)]
struct AddCertificate {
    #[serde(default = "published_by_default")]
    published: bool,
}

fn published_by_default() -> bool {
    true
}

/// `POST /sim/admin/certificates` `{"published"?: bool}`: rotation step 1 → `201 {serial}`.
async fn add_certificate(State(sim): Shared, body: Bytes) -> Response {
    let request = if body.is_empty() {
        AddCertificate { published: true }
    } else {
        match serde_json::from_slice::<AddCertificate>(&body) {
            Ok(request) => request,
            Err(err) => {
                return json_reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid_body", "message": err.to_string()}),
                )
            }
        }
    };
    match sim.publish_certificate(request.published).await {
        Ok(serial) => json_reply(StatusCode::CREATED, json!({ "serial": serial })),
        Err(err) => rotation_error(&err),
    }
}

/// `POST /sim/admin/certificates/{serial}/sign`: rotation step 2 → `204`.
async fn sign_with_certificate(State(sim): Shared, Path(serial): Path<String>) -> Response {
    match sim.platform().sign_with(&serial) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => rotation_error(&err),
    }
}

/// `DELETE /sim/admin/certificates/{serial}`: rotation step 3 → `204`.
async fn drop_certificate(State(sim): Shared, Path(serial): Path<String>) -> Response {
    match sim.platform().remove(&serial) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => rotation_error(&err),
    }
}

// ---- admin ---------------------------------------------------------------------------------

async fn list_faults(State(sim): Shared) -> Response {
    json_reply(StatusCode::OK, json!({ "rules": sim.faults.list() }))
}

async fn add_fault(State(sim): Shared, body: Bytes) -> Response {
    let rule = match serde_json::from_slice::<FaultRuleSpec>(&body) {
        Ok(rule) => rule,
        Err(err) => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_fault", "message": err.to_string()}),
            )
        }
    };
    match sim.faults.add(rule) {
        Ok(()) => json_reply(StatusCode::CREATED, json!({ "rules": sim.faults.list() })),
        Err(err) => json_reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_fault", "message": err.to_string()}),
        ),
    }
}

async fn clear_faults(State(sim): Shared) -> Response {
    sim.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn stats_by_attach(State(sim): Shared, Path(attach): Path<String>) -> Response {
    let stats = sim.ledger().stats_by_attach(&attach);
    (StatusCode::OK, Json(stats)).into_response()
}

/// Every transaction of one `attach` (the business order), oldest first, with whether it is
/// payable now: the conformance kit checks that no order ever has two payable numbers.
async fn transactions_by_attach(State(sim): Shared, Path(attach): Path<String>) -> Response {
    let transactions = sim.ledger().transactions_by_attach(&attach, now_ms());
    json_reply(StatusCode::OK, json!({ "transactions": transactions }))
}

async fn stats_by_out_trade_no(State(sim): Shared, Path(no): Path<String>) -> Response {
    let stats = sim.ledger().stats_by_out_trade_no(&no);
    (StatusCode::OK, Json(stats)).into_response()
}
