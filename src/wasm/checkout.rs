//! `CheckoutGuard`, the class browser pages use: the shared [`Driver`] plus the browser's
//! platform pieces (the Pay button, the cross-tab lock, the broadcast, the visibility watcher).
//!
//! The driver (`driver.rs`) follows the core's calling contract; this module only supplies
//! what is browser-specific through [`Platform`], and the `attach` helper that locks an
//! element synchronously on click.

use super::broadcast::Channel;
use super::button::Button;
use super::driver::{feed, Driver, Platform};
use super::errors::{describe, ErrorCode, GuardError};
use super::options::{parse, Flavour, StorageChoice};
use super::random::seed;
use super::storage::Store;
use super::table::Table;
use super::tablock::{Mechanism, TabLock, TabLocks};
use super::timer::{now, Timer};
use super::transport::Transport;
use super::visibility::Watcher;
use crate::core::fingerprint::hex;
use crate::core::ids::OrderNo;
use crate::core::json::{Fields, Object, Raw, Writer};
use crate::core::machine::{Input, LockResult, OutcomeStatus, RequestId};
use crate::core::time::Millis;
use js_sys::{Function, Promise, Reflect};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;

/// How long a storage lease (the tab lock where Web Locks are missing) lasts without renewal.
const LEASE_MS: u64 = 30_000;

/// Guards every order of one page: `pay`, `attach`, `resume`, `forget`, `on`.
#[wasm_bindgen]
pub struct CheckoutGuard {
    driver: Rc<Driver>,
    browser: Rc<Browser>,
}

/// The browser's platform pieces.
struct Browser {
    locks: TabLocks,
    held: RefCell<Table<OrderNo, TabLock>>,
    channel: Option<Channel>,
    _watcher: Option<Watcher>,
    buttons: RefCell<Table<OrderNo, Button>>,
    /// Every attached element with its `getOrder`, by attach id: a tab that never clicked
    /// still shows another tab's outcome on the button of that order (rule 10).
    attached: RefCell<Vec<(u64, web_sys::Element, Function)>>,
    next_attach: std::cell::Cell<u64>,
    lock_prefix: String,
    /// Renews held storage leases on its own, every third of a lease: the driver runs only
    /// when something happens, and a wallet open longer than a lease must not let it lapse.
    renewal: Timer,
}

#[wasm_bindgen]
impl CheckoutGuard {
    /// Validates `options` (errors name the option) and opens storage, lock and channel.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<CheckoutGuard, GuardError> {
        let options = parse(&options, Flavour::Browser)?;
        let seed = seed()?;
        let store = Rc::new(match &options.storage {
            StorageChoice::Local => Store::local(),
            StorageChoice::Memory => Store::memory(),
            StorageChoice::Custom(object) => Store::custom(object)?,
        });
        let transport = match &options.fetch {
            Some(fetch) => Transport::custom(fetch.clone()),
            None => Transport::global()?,
        }
        .with_headers(options.headers.clone());
        let scope = options.config.scope.clone();
        let owner = hex(&seed[..8]);
        let locks = TabLocks::new(Mechanism::detect(), store.clone(), owner, LEASE_MS);
        let channel_name = ["checkout-guard:", &options.namespace, ":", &scope].concat();
        let lock_prefix = channel_name.clone();
        let mut made = None;
        let driver = Driver::new(options, seed, store, transport, |weak: &Weak<Driver>| {
            let (on_message, on_shown) = (weak.clone(), weak.clone());
            let browser = Rc::new_cyclic(|me: &Weak<Browser>| {
                let on_renewal = me.clone();
                Browser {
                    locks,
                    held: RefCell::new(Table::new()),
                    channel: Channel::open(&channel_name, move |text| {
                        if let Some(input) = parse_broadcast(&text) {
                            feed(&on_message, input);
                        }
                    }),
                    _watcher: Watcher::watch(move || feed(&on_shown, Input::PageShown)),
                    buttons: RefCell::new(Table::new()),
                    attached: RefCell::new(Vec::new()),
                    next_attach: std::cell::Cell::new(0),
                    lock_prefix,
                    renewal: Timer::new(move || {
                        if let Some(browser) = on_renewal.upgrade() {
                            browser.renew_leases(now());
                        }
                    }),
                }
            });
            made = Some(browser.clone());
            browser
        })?;
        let browser = made.ok_or_else(|| {
            GuardError::new(
                ErrorCode::Platform,
                "unreachable: the driver builds its platform",
            )
        })?;
        // Warnings from opening the storage wait for the first `storage` listener (see `on`).
        Ok(CheckoutGuard { driver, browser })
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
    /// the server's window (a double tap, a reload, a relaunch: `docs/contract.md` §4).
    pub fn submit(&self, content: JsValue) -> Promise {
        match self.driver.clone().submit(&content) {
            Ok(promise) => promise,
            Err(error) => Promise::reject(&error.into()),
        }
    }

