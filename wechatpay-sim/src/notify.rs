//! Payment notifies: a `TRANSACTION.SUCCESS` POSTed to the order's `notify_url`, its resource
//! encrypted with the APIv3 key, signed like a reply, retried on WeChat Pay's schedule until a
//! 2xx.
//!
//! Every try is signed afresh (a retry three minutes later must still pass the merchant's
//! five-minute window) over the very same body, so the notify id, `create_time` and ciphertext
//! stay those of the first try, as at WeChat Pay. Pending notifies are dropped at shutdown.

use std::sync::Arc;
use std::time::Duration;

use checkout_guard_wechatpay::notify::{EVENT_TRANSACTION_SUCCESS, RESOURCE_TYPE_ENCRYPTED};
use checkout_guard_wechatpay::{EncryptedResource, Notification, WechatpaySignature};

use crate::clock::{now_ms, random_alnum, rfc3339_beijing};
use crate::ledger::Order;
use crate::Sim;

/// WeChat Pay's retry intervals after the first try, in seconds (15 s, 15 s, 30 s, 3 m, 10 m,
/// 20 m, 30 m, 30 m, 30 m, 60 m, 3 h, 3 h, 3 h, 6 h, 6 h), before `--notify-time-scale`.
pub const RETRY_SCHEDULE_SECS: [u64; 15] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];

/// How long the merchant has to answer one try (WeChat Pay: 5 s). Not scaled: a merchant's
/// handler must be as quick against the simulator as against WeChat.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// What to do with the notify of one payment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Wait before the first try.
    pub(crate) delay_ms: u64,
    /// Deliveries (2 with `notify=dup`), each retried until acknowledged.
    pub(crate) copies: u32,
}

/// Why a notify could not be built (it is then never sent; logged).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    /// Encryption failed.
    #[error(transparent)]
    Aead(#[from] checkout_guard_wechatpay::AeadError),
    /// Serialisation failed.
    #[error(transparent)]
    Json(#[from] checkout_guard_wechatpay::NotifyError),
}

/// The notify body for a paid order.
pub(crate) fn build(sim: &Sim, order: &Order) -> Result<Option<String>, BuildError> {
    let Some(key) = &sim.apiv3_key else {
        // Without an APIv3 key WeChat Pay sends no notifies.
        return Ok(None);
    };
    let plaintext = order.transaction().to_string();
    let resource = EncryptedResource::seal(
        key,
        "transaction",
        "transaction",
        &random_alnum(12),
        plaintext.as_bytes(),
    )?;
    let id = random_alnum(32);
    let notification = Notification {
        id: format!(
            "{}-{}-{}-{}-{}",
            &id[..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..]
        ),
        create_time: rfc3339_beijing(now_ms()),
        resource_type: RESOURCE_TYPE_ENCRYPTED.to_owned(),
        event_type: EVENT_TRANSACTION_SUCCESS.to_owned(),
        summary: "支付成功".to_owned(),
        resource,
    };
    Ok(Some(notification.to_json()?))
}

/// Sends `body` for `order` as `plan` says, in a task that shutdown cancels.
pub(crate) fn spawn(sim: &Arc<Sim>, order: &Order, body: String, plan: Plan) {
    let sim_for_task = sim.clone();
    let url = order.notify_url.clone();
    let attach = order.attach.clone();
    let no = order.out_trade_no.clone();
    sim.tasks.spawn(async move {
        tokio::select! {
            () = sim_for_task.shutdown.cancelled() => {}
            () = deliver(&sim_for_task, &url, &attach, &no, body.as_bytes(), plan) => {}
        }
    });
}

async fn deliver(sim: &Sim, url: &str, attach: &str, no: &str, body: &[u8], plan: Plan) {
    tokio::time::sleep(Duration::from_millis(plan.delay_ms)).await;
    for copy in 0..plan.copies.max(1) {
        for attempt in 0..=RETRY_SCHEDULE_SECS.len() {
            if attempt > 0 {
                let secs = RETRY_SCHEDULE_SECS[attempt - 1] as f64;
                let wait = Duration::from_secs_f64((secs * sim.notify_time_scale).max(0.0));
                tokio::time::sleep(wait).await;
            }
            let acknowledged = send_once(sim, url, body).await;
            sim.ledger().count_notify(attach, no, acknowledged);
            if acknowledged {
                break;
            }
            tracing::warn!(copy, attempt, %url, "notify not acknowledged");
        }
    }
}

async fn send_once(sim: &Sim, url: &str, body: &[u8]) -> bool {
    let timestamp = checkout_guard_wechatpay::UnixSeconds::from_millis(now_ms());
    // Whoever signs at this try: a rotation between two tries changes the serial, as at
    // WeChat Pay.
    let Some(signer) = sim.signer() else {
        tracing::error!("no key signs: the signing certificate is gone");
        return false;
    };
    let signed = match WechatpaySignature::sign(
        &signer.key,
        &signer.serial,
        timestamp,
        &random_alnum(32),
        body,
    ) {
        Ok(signed) => signed,
        Err(err) => {
            tracing::error!(%err, "cannot sign a notify");
            return false;
        }
    };
    let mut request = sim
        .http
        .post(url)
        .header("content-type", "application/json")
        .timeout(ANSWER_WITHIN);
    for (name, value) in signed.headers() {
        request = request.header(name, value);
    }
    matches!(request.body(body.to_vec()).send().await, Ok(reply) if reply.status().is_success())
}
