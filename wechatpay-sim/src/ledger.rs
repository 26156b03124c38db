//! WeChat Pay's order book: create, query, close and the buyer's wallet, with the rules that
//! make a double charge possible or impossible in real life, and the per-order counters tests
//! assert on.
//!
//! - `out_trade_no` is unique per merchant: the same parameters again return the same prepay;
//!   changed parameters are refused ("201 商户订单号重复");
//! - a prepay is payable until its deadline (the prepay lifetime, 2 h by default, or the
//!   order's `time_expire` if sooner) and while the order is open: **a closed or expired prepay
//!   can never be charged**; an expired order that was not closed still queries `NOTPAY`;
//! - close is re-entrant, and refused once paid, so a merchant that closes before replacing an
//!   attempt learns of a payment it had not heard of.
//!
//! No I/O and no clock: every operation takes `now` (milliseconds), and the HTTP layer holds
//! the ledger under one lock, so an operation and its counters change together.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::clock::{compact_beijing, random_digits, random_hex, rfc3339_beijing};

/// The three scenes of `POST /v3/pay/transactions/{scene}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Scene {
    /// Mini-program and official account: `prepay_id`.
    Jsapi,
    /// QR code: `code_url`.
    Native,
    /// Mobile browser: `h5_url`.
    H5,
}

impl Scene {
    /// The path segment (`jsapi`, `native`, `h5`).
    pub fn parse(segment: &str) -> Option<Self> {
        Some(match segment {
            "jsapi" => Self::Jsapi,
            "native" => Self::Native,
            "h5" => Self::H5,
            _ => return None,
        })
    }

    /// `trade_type` as a query reports it.
    pub fn trade_type(self) -> &'static str {
        match self {
            Self::Jsapi => "JSAPI",
            Self::Native => "NATIVE",
            Self::H5 => "MWEB",
        }
    }
}

/// `trade_state`, spelled as WeChat Pay spells it. `REFUND` and `REVOKED` are not reachable:
/// the simulator has no refunds and no micropay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeState {
    /// Created, not paid (also an expired order that was not closed).
    NotPay,
    /// The buyer is entering the password.
    UserPaying,
    /// Paid.
    Success,
    /// Closed by the merchant: can never be paid.
    Closed,
    /// The payment failed (e.g. insufficient balance).
    PayError,
}

impl TradeState {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotPay => "NOTPAY",
            Self::UserPaying => "USERPAYING",
            Self::Success => "SUCCESS",
            Self::Closed => "CLOSED",
            Self::PayError => "PAYERROR",
        }
    }

    /// `trade_state_desc`.
    fn description(self) -> &'static str {
        match self {
            Self::NotPay => "订单未支付",
            Self::UserPaying => "用户支付中（需要输入密码）",
            Self::Success => "支付成功",
            Self::Closed => "订单已关闭",
            Self::PayError => "支付失败，请重新下单支付",
        }
    }

    fn is_open(self) -> bool {
        matches!(self, Self::NotPay | Self::UserPaying)
    }
}

/// A create body's fields the simulator reads (others, such as `goods_tag` or `detail`, are
/// accepted and only take part in the "same parameters" comparison).
#[derive(Debug, Clone, Deserialize)]
pub struct CreateRequest {
    /// The app id.
    pub appid: String,
    /// The merchant number (must be the signer's).
    pub mchid: String,
    /// What is bought, at most 127 characters.
    pub description: String,
    /// The merchant's number for this attempt.
    pub out_trade_no: String,
    /// Where the payment notify goes.
    pub notify_url: String,
    /// The amount.
    pub amount: Amount,
    /// The payer (required for JSAPI).
    #[serde(default)]
    pub payer: Option<Payer>,
    /// Scene information (required for H5: `payer_client_ip`, `h5_info.type`).
    #[serde(default)]
    pub scene_info: Option<Value>,
    /// The order's deadline, RFC 3339.
    #[serde(default)]
    pub time_expire: Option<String>,
    /// Merchant data returned in queries and notifies (the business order number).
    #[serde(default)]
    pub attach: Option<String>,
}