    /// Locks `element` synchronously on click (and Enter / Space on non-buttons) and pays
    /// `getOrder()`. Returns a function that detaches the handlers.
    pub fn attach(&self, element: web_sys::Element, get_order: Function) -> Function {
        attach(&self.driver, &self.browser, element, get_order)
    }

    /// Finds out what became of `orderNo`, paid from an earlier page (never launches a
    /// payment); the result arrives as an `outcome` event.
    pub fn resume(&self, order_no: &str) -> Result<(), GuardError> {
        self.driver.resume(order_no)
    }

    /// Forgets an order and deletes its record, so it may be paid again (e.g. reopened by the
    /// merchant). Throws `busy` while a call for it runs.
    pub fn forget(&self, order_no: &str) -> Result<(), GuardError> {
        self.driver.forget(order_no)
    }

    /// Calls `listener(event)` for events of `type` (`'state'`: every event; `'outcome'`,
    /// `'storage'`, `'error'`, or any event's `type`). Returns a function that unsubscribes.
    pub fn on(&self, kind: String, listener: Function) -> Function {
        self.driver.on(kind, listener)
    }

    /// The calls in flight, `orderNo → [order, content, promise]`, which `pkg/shell.js` reads
    /// to answer a double click without crossing into wasm (see `driver.rs`). Not public API.
    #[wasm_bindgen(js_name = "__flights")]
    pub fn flights(&self) -> js_sys::Map {
        self.driver.flights()
    }
}

impl Drop for CheckoutGuard {
    /// `free()`: nothing may join this guard's calls any more (a call in flight still ends: the
    /// driver keeps itself alive until it does).
    fn drop(&mut self) {
        self.driver.end_all_flights();
    }
}

impl Platform for Browser {
    fn lock_ui(&self, order_no: &OrderNo) {
        if let Some(button) = self.buttons.borrow_mut().get_mut(order_no) {
            button.lock();
        }
    }

    fn unlock_ui(&self, order_no: &OrderNo, status: Option<OutcomeStatus>) {
        if !self.buttons.borrow().contains_key(order_no) {
            // Never clicked in this tab (another tab's outcome): find the attached element
            // whose `getOrder()` shows this order.
            if let Some(element) = self.attached_for(order_no) {
                self.buttons
                    .borrow_mut()
                    .insert(order_no.clone(), Button::new(element));
            }
        }
        if let Some(button) = self.buttons.borrow_mut().get_mut(order_no) {
            button.show(status);
        }
    }

    fn acquire(self: Rc<Self>, driver: Rc<Driver>, order_no: OrderNo, request: RequestId) {
        spawn_local(async move {
            let name = [&self.lock_prefix, ":", order_no.as_str()].concat();
            let result = match self.locks.try_acquire(&name, now()).await {
                Ok(Some(lock)) => {
                    self.held.borrow_mut().insert(order_no.clone(), lock);
                    LockResult::Acquired
                }
                Ok(None) => LockResult::HeldElsewhere,
                // No working lock primitive: go on alone; the server's one-live-attempt rule
                // still protects the buyer.
                Err(_) => LockResult::Acquired,
            };
            driver.feed(Input::TabLock {
                order_no,
                request,
                result,
            });
        });
    }

    fn release(&self, order_no: &OrderNo) {
        self.held.borrow_mut().remove(order_no);
    }

    fn broadcast(&self, order_no: &OrderNo, status: OutcomeStatus) {
        if let Some(channel) = &self.channel {
            let mut message = Writer::new();
            message.str("orderNo", order_no.as_str());
            message.str("status", status.as_str());
            channel.post(&message.finish());
        }
    }

    fn driven(&self, now: Millis) {
        self.renew_leases(now);
    }
}

impl Browser {
    /// The attached element whose `getOrder()` names `order_no` (a getter that throws or
    /// returns something else is skipped).
    fn attached_for(&self, order_no: &OrderNo) -> Option<web_sys::Element> {
        let attached: Vec<(web_sys::Element, Function)> = self
            .attached
            .borrow()
            .iter()
            .map(|(_, element, get)| (element.clone(), get.clone()))
            .collect();
        attached.into_iter().find_map(|(element, get_order)| {
            let order = get_order.call0(&JsValue::UNDEFINED).ok()?;
            let shown = Reflect::get(&order, &"orderNo".into()).ok()?.as_string()?;
            (shown == order_no.as_str()).then_some(element)
        })
    }

