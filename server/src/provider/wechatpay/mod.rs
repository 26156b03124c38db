//! The real provider: WeChat Pay API v3 over HTTPS ([`WechatPayV3`]).
//!
//! Every request is signed with the merchant API key (`Authorization`), and every reply —
//! errors and the empty `204` of a close included — is verified before anything in it is
//! believed, with the key its `Wechatpay-Serial` names: a WeChat Pay public key
//! (`PUB_KEY_ID_…`, more than one during a rotation), or a platform certificate, configured as
//! files or downloaded from `GET /v3/certificates` and kept fresh (`certificates.rs`); both
//! modes at once during WeChat Pay's migration. An unknown serial makes one download happen
//! (when downloading is on) and is then checked again. A reply that does not verify
//! (no `Wechatpay-*` headers, a bad signature, an unknown serial, a timestamp 5 minutes or more
//! from the server's clock) is [`ProviderError::Unavailable`]: *unknown*. It can never make an
//! attempt look paid, closed or never-created, which is what a forged or mangled reply would
//! otherwise achieve.
//!
//! Error replies map through the `checkout-guard-wechatpay` crate's [`Disposition`]:
//!
//! | disposition | examples | [`ProviderError`] |
//! | --- | --- | --- |
//! | `Retry` | 5xx, 429, `SYSTEM_ERROR`, `FREQUENCY_LIMITED`; time-outs, lost connections | `Unavailable` |
//! | `NotUsable` | `OUT_TRADE_NO_USED`, "201 商户订单号重复" (parameters differ) | `DuplicateNumber` |
//! | `NotFound` | `ORDER_NOT_EXIST` | `NotFound` |
//! | `AlreadyPaid` | `ORDER_PAID` / `ORDERPAID` on close | `AlreadyPaid` |
//! | `Operator` | `SIGN_ERROR`, `PARAM_ERROR`, `NO_AUTH`, unknown 4xx | `Rejected(code: message)`, logged as an error |
//!
//! Time comes from the server's [`Clock`] (the one the rules use): request timestamps,
//! `time_expire`, reply verification and `paySign` timestamps all read it.

mod certificates;
mod config;

pub use config::{
    CheckedConfig, WechatPayConfig, WechatPayConfigError, DEFAULT_BASE_URL,
    DEFAULT_CERTIFICATES_REFRESH_SECS,
};

use certificates::KeyStore;

use super::{Payment, PaymentState, Prepay, PrepayRequest, Provider, ProviderError, Scene};
use crate::clock::Clock;
use crate::ids::random_token;
use checkout_guard_wechatpay::{
    open_notification, verify_response, ApiError, ApiV3Key, Authorization, Disposition,
    JsapiClient, JsapiPayParams, KeySet, Merchant, NotifyError, RequestParts, UnixSeconds,
    VerifyError,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// The WeChat Pay API v3 provider. Cheap to share (`reqwest::Client` is a pooled handle; the
/// keys are shared, so a certificate one clone downloads verifies for every clone).
#[derive(Debug, Clone)]
pub struct WechatPayV3 {
    transport: Transport,
    appid: String,
    keys: Arc<KeyStore>,
    apiv3: ApiV3Key,
    notify_url: String,
    description: String,
}

/// Signs and sends requests; verifies nothing (that is the caller's, with the keys it holds).
#[derive(Debug, Clone)]
struct Transport {
    http: reqwest::Client,
    base_url: String,
    merchant: Merchant,
    clock: Clock,
}

/// A reply as received: not yet verified.
struct RawReply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

/// A reply that verified: its status and exact body.
struct Verified {
    status: u16,
    body: Vec<u8>,
}

/// A query reply (the fields the provider acts on; a notify's plaintext has the same shape).
#[derive(Debug, Deserialize)]
struct TransactionReply {
    out_trade_no: String,
    trade_state: String,
    #[serde(default)]
    amount: Option<AmountReply>,
}

#[derive(Debug, Deserialize)]
struct AmountReply {
    total: i64,
}

/// A payment notify that verified and decrypted: which attempt, and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifiedPayment {
    /// The notify's id (the same on each of WeChat Pay's retries): what makes applying it
    /// idempotent.
    pub notify_id: String,
    /// The merchant payment number (`out_trade_no`).
    pub attempt_id: String,
    /// The transaction as the notify tells it.
    pub payment: Payment,
}