/// `amount` of a create body.
#[derive(Debug, Clone, Deserialize)]
pub struct Amount {
    /// Fen.
    pub total: i64,
    /// `CNY` (the default).
    #[serde(default)]
    pub currency: Option<String>,
}

/// `payer` of a create body.
#[derive(Debug, Clone, Deserialize)]
pub struct Payer {
    /// The buyer's openid under `appid`.
    pub openid: String,
}

/// Why a create body is refused before the ledger looks at it: `400 PARAM_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

/// Whether `no` is a valid `out_trade_no`: 6–32 of `0-9 A-Z a-z _ - | *`.
pub fn is_valid_out_trade_no(no: &str) -> bool {
    (6..=32).contains(&no.len())
        && no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*'))
}

impl CreateRequest {
    /// The documented limits, checked as WeChat Pay checks them before anything else.
    pub fn validate(&self, scene: Scene) -> Result<(), ParamError> {
        let fail = |why: &str| Err(ParamError(why.to_owned()));
        if self.appid.is_empty() || self.appid.len() > 32 {
            return fail("appid 长度不正确 (1-32)");
        }
        let description = self.description.chars().count();
        if description == 0 || description > 127 {
            return fail("description 长度不正确 (1-127)");
        }
        if !is_valid_out_trade_no(&self.out_trade_no) {
            return fail("out_trade_no 应为 6-32 位数字、大小写字母、_-|*");
        }
        if !(self.notify_url.starts_with("https://") || self.notify_url.starts_with("http://"))
            || self.notify_url.len() > 256
        {
            return fail("notify_url 应为 http(s) 地址, 至多 256 字符");
        }
        if self.amount.total < 1 {
            return fail("amount.total 应为正整数 (分)");
        }
        if self.amount.currency.as_deref().is_some_and(|c| c != "CNY") {
            return fail("amount.currency 仅支持 CNY");
        }
        if self
            .attach
            .as_deref()
            .is_some_and(|a| a.chars().count() > 128)
        {
            return fail("attach 长度不正确 (至多 128)");
        }
        match scene {
            Scene::Jsapi if self.payer.as_ref().is_none_or(|p| p.openid.is_empty()) => {
                return fail("JSAPI 下单缺少 payer.openid");
            }
            Scene::H5 => {
                let info = self.scene_info.as_ref();
                let ip = info
                    .and_then(|s| s.get("payer_client_ip"))
                    .and_then(Value::as_str);
                let kind = info
                    .and_then(|s| s.get("h5_info"))
                    .and_then(|h| h.get("type"))
                    .and_then(Value::as_str);
                if ip.is_none_or(str::is_empty) || kind.is_none_or(str::is_empty) {
                    return fail(
                        "H5 下单缺少 scene_info.payer_client_ip 或 scene_info.h5_info.type",
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Per-order counters (`GET /sim/admin/stats/…`): what WeChat Pay's own records say happened,
/// so tests assert charges from the provider's side rather than from the merchant's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Successful payments (the number the project keeps at one per business order).
    pub charges: u64,
    /// Create calls received with a well-formed body.
    pub prepay_calls: u64,
    /// Close calls on a known order (re-entrant and refused ones included).
    pub closes: u64,
    /// Query calls on a known order.
    pub queries: u64,
    /// Creates refused because the `out_trade_no` was used (other parameters, closed, paid).
    pub duplicates_refused: u64,
    /// Confirms refused by the wallet (closed, expired, paid, failed).
    pub payments_refused: u64,
    /// Notify deliveries tried (each retry counts).
    pub notify_attempts: u64,
    /// Notify deliveries the merchant acknowledged with a 2xx.
    pub notifies_acknowledged: u64,
    /// The most orders of this key that were payable at the same moment (open, before their
    /// deadline): the number a merchant that closes before replacing keeps at one per business
    /// order. Taken at every create of a new order, the only moment it can grow (a close, a
    /// payment, a failure or a deadline only make orders unpayable; a wallet cancel leaves an
    /// open order open).
    pub max_payable_at_once: u64,
}

/// One order.
#[derive(Debug, Clone)]
pub struct Order {
    /// Its scene.
    pub scene: Scene,
    /// The create body's `appid`.
    pub appid: String,
    /// The merchant.
    pub mchid: String,
    /// The merchant's number.
    pub out_trade_no: String,
    /// `description`.
    pub description: String,
    /// `attach` (empty when absent).
    pub attach: String,
    /// Where notifies go.
    pub notify_url: String,
    /// Fen.
    pub total: i64,
    /// The payer's openid (given for JSAPI, minted at payment otherwise).
    pub openid: Option<String>,
    /// The prepay id (every scene has one; the wallet is keyed by it).
    pub prepay_id: String,
    /// The `pr` token of `code_url` (Native).
    pub code_token: String,
    /// When the prepay stops being payable (ms).
    pub pay_deadline_ms: i64,
    /// When it was created (ms): the order of [`Ledger::transactions_by_attach`].
    pub created_ms: i64,
    /// Its state.
    pub state: TradeState,
    /// WeChat Pay's payment id, once paid.
    pub transaction_id: Option<String>,
    /// When it was paid (ms).
    pub success_ms: Option<i64>,
    /// The create body without `time_expire`, for the "same parameters" rule.
    params: Value,
}

impl Order {
    /// Whether a buyer could pay it at `now`.
    pub fn is_payable(&self, now: i64) -> bool {
        self.state.is_open() && now < self.pay_deadline_ms
    }

    /// The transaction as a query returns it and a notify carries it.
    pub fn transaction(&self) -> Value {
        let mut tx = json!({
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": self.out_trade_no,
            "trade_type": self.scene.trade_type(),
            "trade_state": self.state.as_str(),
            "trade_state_desc": self.state.description(),
            "attach": self.attach,
            "amount": {"total": self.total, "currency": "CNY"},
        });
        if let Some(openid) = &self.openid {
            tx["payer"] = json!({ "openid": openid });
        }
        if let (Some(id), Some(at)) = (&self.transaction_id, self.success_ms) {
            tx["transaction_id"] = json!(id);
            tx["bank_type"] = json!("OTHERS");
            tx["success_time"] = json!(rfc3339_beijing(at));
            tx["amount"]["payer_total"] = json!(self.total);
            tx["amount"]["payer_currency"] = json!("CNY");
        }
        tx
    }
}

/// Why a create was refused by the ledger (after the body was valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CreateRefusal {
    /// The number was used with other parameters: `400 INVALID_REQUEST "201 商户订单号重复"`.
    #[error("201 商户订单号重复")]
    ParametersDiffer,
    /// The number's order is closed: `403 OUT_TRADE_NO_USED`.
    #[error("订单已关闭, 商户订单号不能重复使用")]
    Closed,
    /// The number's order is paid: `400 ORDER_PAID`.
    #[error("该订单已支付")]
    Paid,
    /// `time_expire` is not at least a minute ahead: `400 INVALID_REQUEST`.
    #[error("time_expire 时间过短, 至少为下单后 1 分钟")]
    ExpireTooSoon,
}

/// Why a close was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CloseRefusal {
    /// `404 ORDER_NOT_EXIST`.
    #[error("订单不存在")]
    NotFound,
    /// `400 ORDER_PAID`.
    #[error("订单已支付")]
    Paid,
}

/// A buyer's action in the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletAction {
    /// Opens the payment sheet: `USERPAYING`.
    Start,
    /// Pays: a **charge**.
    Confirm,
    /// Backs out: `NOTPAY` again, still payable.
    Cancel,
    /// The payment fails: `PAYERROR`.
    Fail,
}

impl WalletAction {
    /// The path segment of `/sim/wallet/{id}/{action}`.
    pub fn parse(segment: &str) -> Option<Self> {
        Some(match segment {
            "start" => Self::Start,
            "confirm" => Self::Confirm,
            "cancel" => Self::Cancel,
            "fail" => Self::Fail,
            _ => return None,
        })
    }
}

/// Why the wallet refused an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WalletRefusal {
    /// No such prepay.
    #[error("unknown prepay")]
    Unknown,
    /// Closed by the merchant: it can never be charged.
    #[error("this payment was closed by the merchant")]
    Closed,
    /// Its deadline passed.
    #[error("this payment has expired")]
    Expired,
    /// Already paid.
    #[error("this payment is already paid")]
    Paid,
    /// Already failed.
    #[error("this payment failed")]
    Failed,
}

impl WalletRefusal {
    /// The JSON `error` code (the present simulated provider's).
    pub fn code(self) -> &'static str {
        match self {
            Self::Unknown => "unknown_prepay",
            Self::Closed => "prepay_closed",
            Self::Expired => "prepay_expired",
            Self::Paid => "already_paid",
            Self::Failed => "payment_failed",
        }
    }
}

