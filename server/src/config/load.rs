//! Where a [`Config`] comes from when the server runs as a program: flags, the environment
//! and a TOML file, in that order of precedence, over the defaults.
//!
//! Every setting has one name, spelled as in the TOML file (`buyer_token_ttl_secs`); its
//! environment variable is `CG_` + the name in capitals (`CG_BUYER_TOKEN_TTL_SECS`) and its
//! flag is the name in kebab case (`--buyer-token-ttl-secs`). A secret (`admin_token`,
//! `notify_secret`, `api_key`, `buyer_token_secret`, `webhook_secret`) may instead be read
//! from a file, named by the same setting with `_file` (`CG_API_KEY_FILE`, `--api-key-file`,
//! `api_key_file =`):
//! what container platforms mount. Secrets have no value flags except the two the demo used
//! before (`--admin-token`, `--notify-secret`): a command line is visible to every user of the
//! machine.
//!
//! Values are taken as text from each source and parsed once, after the precedence is
//! decided, so a bad value is reported the same way wherever it came from: a
//! [`ConfigError`] naming the setting.

use super::{Config, ConfigError, Profile, ProviderKind, Settings, Storage};
use crate::provider::wechatpay::WechatPayConfig;
use crate::secret::Secret;
use checkout_guard_wechatpay::UnixSeconds;
use clap::Parser;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The flags. Every value is optional text: the defaults live in [`Config::default`], and a
/// flag that is absent lets the environment or the file decide.
#[derive(Debug, Default, Parser)]
#[command(
    name = "checkout-guard-server",
    version,
    about = "The checkout-guard payment center: the guard's contract, a business-system API, \
             a simulated provider. Flags > CG_* environment > --config TOML file > defaults."
)]
pub struct Flags {
    /// A TOML config file (`CG_CONFIG`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `production` (default) or `demo` (alias `test`): the demo/test surface.
    #[arg(long)]
    pub profile: Option<String>,
    /// Address to listen on (port 0: any free port). Default 127.0.0.1:8080.
    #[arg(long)]
    pub listen: Option<String>,
    /// The store: `sqlite:PATH`, a bare SQLite path, or `:memory:`. Default ./data/demo.sqlite.
    #[arg(long)]
    pub store: Option<String>,
    /// The older spelling of `--store` (a SQLite path or `:memory:`).
    #[arg(long)]
    pub db: Option<String>,
    /// The payment provider: `sim` (in process) or `wechatpay` (WeChat Pay API v3, configured
    /// by the `wechatpay_*` settings in the TOML file or `CG_WECHATPAY_*`).
    #[arg(long)]
    pub provider: Option<String>,
    /// Folder served at `/` (the demo page). Default www.
    #[arg(long)]
    pub www: Option<String>,
    /// Folder served at `/pkg/` (the built wasm package). Default pkg.
    #[arg(long)]
    pub pkg: Option<String>,
    /// How long a prepay is valid, in ms (minimum 1000; WeChat: 2 hours).
    #[arg(long)]
    pub prepay_ttl_ms: Option<String>,
    /// A live attempt is reused only while its prepay has this long left (ms).
    #[arg(long)]
    pub reuse_margin_ms: Option<String>,
    /// Delay before the simulated provider's notify after a confirm (ms).
    #[arg(long)]
    pub notify_delay_ms: Option<String>,
    /// Minimum time between two active provider queries for one order (ms).
    #[arg(long)]
    pub query_interval_ms: Option<String>,
    /// Order-submission window (ms), contract §4.
    #[arg(long)]
    pub submit_window_ms: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long)]
    pub max_body_bytes: Option<String>,
    /// How long a buyer token opens its order, in seconds (default 1800).
    #[arg(long)]
    pub buyer_token_ttl_secs: Option<String>,
    /// Browser origin allowed to call the guard-facing API (repeatable, or comma-separated).
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
    /// Demo profile: refuse admin calls from loopback unless they carry the token.
    #[arg(long)]
    pub admin_token_only: bool,
    /// The admin token (prefer `CG_ADMIN_TOKEN` or `--admin-token-file`).
    #[arg(long)]
    pub admin_token: Option<String>,
    /// A file holding the admin token.
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<String>,
    /// The simulated provider's notify signing key (prefer `CG_NOTIFY_SECRET`).
    #[arg(long)]
    pub notify_secret: Option<String>,
    /// A file holding the notify signing key.
    #[arg(long, value_name = "FILE")]
    pub notify_secret_file: Option<String>,
    /// A file holding the business system's API key(s), comma-separated.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<String>,
    /// A file holding the buyer-token signing secret.
    #[arg(long, value_name = "FILE")]
    pub buyer_token_secret_file: Option<String>,
    /// The business system's webhook URL: paid orders are POSTed there, signed.
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// A file holding the webhook signing secret (or `CG_WEBHOOK_SECRET`).
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<String>,
    /// First webhook retry delay in ms (doubles per try).
    #[arg(long)]
    pub webhook_retry_ms: Option<String>,
    /// Longest webhook retry delay in ms.
    #[arg(long)]
    pub webhook_retry_max_ms: Option<String>,
    /// The sweeper queries attempts untouched for this long (ms).
    #[arg(long)]
    pub sweep_after_ms: Option<String>,
    /// How often the sweeper runs (ms; 0: off).
    #[arg(long)]
    pub sweep_every_ms: Option<String>,
    /// Behind a reverse proxy: the header with the buyer's IP (`x-forwarded-for`, `x-real-ip`).
    #[arg(long)]
    pub client_ip_header: Option<String>,
}

