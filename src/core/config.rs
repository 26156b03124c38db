//! The guard's tuning: what the core decides with. Platform options (storage, endpoints,
//! the launcher) belong to the shells.

use super::json::{concat, push_u64, Object, Raw};
use super::schedule::PollConfig;
use crate::prelude::*;
use core::fmt;
use thiserror::Error;

/// An option has a wrong value; `option` is its name as the JS options object spells it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ConfigError {
    /// The option's name, e.g. `"prepayTtlMs"` or `"poll.capMs"`.
    pub option: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    fn new(option: &str, reason: &str) -> ConfigError {
        ConfigError {
            option: option.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// ``"invalid option `{option}`: {reason}"``, built without `core::fmt`.
    pub fn message(&self) -> String {
        concat(&["invalid option `", &self.option, "`: ", &self.reason])
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// The core's configuration, read from the camelCase JSON the shells pass
/// ([`Config::from_json`]); a missing member keeps its default.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct Config {
    /// Whose records these are (e.g. a hash of the buyer's id): part of every storage key, and
    /// checked on every record read. 1–128 characters of `A–Z a–z 0–9 - _ . :`.
    pub scope: String,
    /// How long a prepay is reused when the server gave no expiry (ms). The source articles
    /// suggest 5 minutes.
    pub prepay_ttl_ms: u64,
    /// A prepay this close to its expiry is not launched (ms): the buyer needs time to pay.
    pub expiry_margin_ms: u64,
    /// How often a create request is re-sent with the same key before the outcome is pending.
    pub create_retries: u32,
    /// First delay before re-sending a create (ms); doubles each time, capped at 30 s.
    pub create_retry_ms: u64,
    /// How often to try for the cross-tab lock while another tab holds it (ms).
    pub lock_retry_ms: u64,
    /// How long to wait for another tab before the outcome is pending (ms).
    pub lock_wait_ms: u64,
    /// Kept for compatibility (ms): it bounded how far in the future a stored record could be
    /// written and still decide on its own. Every stored prepay is now confirmed by the server
    /// before it is launched (machine rule 3), so it no longer changes a decision.
    pub clock_skew_ms: u64,
    /// How long a launched wallet may stay silent before the guard asks the server and, if
    /// the attempt is still unpaid, ends the call `pending` so the buyer can reopen the same
    /// prepay or check the status instead of facing a locked button (ms).
    pub launch_timeout_ms: u64,
    /// Status polling.
    pub poll: PollConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            scope: "default".to_owned(),
            prepay_ttl_ms: 300_000,
            expiry_margin_ms: 30_000,
            create_retries: 4,
            create_retry_ms: 1000,
            lock_retry_ms: 2000,
            lock_wait_ms: 600_000,
            clock_skew_ms: 60_000,
            launch_timeout_ms: 90_000,
            poll: PollConfig::default(),
        }
    }
}

impl Config {
    /// Parses the JSON form: an object whose members override the defaults. Unknown members
    /// and wrong types are errors naming the option, with its path (`poll.capMs`).
    pub fn from_json(json: &str) -> Result<Config, ConfigError> {
        let object = Object::parse(json).map_err(|e| {
            ConfigError::new(
                "options",
                &concat(&["must be a JSON object (", &e.message(), ")"]),
            )
        })?;
        Config::from_object(&object, &[])
    }

