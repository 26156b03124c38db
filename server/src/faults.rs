//! Fault injection: what can go wrong between a shopper's browser, the merchant and the
//! provider, on demand.
//!
//! A fault **spec** is a comma-separated list of items, sent per request in the `X-Fault`
//! header or installed globally with `POST /admin/faults`:
//!
//! | item | effect |
//! | --- | --- |
//! | `latency=<ms>` | wait before handling the request |
//! | `status=<code>` | answer `<code>` (400–599) without doing anything; 429/503 carry `Retry-After: 1` |
//! | `drop-reply` | do the work and commit it, then close the connection without a reply (lost response) |
//! | `slow-poll=<ms>` | a status long-poll holds its reply this much longer |
//! | `notify=lost` / `notify=dup` | the provider's notify for a payment confirmed by this request is lost / sent twice |
//! | `notify-delay=<ms>` | that notify is sent after this delay |
//! | `provider=fail` / `provider=lost` | the merchant's calls to the provider fail (before the provider acts / after it committed) |
//! | `provider-latency=<ms>` | the merchant's create call to the provider takes this long (the order stays locked meanwhile) |
//! | `submit-latency=<ms>` | a keyed order submission takes this long with its key claimed (makes `409 in_progress` easy to see) |

use crate::provider::faulty::{ProviderFault, ProviderFaults};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use thiserror::Error;

/// Request header carrying a fault spec.
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
    /// `slow-poll=<ms>`.
    pub slow_poll_ms: u64,
    /// `notify=lost`.
    pub notify_lost: bool,
    /// `notify=dup`.
    pub notify_duplicate: bool,
    /// `notify-delay=<ms>`.
    pub notify_delay_ms: Option<u64>,
    /// `provider=fail|lost`.
    pub provider: Option<ProviderFault>,
    /// `provider-latency=<ms>`.
    pub provider_latency_ms: u64,
    /// `submit-latency=<ms>`.
    pub submit_latency_ms: u64,
}

/// A spec that does not parse.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("bad fault item {item:?}: {why}")]
pub struct FaultSpecError {
    /// The offending item.
    pub item: String,
    /// What is wrong with it.
    pub why: &'static str,
}

fn number(item: &str, value: Option<&str>) -> Result<u64, FaultSpecError> {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|v| *v <= 600_000)
        .ok_or_else(|| FaultSpecError {
            item: item.to_owned(),
            why: "needs a number of milliseconds up to 600000",
        })
}

impl Faults {
    /// Parses a spec (see the module docs). An empty spec is no fault.
    pub fn parse(spec: &str) -> Result<Faults, FaultSpecError> {
        let mut faults = Faults::default();
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
            match (name, value) {
                ("latency", v) => faults.latency_ms = number(item, v)?,
                ("slow-poll", v) => faults.slow_poll_ms = number(item, v)?,
                ("provider-latency", v) => faults.provider_latency_ms = number(item, v)?,
                ("submit-latency", v) => faults.submit_latency_ms = number(item, v)?,
                ("notify-delay", v) => faults.notify_delay_ms = Some(number(item, v)?),
                ("status", Some(v)) => {
                    let code = v
                        .parse::<u16>()
                        .ok()
                        .filter(|c| (400..=599).contains(c))
                        .ok_or_else(|| bad("needs a status code from 400 to 599"))?;
                    faults.status = Some(code);
                }
                ("drop-reply", None) => faults.drop_reply = true,
                ("notify", Some("lost")) => faults.notify_lost = true,
                ("notify", Some("dup")) => faults.notify_duplicate = true,
                ("provider", Some("fail")) => faults.provider = Some(ProviderFault::Fail),
                ("provider", Some("lost")) => faults.provider = Some(ProviderFault::Lost),
                _ => return Err(bad("unknown item")),
            }
        }
        Ok(faults)
    }

    /// The part that a [`crate::provider::faulty::Faulty`] provider applies.
    pub fn provider_faults(&self) -> ProviderFaults {
        ProviderFaults {
            mode: self.provider,
            create_latency_ms: self.provider_latency_ms,
        }
    }

    /// Adds `other`'s faults to these (numbers: the larger wins).
    pub fn merge(&mut self, other: &Faults) {
        self.latency_ms = self.latency_ms.max(other.latency_ms);
        self.status = self.status.or(other.status);
        self.drop_reply |= other.drop_reply;
        self.slow_poll_ms = self.slow_poll_ms.max(other.slow_poll_ms);
        self.notify_lost |= other.notify_lost;
        self.notify_duplicate |= other.notify_duplicate;
        self.notify_delay_ms = self.notify_delay_ms.max(other.notify_delay_ms);
        self.provider = self.provider.or(other.provider);
        self.provider_latency_ms = self.provider_latency_ms.max(other.provider_latency_ms);
        self.submit_latency_ms = self.submit_latency_ms.max(other.submit_latency_ms);
    }
}

