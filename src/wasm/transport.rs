//! HTTP for the guard's two requests: `fetch` with a time-out, returning status, `Retry-After`
//! and body text.
//!
//! No payment semantics and no wire format here: what is sent (method, URL, headers, body) and
//! what a 409 or a body means are the core's business (`core::contract`, [`Request`]). This
//! module only moves the bytes, adds the page's own headers, and guarantees that every request
//! ends, either with a reply or with [`TransportError`], within its time-out.
//!
//! `fetch` is the global one unless the caller supplies their own (a mini-program adapter, a
//! test): anything called as `fetch(url, init)` that resolves to an object with `status`,
//! `headers.get()` and `text()` works.

use super::errors::describe;
use super::global::{clear_timeout, method, set_timeout};
use crate::core::contract::{Request, OWN_HEADERS};
use js_sys::{Array, Function, Object, Promise, Reflect};
use std::cell::Cell;
use std::rc::Rc;
use thiserror::Error;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// No reply: the core treats both alike (the request may or may not have reached the server).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    #[error("no reply within {0} ms")]
    Timeout(u64),
    #[error("network error: {0}")]
    Network(String),
}

#[wasm_bindgen]
extern "C" {
    /// The global `AbortController`, bound here rather than through web-sys so that the
    /// mini-program build (which links no web-sys) shares this module. Missing there: the
    /// constructor then throws and the deadline works without it.
    #[derive(Clone)]
    type AbortController;

    #[wasm_bindgen(constructor, catch)]
    fn new() -> Result<AbortController, JsValue>;

    #[wasm_bindgen(method)]
    fn abort(this: &AbortController);

    #[wasm_bindgen(method, getter)]
    fn signal(this: &AbortController) -> JsValue;
}

/// Headers the page adds to every request (a buyer token the payment center asks for).
#[derive(Clone, Default)]
pub enum ExtraHeaders {
    /// None.
    #[default]
    None,
    /// The same ones every time, validated with the options.
    Fixed(Vec<(String, String)>),
    /// `headers()` called for each request (a token that is refreshed): what it returns is
    /// checked then, and a request whose headers cannot be built is not sent (a network error
    /// for the core: the same key again later, never a new one).
    Computed(Function),
}

/// Checks one extra header: an HTTP token for the name, no CR/LF in the value, not one of the
/// guard's own.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(["`", name, "` is not a header name"].concat());
    }
    if OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err([name, " is set by the guard itself"].concat());
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(["the value of ", name, " has a line break"].concat());
    }
    Ok(())
}

