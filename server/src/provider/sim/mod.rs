//! The simulated payment provider, WeChat-Pay-like, with the rules that make double charges
//! possible or impossible in real life:
//!
//! - a merchant payment number (`out_trade_no`) is unique: a second create with it is refused
//!   (WeChat's error "201 商户订单号重复"), and counted;
//! - a prepay is valid for a limited time (2 hours by default); a confirm after that, or after a
//!   close, is refused: **a closed attempt can never be charged**;
//! - close is refused when the transaction is paid (`ORDERPAID`), so a merchant that closes
//!   before replacing learns about a payment it had not heard of;
//! - query tells the truth even when the notify was lost (the "掉单" case).
//!
//! It is in-process: the merchant rules call it through the [`Provider`] trait (faults come
//! from a [`super::faulty::Faulty`] wrapper, not from here), and `/sim/...` exposes the same
//! operations over HTTP. It reads the time from the [`Clock`] it was given, so it follows a
//! virtual clock in tests, and it reports what it receives and does to an [`Observer`] (the
//! stats) instead of counting anything itself.

pub mod notify;
pub mod wallet;

use super::{Payment, PaymentState, Prepay, PrepayRequest, Provider, ProviderError, Scene};
use crate::clock::Clock;
use crate::ids::random_token;
use crate::stats::{Event, Observer};
use crate::store::sqlite::Db;
use crate::store::StoreError;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use thiserror::Error;

/// A transaction's state at the provider, spelled as WeChat Pay spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TradeState {
    /// Created, not paid.
    #[serde(rename = "NOTPAY")]
    NotPay,
    /// The buyer is entering their password right now.
    #[serde(rename = "USERPAYING")]
    UserPaying,
    /// Paid.
    #[serde(rename = "SUCCESS")]
    Success,
    /// Closed by the merchant: can never be paid.
    #[serde(rename = "CLOSED")]
    Closed,
    /// The payment failed.
    #[serde(rename = "PAYERROR")]
    PayError,
}

impl TradeState {
    /// The WeChat spelling (also the stored one).
    pub fn as_str(self) -> &'static str {
        match self {
            TradeState::NotPay => "NOTPAY",
            TradeState::UserPaying => "USERPAYING",
            TradeState::Success => "SUCCESS",
            TradeState::Closed => "CLOSED",
            TradeState::PayError => "PAYERROR",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "NOTPAY" => TradeState::NotPay,
            "USERPAYING" => TradeState::UserPaying,
            "SUCCESS" => TradeState::Success,
            "CLOSED" => TradeState::Closed,
            "PAYERROR" => TradeState::PayError,
            other => return Err(StoreError::Corrupt(format!("trade state {other:?}"))),
        })
    }
}

/// Why a simulated provider operation did not succeed, in the simulation's own (WeChat) terms;
/// [`Provider`] callers see it as a [`ProviderError`].
#[derive(Debug, Error)]
pub enum SimError {
    /// `out_trade_no` was used before (WeChat "201").
    #[error("201 duplicate out_trade_no")]
    Duplicate,
    /// No such transaction (`ORDER_NOT_EXIST`).
    #[error("ORDER_NOT_EXIST")]
    NotFound,
    /// Close refused: the transaction is paid (`ORDERPAID`).
    #[error("ORDERPAID")]
    Paid,
    /// The request is not one WeChat Pay would accept (`PARAM_ERROR`).
    #[error("PARAM_ERROR: {0}")]
    Invalid(&'static str),
    /// The provider's own storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for SimError {
    fn from(err: rusqlite::Error) -> Self {
        SimError::Store(StoreError::Sqlite(err))
    }
}

impl From<SimError> for ProviderError {
    fn from(err: SimError) -> Self {
        match err {
            SimError::Duplicate => ProviderError::DuplicateNumber,
            SimError::NotFound => ProviderError::NotFound,
            SimError::Paid => ProviderError::AlreadyPaid,
            SimError::Invalid(why) => ProviderError::Rejected(why.to_owned()),
            // To the merchant, a provider whose storage fails is a provider that is down.
            SimError::Store(err) => {
                tracing::error!(%err, "the simulated provider's storage failed");
                ProviderError::Unavailable(err.to_string())
            }
        }
    }
}

/// A create-transaction request (WeChat's native/JSAPI order).
#[derive(Debug, Clone)]
pub struct NewTransaction<'a> {
    /// The merchant payment number.
    pub out_trade_no: &'a str,
    /// The business order (WeChat's `attach`), for stats.
    pub order_no: &'a str,
    /// Amount in cents.
    pub amount: i64,
    /// Where to send the payment notify.
    pub notify_url: &'a str,
    /// How long the prepay stays valid.
    pub ttl_ms: i64,
}