/// What the ledger needs to know besides the request.
#[derive(Debug, Clone, Copy)]
pub struct CreateContext {
    /// The scene from the path.
    pub scene: Scene,
    /// The clock.
    pub now: i64,
    /// How long a prepay lives (2 h at WeChat Pay).
    pub prepay_ttl_ms: i64,
    /// How far ahead `time_expire` must be (WeChat Pay: 1 minute); see
    /// [`crate::Config::min_time_expire_ms`].
    pub min_time_expire_ms: i64,
}

/// Every order, by `(mchid, out_trade_no)`, and the counters.
#[derive(Debug, Default)]
pub struct Ledger {
    orders: HashMap<(String, String), Order>,
    /// Wallet ids (prepay ids and `code_url` tokens) to their order's key.
    wallet_ids: HashMap<String, (String, String)>,
    by_attach: HashMap<String, Stats>,
    by_out_trade_no: HashMap<String, Stats>,
    /// The keys of every order with this `attach`, oldest first.
    orders_by_attach: HashMap<String, Vec<(String, String)>>,
}

impl Ledger {
    /// The counters of every order with this `attach`.
    pub fn stats_by_attach(&self, attach: &str) -> Stats {
        self.by_attach.get(attach).cloned().unwrap_or_default()
    }

    /// Every transaction with this `attach`, oldest first: what a conformance check needs to
    /// see that an order never had two payable numbers at once, and its prepay id, the wallet
    /// id of a prepay whose create reply the merchant never received (a test pays it).
    pub fn transactions_by_attach(&self, attach: &str, now: i64) -> Vec<Value> {
        let mut found: Vec<&Order> = self
            .orders
            .values()
            .filter(|order| order.attach == attach)
            .collect();
        found.sort_by_key(|order| (order.created_ms, order.out_trade_no.clone()));
        found
            .into_iter()
            .map(|order| {
                json!({
                    "outTradeNo": order.out_trade_no,
                    "prepayId": order.prepay_id,
                    "tradeState": order.state.as_str(),
                    "payable": order.is_payable(now),
                    "total": order.total,
                })
            })
            .collect()
    }

