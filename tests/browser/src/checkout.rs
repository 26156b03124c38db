//! `CheckoutGuard` in the browser: fifty clicks on an attached button make one create
//! request, the button shows the outcome, the record lands in `localStorage`, and a second
//! guard (another tab's) paying the same order meanwhile gets the same outcome, no request.

use checkout_guard::wasm::checkout::CheckoutGuard;
use gloo_timers::future::TimeoutFuture;
use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::HtmlElement;

fn js(source: &str) -> JsValue {
    js_sys::eval(&format!("({source})")).unwrap_or_else(|e| panic!("{source}: {e:?}"))
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// A fake backend on `globalThis.fakeServer`: counts creates, says paid once one exists.
const FAKE_SERVER: &str = "(() => {
  const calls = { create: 0, status: 0 };
  const fetch = async (url, init) => {
    const orderNo = decodeURIComponent(url.split('/')[3]);
    if (init.method === 'POST') {
      calls.create += 1;
      const { fingerprint } = JSON.parse(init.body);
      calls.attempt = { orderNo, attemptId: orderNo + 'x1', fingerprint, prepay: { prepayId: 'wx1' },
        expiresAt: Date.now() + 600000, reused: false };
      return new Response(JSON.stringify(calls.attempt), { status: 201 });
    }
    calls.status += 1;
    const body = calls.attempt ? { orderNo, status: 'paid', attemptId: calls.attempt.attemptId }
      : { orderNo, status: 'none' };
    return new Response(JSON.stringify(body), { status: 200 });
  };
  return { calls, fetch };
})()";

fn options(server: &JsValue, namespace: &str) -> JsValue {
    let options = js(&format!(
        "{{ namespace: '{namespace}', scope: 'buyer-1', launch: async () => 'ok', \
         lockRetryMs: 20, poll: {{ fastMs: [0, 10, 20], baseMs: 20, floorMs: 10 }} }}"
    ));
    let _ = Reflect::set(&options, &"fetch".into(), &get(server, "fetch"));
    options
}

#[wasm_bindgen_test]
async fn fifty_clicks_make_one_create_request() {
    let server = js(FAKE_SERVER);
    let namespace = format!("click{}", js_sys::Date::now() as u64);
    let guard =
        CheckoutGuard::new(options(&server, &namespace)).unwrap_or_else(|e| panic!("{e:?}"));
    let other_tab =
        CheckoutGuard::new(options(&server, &namespace)).unwrap_or_else(|e| panic!("{e:?}"));
    let document = web_sys::window()
        .and_then(|w| w.document())
        .unwrap_or_else(|| panic!("document"));
    let button: HtmlElement = document
        .create_element("button")
        .ok()
        .and_then(|b| b.dyn_into().ok())
        .unwrap_or_else(|| panic!("a button"));
    let _ = document.body().map(|body| body.append_child(&button));
    let get_order: Function =
        js("() => ({ orderNo: 'B20261123001', content: { amount: 1999 } })").unchecked_into();
    let _detach = guard.attach(button.clone().into(), get_order);

    for _ in 0..50 {
        button.click();
    }
    // Meanwhile another tab's guard is asked to pay the same order.
    let order = js("{ orderNo: 'B20261123001', content: { amount: 1999 } }");
    let other = wasm_bindgen_futures::JsFuture::from(other_tab.pay(order));
    assert!(
        button.has_attribute("disabled"),
        "locked synchronously by the first click"
    );
    assert_eq!(button.get_attribute("aria-busy").as_deref(), Some("true"));
    for _ in 0..100 {
        if button.get_attribute("data-checkout-state").as_deref() == Some("paid") {
            break;
        }
        TimeoutFuture::new(10).await;
    }
    let calls = get(&server, "calls");
    assert_eq!(get(&calls, "create").as_f64(), Some(1.0));
    assert_eq!(
        button.get_attribute("data-checkout-state").as_deref(),
        Some("paid")
    );
    assert!(button.has_attribute("disabled"), "paid stays disabled");
    assert_eq!(button.get_attribute("aria-busy"), None);

    let key = format!("checkout-guard/v1/{namespace}/buyer-1/B20261123001");
    let stored = js(&format!("localStorage.getItem('{key}')"));
    let record =
        js_sys::JSON::parse(&stored.as_string().unwrap_or_default()).unwrap_or(JsValue::NULL);
    assert_eq!(get(&record, "state").as_string().as_deref(), Some("paid"));

    let other = other.await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        get(&other, "status").as_string().as_deref(),
        Some("paid"),
        "the other tab too"
    );
    assert_eq!(
        get(&calls, "create").as_f64(),
        Some(1.0),
        "and still one create"
    );
    let _ = js(&format!("localStorage.removeItem('{key}')"));
}