/// What a successful create returns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrepayGrant {
    /// The prepay id the buyer's wallet is opened with.
    pub prepay_id: String,
    /// The QR-code URL (native payment).
    pub code_url: String,
    /// When the provider stops accepting it (ms).
    pub expires_at: i64,
}

/// A transaction as the provider's query returns it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// The merchant payment number.
    pub out_trade_no: String,
    /// The business order (`attach`).
    pub order_no: String,
    /// Amount in cents.
    pub amount: i64,
    /// Its prepay id.
    pub prepay_id: String,
    /// Its state.
    pub trade_state: TradeState,
    /// The provider's payment id, once paid.
    pub transaction_id: Option<String>,
    /// When the prepay stops being accepted (ms).
    pub expires_at: i64,
    /// Where the notify goes.
    #[serde(skip)]
    pub notify_url: String,
}

/// What a buyer does in the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletAction {
    /// Opens the payment sheet (`USERPAYING`).
    Start,
    /// Pays.
    Confirm,
    /// Backs out (the transaction stays payable).
    Cancel,
    /// The payment fails (`PAYERROR`), e.g. insufficient balance.
    Fail,
}

impl WalletAction {
    /// Parses the path segment of `/sim/wallet/{prepayId}/{action}`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "start" => WalletAction::Start,
            "confirm" => WalletAction::Confirm,
            "cancel" => WalletAction::Cancel,
            "fail" => WalletAction::Fail,
            _ => return None,
        })
    }
}

/// Why the wallet refused an action.
#[derive(Debug, Error)]
pub enum WalletRefusal {
    /// No such prepay.
    #[error("unknown prepay")]
    Unknown,
    /// The merchant closed it: it can never be charged.
    #[error("this payment was closed by the merchant")]
    Closed,
    /// Its validity ran out.
    #[error("this payment has expired")]
    Expired,
    /// It is paid already.
    #[error("this payment is already paid")]
    Paid,
    /// It failed already.
    #[error("this payment failed")]
    Failed,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for WalletRefusal {
    fn from(err: rusqlite::Error) -> Self {
        WalletRefusal::Store(StoreError::Sqlite(err))
    }
}

/// The payment notify the provider owes the merchant after a successful payment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyMessage {
    /// Unique per payment (repeats of the same notify carry the same id).
    pub id: String,
    /// Always `TRANSACTION.SUCCESS`.
    pub event_type: &'static str,
    /// The merchant payment number.
    pub out_trade_no: String,
    /// The provider's payment id.
    pub transaction_id: String,
    /// Always `SUCCESS`.
    pub trade_state: TradeState,
    /// Amount in cents.
    pub amount: i64,
    /// The business order.
    pub attach: String,
    /// When it was paid (ms).
    pub success_time: i64,
    /// Where to send it.
    #[serde(skip)]
    pub notify_url: String,
}

/// The simulated provider over the shared database (`sim_transactions`).
#[derive(Debug, Clone)]
pub struct SimProvider {
    store: Arc<Db>,
    clock: Clock,
    observer: Arc<dyn Observer>,
    notify_url: String,
}

/// Everything [`SimProvider::new`] needs.
#[derive(Debug, Clone)]
pub struct SimParts {
    /// The database holding `sim_transactions`.
    pub store: Arc<Db>,
    /// Where the provider reads the time (prepay expiry, wallet refusals).
    pub clock: Clock,
    /// Told about every call received, charge and refused confirm.
    pub observer: Arc<dyn Observer>,
    /// Where the notifies of transactions created through [`Provider::create`] go.
    pub notify_url: String,
}

const TX_COLUMNS: &str =
    "out_trade_no, order_no, amount, prepay_id, trade_state, transaction_id, expires_at, notify_url";

fn tx_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Transaction, String)> {
    Ok((
        Transaction {
            out_trade_no: row.get(0)?,
            order_no: row.get(1)?,
            amount: row.get(2)?,
            prepay_id: row.get(3)?,
            trade_state: TradeState::NotPay,
            transaction_id: row.get(5)?,
            expires_at: row.get(6)?,
            notify_url: row.get(7)?,
        },
        row.get(4)?,
    ))
}

fn finish(raw: (Transaction, String)) -> Result<Transaction, StoreError> {
    let (mut tx, state) = raw;
    tx.trade_state = TradeState::parse(&state)?;
    Ok(tx)
}

fn load(
    conn: &rusqlite::Connection,
    column: &str,
    value: &str,
) -> Result<Option<Transaction>, StoreError> {
    conn.query_row(
        &format!("SELECT {TX_COLUMNS} FROM sim_transactions WHERE {column} = ?1"),
        params![value],
        tx_from_row,
    )
    .optional()?
    .map(finish)
    .transpose()
}

