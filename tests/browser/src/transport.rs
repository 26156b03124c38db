//! `transport`: the request `core::contract` built goes out as it is (method, URL, headers,
//! body); status / Retry-After / body back; time-outs.

use checkout_guard::core::contract::{Endpoints, Exchange, Request};
use checkout_guard::core::fingerprint::sha256_hex;
use checkout_guard::core::ids::{IdempotencyKey, OrderNo};
use checkout_guard::core::machine::{Action, RequestId};
use checkout_guard::wasm::transport::{Transport, TransportError};
use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

fn js(source: &str) -> JsValue {
    js_sys::eval(&format!("({source})")).unwrap_or(JsValue::UNDEFINED)
}

fn get(target: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(target.clone(), |v, key| {
        Reflect::get(&v, &key.into()).unwrap_or(JsValue::UNDEFINED)
    })
}

/// A fake `fetch` that records its last call in `globalThis.lastFetch` and answers `reply`.
fn recording_fetch(reply: &str) -> Function {
    js(&format!(
        "(url, init) => {{ globalThis.lastFetch = {{ url, init }}; return Promise.resolve({reply}); }}"
    ))
    .unchecked_into()
}

fn order() -> OrderNo {
    OrderNo::parse("A1").unwrap_or_else(|e| panic!("{e:?}"))
}

/// The create request of order `A1`, as the core builds it.
fn create_request() -> Request {
    let key = IdempotencyKey::parse("0123456789abcdef0123456789abcdef")
        .unwrap_or_else(|e| panic!("{e:?}"));
    let action = Action::SendCreate {
        order_no: order(),
        request: RequestId(1),
        key,
        fingerprint: sha256_hex(b"{}"),
    };
    Exchange::of(action, &Endpoints::default())
        .unwrap_or_else(|| panic!("a request"))
        .request
}

#[wasm_bindgen_test]
async fn create_sends_the_contract_headers_and_reads_the_reply() {
    let fetch = recording_fetch(
        "new Response('{\"error\":\"in_progress\"}', { status: 409, headers: { 'Retry-After': '3' } })",
    );
    let request = create_request();
    let reply = Transport::custom(fetch).send(&request, 5_000).await;
    let reply = reply.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reply.status, 409);
    assert_eq!(reply.retry_after.as_deref(), Some("3"));
    assert_eq!(reply.body, "{\"error\":\"in_progress\"}");
    let call = js("globalThis.lastFetch");
    assert_eq!(
        get(&call, "url").as_string().as_deref(),
        Some("/api/orders/A1/payments")
    );
    assert_eq!(
        get(&call, "init.method").as_string().as_deref(),
        Some("POST")
    );
    assert_eq!(
        get(&call, "init.headers.Idempotency-Key")
            .as_string()
            .as_deref(),
        Some("\"0123456789abcdef0123456789abcdef\"")
    );
    assert_eq!(
        get(&call, "init.headers.Content-Type")
            .as_string()
            .as_deref(),
        Some("application/json")
    );
    assert_eq!(get(&call, "init.body").as_string(), request.body);
    assert!(get(&call, "init.headers.Prefer").is_undefined());
}

#[wasm_bindgen_test]
async fn status_long_poll_sends_prefer_wait() {
    let fetch = recording_fetch("new Response('{}', { status: 200 })");
    let action = Action::SendStatus {
        order_no: order(),
        request: RequestId(2),
        wait_secs: 5,
    };
    let request = Exchange::of(action, &Endpoints::default())
        .unwrap_or_else(|| panic!("a request"))
        .request;
    // The 1 s time-out is extended by the 5 s hold the request asks for.
    let reply = Transport::custom(fetch).send(&request, 1_000).await;
    assert_eq!(reply.map(|r| (r.status, r.retry_after)), Ok((200, None)));
    let call = js("globalThis.lastFetch");
    assert_eq!(
        get(&call, "init.method").as_string().as_deref(),
        Some("GET")
    );
    assert_eq!(
        get(&call, "init.headers.Prefer").as_string().as_deref(),
        Some("wait=5")
    );
    assert!(get(&call, "init.headers.Idempotency-Key").is_undefined());
    assert_eq!(
        get(&call, "init.cache").as_string().as_deref(),
        Some("no-store")
    );
}

#[wasm_bindgen_test]
async fn a_silent_server_times_out_and_the_request_is_aborted() {
    let hanging: Function = js("(url, init) => { globalThis.hungSignal = init.signal; \
         return new Promise((_, reject) => init.signal.addEventListener('abort', \
         () => reject(new DOMException('aborted', 'AbortError')))); }")
    .unchecked_into();
    let reply = Transport::custom(hanging).send(&create_request(), 50).await;
    assert_eq!(reply, Err(TransportError::Timeout(50)));
    assert_eq!(
        get(&js("globalThis"), "hungSignal.aborted").as_bool(),
        Some(true)
    );
}

#[wasm_bindgen_test]
async fn a_fetch_that_rejects_is_a_network_error() {
    let failing: Function =
        js("() => Promise.reject(new TypeError('Failed to fetch'))").unchecked_into();
    let reply = Transport::custom(failing)
        .send(&create_request(), 5_000)
        .await;
    assert_eq!(
        reply,
        Err(TransportError::Network("Failed to fetch".into()))
    );
}