    /// The counters of this `out_trade_no`.
    pub fn stats_by_out_trade_no(&self, no: &str) -> Stats {
        self.by_out_trade_no.get(no).cloned().unwrap_or_default()
    }

    /// Counts an event under both keys.
    pub fn count(&mut self, attach: &str, out_trade_no: &str, event: impl Fn(&mut Stats)) {
        event(self.by_attach.entry(attach.to_owned()).or_default());
        event(
            self.by_out_trade_no
                .entry(out_trade_no.to_owned())
                .or_default(),
        );
    }

    /// Creates an order, or returns the existing one for the same parameters. `params` is the
    /// whole create body as received; its `time_expire` is left out of the comparison, as
    /// WeChat Pay reads it on the first create only.
    pub fn create(
        &mut self,
        request: &CreateRequest,
        mut params: Value,
        cx: CreateContext,
    ) -> Result<&Order, CreateRefusal> {
        let attach = request.attach.clone().unwrap_or_default();
        self.count(&attach, &request.out_trade_no, |s| s.prepay_calls += 1);
        if let Some(map) = params.as_object_mut() {
            map.remove("time_expire");
        }
        let params = json!({ "scene": cx.scene, "body": params });
        let key = (request.mchid.clone(), request.out_trade_no.clone());
        if let Some(existing) = self.orders.get(&key) {
            let refusal = match existing.state {
                TradeState::Success => Some(CreateRefusal::Paid),
                TradeState::Closed => Some(CreateRefusal::Closed),
                _ if existing.params != params => Some(CreateRefusal::ParametersDiffer),
                _ => None,
            };
            if let Some(refusal) = refusal {
                self.count(&attach, &request.out_trade_no, |s| {
                    s.duplicates_refused += 1
                });
                return Err(refusal);
            }
            return self.orders.get(&key).ok_or(CreateRefusal::ParametersDiffer);
        }
        let mut deadline = cx.now.saturating_add(cx.prepay_ttl_ms);
        if let Some(expire) = request
            .time_expire
            .as_deref()
            .and_then(crate::clock::parse_rfc3339)
        {
            if expire < cx.now.saturating_add(cx.min_time_expire_ms) {
                return Err(CreateRefusal::ExpireTooSoon);
            }
            deadline = deadline.min(expire);
        }
        let prepay_id = format!("wx{}{}", compact_beijing(cx.now), random_hex(20));
        let order = Order {
            scene: cx.scene,
            appid: request.appid.clone(),
            mchid: request.mchid.clone(),
            out_trade_no: request.out_trade_no.clone(),
            description: request.description.clone(),
            attach,
            notify_url: request.notify_url.clone(),
            total: request.amount.total,
            openid: request.payer.as_ref().map(|p| p.openid.clone()),
            code_token: crate::clock::random_alnum(16),
            prepay_id,
            pay_deadline_ms: deadline,
            created_ms: cx.now,
            state: TradeState::NotPay,
            transaction_id: None,
            success_ms: None,
            params,
        };
        self.wallet_ids.insert(order.prepay_id.clone(), key.clone());
        self.wallet_ids
            .insert(order.code_token.clone(), key.clone());
        let siblings = self
            .orders_by_attach
            .entry(order.attach.clone())
            .or_default();
        siblings.push(key.clone());
        let orders = &self.orders;
        let payable = 1 + siblings
            .iter()
            .filter_map(|k| orders.get(k))
            .filter(|o| o.is_payable(cx.now))
            .count() as u64;
        let by_attach = self.by_attach.entry(order.attach.clone()).or_default();
        by_attach.max_payable_at_once = by_attach.max_payable_at_once.max(payable);
        let by_no = self
            .by_out_trade_no
            .entry(request.out_trade_no.clone())
            .or_default();
        by_no.max_payable_at_once = 1;
        Ok(self.orders.entry(key).or_insert(order))
    }

