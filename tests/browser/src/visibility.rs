//! `visibility`: "the buyer is back" fires on visible and on a back-forward restore only.

use checkout_guard::wasm::visibility::Watcher;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

fn dispatch(source: &str) {
    let _ = js_sys::eval(source).unwrap_or(JsValue::UNDEFINED);
}

#[wasm_bindgen_test]
fn visible_again_and_bfcache_restore_call_back() {
    let shown = Rc::new(Cell::new(0));
    let counter = shown.clone();
    let watcher = Watcher::watch(move || counter.set(counter.get() + 1));
    let watcher = watcher.unwrap_or_else(|| panic!("a browser has a document"));
    assert_eq!(
        js_sys::eval("document.visibilityState")
            .ok()
            .and_then(|v| v.as_string())
            .as_deref(),
        Some("visible")
    );
    dispatch("document.dispatchEvent(new Event('visibilitychange'))");
    assert_eq!(shown.get(), 1);
    dispatch("dispatchEvent(new PageTransitionEvent('pageshow', { persisted: false }))");
    assert_eq!(shown.get(), 1, "a first load is not a return");
    dispatch("dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))");
    assert_eq!(shown.get(), 2);
    drop(watcher);
    dispatch("document.dispatchEvent(new Event('visibilitychange'))");
    assert_eq!(shown.get(), 2, "listeners are removed on drop");
}