/// Why the program's configuration could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The command line did not parse, or asked for `--help`/`--version` (the caller prints
    /// it and exits, [`clap::Error::exit`]).
    #[error(transparent)]
    Flags(#[from] clap::Error),
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Plain settings (not secrets), by their TOML name.
const PLAIN: &[&str] = &[
    "profile",
    "listen",
    "store",
    "provider",
    "www",
    "pkg",
    "prepay_ttl_ms",
    "reuse_margin_ms",
    "notify_delay_ms",
    "query_interval_ms",
    "submit_window_ms",
    "max_body_bytes",
    "buyer_token_ttl_secs",
    "cors_origins",
    "admin_token_only",
    "webhook_url",
    "webhook_retry_ms",
    "webhook_retry_max_ms",
    "sweep_after_ms",
    "sweep_every_ms",
    "client_ip_header",
    "wechatpay_base_url",
    "wechatpay_mchid",
    "wechatpay_appid",
    "wechatpay_merchant_serial",
    "wechatpay_public_key_id",
    "wechatpay_extra_public_key_id",
    "wechatpay_notify_url",
    "wechatpay_description",
    // PEM text and/or files of platform certificates (read by `platform_certificates`).
    "wechatpay_platform_certificates",
    "wechatpay_platform_certificates_file",
    "wechatpay_download_certificates",
    "wechatpay_certificates_refresh_secs",
];

/// Secrets, by their TOML name; each also has a `<name>_file` form.
const SECRETS: &[&str] = &[
    "admin_token",
    "notify_secret",
    "api_key",
    "buyer_token_secret",
    "webhook_secret",
    "wechatpay_merchant_private_key",
    // Not secrets, but a PEM file is the natural way to give them (`wechatpay_public_key_file`).
    "wechatpay_public_key",
    "wechatpay_extra_public_key",
    "wechatpay_apiv3_key",
];

/// One source's settings, as text, by TOML name (`<secret>_file` for a secret's file).
type Layer = BTreeMap<String, String>;

fn env_name(setting: &str) -> String {
    format!("CG_{}", setting.to_ascii_uppercase())
}

fn flags_layer(flags: &Flags) -> Layer {
    let mut layer = Layer::new();
    let mut put = |name: &str, value: &Option<String>| {
        if let Some(value) = value {
            layer.insert(name.to_owned(), value.clone());
        }
    };
    put("profile", &flags.profile);
    put("listen", &flags.listen);
    put("store", &flags.store.clone().or_else(|| flags.db.clone()));
    put("provider", &flags.provider);
    put("www", &flags.www);
    put("pkg", &flags.pkg);
    put("prepay_ttl_ms", &flags.prepay_ttl_ms);
    put("reuse_margin_ms", &flags.reuse_margin_ms);
    put("notify_delay_ms", &flags.notify_delay_ms);
    put("query_interval_ms", &flags.query_interval_ms);
    put("submit_window_ms", &flags.submit_window_ms);
    put("max_body_bytes", &flags.max_body_bytes);
    put("buyer_token_ttl_secs", &flags.buyer_token_ttl_secs);
    put("admin_token", &flags.admin_token);
    put("admin_token_file", &flags.admin_token_file);
    put("notify_secret", &flags.notify_secret);
    put("notify_secret_file", &flags.notify_secret_file);
    put("api_key_file", &flags.api_key_file);
    put("buyer_token_secret_file", &flags.buyer_token_secret_file);
    put("webhook_url", &flags.webhook_url);
    put("webhook_secret_file", &flags.webhook_secret_file);
    put("webhook_retry_ms", &flags.webhook_retry_ms);
    put("webhook_retry_max_ms", &flags.webhook_retry_max_ms);
    put("sweep_after_ms", &flags.sweep_after_ms);
    put("sweep_every_ms", &flags.sweep_every_ms);
    put("client_ip_header", &flags.client_ip_header);
    if !flags.cors_origins.is_empty() {
        layer.insert("cors_origins".into(), flags.cors_origins.join(","));
    }
    if flags.admin_token_only {
        layer.insert("admin_token_only".into(), "true".into());
    }
    layer
}

fn env_layer(env: &HashMap<String, String>) -> Layer {
    let mut layer = Layer::new();
    let names = PLAIN.iter().map(|n| (*n).to_owned()).chain(
        SECRETS
            .iter()
            .flat_map(|n| [(*n).to_owned(), format!("{n}_file")]),
    );
    for name in names {
        if let Some(value) = env.get(&env_name(&name)) {
            layer.insert(name, value.clone());
        }
    }
    // `CG_DB`, the older spelling of `CG_STORE`.
    if let (false, Some(db)) = (layer.contains_key("store"), env.get("CG_DB")) {
        layer.insert("store".into(), db.clone());
    }
    layer
}

fn file_layer(path: &Path) -> Result<Layer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        ConfigError::new("config", format!("cannot read {}: {err}", path.display()))
    })?;
    let table: toml::Table = text.parse().map_err(|err| {
        ConfigError::new("config", format!("{} is not TOML: {err}", path.display()))
    })?;
    let mut layer = Layer::new();
    for (name, value) in table {
        let known = PLAIN.contains(&name.as_str())
            || SECRETS
                .iter()
                .any(|s| name == *s || name == format!("{s}_file"));
        if !known {
            return Err(ConfigError::new(name, "unknown setting in the config file"));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|item| {
                    item.as_str().map(str::to_owned).ok_or_else(|| {
                        ConfigError::new(name.clone(), "a list must hold strings only")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            _ => {
                return Err(ConfigError::new(
                    name,
                    "must be a string, a number, a boolean or a list of strings",
                ))
            }
        };
        layer.insert(name, text);
    }
    Ok(layer)
}

/// The sources in precedence order.
struct Sources {
    layers: [Layer; 3],
}

impl Sources {
    fn plain(&self, name: &str) -> Option<&str> {
        self.layers
            .iter()
            .find_map(|layer| layer.get(name))
            .map(String::as_str)
    }

    /// The first source that gives the secret, directly or as a file, decides; one source
    /// giving both is refused (which one was meant?).
    fn secret(&self, name: &str) -> Result<Option<Secret>, ConfigError> {
        let file_name = format!("{name}_file");
        for layer in &self.layers {
            match (layer.get(name), layer.get(&file_name)) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        name,
                        format!("both `{name}` and `{file_name}` are given; choose one"),
                    ))
                }
                (Some(value), None) => return Ok(Some(Secret::new(value.clone()))),
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(path).map_err(|err| {
                        // The path is not secret; the file's content is never printed.
                        ConfigError::new(file_name.clone(), format!("cannot read {path}: {err}"))
                    })?;
                    return Ok(Some(Secret::new(text.trim_end_matches(['\n', '\r']))));
                }
                (None, None) => {}
            }
        }
        Ok(None)
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, ConfigError> {
        match self.plain(name) {
            None => Ok(default),
            Some(text) => text.trim().parse().map_err(|_| {
                ConfigError::new(name, format!("{text:?} is not a valid number here"))
            }),
        }
    }
}

