//! How the kit gets business orders on the backend: every backend makes orders its own way, so
//! this is the one backend-specific piece, and it is the merchant's to choose.
//!
//! - [`Orders::BusinessApi`]: the payment center's business API (`docs/business-api.md`):
//!   `POST /v1/business/orders` and `PUT /v1/business/orders/{orderNo}` with an API key.
//! - [`Orders::Command`]: a program the merchant supplies (`sh -c CMD`), told what to do in the
//!   environment (`CG_CONFORMANCE_ACTION=create|change`, `CG_CONFORMANCE_AMOUNT` in fen,
//!   `CG_CONFORMANCE_ORDER_NO` for a change, `CG_CONFORMANCE_NONCE`), answering one JSON object
//!   on stdout: `{"orderNo", "fingerprint", "buyerToken"?}` (a change: at least
//!   `{"fingerprint"}`); exit status 3 on a change means "cannot change orders", any other
//!   non-zero exit status a refusal, with the backend's error body (`{"error": "attempt_open",
//!   …}`) on stdout.
//! - [`Orders::Http`]: an HTTP template, `"METHOD URL [BODY]"` with `{amount}`, `{nonce}` and
//!   (for the change) `{orderNo}` replaced, answering the same JSON object.
//!
//! Orders are always made unpaid, for an amount the kit chooses (so a content change is
//! observable), and their content is whatever the backend holds: the kit only needs the
//! fingerprint of it, which is what the guard sends.

use serde::Deserialize;
use serde_json::json;

use crate::KitError;

/// A business order the kit made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The business order number.
    pub order_no: String,
    /// The fingerprint of the backend's copy of its content (what the guard sends).
    pub fingerprint: String,
    /// Sent as `X-Buyer-Token` with every create and status, when the backend gave one.
    pub buyer_token: Option<String>,
}

/// What a change of the order's amount did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// Accepted: the content's new fingerprint.
    Done(String),
    /// The adapter cannot change orders (why).
    Unsupported(String),
    /// The backend refused (`409 attempt_open`, …).
    Refused {
        /// The status code (`409` for a refusing orders command).
        status: u16,
        /// The body (a command's stdout).
        text: String,
        /// `Retry-After`, as sent (always `None` from an orders command).
        retry_after: Option<String>,
    },
}

impl Changed {
    /// The error code of a refusal's body (`{"error": …}`), when it has one.
    pub fn error_code(&self) -> Option<String> {
        let Changed::Refused { text, .. } = self else {
            return None;
        };
        let body: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
        Some(body.get("error")?.as_str()?.to_owned())
    }
}

/// An HTTP request template: `METHOD URL [BODY]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    method: String,
    url: String,
    body: Option<String>,
}

impl Template {
    /// Parses `METHOD URL [BODY]` (`POST http://shop/test/orders {"amount": {amount}}`).
    pub fn parse(text: &str) -> Result<Self, KitError> {
        let text = text.trim();
        let (method, rest) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| KitError::Usage(format!("template {text:?}: METHOD URL [BODY]")))?;
        let rest = rest.trim_start();
        let (url, body) = match rest.split_once(char::is_whitespace) {
            Some((url, body)) => (url, Some(body.trim().to_owned())),
            None => (rest, None),
        };
        let method = method.to_ascii_uppercase();
        if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH") {
            return Err(KitError::Usage(format!("template method {method:?}")));
        }
        Ok(Template {
            method,
            url: url.to_owned(),
            body,
        })
    }

    fn fill(text: &str, vars: &[(&str, &str)]) -> String {
        vars.iter().fold(text.to_owned(), |acc, (name, value)| {
            acc.replace(&format!("{{{name}}}"), value)
        })
    }
}

/// The orders adapter.
#[derive(Debug, Clone)]
pub enum Orders {
    /// The payment center's business API at the backend's base URL.
    BusinessApi {
        /// The base URL (`http://host:port`).
        base: String,
        /// The API key (`Authorization: Bearer`).
        api_key: String,
    },
    /// A merchant-supplied program.
    Command {
        /// Run with `sh -c`.
        command: String,
    },
    /// Merchant-supplied HTTP templates.
    Http {
        /// Makes an order.
        create: Template,
        /// Changes its amount; none: changes are not available.
        change: Option<Template>,
    },
}