/// `{ name: value, … }` as checked header pairs.
pub fn header_pairs(object: &JsValue) -> Result<Vec<(String, String)>, String> {
    if !object.is_object() || object.is_function() || Array::is_array(object) {
        return Err("must be an object of header names to string values".into());
    }
    let mut pairs = Vec::new();
    for key in Object::keys(object.unchecked_ref::<Object>()).iter() {
        let name = key.as_string().unwrap_or_default();
        let value = Reflect::get(object, &key)
            .ok()
            .and_then(|v| v.as_string())
            .ok_or_else(|| ["the value of ", &name, " must be a string"].concat())?;
        check_header(&name, &value)?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// A `fetch` function and how to call it.
pub struct Transport {
    fetch: Function,
    extra: ExtraHeaders,
}

impl Transport {
    /// A caller-supplied `fetch(url, init)`.
    pub fn custom(fetch: Function) -> Transport {
        Transport {
            fetch,
            extra: ExtraHeaders::None,
        }
    }

    /// The same transport adding `extra` to every request.
    pub fn with_headers(self, extra: ExtraHeaders) -> Transport {
        Transport { extra, ..self }
    }

    /// The extra headers for one request, or why they cannot be had.
    fn extra_headers(&self) -> Result<Vec<(String, String)>, TransportError> {
        match &self.extra {
            ExtraHeaders::None => Ok(Vec::new()),
            ExtraHeaders::Fixed(pairs) => Ok(pairs.clone()),
            ExtraHeaders::Computed(headers) => {
                let value = headers.call0(&JsValue::UNDEFINED).map_err(|e| {
                    TransportError::Network(["headers() threw: ", &describe(&e)].concat())
                })?;
                header_pairs(&value)
                    .map_err(|e| TransportError::Network(["headers(): ", &e].concat()))
            }
        }
    }

    /// Sends `request` and reads the whole reply, or fails within `timeout_ms` (plus the
    /// long-poll hold the request asks for).
    pub async fn send(
        &self,
        request: &Request,
        timeout_ms: u32,
    ) -> Result<HttpResponse, TransportError> {
        let timeout_ms = u64::from(timeout_ms) + u64::from(request.wait_secs) * 1000;
        let extra = self.extra_headers()?;
        let deadline = Deadline::start(timeout_ms);
        let init = init_object(request, &extra, timeout_ms, deadline.signal());
        let url = JsValue::from_str(&request.url);
        let pending = self
            .fetch
            .call2(&js_sys::global(), &url, &init)
            .map_err(|e| TransportError::Network(describe(&e)))?;
        let response = deadline.race(pending).await?;
        let status = Reflect::get(&response, &"status".into())
            .ok()
            .and_then(|s| s.as_f64())
            .filter(|s| (0.0..=999.0).contains(s))
            .ok_or_else(|| TransportError::Network("fetch resolved without a status".into()))?;
        let retry_after = header(&response, "Retry-After");
        let text = method(&response, "text")
            .ok_or_else(|| TransportError::Network("the response has no text()".into()))?
            .call0(&response)
            .map_err(|e| TransportError::Network(describe(&e)))?;
        let body = deadline.race(text).await?.as_string().unwrap_or_default();
        Ok(HttpResponse {
            status: status as u16,
            retry_after,
            body,
        })
    }
}

/// The `init` argument of `fetch`: a plain object, so custom fetches need no DOM types.
/// `timeoutMs` (ignored by `fetch`) lets an adapter without `AbortController` (the
/// mini-program's `wx.request`) end the native request at the same deadline.
fn init_object(
    request: &Request,
    extra: &[(String, String)],
    timeout_ms: u64,
    signal: Option<JsValue>,
) -> JsValue {
    let headers = Object::new();
    let init = Object::new();
    // Setting properties on fresh plain objects cannot fail.
    let set = |target: &Object, key: &str, value: &JsValue| {
        let _ = Reflect::set(target, &JsValue::from_str(key), value);
    };
    set(&init, "method", &request.method.as_str().into());
    // The page's own first: the guard's below always win (they are checked not to clash).
    for (name, value) in extra {
        set(&headers, name, &value.as_str().into());
    }
    for (name, value) in &request.headers {
        set(&headers, name, &value.as_str().into());
    }
    if let Some(body) = &request.body {
        set(&init, "body", &body.as_str().into());
    }
    set(&init, "headers", &headers);
    // A status answer must come from the server, never from an HTTP cache.
    set(&init, "cache", &"no-store".into());
    set(&init, "timeoutMs", &(timeout_ms as f64).into());
    if let Some(signal) = signal {
        set(&init, "signal", &signal);
    }
    init.into()
}

/// `response.headers.get(name)`, if there is such a header.
fn header(response: &JsValue, name: &str) -> Option<String> {
    let headers = Reflect::get(response, &"headers".into()).ok()?;
    method(&headers, "get")?
        .call1(&headers, &name.into())
        .ok()?
        .as_string()
}

/// A request's time-out: a promise that rejects when it passes (to race against each step)
/// and an `AbortController` it aborts, so the browser drops the connection too.
struct Deadline {
    ms: u64,
    expired: Promise,
    fired: Rc<Cell<bool>>,
    controller: Option<AbortController>,
    handle: JsValue,
    _on_expiry: Closure<dyn FnMut()>,
}

impl Deadline {
    fn start(ms: u64) -> Deadline {
        let mut reject = None;
        let expired = Promise::new(&mut |_, r| reject = Some(r));
        let fired = Rc::new(Cell::new(false));
        // Missing in old runtimes: the race still ends the wait, only the socket lingers.
        let controller = AbortController::new().ok();
        let on_expiry = {
            let (fired, controller) = (fired.clone(), controller.clone());
            Closure::<dyn FnMut()>::new(move || {
                fired.set(true);
                if let Some(controller) = &controller {
                    controller.abort();
                }
                if let Some(reject) = &reject {
                    let _ = reject.call0(&JsValue::UNDEFINED);
                }
            })
        };
        let handle = set_timeout(on_expiry.as_ref().unchecked_ref(), ms as f64);
        Deadline {
            ms,
            expired,
            fired,
            controller,
            handle,
            _on_expiry: on_expiry,
        }
    }

    fn signal(&self) -> Option<JsValue> {
        self.controller.as_ref().map(|c| c.signal())
    }

    /// Awaits `step` unless the deadline passes first.
    async fn race(&self, step: JsValue) -> Result<JsValue, TransportError> {
        let both = Array::of2(&step, &self.expired);
        JsFuture::from(Promise::race(&both)).await.map_err(|e| {
            if self.fired.get() {
                TransportError::Timeout(self.ms)
            } else {
                TransportError::Network(describe(&e))
            }
        })
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        clear_timeout(&self.handle);
    }
}