    /// The order, counting the query.
    pub fn query(&mut self, mchid: &str, out_trade_no: &str) -> Option<Order> {
        let order = self
            .orders
            .get(&(mchid.to_owned(), out_trade_no.to_owned()))?
            .clone();
        self.count(&order.attach, out_trade_no, |s| s.queries += 1);
        Some(order)
    }

    /// Closes the order: open or failed orders become `CLOSED`; a closed one stays closed
    /// (re-entrant); a paid one refuses.
    pub fn close(&mut self, mchid: &str, out_trade_no: &str) -> Result<(), CloseRefusal> {
        let order = self
            .orders
            .get_mut(&(mchid.to_owned(), out_trade_no.to_owned()))
            .ok_or(CloseRefusal::NotFound)?;
        let outcome = match order.state {
            TradeState::Success => Err(CloseRefusal::Paid),
            _ => {
                order.state = TradeState::Closed;
                Ok(())
            }
        };
        let attach = order.attach.clone();
        self.count(&attach, out_trade_no, |s| s.closes += 1);
        outcome
    }

    /// The order behind a wallet id (a prepay id or a `code_url` token).
    pub fn by_wallet_id(&self, id: &str) -> Option<&Order> {
        self.wallet_ids.get(id).and_then(|key| self.orders.get(key))
    }

