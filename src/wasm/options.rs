//! The `CheckoutGuard` constructor's options, validated before anything else happens.
//!
//! Unknown keys, wrong types and impossible values are `invalid_options` errors whose message
//! names the option (`invalid option \`poll.capMs\`: …`): a typo must fail on the developer's
//! machine, not silently fall back to a default in a buyer's browser. The platform options are
//! read here; every other key is the core's tuning and goes to [`Config::from_json`], which
//! knows its own names.

use super::errors::{ErrorCode, GuardError};
use super::order::to_canonical;
use super::transport::{header_pairs, ExtraHeaders};
use crate::core::config::Config;
use crate::core::contract::{names_order, Endpoints};
use crate::core::json::Writer;
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// How long one request may take, long-poll wait excluded, when not given (ms).
pub const DEFAULT_REQUEST_TIMEOUT_MS: u32 = 15_000;

/// Which shell the options are for: they differ only in the platform options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `CheckoutGuard`: `fetch` (default: the global one), `storage` `'local'` by default.
    Browser,
    /// `MiniProgramGuard`: `request` (a `fetch`-shaped adapter over `wx.request`) and `storage`
    /// (the `wx.*StorageSync` adapter, or `'memory'`) are required: there are no globals to
    /// default to.
    MiniProgram,
}

/// Where records are kept.
pub enum StorageChoice {
    Local,
    Memory,
    Custom(JsValue),
}

/// Everything the shell needs, validated.
pub struct ShellOptions {
    pub namespace: String,
    /// Where the three requests go (the contract's defaults unless `endpoints` says).
    pub endpoints: Endpoints,
    pub launch: Function,
    pub storage: StorageChoice,
    pub request_timeout_ms: u32,
    /// The `fetch`-shaped transport function: the `fetch` option in browsers, `request` in
    /// mini-programs.
    pub fetch: Option<Function>,
    /// `headers`: added to every request (e.g. the payment center's buyer token).
    pub headers: ExtraHeaders,
    /// `prepare(order)`: called synchronously when a payment starts (inside the click's user
    /// activation), its result handed to `launch` as `context.prepared`.
    pub prepare: Option<Function>,
    /// `dismiss(prepared)`: called when a payment ends without `launch` taking the prepared
    /// value (paid, pending, refused), so a window opened on the click does not linger.
    pub dismiss: Option<Function>,
    pub config: Config,
}

fn invalid(option: &str, reason: &str) -> GuardError {
    GuardError::new(
        ErrorCode::InvalidOptions,
        ["invalid option `", option, "`: ", reason].concat(),
    )
}

fn is_plain_object(value: &JsValue) -> bool {
    value.is_object() && !value.is_function() && !Array::is_array(value)
}

/// Reads and checks `options` for the `flavour` shell.
pub fn parse(options: &JsValue, flavour: Flavour) -> Result<ShellOptions, GuardError> {
    if !is_plain_object(options) {
        return Err(invalid("options", "must be an object"));
    }
    let mut namespace = "default".to_owned();
    let mut endpoints = Endpoints::default();
    let mut launch = None;
    let mut storage = match flavour {
        Flavour::Browser => Some(StorageChoice::Local),
        Flavour::MiniProgram => None,
    };
    let mut request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
    let mut fetch = None;
    let mut headers = ExtraHeaders::None;
    let (mut prepare, mut dismiss) = (None, None);
    // The core's options, as the JSON object `Config::from_json` reads.
    let mut core = Writer::new();
    for key in Object::keys(options.unchecked_ref::<Object>()).iter() {
        let name = key.as_string().unwrap_or_default();
        let value = Reflect::get(options, &key).unwrap_or(JsValue::UNDEFINED);
        match name.as_str() {
            "namespace" => namespace = namespace_of(&value)?,
            "endpoints" => endpoints = endpoints_of(&value)?,
            "launch" => launch = Some(function_of("launch", value)?),
            "fetch" if flavour == Flavour::Browser => fetch = Some(function_of("fetch", value)?),
            "request" if flavour == Flavour::MiniProgram => {
                fetch = Some(function_of("request", value)?)
            }
            "storage" => storage = Some(storage_of(value, flavour)?),
            "requestTimeoutMs" => request_timeout_ms = timeout_of(&value)?,
            "headers" => headers = headers_of(value)?,
            "prepare" => prepare = Some(function_of("prepare", value)?),
            "dismiss" => dismiss = Some(function_of("dismiss", value)?),
            _ => {
                // As canonical JSON: numbers as JavaScript prints them, 2000 (a double) as
                // `2000`, which the core's integer options accept.
                let json = to_canonical(&value).map_err(|e| invalid(&name, &e.message))?;
                core.raw(&name, &json);
            }
        }
    }
    let launch = launch.ok_or_else(|| {
        invalid(
            "launch",
            "required: async (prepay, { orderNo, attemptId }) => 'ok' | 'cancelled' | 'failed'",
        )
    })?;
    if flavour == Flavour::MiniProgram && fetch.is_none() {
        return Err(invalid(
            "request",
            "required: (url, { method, headers, body, timeoutMs }) => Promise<{ status, headers: { get }, text() }>",
        ));
    }
    let storage = storage.ok_or_else(|| {
        invalid(
            "storage",
            "required: 'memory' or { getItem, setItem, removeItem }",
        )
    })?;
    let config = Config::from_json(&core.finish())
        .map_err(|e| GuardError::new(ErrorCode::InvalidOptions, e.message()))?;
    Ok(ShellOptions {
        namespace,
        endpoints,
        launch,
        storage,
        request_timeout_ms,
        fetch,
        headers,
        prepare,
        dismiss,
        config,
    })
}

