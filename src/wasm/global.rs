//! Bindings to globals, looked up on `globalThis` rather than `window`.
//!
//! `web_sys::window()` is `None` in Node, a worker or a mini-program; these bindings work in
//! all of them. Node's `setTimeout` returns an object, browsers' a number: the handle is kept
//! as an opaque `JsValue` and only ever handed back to `clearTimeout`.

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The global `setTimeout(handler, ms)`; returns the handle for [`clear_timeout`].
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(handler: &Function, ms: f64) -> JsValue;

    /// The global `clearTimeout(handle)`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(handle: &JsValue);
}

/// `globalThis[name]`, or `None` when it is missing (`undefined` or `null`) or throws.
pub fn property(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `target[name]` as a function, if it is one.
pub fn method(target: &JsValue, name: &str) -> Option<Function> {
    Reflect::get(target, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.dyn_into::<Function>().ok())
}