    /// A buyer's action at `now`. A successful confirm is a **charge**: it is counted, and
    /// the paid order is returned so that its notify can be sent.
    pub fn wallet(
        &mut self,
        id: &str,
        action: WalletAction,
        now: i64,
    ) -> Result<Order, WalletRefusal> {
        let key = self
            .wallet_ids
            .get(id)
            .cloned()
            .ok_or(WalletRefusal::Unknown)?;
        let order = self.orders.get_mut(&key).ok_or(WalletRefusal::Unknown)?;
        let refusal = match order.state {
            TradeState::Success => Some(WalletRefusal::Paid),
            TradeState::Closed => Some(WalletRefusal::Closed),
            TradeState::PayError => Some(WalletRefusal::Failed),
            _ if now >= order.pay_deadline_ms => Some(WalletRefusal::Expired),
            _ => None,
        };
        if let Some(refusal) = refusal {
            if action == WalletAction::Confirm {
                let attach = order.attach.clone();
                self.count(&attach, &key.1, |s| s.payments_refused += 1);
            }
            return Err(refusal);
        }
        match action {
            WalletAction::Start => order.state = TradeState::UserPaying,
            WalletAction::Cancel => order.state = TradeState::NotPay,
            WalletAction::Fail => order.state = TradeState::PayError,
            WalletAction::Confirm => {
                order.state = TradeState::Success;
                order.success_ms = Some(now);
                order.transaction_id = Some(format!(
                    "42000{}{}",
                    &compact_beijing(now)[..8],
                    random_digits(15)
                ));
                if order.openid.is_none() {
                    order.openid = Some(format!("oSim{}", crate::clock::random_alnum(24)));
                }
            }
        }
        let order = order.clone();
        if action == WalletAction::Confirm {
            self.count(&order.attach, &key.1, |s| s.charges += 1);
        }
        Ok(order)
    }

