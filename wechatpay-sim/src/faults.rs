//! Fault injection: what can go wrong between a merchant and WeChat Pay, on demand, with the
//! present simulated provider's syntax (`server/README.md`, "Fault injection").
//!
//! A spec is a comma-separated list of items, sent per request in the `X-Fault` header or
//! installed globally with `POST /sim/admin/faults`; the two add up:
//!
//! | item | effect |
//! | --- | --- |
//! | `latency=<ms>` | wait before handling the request |
//! | `status=<code>` | answer `<code>` (400–599) with a signed WeChat Pay error body, doing nothing |
//! | `drop-reply` | do the work and commit it, then close the connection without a reply (the reply lost after commit) |
//! | `bad-signature` | reply with a `Wechatpay-Signature` that does not verify (a forged or corrupted reply) |
//! | `unsigned` | reply without the `Wechatpay-*` headers |
//! | `notify=lost` / `notify=dup` | the notify of a payment confirmed by this request is never sent / delivered twice |
//! | `notify-delay=<ms>` | that notify's first try waits this long |

use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// The request header carrying a fault spec.
pub const FAULT_HEADER: &str = "x-fault";

/// The faults that apply to one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Faults {
    /// `latency=<ms>`.
    pub latency_ms: u64,
    /// `status=<code>`.
    pub status: Option<u16>,
    /// `drop-reply`.
    pub drop_reply: bool,
    /// `bad-signature`.
    pub bad_signature: bool,
    /// `unsigned`.
    pub unsigned: bool,
    /// `notify=lost`.
    pub notify_lost: bool,
    /// `notify=dup`.
    pub notify_duplicate: bool,
    /// `notify-delay=<ms>`.
    pub notify_delay_ms: Option<u64>,
}

/// A spec that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad fault item {item:?}: {why}")]
pub struct FaultSpecError {
    /// The offending item.
    pub item: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl Faults {
    /// Parses a spec (see the module doc). An empty spec is no fault.
    pub fn parse(spec: &str) -> Result<Self, FaultSpecError> {
        let mut faults = Self::default();
        for item in spec
            .split([',', ';'])
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (item, None),
            };
            let bad = |why| FaultSpecError {
                item: item.to_owned(),
                why,
            };
            let millis = |value: Option<&str>| {
                value
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|v| *v <= 600_000)
                    .ok_or_else(|| bad("needs a number of milliseconds up to 600000"))
            };
            match (name, value) {
                ("latency", v) => faults.latency_ms = millis(v)?,
                ("notify-delay", v) => faults.notify_delay_ms = Some(millis(v)?),
                ("status", Some(v)) => {
                    let code = v
                        .parse::<u16>()
                        .ok()
                        .filter(|c| (400..=599).contains(c))
                        .ok_or_else(|| bad("needs a status code from 400 to 599"))?;
                    faults.status = Some(code);
                }
                ("drop-reply", None) => faults.drop_reply = true,
                ("bad-signature", None) => faults.bad_signature = true,
                ("unsigned", None) => faults.unsigned = true,
                ("notify", Some("lost")) => faults.notify_lost = true,
                ("notify", Some("dup")) => faults.notify_duplicate = true,
                _ => return Err(bad("unknown item")),
            }
        }
        Ok(faults)
    }

    /// Adds `other`'s faults to these (numbers: the larger wins).
    pub fn merge(&mut self, other: &Self) {
        self.latency_ms = self.latency_ms.max(other.latency_ms);
        self.status = self.status.or(other.status);
        self.drop_reply |= other.drop_reply;
        self.bad_signature |= other.bad_signature;
        self.unsigned |= other.unsigned;
        self.notify_lost |= other.notify_lost;
        self.notify_duplicate |= other.notify_duplicate;
        self.notify_delay_ms = self.notify_delay_ms.max(other.notify_delay_ms);
    }
}

/// A global fault rule, as given to `POST /sim/admin/faults`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRuleSpec {
    /// The fault spec (the `X-Fault` syntax).
    pub spec: String,
    /// Applies to requests whose path starts with this (default `/`: every non-admin request).
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// Applies to requests with this method only (default: any).
    #[serde(default)]
    pub method: Option<String>,
    /// Applies this many times, then disappears (default: until cleared).
    #[serde(default)]
    pub times: Option<u32>,
}

fn default_prefix() -> String {
    "/".to_owned()
}

/// The installed global rules. A plain mutex: rules are few and each request holds it for a
/// scan, never across an `await`.
#[derive(Debug, Default)]
pub struct FaultRules {
    rules: Mutex<Vec<(FaultRuleSpec, Faults)>>,
}

impl FaultRules {
    /// Installs a rule (its spec parsed now, so a bad one is refused at once).
    pub fn add(&self, rule: FaultRuleSpec) -> Result<(), FaultSpecError> {
        let faults = Faults::parse(&rule.spec)?;
        self.lock().push((rule, faults));
        Ok(())
    }

    /// The rules still installed.
    pub fn list(&self) -> Vec<FaultRuleSpec> {
        self.lock().iter().map(|(rule, _)| rule.clone()).collect()
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The faults of every rule matching `method` and `path`, counting down limited rules.
    pub fn for_request(&self, method: &str, path: &str) -> Faults {
        let mut faults = Faults::default();
        let mut rules = self.lock();
        for (rule, rule_faults) in rules.iter_mut() {
            let method_ok = rule
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            if method_ok && path.starts_with(&rule.path_prefix) {
                faults.merge(rule_faults);
                if let Some(times) = rule.times.as_mut() {
                    *times = times.saturating_sub(1);
                }
            }
        }
        rules.retain(|(rule, _)| rule.times != Some(0));
        faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(FaultRuleSpec, Faults)>> {
        // A panic while holding the lock leaves a valid Vec: keep going.
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_items_are_named() {
        let faults =
            Faults::parse("latency=5, status=503,drop-reply;notify=dup,notify-delay=9,unsigned")
                .expect("parses");
        assert_eq!(faults.latency_ms, 5);
        assert_eq!(faults.status, Some(503));
        assert!(faults.drop_reply && faults.notify_duplicate && faults.unsigned);
        assert_eq!(faults.notify_delay_ms, Some(9));
        assert_eq!(Faults::parse(""), Ok(Faults::default()));
        for bad in ["status=200", "latency", "notify=late", "explode"] {
            assert!(Faults::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limited_rules_disappear_after_their_count() {
        let rules = FaultRules::default();
        rules
            .add(FaultRuleSpec {
                spec: "status=500".to_owned(),
                path_prefix: "/v3/".to_owned(),
                method: Some("post".to_owned()),
                times: Some(1),
            })
            .expect("adds");
        assert_eq!(rules.for_request("GET", "/v3/x").status, None);
        assert_eq!(rules.for_request("POST", "/sim/x").status, None);
        assert_eq!(rules.for_request("POST", "/v3/x").status, Some(500));
        assert_eq!(rules.for_request("POST", "/v3/x").status, None);
        assert!(rules.list().is_empty());
    }
}
