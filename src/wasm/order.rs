//! A JS value → a JSON value, refusing what JSON cannot say.
//!
//! `JSON.stringify` quietly turns `NaN` and `Infinity` into `null` and drops `undefined`
//! members, so two different orders could hash the same. The fingerprint must be of exactly
//! what the buyer agreed to, so this walk refuses them instead, naming where they are:
//! `NaN`, `±Infinity`, `undefined`, functions, symbols, `BigInt`, strings with lone
//! surrogates, cycles and nesting deeper than [`MAX_DEPTH`]. Like `JSON.stringify` it calls
//! `toJSON` (a `Date` becomes its ISO string) and reads own enumerable string keys.
//!
//! Walking a JS value from wasm costs several boundary crossings per value (about 80 µs for a
//! 1 KB order in Chromium, `cargo xtask bench`). So when the package's hand-written layer has
//! installed its text function ([`set_json_text`]: `canonicalText` of `pkg/shell.js`, the
//! package's JS canonicalizer, which reads the value exactly as this walk does and declines on
//! anything the walk would refuse or might read differently), its text is the canonical form
//! ([`to_canonical`]), in one crossing; it is only checked to be JSON within [`MAX_DEPTH`], not
//! parsed into numbers again (`tests/node/fast-path.test.mjs` holds both canonicalizers to the
//! same bytes). Whenever it declines (returns `undefined`) or its text does not check, the walk
//! runs and decides, with its error naming the path.

use super::errors::{describe, ErrorCode, GuardError};
use crate::core::fingerprint::{canonicalize_value, MAX_DEPTH};
use crate::core::json::{self, Json};
use js_sys::{Array, Function, JsString, Object, Reflect};
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};

thread_local! {
    /// The hand-written layer's `canonicalText(value) -> string | undefined`, once installed.
    static JSON_TEXT: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Installs the fast path: `json_text(value)` returns JSON text of exactly the value this walk
/// would produce (canonical, but any JSON text of it would do), or `undefined` to walk instead.
pub fn set_json_text(json_text: Function) {
    JSON_TEXT.with(|slot| *slot.borrow_mut() = Some(json_text));
}

/// The RFC 8785 canonical JSON of `value` (an order's content, an option's value), or an
/// `invalid_order` error naming the path.
pub fn to_canonical(value: &JsValue) -> Result<String, GuardError> {
    match from_text(value) {
        Some(text) => Ok(text),
        None => Ok(canonicalize_value(&to_json(value)?)?),
    }
}

/// Converts `value` to JSON by walking it, or an `invalid_order` error naming the path.
pub fn to_json(value: &JsValue) -> Result<Json, GuardError> {
    let mut ancestors = Vec::new();
    convert(value, &JsValue::from_str(""), &Path::Root, &mut ancestors)
}

/// The fast path: the installed canonical-text function's answer, if it gave one that is JSON
/// nesting less than [`MAX_DEPTH`] deep (as the walk requires); `None` to walk instead.
fn from_text(value: &JsValue) -> Option<String> {
    let returned = JSON_TEXT.with(|slot| {
        slot.borrow()
            .as_ref()
            .map(|json_text| json_text.call1(&JsValue::UNDEFINED, value))
    })?;
    let text = returned.ok()?.as_string()?;
    json::validate(&text, MAX_DEPTH).ok()?;
    Some(text)
}

/// Where a value sits in the order: `order`, `order.items[1].sku`. Kept as links to the parent
/// and rendered only for an error, so converting a valid order builds no path strings.
enum Path<'a> {
    Root,
    Member(&'a Path<'a>, &'a str),
    Item(&'a Path<'a>, u32),
}

impl Path<'_> {
    fn render(&self) -> String {
        match self {
            Path::Root => "order".to_owned(),
            Path::Member(parent, name) => [&parent.render(), ".", name].concat(),
            Path::Item(parent, i) => {
                let mut out = parent.render();
                out.push('[');
                json::push_u64(&mut out, u64::from(*i));
                out.push(']');
                out
            }
        }
    }
}

