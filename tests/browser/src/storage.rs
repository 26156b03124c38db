//! `storage`: records land where the page expects, and a failing storage falls back to memory
//! with one warning.

use checkout_guard::wasm::errors::ErrorCode;
use checkout_guard::wasm::storage::Store;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

fn js(source: &str) -> JsValue {
    js_sys::eval(&format!("({source})")).unwrap_or(JsValue::UNDEFINED)
}

#[wasm_bindgen_test]
fn a_custom_storage_object_is_used() {
    let backing = js(
        "(() => { const m = new Map(); return { m, getItem: k => m.has(k) ? m.get(k) : null, \
         setItem: (k, v) => m.set(k, String(v)), removeItem: k => m.delete(k) }; })()",
    );
    let store = Store::custom(&backing).unwrap_or_else(|_| panic!("a storage-like object"));
    store.set("k", "v");
    let map = js_sys::Reflect::get(&backing, &"m".into()).unwrap_or(JsValue::NULL);
    let inner: js_sys::Map = wasm_bindgen::JsCast::unchecked_into(map);
    assert_eq!(inner.get(&"k".into()).as_string().as_deref(), Some("v"));
    assert_eq!(store.get("k").as_deref(), Some("v"));
}

#[wasm_bindgen_test]
fn a_full_storage_falls_back_to_memory_with_one_warning() {
    let full = js("{ getItem: () => null, setItem: () => { throw new DOMException('full', 'QuotaExceededError'); }, removeItem: () => {} }");
    let store = Store::custom(&full).unwrap_or_else(|_| panic!("a storage-like object"));
    store.set("a", "1");
    store.set("b", "2");
    assert_eq!(store.get("a").as_deref(), Some("1"));
    assert_eq!(store.get("b").as_deref(), Some("2"));
    let warnings = store.take_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains("setItem"), "{warnings:?}");
    assert!(store.take_warnings().is_empty());
    store.remove("a");
    assert_eq!(store.get("a"), None);
}

#[wasm_bindgen_test]
fn a_later_successful_write_wins_over_the_memory_copy() {
    let flaky = js("(() => { let fail = true; const m = new Map(); return { m, heal() { fail = false; }, \
         getItem: k => m.has(k) ? m.get(k) : null, \
         setItem: (k, v) => { if (fail) throw new Error('disabled'); m.set(k, v); }, removeItem: k => m.delete(k) }; })()");
    let store = Store::custom(&flaky).unwrap_or_else(|_| panic!("a storage-like object"));
    store.set("k", "old");
    let _ = js_sys::Reflect::get(&flaky, &"heal".into())
        .ok()
        .and_then(|f| wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(f).ok())
        .map(|f| f.call0(&flaky));
    store.set("k", "new");
    assert_eq!(store.get("k").as_deref(), Some("new"));
}

#[wasm_bindgen_test]
fn an_object_without_the_methods_is_invalid_options() {
    match Store::custom(&js("{ getItem() {} }")) {
        Ok(_) => panic!("accepted an object without setItem"),
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidOptions),
    }
}