/// `wechatpay_platform_certificates` (PEM text: one or more certificates) or
/// `wechatpay_platform_certificates_file` (paths, comma-separated or a TOML list; a directory
/// stands for its `*.pem` files, in name order), from the first source giving either; one
/// source giving both is refused, as for a secret and its `_file`. Each text is returned with
/// where it came from, for the self-check's messages.
fn platform_certificates(s: &Sources) -> Result<Vec<(String, String)>, ConfigError> {
    const TEXT: &str = "wechatpay_platform_certificates";
    const FILES: &str = "wechatpay_platform_certificates_file";
    for layer in &s.layers {
        match (layer.get(TEXT), layer.get(FILES)) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    TEXT,
                    format!("both `{TEXT}` and `{FILES}` are given; choose one"),
                ))
            }
            (Some(pem), None) => return Ok(vec![(format!("`{TEXT}`"), pem.clone())]),
            (None, Some(paths)) => {
                let mut texts = Vec::new();
                for path in list(paths) {
                    let path = PathBuf::from(path);
                    let files = if path.is_dir() {
                        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                            .map_err(|err| {
                                ConfigError::new(
                                    FILES,
                                    format!("cannot read the folder {}: {err}", path.display()),
                                )
                            })?
                            .filter_map(|entry| entry.ok().map(|e| e.path()))
                            .filter(|p| p.extension().is_some_and(|e| e == "pem"))
                            .collect();
                        files.sort();
                        if files.is_empty() {
                            return Err(ConfigError::new(
                                FILES,
                                format!("the folder {} holds no .pem file", path.display()),
                            ));
                        }
                        files
                    } else {
                        vec![path]
                    };
                    for file in files {
                        let text = std::fs::read_to_string(&file).map_err(|err| {
                            ConfigError::new(
                                FILES,
                                format!("cannot read {}: {err}", file.display()),
                            )
                        })?;
                        texts.push((file.display().to_string(), text));
                    }
                }
                return Ok(texts);
            }
            (None, None) => {}
        }
    }
    Ok(Vec::new())
}