fn set_state(
    conn: &rusqlite::Connection,
    out_trade_no: &str,
    state: TradeState,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sim_transactions SET trade_state = ?2, updated_at = ?3 WHERE out_trade_no = ?1",
        params![out_trade_no, state.as_str(), now],
    )?;
    Ok(())
}

impl SimProvider {
    /// A provider as `parts` say.
    pub fn new(parts: SimParts) -> Self {
        SimProvider {
            store: parts.store,
            clock: parts.clock,
            observer: parts.observer,
            notify_url: parts.notify_url,
        }
    }

    /// Creates a transaction and returns its prepay. A reused `out_trade_no` is refused.
    pub fn create_transaction(&self, req: &NewTransaction<'_>) -> Result<PrepayGrant, SimError> {
        self.observer.observe(req.order_no, Event::PrepayCall);
        let now = self.clock.now_ms();
        let grant = self.store.with(|conn| {
            let tx = conn.transaction()?;
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM sim_transactions WHERE out_trade_no = ?1",
                    params![req.out_trade_no],
                    |row| row.get(0),
                )
                .optional()?;
            if exists.is_some() {
                return Ok(Err(SimError::Duplicate));
            }
            let prepay_id = format!("wx{}", random_token(30));
            let expires_at = now.saturating_add(req.ttl_ms);
            tx.execute(
                "INSERT INTO sim_transactions (out_trade_no, order_no, amount, prepay_id, trade_state, notify_url, expires_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'NOTPAY', ?5, ?6, ?7, ?7)",
                params![req.out_trade_no, req.order_no, req.amount, prepay_id, req.notify_url, expires_at, now],
            )?;
            tx.commit()?;
            Ok(Ok(PrepayGrant {
                code_url: format!("weixin://wxpay/bizpayurl?pr={prepay_id}"),
                prepay_id,
                expires_at,
            }))
        })?;
        if matches!(grant, Err(SimError::Duplicate)) {
            self.observer.observe(req.order_no, Event::DuplicateRefused);
        }
        grant
    }

    /// The transaction, as the provider knows it (active query).
    pub fn query_transaction(&self, out_trade_no: &str) -> Result<Transaction, SimError> {
        let found = self
            .store
            .with(|conn| load(conn, "out_trade_no", out_trade_no))?;
        if let Some(tx) = &found {
            self.observer.observe(&tx.order_no, Event::Query);
        }
        found.ok_or(SimError::NotFound)
    }

    /// Closes the transaction so it can never be paid. Closing a closed (or failed)
    /// transaction succeeds again; closing a paid one is refused with [`SimError::Paid`].
    pub fn close_transaction(&self, out_trade_no: &str) -> Result<(), SimError> {
        let now = self.clock.now_ms();
        let (outcome, closed_for) = self.store.with(|conn| {
            let tx = conn.transaction()?;
            let Some(found) = load(&tx, "out_trade_no", out_trade_no)? else {
                return Ok((Err(SimError::NotFound), None));
            };
            let outcome = match found.trade_state {
                TradeState::Success => Err(SimError::Paid),
                TradeState::NotPay | TradeState::UserPaying => {
                    set_state(&tx, out_trade_no, TradeState::Closed, now)?;
                    Ok(())
                }
                TradeState::Closed | TradeState::PayError => Ok(()),
            };
            tx.commit()?;
            Ok((outcome, Some(found.order_no)))
        })?;
        if let Some(order_no) = closed_for {
            self.observer.observe(&order_no, Event::Close);
        }
        outcome
    }

    /// The transaction a prepay belongs to (for the wallet page).
    pub fn by_prepay(&self, prepay_id: &str) -> Result<Option<Transaction>, StoreError> {
        self.store.with(|conn| load(conn, "prepay_id", prepay_id))
    }

    /// A buyer's action in the wallet. A successful confirm is a **charge** (counted) and
    /// returns the notify the provider now owes the merchant.
    pub fn wallet(
        &self,
        prepay_id: &str,
        action: WalletAction,
    ) -> Result<(Transaction, Option<NotifyMessage>), WalletRefusal> {
        let now = self.clock.now_ms();
        let (result, event) = self.store.with(|conn| {
            let tx = conn.transaction()?;
            let Some(mut found) = load(&tx, "prepay_id", prepay_id)? else {
                return Ok((Err(WalletRefusal::Unknown), None));
            };
            let refusal = match found.trade_state {
                TradeState::Success => Some(WalletRefusal::Paid),
                TradeState::Closed => Some(WalletRefusal::Closed),
                TradeState::PayError => Some(WalletRefusal::Failed),
                _ if now >= found.expires_at => Some(WalletRefusal::Expired),
                _ => None,
            };
            if let Some(refusal) = refusal {
                let event = (action == WalletAction::Confirm)
                    .then(|| (found.order_no.clone(), Event::PaymentRefused));
                return Ok((Err(refusal), event));
            }
            let mut notify = None;
            let next = match action {
                WalletAction::Start => TradeState::UserPaying,
                WalletAction::Cancel => TradeState::NotPay,
                WalletAction::Fail => TradeState::PayError,
                WalletAction::Confirm => {
                    let transaction_id = format!("42{}", random_token(26));
                    tx.execute(
                        "UPDATE sim_transactions SET transaction_id = ?2 WHERE out_trade_no = ?1",
                        params![found.out_trade_no, transaction_id],
                    )?;
                    notify = Some(NotifyMessage {
                        id: format!("n{}", random_token(20)),
                        event_type: "TRANSACTION.SUCCESS",
                        out_trade_no: found.out_trade_no.clone(),
                        transaction_id: transaction_id.clone(),
                        trade_state: TradeState::Success,
                        amount: found.amount,
                        attach: found.order_no.clone(),
                        success_time: now,
                        notify_url: found.notify_url.clone(),
                    });
                    found.transaction_id = Some(transaction_id);
                    TradeState::Success
                }
            };
            set_state(&tx, &found.out_trade_no, next, now)?;
            tx.commit()?;
            found.trade_state = next;
            let event = notify
                .is_some()
                .then(|| (found.order_no.clone(), Event::Charge));
            Ok((Ok((found, notify)), event))
        })?;
        if let Some((order_no, event)) = event {
            self.observer.observe(&order_no, event);
        }
        result
    }

    /// Every transaction of a business order (admin view).
    pub fn transactions_of(&self, order_no: &str) -> Result<Vec<Transaction>, StoreError> {
        self.store.with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {TX_COLUMNS} FROM sim_transactions WHERE order_no = ?1 ORDER BY created_at"
            ))?;
            let rows = stmt.query_map(params![order_no], tx_from_row)?;
            rows.map(|raw| finish(raw?)).collect()
        })
    }
}