impl Orders {
    /// Whether its replies are HTTP replies (so a refusal's `Retry-After` can be read).
    pub fn speaks_http(&self) -> bool {
        !matches!(self, Orders::Command { .. })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Made {
    order_no: String,
    fingerprint: String,
    #[serde(default)]
    buyer_token: Option<String>,
}

#[derive(Deserialize)]
struct Refingerprinted {
    fingerprint: String,
}

/// A fresh order number for the business API: 6–24 of `A-Z a-z 0-9 - _`.
fn order_number() -> String {
    format!("CK{}", crate::random_token(18))
}

impl Orders {
    /// Makes an unpaid order for `amount` fen.
    pub async fn create(&self, client: &reqwest::Client, amount: i64) -> Result<Order, KitError> {
        let nonce = crate::random_token(12);
        let made: Made = match self {
            Orders::BusinessApi { base, api_key } => {
                let body = json!({
                    "orderNo": order_number(),
                    "amount": amount,
                    "currency": "CNY",
                    "description": "conformance",
                    "content": {"kit": "checkout-guard-conformance", "nonce": nonce},
                });
                let reply = client
                    .post(format!("{base}/v1/business/orders"))
                    .bearer_auth(api_key)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| KitError::Adapter(format!("register an order: {e}")))?;
                parse_made(
                    reply.status().as_u16(),
                    &reply.text().await.unwrap_or_default(),
                )?
            }
            Orders::Command { command } => {
                let amount = amount.to_string();
                let out = run_command(
                    command,
                    &[
                        ("CG_CONFORMANCE_ACTION", "create"),
                        ("CG_CONFORMANCE_AMOUNT", &amount),
                        ("CG_CONFORMANCE_NONCE", &nonce),
                    ],
                )
                .await?;
                match out {
                    (0, stdout) => parse_json(&stdout)?,
                    (code, stdout) => {
                        return Err(KitError::Adapter(format!(
                            "orders command exited {code}: {stdout}"
                        )))
                    }
                }
            }
            Orders::Http { create, .. } => {
                let amount = amount.to_string();
                let sent = send_template(client, create, &[("amount", &amount), ("nonce", &nonce)])
                    .await?;
                parse_made(sent.status, &sent.text)?
            }
        };
        Ok(Order {
            order_no: made.order_no,
            fingerprint: made.fingerprint,
            buyer_token: made.buyer_token,
        })
    }

    /// Changes the order's amount (contract §1 rule 3: the backend must close the live attempt
    /// at the provider before it accepts the change).
    pub async fn change(
        &self,
        client: &reqwest::Client,
        order: &Order,
        amount: i64,
    ) -> Result<Changed, KitError> {
        let (status, text, retry_after) = match self {
            Orders::BusinessApi { base, api_key } => {
                let reply = client
                    .put(format!("{base}/v1/business/orders/{}", order.order_no))
                    .bearer_auth(api_key)
                    .json(
                        &json!({"amount": amount, "currency": "CNY", "description": "conformance"}),
                    )
                    .send()
                    .await
                    .map_err(|e| KitError::Adapter(format!("change an order: {e}")))?;
                let status = reply.status().as_u16();
                let retry_after = retry_after_of(&reply);
                (status, reply.text().await.unwrap_or_default(), retry_after)
            }
            Orders::Command { command } => {
                let amount = amount.to_string();
                let out = run_command(
                    command,
                    &[
                        ("CG_CONFORMANCE_ACTION", "change"),
                        ("CG_CONFORMANCE_AMOUNT", &amount),
                        ("CG_CONFORMANCE_ORDER_NO", &order.order_no),
                    ],
                )
                .await?;
                match out {
                    (0, stdout) => (200, stdout, None),
                    (3, _) => {
                        return Ok(Changed::Unsupported(
                            "the orders command cannot change orders (exit 3)".into(),
                        ))
                    }
                    (_, stdout) => (409, stdout, None),
                }
            }
            Orders::Http { change: None, .. } => {
                return Ok(Changed::Unsupported(
                    "no --orders-http-change template: the adapter cannot change orders".into(),
                ))
            }
            Orders::Http {
                change: Some(template),
                ..
            } => {
                let amount = amount.to_string();
                let sent = send_template(
                    client,
                    template,
                    &[("amount", &amount), ("orderNo", &order.order_no)],
                )
                .await?;
                (sent.status, sent.text, sent.retry_after)
            }
        };
        if !(200..300).contains(&status) {
            return Ok(Changed::Refused {
                status,
                text,
                retry_after,
            });
        }
        let changed: Refingerprinted = parse_json(&text)?;
        Ok(Changed::Done(changed.fingerprint))
    }
}

fn parse_made(status: u16, text: &str) -> Result<Made, KitError> {
    if !(200..300).contains(&status) {
        return Err(KitError::Adapter(format!(
            "making an order answered {status}: {text}"
        )));
    }
    parse_json(text)
}

fn parse_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, KitError> {
    serde_json::from_str(text.trim()).map_err(|e| {
        KitError::Adapter(format!(
            "the orders adapter's answer is not the expected JSON ({e}): {text}"
        ))
    })
}

/// What a templated request answered.
struct Sent {
    status: u16,
    text: String,
    retry_after: Option<String>,
}

fn retry_after_of(reply: &reqwest::Response) -> Option<String> {
    reply
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn send_template(
    client: &reqwest::Client,
    template: &Template,
    vars: &[(&str, &str)],
) -> Result<Sent, KitError> {
    let url = Template::fill(&template.url, vars);
    let method = reqwest::Method::from_bytes(template.method.as_bytes())
        .map_err(|e| KitError::Usage(format!("template method: {e}")))?;
    let mut req = client.request(method, &url);
    if let Some(body) = &template.body {
        req = req
            .header("content-type", "application/json")
            .body(Template::fill(body, vars));
    }
    let reply = req
        .send()
        .await
        .map_err(|e| KitError::Adapter(format!("{} {url}: {e}", template.method)))?;
    let status = reply.status().as_u16();
    let retry_after = retry_after_of(&reply);
    Ok(Sent {
        status,
        text: reply.text().await.unwrap_or_default(),
        retry_after,
    })
}

/// Runs `sh -c command` with `env`: the exit code and stdout.
async fn run_command(command: &str, env: &[(&str, &str)]) -> Result<(i32, String), KitError> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(command);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd
        .output()
        .await
        .map_err(|e| KitError::Adapter(format!("cannot run the orders command: {e}")))?;
    let code = out.status.code().unwrap_or(-1);
    Ok((code, String::from_utf8_lossy(&out.stdout).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_fill() {
        let t = Template::parse(r#"POST http://shop/test/orders {"amount": {amount}}"#)
            .expect("parses");
        assert_eq!(t.method, "POST");
        assert_eq!(t.url, "http://shop/test/orders");
        assert_eq!(
            Template::fill(t.body.as_deref().unwrap_or(""), &[("amount", "5")]),
            r#"{"amount": 5}"#
        );
        assert!(Template::parse("http://x").is_err());
        assert!(Template::parse("DELETE http://x").is_err());
    }
}
