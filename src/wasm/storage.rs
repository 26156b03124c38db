//! Where the guard's per-order records live: `localStorage` by default, any object with
//! `getItem` / `setItem` / `removeItem`, and an in-memory fallback.
//!
//! Storage can fail in ordinary browsers: Safari's private mode and sandboxed iframes throw on
//! access, a full quota throws on `setItem`, a user can disable it. Losing the record must not
//! lose the payment in progress, so a failing write goes to memory instead (the page keeps its
//! guarantees until it is closed; the server's one-live-attempt rule covers the rest) and a
//! warning is queued for the page's `storage` event. Reads look in memory first, so the latest
//! write wins whichever place took it.

use super::errors::{describe, ErrorCode, GuardError};
use super::global::method;
use super::table::Table;
use js_sys::Function;
use std::cell::RefCell;
use wasm_bindgen::JsValue;

/// Why the store fell back to memory; reported once per store, when it first happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageWarning {
    /// What failed, e.g. "setItem threw: QuotaExceededError".
    pub message: String,
}

/// The three methods of a `Storage`-like object.
struct Backend {
    target: JsValue,
    get_item: Function,
    set_item: Function,
    remove_item: Function,
}

/// A key-value store with an in-memory overlay for when the backend fails.
pub struct Store {
    backend: Option<Backend>,
    memory: RefCell<Table<String, String>>,
    warned: RefCell<bool>,
    warnings: RefCell<Vec<StorageWarning>>,
}

impl Store {
    /// A caller's `{ getItem, setItem, removeItem }` object; `invalid_options` when it is not.
    pub fn custom(target: &JsValue) -> Result<Store, GuardError> {
        Backend::of(target).map(|b| Store::with_backend(Some(b))).ok_or_else(|| {
            GuardError::new(
                ErrorCode::InvalidOptions,
                "invalid option `storage`: 'local', 'memory' or an object with getItem, setItem and removeItem",
            )
        })
    }

    /// Memory only, on purpose (no warning): tests, server-side rendering.
    pub fn memory() -> Store {
        Store::with_backend(None)
    }

    fn with_backend(backend: Option<Backend>) -> Store {
        Store {
            backend,
            memory: RefCell::new(Table::new()),
            warned: RefCell::new(false),
            warnings: RefCell::new(Vec::new()),
        }
    }

    /// The value under `key`, if any (a backend that throws on read counts as empty there).
    pub fn get(&self, key: &str) -> Option<String> {
        if let Some(value) = self.memory.borrow().get(key) {
            return Some(value.clone());
        }
        let backend = self.backend.as_ref()?;
        match backend
            .get_item
            .call1(&backend.target, &JsValue::from_str(key))
        {
            Ok(value) => value.as_string(),
            Err(e) => {
                self.warn(["getItem threw: ", &describe(&e)].concat());
                None
            }
        }
    }

    /// Stores `value` under `key`: in the backend, or in memory when the backend fails.
    pub fn set(&self, key: &str, value: &str) {
        if let Some(backend) = &self.backend {
            let args = (JsValue::from_str(key), JsValue::from_str(value));
            match backend.set_item.call2(&backend.target, &args.0, &args.1) {
                Ok(_) => {
                    self.memory.borrow_mut().remove(key);
                    return;
                }
                Err(e) => self.warn(
                    [
                        "setItem threw (",
                        &describe(&e),
                        "); records are kept in memory",
                    ]
                    .concat(),
                ),
            }
        }
        self.memory
            .borrow_mut()
            .insert(key.to_owned(), value.to_owned());
    }

    /// Deletes `key` everywhere it may be.
    pub fn remove(&self, key: &str) {
        self.memory.borrow_mut().remove(key);
        if let Some(backend) = &self.backend {
            if let Err(e) = backend
                .remove_item
                .call1(&backend.target, &JsValue::from_str(key))
            {
                self.warn(["removeItem threw: ", &describe(&e)].concat());
            }
        }
    }

    /// The warnings queued since the last call, for the page's `storage` event.
    pub fn take_warnings(&self) -> Vec<StorageWarning> {
        std::mem::take(&mut *self.warnings.borrow_mut())
    }

    /// Queues `message` unless this store already warned: one event per page is enough.
    fn warn(&self, message: String) {
        if !self.warned.replace(true) {
            self.warnings.borrow_mut().push(StorageWarning { message });
        }
    }
}

impl Backend {
    fn of(target: &JsValue) -> Option<Backend> {
        Some(Backend {
            target: target.clone(),
            get_item: method(target, "getItem")?,
            set_item: method(target, "setItem")?,
            remove_item: method(target, "removeItem")?,
        })
    }
}