/// Why a notify was refused (answer it with a 4xx/5xx: WeChat Pay retries).
#[derive(Debug, Error)]
pub enum NotifyRefusal {
    /// Signature, timestamp, probe or decryption failure.
    #[error(transparent)]
    Open(#[from] NotifyError),
    /// The decrypted resource is not a transaction this provider understands.
    #[error("the notify's transaction is not usable: {0}")]
    Transaction(String),
}

impl WechatPayV3 {
    /// Runs the self-check on `config` (at `clock`'s time) and builds the provider, reading
    /// time from `clock`. With `download_certificates`, a background task (on the current
    /// tokio runtime, if any) downloads the platform certificates at once and then whenever
    /// due; it ends when the last clone of the provider is dropped.
    pub fn new(config: &WechatPayConfig, clock: Clock) -> Result<Self, WechatPayConfigError> {
        let checked = config.check(UnixSeconds::from_millis(clock.now_ms()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(checked.timeout_ms))
            .connect_timeout(Duration::from_millis(checked.timeout_ms.min(5_000)))
            .user_agent(concat!("checkout-guard-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WechatPayConfigError::HttpClient(e.to_string()))?;
        let keys = Arc::new(KeyStore::new(
            checked.keys,
            checked.certificates,
            checked.refresh_secs,
        ));
        let provider = Self {
            transport: Transport {
                http,
                base_url: checked.base_url,
                merchant: checked.merchant,
                clock,
            },
            appid: checked.appid,
            keys,
            apiv3: checked.apiv3,
            notify_url: checked.notify_url,
            description: checked.description,
        };
        if provider.keys.downloads() {
            certificates::spawn_refresher(
                &provider.keys,
                provider.transport.clone(),
                provider.apiv3.clone(),
            );
        }
        Ok(provider)
    }

    /// The API host it talks to (WeChat Pay's, or a simulator's).
    pub fn base_url(&self) -> &str {
        &self.transport.base_url
    }

    /// The verification keys now: public keys by id and unexpired platform certificates by
    /// serial, configured or downloaded (for diagnostics and tests).
    pub fn keys(&self) -> KeySet {
        self.keys.keys_at(self.now())
    }

    /// Downloads the platform certificates now if a download is due (without
    /// `download_certificates`, does nothing): what every call does first, for a caller that
    /// wants the keys before the first payment.
    pub async fn refresh_certificates(&self) {
        self.keys.refresh_if_due(&self.transport, &self.apiv3).await;
    }

    /// Verifies and decrypts a payment notify (`open_notification` with this provider's keys,
    /// APIv3 key and clock). Applying it is the caller's: a notify is a hint that the rules
    /// may act on as they would on a query's answer.
    pub fn open_notify<'h>(
        &self,
        header: impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
    ) -> Result<NotifiedPayment, NotifyRefusal> {
        let opened = match open_notification(&self.keys(), &self.apiv3, header, body, self.now()) {
            Ok(opened) => opened,
            Err(NotifyError::Verify(VerifyError::UnknownSerial(serial))) => {
                // Perhaps a certificate published since the last download: fetch the list in
                // the background, so that WeChat Pay's retry of this notify verifies.
                if self.keys.downloads() {
                    certificates::spawn_refresh_for_unknown(
                        self.keys.clone(),
                        self.transport.clone(),
                        self.apiv3.clone(),
                    );
                }
                return Err(NotifyError::Verify(VerifyError::UnknownSerial(serial)).into());
            }
            Err(err) => return Err(err.into()),
        };
        let tx: TransactionReply = serde_json::from_slice(&opened.plaintext)
            .map_err(|e| NotifyRefusal::Transaction(e.to_string()))?;
        let payment = payment_of(&tx).map_err(|e| NotifyRefusal::Transaction(e.to_string()))?;
        Ok(NotifiedPayment {
            notify_id: opened.notification.id,
            attempt_id: tx.out_trade_no,
            payment,
        })
    }

    fn now(&self) -> UnixSeconds {
        self.transport.now()
    }

    /// Signs and sends one request, and verifies its reply (after a due certificate download;
    /// an unknown serial may download once, then the same reply is checked again). Any failure
    /// to get a verified reply is `Unavailable`: the request may or may not have taken effect.
    async fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Verified, ProviderError> {
        self.keys.refresh_if_due(&self.transport, &self.apiv3).await;
        let reply = self.transport.send(method, path_and_query, body).await?;
        let lookup = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
        let now = self.now();
        let mut verdict = verify_response(&self.keys.keys_at(now), lookup, &reply.body, now);
        if matches!(verdict, Err(VerifyError::UnknownSerial(_)))
            && self
                .keys
                .refresh_for_unknown(&self.transport, &self.apiv3)
                .await
        {
            let now = self.now();
            verdict = verify_response(&self.keys.keys_at(now), lookup, &reply.body, now);
        }
        if let Err(e) = verdict {
            let status = reply.status;
            tracing::warn!(error = %e, status, path = %path_and_query, "a WeChat Pay reply did not verify: treated as unknown");
            return Err(ProviderError::Unavailable(format!(
                "WeChat Pay's reply (HTTP {status}) did not verify: {e}"
            )));
        }
        Ok(Verified {
            status: reply.status,
            body: reply.body,
        })
    }

    fn create_body(&self, req: &PrepayRequest, expires_at_ms: i64) -> Value {
        let mut body = json!({
            "appid": self.appid,
            "mchid": self.transport.merchant.mchid,
            "description": format!("{} {}", self.description, req.order_no),
            "out_trade_no": req.attempt_id,
            "time_expire": rfc3339_beijing(expires_at_ms),
            "attach": req.order_no,
            "notify_url": self.notify_url,
            "amount": { "total": req.amount, "currency": "CNY" },
        });
        match &req.scene {
            Scene::MiniProgram { openid } | Scene::OfficialAccount { openid } => {
                body["payer"] = json!({ "openid": openid });
            }
            Scene::Native => {}
            Scene::H5 { client_ip } => {
                body["scene_info"] =
                    json!({ "payer_client_ip": client_ip, "h5_info": { "type": "Wap" } });
            }
        }
        body
    }

    fn prepay_params(
        &self,
        scene: &Scene,
        reply: &Value,
    ) -> Result<Map<String, Value>, ProviderError> {
        let field = |name: &str| {
            reply
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    ProviderError::Unavailable(format!("WeChat Pay's create reply has no {name}"))
                })
        };
        let mut params = Map::new();
        match scene {
            Scene::MiniProgram { .. } | Scene::OfficialAccount { .. } => {
                let prepay_id = field("prepay_id")?;
                let client = match scene {
                    Scene::OfficialAccount { .. } => JsapiClient::OfficialAccount,
                    _ => JsapiClient::MiniProgram,
                };
                let launch = JsapiPayParams::sign(
                    &self.transport.merchant.key,
                    &self.appid,
                    &prepay_id,
                    self.now(),
                    &random_token(32),
                    client,
                )
                .map_err(|e| ProviderError::Rejected(format!("cannot sign paySign: {e}")))?;
                match serde_json::to_value(launch) {
                    Ok(Value::Object(map)) => params = map,
                    _ => {
                        return Err(ProviderError::Rejected(
                            "cannot encode the JSAPI parameters".to_owned(),
                        ))
                    }
                }
            }
            Scene::Native => {
                params.insert("codeUrl".to_owned(), Value::String(field("code_url")?));
            }
            Scene::H5 { .. } => {
                params.insert("h5Url".to_owned(), Value::String(field("h5_url")?));
            }
        }
        Ok(params)
    }
}

impl Transport {
    fn now(&self) -> UnixSeconds {
        UnixSeconds::from_millis(self.clock.now_ms())
    }