/// The `wechatpay_*` settings, self-checked now so that a wrong key stops the start-up with
/// its name instead of failing the first payment.
fn wechatpay_config(s: &Sources) -> Result<WechatPayConfig, ConfigError> {
    let defaults = WechatPayConfig::default();
    let text = |name: &str| s.plain(name).map(|t| t.trim().to_owned());
    let secret = |name: &str| s.secret(name).map(Option::unwrap_or_default);
    let config = WechatPayConfig {
        base_url: text("wechatpay_base_url").unwrap_or(defaults.base_url),
        mchid: text("wechatpay_mchid").unwrap_or_default(),
        appid: text("wechatpay_appid").unwrap_or_default(),
        merchant_serial: text("wechatpay_merchant_serial").unwrap_or_default(),
        merchant_private_key: secret("wechatpay_merchant_private_key")?,
        wechatpay_public_key: secret("wechatpay_public_key")?.expose().to_owned(),
        wechatpay_public_key_id: text("wechatpay_public_key_id").unwrap_or_default(),
        extra_public_keys: extra_public_key(s)?,
        platform_certificates: platform_certificates(s)?,
        download_certificates: s
            .plain("wechatpay_download_certificates")
            .map(|t| parse_bool("wechatpay_download_certificates", t))
            .transpose()?
            .unwrap_or(defaults.download_certificates),
        certificates_refresh_secs: s.number(
            "wechatpay_certificates_refresh_secs",
            defaults.certificates_refresh_secs,
        )?,
        apiv3_key: secret("wechatpay_apiv3_key")?,
        notify_url: text("wechatpay_notify_url").unwrap_or_default(),
        description: text("wechatpay_description").unwrap_or(defaults.description),
        ..defaults
    };
    // Loading is the program's edge: the one place here that reads the clock (for "has this
    // certificate expired?").
    let now = UnixSeconds::from_millis(crate::clock::now_ms());
    config
        .check(now)
        .map_err(|err| ConfigError::new("wechatpay", err.to_string()))?;
    Ok(config)
}

/// `wechatpay_extra_public_key[_file]` + `wechatpay_extra_public_key_id`: the second WeChat
/// Pay public key, accepted beside the first during a rotation of public keys. One without the
/// other is refused here, naming the missing one.
fn extra_public_key(s: &Sources) -> Result<Vec<(String, String)>, ConfigError> {
    let pem = s
        .secret("wechatpay_extra_public_key")?
        .map(|p| p.expose().to_owned())
        .filter(|p| !p.trim().is_empty());
    let id = s
        .plain("wechatpay_extra_public_key_id")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    match (id, pem) {
        (None, None) => Ok(Vec::new()),
        (Some(id), Some(pem)) => Ok(vec![(id, pem)]),
        (Some(_), None) => Err(ConfigError::new(
            "wechatpay_extra_public_key_file",
            "`wechatpay_extra_public_key_id` is set without the key itself",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "wechatpay_extra_public_key_id",
            "the extra public key needs its id (PUB_KEY_ID_…)",
        )),
    }
}

/// The store a URL names: `sqlite:PATH`, `sqlite://PATH`, `:memory:` or a bare path.
fn parse_store(text: &str) -> Result<Storage, ConfigError> {
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return Ok(Storage::Postgres(text.to_owned()));
    }
    let path = text
        .strip_prefix("sqlite://")
        .or_else(|| text.strip_prefix("sqlite:"))
        .unwrap_or(text);
    if path.is_empty() {
        return Err(ConfigError::new("store", "the SQLite path is empty"));
    }
    if path.contains("://") {
        return Err(ConfigError::new(
            "store",
            format!("{text:?}: only sqlite:PATH and :memory: are supported"),
        ));
    }
    Ok(Storage::parse(path))
}