fn namespace_of(value: &JsValue) -> Result<String, GuardError> {
    let text = value.as_string().unwrap_or_default();
    let ok = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(text)
    } else {
        Err(invalid(
            "namespace",
            "1–64 characters of A–Z a–z 0–9 - _ . :",
        ))
    }
}

fn endpoints_of(value: &JsValue) -> Result<Endpoints, GuardError> {
    if !is_plain_object(value) {
        return Err(invalid("endpoints", "must be { create, status, submit }"));
    }
    let mut endpoints = Endpoints::default();
    for key in Object::keys(value.unchecked_ref::<Object>()).iter() {
        let name = key.as_string().unwrap_or_default();
        let option = ["endpoints.", &name].concat();
        let url = Reflect::get(value, &key).ok().and_then(|v| v.as_string());
        match name.as_str() {
            "create" | "status" => {
                let url = url
                    .filter(|u| names_order(u))
                    .ok_or_else(|| invalid(&option, "a URL template containing {orderNo}"))?;
                if name == "create" {
                    endpoints.create = url;
                } else {
                    endpoints.status = url;
                }
            }
            "submit" => {
                endpoints.submit = url
                    .filter(|u| !u.is_empty() && !names_order(u))
                    .ok_or_else(|| invalid(&option, "a URL (the order has no number yet)"))?;
            }
            _ => {
                return Err(invalid(
                    &option,
                    "unknown: endpoints has create, status and submit",
                ))
            }
        }
    }
    Ok(endpoints)
}

/// `headers`: `{ name: value }`, checked now, or a function returning one for each request.
fn headers_of(value: JsValue) -> Result<ExtraHeaders, GuardError> {
    if value.is_function() {
        return Ok(ExtraHeaders::Computed(value.unchecked_into()));
    }
    header_pairs(&value)
        .map(ExtraHeaders::Fixed)
        .map_err(|e| invalid("headers", &e))
}

fn function_of(option: &str, value: JsValue) -> Result<Function, GuardError> {
    value
        .dyn_into::<Function>()
        .map_err(|_| invalid(option, "must be a function"))
}

fn storage_of(value: JsValue, flavour: Flavour) -> Result<StorageChoice, GuardError> {
    match value.as_string().as_deref() {
        Some("local") if flavour == Flavour::Browser => Ok(StorageChoice::Local),
        Some("memory") => Ok(StorageChoice::Memory),
        Some(_) => Err(invalid(
            "storage",
            "'local', 'memory' or { getItem, setItem, removeItem }",
        )),
        None if is_plain_object(&value) => Ok(StorageChoice::Custom(value)),
        None => Err(invalid(
            "storage",
            "'local', 'memory' or { getItem, setItem, removeItem }",
        )),
    }
}

fn timeout_of(value: &JsValue) -> Result<u32, GuardError> {
    value
        .as_f64()
        .filter(|ms| ms.fract() == 0.0 && (1000.0..=120_000.0).contains(ms))
        .map(|ms| ms as u32)
        .ok_or_else(|| invalid("requestTimeoutMs", "an integer between 1000 and 120000"))
}