    /// Signs and sends one request. `Unavailable` when no reply arrived whole.
    async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<RawReply, ProviderError> {
        let url = reqwest::Url::parse(&format!("{}{path_and_query}", self.base_url))
            .map_err(|e| ProviderError::Rejected(format!("bad request URL: {e}")))?;
        // Sign what goes on the request line, as the URL library will write it.
        let signed_path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let body = match body {
            Some(value) => serde_json::to_vec(value)
                .map_err(|e| ProviderError::Rejected(format!("cannot encode the request: {e}")))?,
            None => Vec::new(),
        };
        let parts = RequestParts {
            method: method.as_str(),
            path_and_query: &signed_path,
            body: &body,
        };
        let auth = Authorization::sign(&self.merchant, &parts, self.now(), &random_token(32))
            .map_err(|e| {
                tracing::error!(%e, "cannot sign a WeChat Pay request");
                ProviderError::Rejected(format!("cannot sign the request: {e}"))
            })?;
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(reqwest::header::AUTHORIZATION, auth.header_value())
            .header(reqwest::header::ACCEPT, "application/json");
        if !body.is_empty() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let reply = request.send().await.map_err(|e| {
            tracing::warn!(error = %e, path = %signed_path, "WeChat Pay did not answer");
            ProviderError::Unavailable(format!("WeChat Pay did not answer: {e}"))
        })?;
        let status = reply.status().as_u16();
        let headers = reply.headers().clone();
        let body = reply.bytes().await.map_err(|e| {
            ProviderError::Unavailable(format!("WeChat Pay's reply was cut off: {e}"))
        })?;
        Ok(RawReply {
            status,
            headers,
            body: body.to_vec(),
        })
    }
}

impl Provider for WechatPayV3 {
    async fn create(&self, req: &PrepayRequest) -> Result<Prepay, ProviderError> {
        check_out_trade_no(&req.attempt_id)?;
        let expires_at = self.transport.clock.now_ms().saturating_add(req.ttl_ms);
        let path = match req.scene {
            Scene::MiniProgram { .. } | Scene::OfficialAccount { .. } => {
                "/v3/pay/transactions/jsapi"
            }
            Scene::Native => "/v3/pay/transactions/native",
            Scene::H5 { .. } => "/v3/pay/transactions/h5",
        };
        let body = self.create_body(req, expires_at);
        let reply = self.call(reqwest::Method::POST, path, Some(&body)).await?;
        if reply.status != 200 {
            return Err(failure(reply.status, &reply.body));
        }
        let json: Value = serde_json::from_slice(&reply.body).map_err(|e| {
            ProviderError::Unavailable(format!("WeChat Pay's create reply is not JSON: {e}"))
        })?;
        Ok(Prepay {
            params: self.prepay_params(&req.scene, &json)?,
            expires_at,
        })
    }