    /// Extends every held lease and, while any is held, re-arms the renewal timer.
    fn renew_leases(&self, now: Millis) {
        let held = self.held.borrow();
        for lock in held.values() {
            lock.renew(now, LEASE_MS);
        }
        let leases = self.locks.mechanism() == Mechanism::Lease && !held.is_empty();
        let next = leases.then(|| now.plus(LEASE_MS / 3));
        self.renewal.arm(next, now);
    }
}

/// Another tab's `{"orderNo","status"}` message as an input; anything else is ignored.
fn parse_broadcast(text: &str) -> Option<Input> {
    let message = Object::parse(text).ok()?;
    let order_no = OrderNo::parse(&message.get("orderNo").and_then(Raw::as_str)?).ok()?;
    let status = OutcomeStatus::parse(&message.get("status").and_then(Raw::as_str)?)?;
    Some(Input::OtherTabFinished { order_no, status })
}

/// The handlers behind `attach`: lock at once, then pay.
fn attach(
    driver: &Rc<Driver>,
    browser: &Rc<Browser>,
    element: web_sys::Element,
    get_order: Function,
) -> Function {
    // Strong references: an attached button keeps its guard alive until it is detached. With
    // weak ones, `const guard = new CheckoutGuard(…); guard.attach(button, …)` in a module
    // stopped working silently once the collector freed the guard (found by the packaging
    // test with a forced GC).
    let (driver, browser) = (Rc::clone(driver), Rc::clone(browser));
    let attach_id = browser.next_attach.get();
    browser.next_attach.set(attach_id + 1);
    browser
        .attached
        .borrow_mut()
        .push((attach_id, element.clone(), get_order.clone()));
    let on_detach = Rc::downgrade(&browser);
    let target = element.clone();
    let on_click = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        if let Some(key) = Reflect::get(&event, &"key".into())
            .ok()
            .and_then(|k| k.as_string())
        {
            if key != "Enter" && key != " " {
                return;
            }
            event.prevent_default();
        }
        click(&driver, &browser, &target, &get_order);
    });
    let is_button = element.tag_name().eq_ignore_ascii_case("button");
    let listener: &Function = on_click.as_ref().unchecked_ref();
    // Adding a listener with a function cannot throw.
    let _ = element.add_event_listener_with_callback("click", listener);
    if !is_button {
        // A <button> turns Enter and Space into clicks by itself.
        let _ = element.add_event_listener_with_callback("keydown", listener);
    }
    Closure::once_into_js(move || {
        let listener: &Function = on_click.as_ref().unchecked_ref();
        let _ = element.remove_event_listener_with_callback("click", listener);
        let _ = element.remove_event_listener_with_callback("keydown", listener);
        if let Some(browser) = on_detach.upgrade() {
            browser
                .attached
                .borrow_mut()
                .retain(|(id, _, _)| *id != attach_id);
        }
    })
    .unchecked_into()
}

fn click(driver: &Rc<Driver>, browser: &Browser, element: &web_sys::Element, get_order: &Function) {
    let order = get_order.call0(&JsValue::UNDEFINED);
    let order_no = order
        .as_ref()
        .ok()
        .and_then(|o| Reflect::get(o, &"orderNo".into()).ok())
        .and_then(|n| n.as_string())
        .and_then(|n| OrderNo::parse(&n).ok());
    // Lock first, synchronously, before anything can yield to the event loop.
    if let Some(order_no) = &order_no {
        let mut buttons = browser.buttons.borrow_mut();
        let button = buttons.get_or_insert_with(order_no.clone(), || Button::new(element.clone()));
        button.lock();
    }
    let result = match order {
        Ok(order) => driver.clone().pay(&order),
        Err(e) => Err(GuardError::new(
            ErrorCode::InvalidOrder,
            ["getOrder() threw: ", &describe(&e)].concat(),
        )),
    };
    let promise = match result {
        Ok(promise) => promise,
        Err(error) => {
            if let Some(button) = order_no.and_then(|n| browser.buttons.borrow_mut().remove(&n)) {
                let mut button = button;
                button.show(None);
            }
            Promise::reject(&error.into())
        }
    };
    // A click has no caller to reject to: failures go to the 'error' listeners.
    let weak = Rc::downgrade(driver);
    let on_error = Closure::once_into_js(move |error: JsValue| {
        if let Some(driver) = weak.upgrade() {
            driver.emit("error", &error);
        }
    });
    if let Some(catch) = super::global::method(&promise, "catch") {
        let _ = catch.call1(&promise, &on_error);
    }
}