fn parse_bool(name: &str, text: &str) -> Result<bool, ConfigError> {
    match text.trim() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(ConfigError::new(
            name,
            format!("{other:?} is not true or false"),
        )),
    }
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Loads the configuration from `args` (the program name first) and `env`, and checks it
/// ([`Config::validate`]).
pub fn from_sources<I, T>(args: I, env: &HashMap<String, String>) -> Result<Config, LoadError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let flags = Flags::try_parse_from(args)?;
    let config_path = flags
        .config
        .clone()
        .or_else(|| env.get("CG_CONFIG").map(PathBuf::from));
    let file = match &config_path {
        Some(path) => file_layer(path)?,
        None => Layer::new(),
    };
    let sources = Sources {
        layers: [flags_layer(&flags), env_layer(env), file],
    };
    Ok(build(&sources)?)
}

/// Loads the configuration from the process's arguments and environment.
pub fn from_process() -> Result<Config, LoadError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    from_sources(std::env::args_os(), &env)
}

fn build(s: &Sources) -> Result<Config, ConfigError> {
    let defaults = Config::default();
    let base = Settings::default();
    let profile = match s.plain("profile") {
        None => defaults.profile,
        Some(text) => Profile::parse(text.trim()).ok_or_else(|| {
            ConfigError::new("profile", format!("{text:?}: choose production or demo"))
        })?,
    };
    let provider = match s.plain("provider").map(str::trim) {
        None | Some("sim") => ProviderKind::Sim,
        Some("wechatpay") => ProviderKind::WechatPay,
        Some(other) => {
            return Err(ConfigError::new(
                "provider",
                format!("{other:?}: choose `sim` or `wechatpay`"),
            ))
        }
    };
    let wechatpay = match provider {
        ProviderKind::Sim => None,
        ProviderKind::WechatPay => Some(wechatpay_config(s)?),
    };
    let listen = match s.plain("listen") {
        None => defaults.listen,
        Some(text) => text.trim().parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "listen",
                format!("{text:?} is not an address like 127.0.0.1:8080"),
            )
        })?,
    };
    let storage = match s.plain("store") {
        None => defaults.storage,
        Some(text) => parse_store(text.trim())?,
    };
    let settings = Settings {
        prepay_ttl_ms: s.number("prepay_ttl_ms", base.prepay_ttl_ms)?.max(1000),
        reuse_margin_ms: s.number("reuse_margin_ms", base.reuse_margin_ms)?,
        notify_delay_ms: s.number("notify_delay_ms", base.notify_delay_ms)?,
        query_interval_ms: s.number("query_interval_ms", base.query_interval_ms)?,
        submit_window_ms: s.number("submit_window_ms", base.submit_window_ms)?.max(0),
        sweep_after_ms: s.number("sweep_after_ms", base.sweep_after_ms)?.max(0),
        sweep_every_ms: s.number("sweep_every_ms", base.sweep_every_ms)?,
        webhook_retry_ms: s.number("webhook_retry_ms", base.webhook_retry_ms)?.max(1),
        webhook_retry_max_ms: s.number("webhook_retry_max_ms", base.webhook_retry_max_ms)?,
        ..base
    };
    let config = Config {
        profile,
        provider,
        wechatpay,
        listen,
        storage,
        www_dir: s.plain("www").map_or(defaults.www_dir, PathBuf::from),
        pkg_dir: s.plain("pkg").map_or(defaults.pkg_dir, PathBuf::from),
        max_body_bytes: s.number("max_body_bytes", defaults.max_body_bytes)?,
        settings,
        admin_token: s.secret("admin_token")?.filter(|t| !t.is_empty()),
        admin_from_loopback: !s
            .plain("admin_token_only")
            .map(|t| parse_bool("admin_token_only", t))
            .transpose()?
            .unwrap_or(false),
        notify_secret: s.secret("notify_secret")?.filter(|t| !t.is_empty()),
        api_keys: s
            .secret("api_key")?
            .map(|keys| list(keys.expose()).into_iter().map(Secret::from).collect())
            .unwrap_or_default(),
        buyer_token_secret: s.secret("buyer_token_secret")?.filter(|t| !t.is_empty()),
        buyer_token_ttl_secs: s.number("buyer_token_ttl_secs", defaults.buyer_token_ttl_secs)?,
        cors_origins: s.plain("cors_origins").map(list).unwrap_or_default(),
        webhook_url: s
            .plain("webhook_url")
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty()),
        webhook_secret: s.secret("webhook_secret")?.filter(|t| !t.is_empty()),
        client_ip_header: s
            .plain("client_ip_header")
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty()),
    };
    config.validate()?;
    Ok(config)
}