    async fn query(&self, attempt_id: &str) -> Result<Payment, ProviderError> {
        check_out_trade_no(attempt_id)?;
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{attempt_id}?mchid={}",
            self.transport.merchant.mchid
        );
        let reply = self.call(reqwest::Method::GET, &path, None).await?;
        if reply.status != 200 {
            return Err(failure(reply.status, &reply.body));
        }
        let tx: TransactionReply = serde_json::from_slice(&reply.body).map_err(|e| {
            ProviderError::Unavailable(format!(
                "WeChat Pay's query reply is not a transaction: {e}"
            ))
        })?;
        if tx.out_trade_no != attempt_id {
            return Err(ProviderError::Unavailable(format!(
                "WeChat Pay answered a query for {attempt_id} with {}",
                tx.out_trade_no
            )));
        }
        payment_of(&tx)
    }

    async fn close(&self, attempt_id: &str) -> Result<(), ProviderError> {
        check_out_trade_no(attempt_id)?;
        let path = format!("/v3/pay/transactions/out-trade-no/{attempt_id}/close");
        let body = json!({ "mchid": self.transport.merchant.mchid });
        let reply = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
        match reply.status {
            200 | 204 => Ok(()),
            status => Err(failure(status, &reply.body)),
        }
    }
}

/// A transaction's `trade_state` in the contract's terms. An unknown state is not a fact.
fn payment_of(tx: &TransactionReply) -> Result<Payment, ProviderError> {
    let state = match tx.trade_state.as_str() {
        // A refunded order was paid first: the buyer was charged.
        "SUCCESS" | "REFUND" => PaymentState::Paid,
        "NOTPAY" => PaymentState::NotPaid,
        "USERPAYING" => PaymentState::Paying,
        "CLOSED" | "REVOKED" => PaymentState::Closed,
        "PAYERROR" => PaymentState::Failed,
        other => {
            return Err(ProviderError::Unavailable(format!(
                "WeChat Pay reported an unknown trade_state {other:?}"
            )))
        }
    };
    let amount = match (&tx.amount, state) {
        (Some(amount), _) => amount.total,
        (None, PaymentState::Paid) => {
            return Err(ProviderError::Unavailable(
                "WeChat Pay reported a payment without its amount".to_owned(),
            ))
        }
        (None, _) => 0,
    };
    Ok(Payment { state, amount })
}

/// A verified non-2xx reply in the contract's terms (see the module doc's table).
fn failure(status: u16, body: &[u8]) -> ProviderError {
    let error = ApiError::from_json(body).ok();
    let code = error.as_ref().map_or_else(
        || format!("HTTP {status}"),
        |e| format!("{}: {}", e.code, e.message),
    );
    match Disposition::of(status, error.as_ref()) {
        Disposition::Retry => ProviderError::Unavailable(format!("WeChat Pay: {code}")),
        Disposition::NotUsable => ProviderError::DuplicateNumber,
        Disposition::NotFound => ProviderError::NotFound,
        Disposition::AlreadyPaid => ProviderError::AlreadyPaid,
        Disposition::Operator => {
            tracing::error!(status, %code, "WeChat Pay refused a request: the configuration or the request needs fixing");
            ProviderError::Rejected(code)
        }
    }
}