    /// [`Config::from_json`] of an object already read, passing over the members named in
    /// `skip` (the options a shell reads itself, as [`crate::core::step::Step`] does
    /// `namespace` and `endpoints`): the options are read once, not copied into a second JSON
    /// text and parsed again.
    pub fn from_object(object: &Object<'_>, skip: &[&str]) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        for (name, value) in members(object).filter(|(name, _)| !skip.contains(name)) {
            if name == "poll" {
                let poll = value
                    .as_object()
                    .ok_or_else(|| ConfigError::new("poll", "must be an object"))?;
                config.poll = PollConfig::default();
                for (name, value) in members(&poll) {
                    set_poll(&mut config.poll, name, value)
                        .map_err(|reason| ConfigError::new(&concat(&["poll.", name]), reason))?;
                }
            } else {
                config
                    .set(name, value)
                    .map_err(|reason| ConfigError::new(name, reason))?;
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Sets the option `name` from its JSON value; `Err` is why it cannot be.
    fn set(&mut self, name: &str, value: Raw<'_>) -> Result<(), &'static str> {
        match name {
            "scope" => self.scope = value.as_str().ok_or("must be a string")?,
            "prepayTtlMs" => self.prepay_ttl_ms = whole(value)?,
            "expiryMarginMs" => self.expiry_margin_ms = whole(value)?,
            "createRetries" => self.create_retries = whole32(value)?,
            "createRetryMs" => self.create_retry_ms = whole(value)?,
            "lockRetryMs" => self.lock_retry_ms = whole(value)?,
            "lockWaitMs" => self.lock_wait_ms = whole(value)?,
            "clockSkewMs" => self.clock_skew_ms = whole(value)?,
            "launchTimeoutMs" => self.launch_timeout_ms = whole(value)?,
            _ => return Err(UNKNOWN),
        }
        Ok(())
    }

    /// Checks every value is possible; the error names the first bad option.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let scope_ok = (1..=128).contains(&self.scope.len())
            && self
                .scope
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if !scope_ok {
            return Err(ConfigError::new(
                "scope",
                "1–128 characters of A–Z a–z 0–9 - _ . :",
            ));
        }
        within("prepayTtlMs", self.prepay_ttl_ms, 1000, 7 * 86_400_000)?;
        if self.expiry_margin_ms >= self.prepay_ttl_ms {
            return Err(ConfigError::new(
                "expiryMarginMs",
                "must be less than prepayTtlMs",
            ));
        }
        within("createRetries", self.create_retries.into(), 0, 20)?;
        within("createRetryMs", self.create_retry_ms, 1, 60_000)?;
        within("launchTimeoutMs", self.launch_timeout_ms, 1000, 3_600_000)?;
        within("lockRetryMs", self.lock_retry_ms, 1, 60_000)?;
        within("lockWaitMs", self.lock_wait_ms, 1, 86_400_000)?;
        within("clockSkewMs", self.clock_skew_ms, 0, 86_400_000)?;
        self.poll
            .validate()
            .map_err(|(option, reason)| ConfigError::new(option, reason))
    }
}

/// `value` within `low..=high`, else the refusal naming `option`: "between {low} and {high}",
/// or "at most {high}" when `low` is 0. One builder for every range rather than a message per
/// option in the wasm's data.
fn within(option: &str, value: u64, low: u64, high: u64) -> Result<(), ConfigError> {
    if (low..=high).contains(&value) {
        return Ok(());
    }
    let mut reason = String::new();
    if low == 0 {
        reason.push_str("at most ");
    } else {
        reason.push_str("between ");
        push_u64(&mut reason, low);
        reason.push_str(" and ");
    }
    push_u64(&mut reason, high);
    Err(ConfigError {
        option: option.to_owned(),
        reason,
    })
}

/// The reason given for a member no option has.
const UNKNOWN: &str = "unknown option";

/// The members of `object`, of a member named twice only the last (as serde_json's maps did).
fn members<'o, 'a>(object: &'o Object<'a>) -> impl Iterator<Item = (&'o str, Raw<'a>)> + 'o {
    object
        .members()
        .filter(|(name, value)| object.get(name) == Some(*value))
}

/// Sets the `poll` option `name` from its JSON value.
fn set_poll(poll: &mut PollConfig, name: &str, value: Raw<'_>) -> Result<(), &'static str> {
    match name {
        "fastMs" => {
            // A loop, not `collect::<Option<Vec<_>>>()`: its adapter is 0.3 KB of the wasm.
            const REASON: &str = "must be an array of non-negative integers";
            let items = value.as_array().ok_or(REASON)?;
            let mut fast = Vec::with_capacity(items.len());
            for item in items {
                fast.push(item.as_u64().ok_or(REASON)?);
            }
            poll.fast_ms = fast;
        }
        "baseMs" => poll.base_ms = whole(value)?,
        "capMs" => poll.cap_ms = whole(value)?,
        "floorMs" => poll.floor_ms = whole(value)?,
        "maxDurationMs" => poll.max_duration_ms = whole(value)?,
        "expiryGraceMs" => poll.expiry_grace_ms = whole(value)?,
        "maxQueries" => poll.max_queries = whole32(value)?,
        "longPollSecs" => poll.long_poll_secs = whole32(value)?,
        _ => return Err(UNKNOWN),
    }
    Ok(())
}

fn whole(value: Raw<'_>) -> Result<u64, &'static str> {
    value.as_u64().ok_or("must be a non-negative integer")
}

fn whole32(value: Raw<'_>) -> Result<u32, &'static str> {
    whole(value)?
        .try_into()
        .map_err(|_| "must be an integer below 4294967296")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_json_round_trips() {
        let config = Config::default();
        assert!(config.validate().is_ok());
        let json = serde_json::to_string(&config).expect("serialises");
        assert_eq!(Config::from_json(&json), Ok(config));
        assert_eq!(Config::from_json("{}"), Ok(Config::default()));
    }

    #[test]
    fn errors_name_the_option() {
        let option = |json: &str| Config::from_json(json).map_err(|e| e.option);
        assert_eq!(option(r#"{"prepayTtl": 5}"#), Err("prepayTtl".into()));
        assert_eq!(option(r#"{"prepayTtlMs": "5"}"#), Err("prepayTtlMs".into()));
        assert_eq!(
            option(r#"{"poll": {"capMs": -1}}"#),
            Err("poll.capMs".into())
        );
        assert_eq!(option(r#"{"prepayTtlMs": 5}"#), Err("prepayTtlMs".into()));
        assert_eq!(option(r#"{"scope": "a b"}"#), Err("scope".into()));
        assert_eq!(
            option(r#"{"poll": {"capMs": 1}}"#),
            Err("poll.baseMs".into())
        );
        assert_eq!(option(r#"{"poll": {"cap": 1}}"#), Err("poll.cap".into()));
        assert_eq!(option("{"), Err("options".into()));
        assert_eq!(option("[]"), Err("options".into()));
    }

    #[test]
    fn range_refusals_state_the_range() {
        let message = |json: &str| Config::from_json(json).map_err(|e| e.message());
        assert_eq!(
            message(r#"{"prepayTtlMs": 999}"#),
            Err("invalid option `prepayTtlMs`: between 1000 and 604800000".into())
        );
        assert_eq!(
            message(r#"{"createRetries": 21}"#),
            Err("invalid option `createRetries`: at most 20".into())
        );
        assert_eq!(
            message(r#"{"lockWaitMs": 0}"#),
            Err("invalid option `lockWaitMs`: between 1 and 86400000".into())
        );
        assert_eq!(
            message(r#"{"clockSkewMs": 86400001}"#),
            Err("invalid option `clockSkewMs`: at most 86400000".into())
        );
    }
}