/// A globally installed fault, as given to `POST /admin/faults`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRuleSpec {
    /// The fault spec (same syntax as `X-Fault`).
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

#[derive(Debug)]
struct Rule {
    spec: FaultRuleSpec,
    faults: Faults,
}

/// The globally installed faults.
#[derive(Debug, Default)]
pub struct FaultRules {
    rules: Mutex<Vec<Rule>>,
}

impl FaultRules {
    /// Installs a rule.
    pub fn add(&self, spec: FaultRuleSpec) -> Result<(), FaultSpecError> {
        let faults = Faults::parse(&spec.spec)?;
        self.lock().push(Rule { spec, faults });
        Ok(())
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The rules still installed.
    pub fn list(&self) -> Vec<FaultRuleSpec> {
        self.lock().iter().map(|r| r.spec.clone()).collect()
    }

    /// The faults that apply to a request, using up one of each matching rule's `times`.
    pub fn for_request(&self, method: &str, path: &str) -> Faults {
        let mut faults = Faults::default();
        let mut rules = self.lock();
        for rule in rules.iter_mut() {
            let method_ok = rule
                .spec
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            if method_ok && path.starts_with(&rule.spec.path_prefix) {
                faults.merge(&rule.faults);
                if let Some(times) = rule.spec.times.as_mut() {
                    *times = times.saturating_sub(1);
                }
            }
        }
        rules.retain(|r| r.spec.times != Some(0));
        faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_item() {
        let f = Faults::parse(
            "latency=5, status=503; drop-reply,slow-poll=7,notify=lost,notify=dup,notify-delay=9,provider=lost,provider-latency=3,submit-latency=4",
        )
        .expect("valid spec");
        assert_eq!(f.latency_ms, 5);
        assert_eq!(f.status, Some(503));
        assert!(f.drop_reply && f.notify_lost && f.notify_duplicate);
        assert_eq!((f.slow_poll_ms, f.notify_delay_ms), (7, Some(9)));
        assert_eq!(f.provider, Some(ProviderFault::Lost));
        assert_eq!(f.provider_latency_ms, 3);
        assert_eq!(f.submit_latency_ms, 4);
        assert_eq!(Faults::parse("").expect("empty"), Faults::default());
    }

    #[test]
    fn refuses_bad_items() {
        for bad in [
            "status=200",
            "latency",
            "latency=x",
            "boom",
            "notify=maybe",
            "drop-reply=1",
        ] {
            assert!(Faults::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counted_rules_expire() {
        let rules = FaultRules::default();
        rules
            .add(FaultRuleSpec {
                spec: "status=500".into(),
                path_prefix: "/api/".into(),
                method: Some("POST".into()),
                times: Some(1),
            })
            .expect("valid");
        assert_eq!(rules.for_request("GET", "/api/x").status, None);
        assert_eq!(rules.for_request("POST", "/sim/x").status, None);
        assert_eq!(rules.for_request("POST", "/api/x").status, Some(500));
        assert_eq!(rules.for_request("POST", "/api/x").status, None);
        assert!(rules.list().is_empty());
    }
}