/// `out_trade_no` is 6–32 of `0-9 A-Z a-z _ - | *` (checked here too, since it goes into the
/// request path).
fn check_out_trade_no(no: &str) -> Result<(), ProviderError> {
    let ok = (6..=32).contains(&no.len())
        && no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*'));
    if ok {
        Ok(())
    } else {
        Err(ProviderError::Rejected(format!(
            "{no:?} is not a WeChat Pay out_trade_no (6-32 of 0-9 A-Z a-z _ - | *)"
        )))
    }
}

/// `ms` as RFC 3339 in Beijing time (`2026-12-01T17:05:13+08:00`), the form WeChat Pay's
/// documentation gives for `time_expire`.
fn rfc3339_beijing(ms: i64) -> String {
    const BEIJING_OFFSET_SECS: i64 = 8 * 3600;
    let secs = ms.div_euclid(1000) + BEIJING_OFFSET_SECS;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+08:00",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_expire_is_beijing_rfc3339() {
        // 2026-12-01T09:05:13Z
        assert_eq!(
            rfc3339_beijing(1_796_115_913_000),
            "2026-12-01T17:05:13+08:00"
        );
        assert_eq!(rfc3339_beijing(0), "1970-01-01T08:00:00+08:00");
    }

    #[test]
    fn out_trade_no_is_checked_before_it_goes_into_a_path() {
        assert!(check_out_trade_no("A1b2_-|*").is_ok());
        assert!(check_out_trade_no("short").is_err());
        assert!(check_out_trade_no("abcdef/../close").is_err());
    }

    #[test]
    fn every_trade_state_maps() {
        let tx = |state: &str| TransactionReply {
            out_trade_no: "A123456".into(),
            trade_state: state.into(),
            amount: Some(AmountReply { total: 100 }),
        };
        for (state, want) in [
            ("SUCCESS", PaymentState::Paid),
            ("REFUND", PaymentState::Paid),
            ("NOTPAY", PaymentState::NotPaid),
            ("USERPAYING", PaymentState::Paying),
            ("CLOSED", PaymentState::Closed),
            ("REVOKED", PaymentState::Closed),
            ("PAYERROR", PaymentState::Failed),
        ] {
            assert_eq!(payment_of(&tx(state)).map(|p| p.state), Ok(want), "{state}");
        }
        assert!(matches!(
            payment_of(&tx("WHAT")),
            Err(ProviderError::Unavailable(_))
        ));
    }

    #[test]
    fn error_codes_map_to_the_contract() {
        let body = |code: &str, msg: &str| format!(r#"{{"code":"{code}","message":"{msg}"}}"#);
        assert!(matches!(
            failure(500, body("SYSTEM_ERROR", "x").as_bytes()),
            ProviderError::Unavailable(_)
        ));
        assert!(matches!(
            failure(429, body("FREQUENCY_LIMITED", "x").as_bytes()),
            ProviderError::Unavailable(_)
        ));
        assert!(matches!(
            failure(502, b"<html>"),
            ProviderError::Unavailable(_)
        ));
        assert_eq!(
            failure(403, body("OUT_TRADE_NO_USED", "x").as_bytes()),
            ProviderError::DuplicateNumber
        );
        assert_eq!(
            failure(
                400,
                body("INVALID_REQUEST", "201 商户订单号重复").as_bytes()
            ),
            ProviderError::DuplicateNumber
        );
        assert_eq!(
            failure(404, body("ORDER_NOT_EXIST", "x").as_bytes()),
            ProviderError::NotFound
        );
        assert_eq!(
            failure(400, body("ORDER_PAID", "x").as_bytes()),
            ProviderError::AlreadyPaid
        );
        assert_eq!(
            failure(400, body("ORDERPAID", "x").as_bytes()),
            ProviderError::AlreadyPaid
        );
        assert!(
            matches!(failure(401, body("SIGN_ERROR", "x").as_bytes()), ProviderError::Rejected(c) if c.starts_with("SIGN_ERROR"))
        );
        assert!(matches!(
            failure(400, body("PARAM_ERROR", "x").as_bytes()),
            ProviderError::Rejected(_)
        ));
    }
}