/// The prepay parameters of a grant for `scene`: what the buyer's side needs to start paying,
/// plus the simulated wallet's page (`walletUrl`), which stands in for the WeChat app.
fn prepay_params(grant: &PrepayGrant, scene: &Scene) -> Map<String, Value> {
    let wallet_url = format!("/sim/wallet/{}", grant.prepay_id);
    let params = match scene {
        Scene::Native => json!({
            "prepayId": grant.prepay_id,
            "codeUrl": grant.code_url,
            "walletUrl": wallet_url,
        }),
        Scene::MiniProgram { .. } | Scene::OfficialAccount { .. } => json!({
            "prepayId": grant.prepay_id,
            "package": format!("prepay_id={}", grant.prepay_id),
            "walletUrl": wallet_url,
        }),
        Scene::H5 { .. } => json!({
            "prepayId": grant.prepay_id,
            "h5Url": wallet_url,
            "walletUrl": wallet_url,
        }),
    };
    match params {
        Value::Object(map) => map,
        // `json!({...})` is always an object.
        _ => Map::new(),
    }
}

/// What WeChat Pay itself would refuse about a scene before creating anything.
fn check_scene(scene: &Scene) -> Result<(), SimError> {
    match scene {
        Scene::MiniProgram { openid } | Scene::OfficialAccount { openid } if openid.is_empty() => {
            Err(SimError::Invalid(
                "a JSAPI payment needs the payer's openid",
            ))
        }
        Scene::H5 { client_ip } if client_ip.is_empty() => Err(SimError::Invalid(
            "an H5 payment needs the payer's client IP",
        )),
        _ => Ok(()),
    }
}

impl Provider for SimProvider {
    async fn create(&self, req: &PrepayRequest) -> Result<Prepay, ProviderError> {
        check_scene(&req.scene)?;
        let grant = self.create_transaction(&NewTransaction {
            out_trade_no: &req.attempt_id,
            order_no: &req.order_no,
            amount: req.amount,
            notify_url: &self.notify_url,
            ttl_ms: req.ttl_ms,
        })?;
        Ok(Prepay {
            params: prepay_params(&grant, &req.scene),
            expires_at: grant.expires_at,
        })
    }

    async fn query(&self, attempt_id: &str) -> Result<Payment, ProviderError> {
        let tx = self.query_transaction(attempt_id)?;
        let state = match tx.trade_state {
            TradeState::NotPay => PaymentState::NotPaid,
            TradeState::UserPaying => PaymentState::Paying,
            TradeState::Success => PaymentState::Paid,
            TradeState::Closed => PaymentState::Closed,
            TradeState::PayError => PaymentState::Failed,
        };
        Ok(Payment {
            state,
            amount: tx.amount,
        })
    }

    async fn close(&self, attempt_id: &str) -> Result<(), ProviderError> {
        Ok(self.close_transaction(attempt_id)?)
    }
}