fn invalid(path: &Path<'_>, what: &str) -> GuardError {
    GuardError::new(
        ErrorCode::InvalidOrder,
        [&path.render(), " ", what].concat(),
    )
}

fn convert(
    value: &JsValue,
    key: &JsValue,
    path: &Path<'_>,
    ancestors: &mut Vec<JsValue>,
) -> Result<Json, GuardError> {
    let value = apply_to_json(value, key, path)?;
    if value.is_null() {
        return Ok(Json::Null);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Json::Bool(b));
    }
    if let Some(x) = value.as_f64() {
        if x.is_finite() {
            return Ok(Json::Number(x));
        }
        // Named by hand: formatting an f64 would pull float printing into the wasm.
        let what = match x {
            x if x.is_nan() => "is NaN, which JSON cannot represent",
            x if x > 0.0 => "is Infinity, which JSON cannot represent",
            _ => "is -Infinity, which JSON cannot represent",
        };
        return Err(invalid(path, what));
    }
    if let Some(s) = value.dyn_ref::<JsString>() {
        if !s.is_valid_utf16() {
            return Err(invalid(path, "is a string with a lone surrogate"));
        }
        return Ok(Json::String(String::from(s)));
    }
    if value.is_undefined() {
        return Err(invalid(
            path,
            "is undefined (remove the member or use null)",
        ));
    }
    if value.is_function() {
        return Err(invalid(path, "is a function"));
    }
    if value.is_symbol() {
        return Err(invalid(path, "is a symbol"));
    }
    if value.is_bigint() {
        return Err(invalid(path, "is a BigInt (use a number or a string)"));
    }
    if !value.is_object() {
        return Err(invalid(path, "is not a JSON value"));
    }
    if ancestors.contains(&value) {
        return Err(invalid(path, "refers back to itself (a cycle)"));
    }
    if ancestors.len() >= MAX_DEPTH {
        return Err(invalid(path, "nests deeper than 64 levels"));
    }
    ancestors.push(value.clone());
    let result = if Array::is_array(&value) {
        convert_array(value.unchecked_ref(), path, ancestors)
    } else {
        convert_object(value.unchecked_ref(), path, ancestors)
    };
    ancestors.pop();
    result
}

fn convert_array(
    array: &Array,
    path: &Path<'_>,
    ancestors: &mut Vec<JsValue>,
) -> Result<Json, GuardError> {
    let mut items = Vec::with_capacity(array.length() as usize);
    for i in 0..array.length() {
        let item = array.get(i);
        items.push(convert(
            &item,
            &JsValue::from(i),
            &Path::Item(path, i),
            ancestors,
        )?);
    }
    Ok(Json::Array(items))
}

fn convert_object(
    object: &Object,
    path: &Path<'_>,
    ancestors: &mut Vec<JsValue>,
) -> Result<Json, GuardError> {
    let mut members = Vec::new();
    for key in Object::keys(object).iter() {
        let name = key.as_string().unwrap_or_default();
        let member_path = Path::Member(path, &name);
        let member = Reflect::get(object, &key)
            .map_err(|e| invalid(&member_path, &["cannot be read: ", &describe(&e)].concat()))?;
        let member = convert(&member, &key, &member_path, ancestors)?;
        members.push((name, member));
    }
    Ok(Json::Object(members))
}

/// `value.toJSON(key)` when `value` has such a method, as `JSON.stringify` does.
fn apply_to_json(value: &JsValue, key: &JsValue, path: &Path<'_>) -> Result<JsValue, GuardError> {
    if !value.is_object() {
        return Ok(value.clone());
    }
    let method = Reflect::get(value, &JsValue::from_str("toJSON"))
        .map_err(|e| invalid(path, &["cannot be read: ", &describe(&e)].concat()))?;
    match method.dyn_ref::<Function>() {
        Some(to_json) => to_json
            .call1(value, key)
            .map_err(|e| invalid(path, &["toJSON() threw: ", &describe(&e)].concat())),
        None => Ok(value.clone()),
    }
}