    /// Counts a notify delivery try and, if `acknowledged`, its acknowledgement.
    pub fn count_notify(&mut self, attach: &str, out_trade_no: &str, acknowledged: bool) {
        self.count(attach, out_trade_no, |s| {
            s.notify_attempts += 1;
            s.notifies_acknowledged += u64::from(acknowledged);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_431_300_000;

    fn body(no: &str, total: i64) -> Value {
        json!({
            "appid": "wxd678efh567hg6787", "mchid": "1900000109", "description": "Image",
            "out_trade_no": no, "notify_url": "https://m.example/notify",
            "amount": {"total": total, "currency": "CNY"}, "attach": "O-1"
        })
    }

    fn create(ledger: &mut Ledger, value: Value) -> Result<Order, CreateRefusal> {
        let request: CreateRequest = serde_json::from_value(value.clone()).expect("request");
        let cx = CreateContext {
            scene: Scene::Native,
            now: NOW,
            prepay_ttl_ms: 7_200_000,
            min_time_expire_ms: 60_000,
        };
        ledger.create(&request, value, cx).cloned()
    }

    #[test]
    fn same_parameters_give_the_same_prepay_and_changed_ones_are_refused() {
        let mut ledger = Ledger::default();
        let first = create(&mut ledger, body("A1x2y3", 100)).expect("creates");
        let mut again = body("A1x2y3", 100);
        again["time_expire"] = json!("2099-01-01T00:00:00+08:00");
        assert_eq!(
            create(&mut ledger, again).expect("same").prepay_id,
            first.prepay_id
        );
        assert_eq!(
            create(&mut ledger, body("A1x2y3", 101)).map(|_| ()),
            Err(CreateRefusal::ParametersDiffer)
        );
        let stats = ledger.stats_by_attach("O-1");
        assert_eq!((stats.prepay_calls, stats.duplicates_refused), (3, 1));
    }

    #[test]
    fn a_closed_or_expired_prepay_is_never_charged_and_a_paid_order_refuses_close() {
        let mut ledger = Ledger::default();
        let a = create(&mut ledger, body("closed1", 1)).expect("creates");
        assert_eq!(ledger.close("1900000109", "closed1"), Ok(()));
        assert_eq!(ledger.close("1900000109", "closed1"), Ok(()));
        assert_eq!(
            ledger
                .wallet(&a.prepay_id, WalletAction::Confirm, NOW)
                .map(|_| ()),
            Err(WalletRefusal::Closed)
        );
        let b = create(&mut ledger, body("expired1", 1)).expect("creates");
        assert_eq!(
            ledger
                .wallet(&b.code_token, WalletAction::Confirm, NOW + 7_200_000)
                .map(|_| ()),
            Err(WalletRefusal::Expired)
        );
        assert_eq!(
            ledger.query("1900000109", "expired1").map(|o| o.state),
            Some(TradeState::NotPay)
        );
        let c = create(&mut ledger, body("paid01", 1)).expect("creates");
        let paid = ledger
            .wallet(&c.prepay_id, WalletAction::Confirm, NOW)
            .expect("pays");
        assert_eq!(paid.transaction()["trade_state"], "SUCCESS");
        assert_eq!(
            paid.transaction()["transaction_id"].as_str().map(str::len),
            Some(28)
        );
        assert_eq!(
            ledger.close("1900000109", "paid01"),
            Err(CloseRefusal::Paid)
        );
        assert_eq!(
            ledger.close("1900000109", "nope00"),
            Err(CloseRefusal::NotFound)
        );
        assert_eq!(
            create(&mut ledger, body("paid01", 1)).map(|_| ()),
            Err(CreateRefusal::Paid)
        );
        let stats = ledger.stats_by_attach("O-1");
        assert_eq!((stats.charges, stats.payments_refused), (1, 2));
    }

    #[test]
    fn the_peak_of_payable_orders_per_attach_counts_only_open_unexpired_ones() {
        let mut ledger = Ledger::default();
        create(&mut ledger, body("peak01", 1)).expect("creates");
        assert_eq!(ledger.stats_by_attach("O-1").max_payable_at_once, 1);
        // The same number again is the same order, not a second payable one.
        create(&mut ledger, body("peak01", 1)).expect("same");
        assert_eq!(ledger.stats_by_attach("O-1").max_payable_at_once, 1);
        // Closed before replacing: still one at a time.
        assert_eq!(ledger.close("1900000109", "peak01"), Ok(()));
        create(&mut ledger, body("peak02", 1)).expect("creates");
        assert_eq!(ledger.stats_by_attach("O-1").max_payable_at_once, 1);
        // Replaced without a close: two payable at once.
        create(&mut ledger, body("peak03", 1)).expect("creates");
        let stats = ledger.stats_by_attach("O-1");
        assert_eq!(stats.max_payable_at_once, 2);
        assert_eq!(
            ledger.stats_by_out_trade_no("peak03").max_payable_at_once,
            1
        );
    }

    #[test]
    fn out_trade_no_rules() {
        assert!(is_valid_out_trade_no("Ab0_-|*x"));
        assert!(!is_valid_out_trade_no("12345"));
        assert!(!is_valid_out_trade_no(&"a".repeat(33)));
        assert!(!is_valid_out_trade_no("abc def"));
        assert!(!is_valid_out_trade_no("订单号123456"));
    }
}
