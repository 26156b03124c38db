//! The guard's tuning: what the core decides with. Platform options (storage, endpoints,
//! the launcher) belong to the shells.

use super::schedule::PollConfig;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An option has a wrong value; `option` is its name as the JS options object spells it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid option `{option}`: {reason}")]
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
}

/// The core's configuration. Deserialises from the camelCase JSON the shells pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
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
    /// Parses the JSON form (unknown keys and wrong types are errors naming the option).
    pub fn from_json(json: &str) -> Result<Config, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| ConfigError::new("options", &format!("not JSON: {e}")))?;
        if !value.is_object() {
            return Err(ConfigError::new("options", "must be an object"));
        }
        let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            // The path names the offending key, unknown keys included: `poll.capMs`.
            let option = e.path().to_string();
            let reason = e.inner().to_string();
            ConfigError { option, reason }
        })?;
        config.validate()?;
        Ok(config)
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
        if !(1000..=7 * 86_400_000).contains(&self.prepay_ttl_ms) {
            return Err(ConfigError::new(
                "prepayTtlMs",
                "between 1000 and 604800000",
            ));
        }
        if self.expiry_margin_ms >= self.prepay_ttl_ms {
            return Err(ConfigError::new(
                "expiryMarginMs",
                "must be less than prepayTtlMs",
            ));
        }
        if self.create_retries > 20 {
            return Err(ConfigError::new("createRetries", "at most 20"));
        }
        if !(1..=60_000).contains(&self.create_retry_ms) {
            return Err(ConfigError::new("createRetryMs", "between 1 and 60000"));
        }
        if !(1000..=3_600_000).contains(&self.launch_timeout_ms) {
            return Err(ConfigError::new(
                "launchTimeoutMs",
                "between 1000 and 3600000",
            ));
        }
        if !(1..=60_000).contains(&self.lock_retry_ms) {
            return Err(ConfigError::new("lockRetryMs", "between 1 and 60000"));
        }
        if self.lock_wait_ms == 0 || self.lock_wait_ms > 86_400_000 {
            return Err(ConfigError::new("lockWaitMs", "between 1 and 86400000"));
        }
        if self.clock_skew_ms > 86_400_000 {
            return Err(ConfigError::new("clockSkewMs", "at most 86400000"));
        }
        self.poll
            .validate()
            .map_err(|(option, reason)| ConfigError::new(option, reason))
    }
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
}
