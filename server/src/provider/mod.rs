//! The payment provider as the merchant rules see it: the [`Provider`] trait and its
//! provider-neutral types. The rules never name a concrete provider.
//!
//! Three operations are all the contract needs from a provider (docs/contract.md §1–§2): create
//! a prepay for a merchant payment number, query it by that number (the notify may be late or
//! lost), and close it (so that it can never be charged). What they mean for the rules:
//!
//! - [`Provider::create`] failing with [`ProviderError::Unavailable`] means *unknown*: the
//!   transaction may exist at the provider (its reply was lost). The attempt stays `creating`
//!   and is closed before anything replaces it.
//! - [`Provider::close`] failing with [`ProviderError::AlreadyPaid`] is how a merchant that
//!   closes before replacing learns of a payment it had not heard of.
//! - [`ProviderError::NotFound`] from close or query means the create never reached the
//!   provider: the attempt can never be charged.
//!
//! Implementations: [`sim::SimProvider`] (the simulated WeChat-Pay-like provider);
//! [`wechatpay::WechatPayV3`] (WeChat Pay API v3 over HTTPS, tested against the
//! `checkout-guard-wechatpay-sim` simulator); [`faulty::Faulty`] wraps any provider with the
//! faults a request asked for.
//!
//! The methods return `Send` futures (`async fn` in the implementations), so a provider that
//! talks HTTP to the real WeChat Pay fits the same trait.

pub mod any;
pub mod faulty;
pub mod sim;
pub mod wechatpay;

use serde_json::{Map, Value};
use std::future::Future;
use thiserror::Error;

/// Where the buyer pays, which decides the prepay's shape (WeChat Pay's `jsapi`, `native` and
/// `h5` transactions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scene {
    /// JSAPI inside a WeChat mini-program: `wx.requestPayment` with `package: prepay_id=…`.
    MiniProgram {
        /// The payer's openid under the mini-program's appid.
        openid: String,
    },
    /// JSAPI inside an official account's web page (`WeixinJSBridge`).
    OfficialAccount {
        /// The payer's openid under the official account's appid.
        openid: String,
    },
    /// Native: a QR code the buyer scans (`code_url`).
    Native,
    /// H5: a mobile browser outside WeChat (`h5_url`).
    H5 {
        /// The buyer's IP address, which WeChat Pay requires for H5.
        client_ip: String,
    },
}

/// A create-transaction request: one merchant payment number of one business order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepayRequest {
    /// The merchant payment number (`out_trade_no`): unique at the provider.
    pub attempt_id: String,
    /// The business order it pays (WeChat's `attach`).
    pub order_no: String,
    /// The amount to charge, in cents (fen).
    pub amount: i64,
    /// Where the buyer pays.
    pub scene: Scene,
    /// How long the prepay stays payable (WeChat's `time_expire`, relative).
    pub ttl_ms: i64,
}

/// A successful create: what the buyer's wallet is opened with.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepay {
    /// The prepay parameters, opaque to the merchant and the guard: the contract's `prepay`.
    pub params: Map<String, Value>,
    /// When the provider stops accepting it (ms since the epoch).
    pub expires_at: i64,
}

/// A transaction's state at the provider, provider-neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// Created, not paid (WeChat `NOTPAY`; also an expired one that was not closed).
    NotPaid,
    /// The buyer is paying right now (`USERPAYING`).
    Paying,
    /// Paid (`SUCCESS`): the buyer was charged.
    Paid,
    /// Closed: can never be charged (`CLOSED`).
    Closed,
    /// The payment failed (`PAYERROR`).
    Failed,
}

/// A query's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    /// The transaction's state.
    pub state: PaymentState,
    /// Its amount in cents: what a paid one charged.
    pub amount: i64,
}

/// Why a provider call did not succeed, provider-neutral.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ProviderError {
    /// The provider could not be reached, or its answer was lost: the call may or may not
    /// have taken effect.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The merchant payment number is already used (WeChat "201 商户订单号重复").
    #[error("the merchant payment number is already used")]
    DuplicateNumber,
    /// The transaction is paid, so it cannot be closed (WeChat `ORDERPAID`).
    #[error("the transaction is paid")]
    AlreadyPaid,
    /// No such transaction (WeChat `ORDER_NOT_EXIST`).
    #[error("no such transaction")]
    NotFound,
    /// The provider refused the request as invalid; it took no effect.
    #[error("the provider rejected the request: {0}")]
    Rejected(String),
}

/// A payment provider: create, query and close by merchant payment number.
///
/// Each call is independent: an implementation keeps no per-order state the rules rely on,
/// and is shared by every request (`Send + Sync`).
pub trait Provider: Send + Sync {
    /// Creates the transaction `req.attempt_id` and returns its prepay.
    fn create(
        &self,
        req: &PrepayRequest,
    ) -> impl Future<Output = Result<Prepay, ProviderError>> + Send;

    /// The transaction's state as the provider knows it (the active query).
    fn query(
        &self,
        attempt_id: &str,
    ) -> impl Future<Output = Result<Payment, ProviderError>> + Send;

    /// Closes the transaction so that it can never be charged. Closing a closed or failed one
    /// succeeds again; a paid one is [`ProviderError::AlreadyPaid`].
    fn close(&self, attempt_id: &str) -> impl Future<Output = Result<(), ProviderError>> + Send;
}
