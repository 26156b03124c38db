//! `MiniProgramGuard`, the class the WeChat mini-program bundle uses: the shared [`Driver`]
//! with adapters over `wx.*` passed in from JavaScript.
//!
//! The loader (`pkg/miniprogram-src/`) builds the adapters: `storage` over
//! `wx.getStorageSync` / `setStorageSync` / `removeStorageSync`, `request` (a `fetch`-shaped
//! function over `wx.request`) and `launch` over `wx.requestPayment`. A mini-program runs one
//! instance at a time, so there is no cross-tab lock and no broadcast (the [`Platform`]
//! defaults); there is no DOM button either: the page binds its button through `setData` (the
//! loader's `bindPay`). The app's `wx.onAppShow` calls [`MiniProgramGuard::page_shown`], the
//! browser's `visibilitychange`.

use super::driver::{Driver, Platform};
use super::errors::{ErrorCode, GuardError};
use super::options::{parse, Flavour, StorageChoice};
use super::pool::seed;
use super::storage::Store;
use super::transport::Transport;
use crate::core::machine::Input;
use js_sys::{Function, Promise};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// Guards every order of one mini-program: `pay`, `resume`, `forget`, `on`, `pageShown`.
#[wasm_bindgen]
pub struct MiniProgramGuard {
    driver: Rc<Driver>,
}

/// One instance, no button of its own: every [`Platform`] default.
struct Alone;

impl Platform for Alone {}

#[wasm_bindgen]
impl MiniProgramGuard {
    /// Validates `options` (errors name the option; `request` and `storage` are required) and
    /// seeds the guard from the entropy pool (`platform` error when the loader has not filled
    /// it).
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<MiniProgramGuard, GuardError> {
        let options = parse(&options, Flavour::MiniProgram)?;
        let seed = seed()?;
        let store = Rc::new(match &options.storage {
            StorageChoice::Custom(object) => Store::custom(object)?,
            StorageChoice::Memory | StorageChoice::Local => Store::memory(),
        });
        let request = options.fetch.clone().ok_or_else(|| {
            GuardError::new(
                ErrorCode::InvalidOptions,
                "invalid option `request`: required",
            )
        })?;
        let transport = Transport::custom(request).with_headers(options.headers.clone());
        let driver = Driver::new(options, seed, store, transport, |_| Rc::new(Alone))?;
        Ok(MiniProgramGuard { driver })
    }

    /// Pays `order` (`{ orderNo, content }`) at most once; resolves with the outcome
    /// `{ status, orderNo, attemptId, reused, reason }`. A second call for the same order joins
    /// the first.
    pub fn pay(&self, order: JsValue) -> Promise {
        match self.driver.clone().pay(&order) {
            Ok(promise) => promise,
            Err(error) => Promise::reject(&error.into()),
        }
    }

    /// Submits the order form's `content` at most once: resolves with the business order
    /// `{ orderNo, fingerprint, reused, expiresAt }`, the same one for the same content within
    /// the server's de-duplication period (a double tap, a reload, a relaunch: `docs/contract.md` §4).
    pub fn submit(&self, content: JsValue) -> Promise {
        match self.driver.clone().submit(&content) {
            Ok(promise) => promise,
            Err(error) => Promise::reject(&error.into()),
        }
    }

    /// Finds out what became of `orderNo`, paid before the mini-program was restarted (never
    /// launches a payment); the result arrives as an `outcome` event.
    pub fn resume(&self, order_no: &str) -> Result<(), GuardError> {
        self.driver.resume(order_no)
    }

    /// Forgets an order and deletes its record, so it may be paid again. Throws `busy` while a
    /// call for it runs.
    pub fn forget(&self, order_no: &str) -> Result<(), GuardError> {
        self.driver.forget(order_no)
    }

    /// Calls `listener(event)` for events of `type` (`'state'`, `'outcome'`, `'storage'`,
    /// `'error'`, or any event's `type`). Returns a function that unsubscribes.
    pub fn on(&self, kind: String, listener: Function) -> Function {
        self.driver.on(kind, listener)
    }

    /// The buyer is back (`wx.onAppShow`): ask the server now about payments in flight.
    #[wasm_bindgen(js_name = pageShown)]
    pub fn page_shown(&self) {
        self.driver.feed(Input::PageShown);
    }
}
