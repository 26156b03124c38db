//! The WeChat Pay v3 simulator's own endpoints (`wechatpay-sim/README.md`): the wallet a
//! buyer pays in, the faults, and WeChat Pay's side of the record (counters and transactions
//! per business order), which is what every charge count here is read from.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::KitError;

/// A simulator at a base URL.
#[derive(Debug, Clone)]
pub struct Sim {
    client: reqwest::Client,
    base: String,
}

/// WeChat Pay's counters for one `attach` or one `out_trade_no`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Successful payments.
    pub charges: u64,
    /// Create calls received.
    pub prepay_calls: u64,
    /// Close calls on a known order.
    pub closes: u64,
    /// Queries on a known order.
    pub queries: u64,
    /// Notify deliveries tried.
    pub notify_attempts: u64,
    /// Notify deliveries acknowledged with a 2xx.
    pub notifies_acknowledged: u64,
}

/// One transaction at the simulator.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// The merchant payment number (the contract's `attemptId`).
    pub out_trade_no: String,
    /// `NOTPAY`, `USERPAYING`, `SUCCESS`, `CLOSED`, `PAYERROR`.
    pub trade_state: String,
    /// Open and not expired now: a buyer could pay it.
    pub payable: bool,
}

#[derive(Deserialize)]
struct Transactions {
    transactions: Vec<Transaction>,
}

/// The wallet id of a prepay the backend handed out: the simulator's wallet takes a
/// `prepay_id` or a `code_url`'s `pr` token, whichever scene the backend chose.
pub fn wallet_id(prepay: &Value) -> Option<String> {
    let text = |name: &str| prepay.get(name).and_then(Value::as_str);
    if let Some(code_url) = text("codeUrl").or(text("code_url")) {
        return code_url.split_once("pr=").map(|(_, t)| t.to_owned());
    }
    if let Some(package) = text("package") {
        return package.strip_prefix("prepay_id=").map(str::to_owned);
    }
    if let Some(id) = text("prepayId").or(text("prepay_id")) {
        return Some(id.to_owned());
    }
    let h5 = text("h5Url").or(text("h5_url"))?;
    let (_, query) = h5.split_once("prepay_id=")?;
    Some(query.split('&').next().unwrap_or(query).to_owned())
}

impl Sim {
    /// The simulator at `base`.
    pub fn new(client: reqwest::Client, base: &str) -> Self {
        Sim {
            client,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// `POST /sim/wallet/{id}/{action}` (`start`, `confirm`, `cancel`, `fail`) with an
    /// optional `X-Fault` (`notify=lost`, `notify=dup`): the status code.
    pub async fn wallet(
        &self,
        id: &str,
        action: &str,
        fault: Option<&str>,
    ) -> Result<u16, KitError> {
        let mut req = self
            .client
            .post(format!("{}/sim/wallet/{id}/{action}", self.base))
            .header("accept", "application/json");
        if let Some(fault) = fault {
            req = req.header("X-Fault", fault);
        }
        Ok(req
            .send()
            .await
            .map_err(|e| KitError::Sim(format!("wallet {action}: {e}")))?
            .status()
            .as_u16())
    }

    /// The counters of every transaction with this `attach`.
    pub async fn stats(&self, attach: &str) -> Result<Stats, KitError> {
        self.get_json(&format!("/sim/admin/stats/{attach}")).await
    }

    /// The counters of one `out_trade_no`.
    pub async fn stats_of(&self, out_trade_no: &str) -> Result<Stats, KitError> {
        self.get_json(&format!("/sim/admin/stats/out-trade-no/{out_trade_no}"))
            .await
    }

    /// Every transaction with this `attach`, oldest first.
    pub async fn transactions(&self, attach: &str) -> Result<Vec<Transaction>, KitError> {
        let list: Transactions = self
            .get_json(&format!("/sim/admin/transactions/{attach}"))
            .await?;
        Ok(list.transactions)
    }

    /// Installs a global fault rule (`X-Fault` syntax) for `times` requests under `prefix`.
    pub async fn fault(
        &self,
        spec: &str,
        prefix: &str,
        method: Option<&str>,
        times: u32,
    ) -> Result<(), KitError> {
        let body = json!({"spec": spec, "pathPrefix": prefix, "method": method, "times": times});
        let reply = self
            .client
            .post(format!("{}/sim/admin/faults", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| KitError::Sim(format!("add fault: {e}")))?;
        if reply.status().is_success() {
            Ok(())
        } else {
            Err(KitError::Sim(format!("add fault: {}", reply.status())))
        }
    }

    /// A fault on the provider's create calls of every scene (`/v3/pay/transactions/{jsapi,
    /// native,h5}`), for `times` calls each.
    pub async fn fault_creates(&self, spec: &str, times: u32) -> Result<(), KitError> {
        for scene in ["jsapi", "native", "h5"] {
            self.fault(
                spec,
                &format!("/v3/pay/transactions/{scene}"),
                Some("POST"),
                times,
            )
            .await?;
        }
        Ok(())
    }

    /// Removes every global fault rule.
    pub async fn clear_faults(&self) -> Result<(), KitError> {
        self.client
            .delete(format!("{}/sim/admin/faults", self.base))
            .send()
            .await
            .map_err(|e| KitError::Sim(format!("clear faults: {e}")))?;
        Ok(())
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, KitError> {
        let reply = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| KitError::Sim(format!("GET {path}: {e}")))?;
        if !reply.status().is_success() {
            return Err(KitError::Sim(format!("GET {path}: {}", reply.status())));
        }
        reply
            .json()
            .await
            .map_err(|e| KitError::Sim(format!("GET {path}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_ids_of_every_scene() {
        let native = json!({"codeUrl": "weixin://wxpay/bizpayurl?pr=abc123"});
        assert_eq!(wallet_id(&native).as_deref(), Some("abc123"));
        let jsapi = json!({"package": "prepay_id=wx42", "paySign": "…"});
        assert_eq!(wallet_id(&jsapi).as_deref(), Some("wx42"));
        let h5 = json!({"h5Url": "http://sim/sim/h5/checkmweb?prepay_id=wx7&package=1"});
        assert_eq!(wallet_id(&h5).as_deref(), Some("wx7"));
        assert_eq!(
            wallet_id(&json!({"prepayId": "wx9"})).as_deref(),
            Some("wx9")
        );
        assert_eq!(wallet_id(&json!({})), None);
    }
}
