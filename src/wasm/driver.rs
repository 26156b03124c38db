//! The core's driver, shared by every shell: feeds inputs, performs actions, re-arms the timer.
//!
//! It follows the core's calling contract (`core::machine`): every event becomes an [`Input`]
//! fed with the current time; then the actions are drained and performed **in order**, and the
//! one timer is re-armed to `poll_timeout`. Answers that the platform gives synchronously (a
//! record read) are queued and fed after the drain, never from inside it, so the core never
//! sees an input while the shell is half-way through its actions. Asynchronous answers (a lock,
//! a reply, the wallet) come back later through the same queue.
//!
//! Storage, transport and the wallet are the same everywhere (each behind the JS object or
//! function the shell was given); what differs between the browser and the mini-program is
//! behind [`Platform`]: the Pay button, the cross-tab lock and the broadcast to other tabs.

use super::errors::{js_error, ErrorCode, GuardError};
use super::options::ShellOptions;
use super::order::to_canonical;
use super::storage::Store;
use super::table::Table;
use super::timer::{now, Timer};
use super::transport::{HttpResponse, Transport};
use crate::core::contract::{Exchange, HttpReply};
use crate::core::fingerprint::{self, Fingerprint};
use crate::core::ids::OrderNo;
use crate::core::json::{Fields, Writer};
use crate::core::machine::{
    Action, CallerId, Event, Guard, Input, LaunchResult, LockResult, OutcomeStatus, PayError,
    RequestId, SubmitError,
};
use crate::core::storage::StorageOp;
use crate::core::time::Millis;
use js_sys::{Function, Promise, Reflect};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// What a shell does differently: the actions that touch the page or other tabs.
///
/// The defaults are those of a platform with one instance and no button to manage (the
/// mini-program, where the page binds its button through `setData`): the lock is granted at
/// once, nothing is broadcast.
pub trait Platform {
    /// `LockUi`: the order's button, if the shell manages one, becomes busy.
    fn lock_ui(&self, _order_no: &OrderNo) {}

    /// `UnlockUi`: the order's button shows `status` and is usable again.
    fn unlock_ui(&self, _order_no: &OrderNo, _status: Option<OutcomeStatus>) {}

    /// `AcquireTabLock`: answer with [`Input::TabLock`] through [`Driver::feed`], now or later.
    fn acquire(self: Rc<Self>, driver: Rc<Driver>, order_no: OrderNo, request: RequestId) {
        driver.feed(Input::TabLock {
            order_no,
            request,
            result: LockResult::Acquired,
        });
    }

    /// `ReleaseTabLock`.
    fn release(&self, _order_no: &OrderNo) {}

    /// `Broadcast`: tell the other instances of this origin.
    fn broadcast(&self, _order_no: &OrderNo, _status: OutcomeStatus) {}

    /// Called after every drive (the lease renewals of the browser's storage lock).
    fn driven(&self, _now: Millis) {}
}

/// One guard's state: the core, the platform pieces and the JS callers waiting on it.
pub struct Driver {
    me: Weak<Driver>,
    guard: RefCell<Guard>,
    options: ShellOptions,
    scope: String,
    store: Rc<Store>,
    transport: Transport,
    timer: Timer,
    platform: Rc<dyn Platform>,
    calls: RefCell<Table<u64, (Function, Function)>>,
    next_caller: Cell<u64>,
    listeners: RefCell<Vec<(u64, String, Function)>>,
    next_listener: Cell<u64>,
    inbox: RefCell<VecDeque<Input>>,
    driving: Cell<bool>,
    /// What `prepare(order)` returned for a payment starting now, until `launch` takes it or
    /// the call ends (then `dismiss` gets it).
    prepared: RefCell<Table<OrderNo, JsValue>>,
    /// The driver itself while a call runs: a page may drop its last reference to the guard
    /// mid-payment (`new CheckoutGuard(o).pay(order)`), and the payment must still finish and
    /// settle its promise. Cleared when the core is idle, so an idle guard can be collected.
    keep_alive: RefCell<Option<Rc<Driver>>>,
}

impl Driver {
    /// A driver over `options` whose core is seeded with `seed`; `platform` is built with a
    /// handle on the driver (for the callbacks it installs).
    pub fn new(
        options: ShellOptions,
        seed: [u8; 32],
        store: Rc<Store>,
        transport: Transport,
        platform: impl FnOnce(&Weak<Driver>) -> Rc<dyn Platform>,
    ) -> Result<Rc<Driver>, GuardError> {
        let guard = Guard::new(options.config.clone(), seed)
            .map_err(|e| GuardError::new(ErrorCode::InvalidOptions, e.message()))?;
        let scope = options.config.scope.clone();
        Ok(Rc::new_cyclic(|weak: &Weak<Driver>| {
            let on_timer = weak.clone();
            Driver {
                me: weak.clone(),
                guard: RefCell::new(guard),
                options,
                scope,
                store,
                transport,
                timer: Timer::new(move || feed(&on_timer, Input::TimerFired)),
                platform: platform(weak),
                calls: RefCell::new(Table::new()),
                next_caller: Cell::new(0),
                listeners: RefCell::new(Vec::new()),
                next_listener: Cell::new(0),
                inbox: RefCell::new(VecDeque::new()),
                driving: Cell::new(false),
                prepared: RefCell::new(Table::new()),
                keep_alive: RefCell::new(None),
            }
        }))
    }

    /// The validated options.
    pub fn options(&self) -> &ShellOptions {
        &self.options
    }

    /// The core's scope option (part of storage keys and lock names).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// A new caller id and the promise its result settles (`pay`, `submit`).
    fn new_call(&self) -> (u64, Promise) {
        let caller = self.next_caller.get();
        self.next_caller.set(caller + 1);
        let mut parts = None;
        let promise = Promise::new(&mut |resolve, reject| parts = Some((resolve, reject)));
        if let Some(parts) = parts {
            self.calls.borrow_mut().insert(caller, parts);
        }
        (caller, promise)
    }

    /// Resolves (or rejects) the promises of `callers` with `value`.
    fn settle(&self, callers: &[CallerId], value: &Result<JsValue, JsValue>) {
        for caller in callers {
            let Some((resolve, reject)) = self.calls.borrow_mut().remove(&caller.0) else {
                continue;
            };
            let _ = match value {
                Ok(v) => resolve.call1(&JsValue::UNDEFINED, v),
                Err(e) => reject.call1(&JsValue::UNDEFINED, e),
            };
        }
    }

    /// `pay(order)`: a promise of the outcome.
    pub fn pay(self: Rc<Self>, order: &JsValue) -> Result<Promise, GuardError> {
        let (order_no, print) = read_order(order)?;
        self.prepare(&order_no, order);
        let (caller, promise) = self.new_call();
        self.feed(Input::Pay {
            order_no,
            fingerprint: print,
            caller: CallerId(caller),
        });
        Ok(promise)
    }

    /// Calls `prepare(order)` now, synchronously (inside the caller's user activation), for a
    /// payment that starts with this call; a call joining one in flight prepares nothing (a
    /// double click must not open two windows). A throw is reported as an `error` event and
    /// the payment goes on without a prepared value.
    fn prepare(&self, order_no: &OrderNo, order: &JsValue) {
        let Some(prepare) = &self.options.prepare else {
            return;
        };
        if self.guard.borrow().is_busy(order_no) || self.guard.borrow().is_paid(order_no) {
            return;
        }
        match prepare.call1(&JsValue::UNDEFINED, order) {
            Ok(value) => {
                if let Some(old) = self.prepared.borrow_mut().insert(order_no.clone(), value) {
                    self.dismiss(old);
                }
            }
            Err(e) => {
                let message = ["prepare() threw: ", &super::errors::describe(&e)].concat();
                self.emit("error", &js_error(ErrorCode::Platform, &message));
            }
        }
    }

    /// Hands a prepared value nobody launched to `dismiss`.
    fn dismiss(&self, prepared: JsValue) {
        if let Some(dismiss) = &self.options.dismiss {
            let _ = dismiss.call1(&JsValue::UNDEFINED, &prepared);
        }
    }

    /// `submit(content)`: a promise of the business order for this submission of the order
    /// form (`docs/contract.md` §4): the same order for the same content within the server's
    /// window, across double taps, reloads, tabs and relaunches.
    pub fn submit(self: Rc<Self>, content: &JsValue) -> Result<Promise, GuardError> {
        if !content.is_object() {
            return Err(GuardError::new(
                ErrorCode::InvalidOrder,
                "the submitted content must be an object or array",
            ));
        }
        let canonical = to_canonical(content)?;
        let print = fingerprint::sha256_hex(canonical.as_bytes());
        let (caller, promise) = self.new_call();
        self.feed(Input::Submit {
            content: canonical,
            fingerprint: print,
            caller: CallerId(caller),
        });
        Ok(promise)
    }

    /// `resume(orderNo)`: find out what became of an order paid from an earlier page.
    pub fn resume(&self, order_no: &str) -> Result<(), GuardError> {
        let order_no = order_no_of(order_no)?;
        self.feed(Input::Resume { order_no });
        Ok(())
    }

    /// `forget(orderNo)`: drop the order and its record; `busy` while a call for it runs.
    pub fn forget(&self, order_no: &str) -> Result<(), GuardError> {
        let order_no = order_no_of(order_no)?;
        self.guard
            .borrow_mut()
            .forget(&order_no)
            .map_err(|e| GuardError::new(ErrorCode::Busy, e.message()))?;
        self.drive();
        Ok(())
    }

    /// `on(type, listener)`: returns the function that unsubscribes.
    pub fn on(&self, kind: String, listener: Function) -> Function {
        let id = self.next_listener.get();
        self.next_listener.set(id + 1);
        self.listeners.borrow_mut().push((id, kind, listener));
        // Warnings from opening the storage wait for the first listener.
        self.report_storage_warnings();
        let weak = self.me.clone();
        Closure::once_into_js(move || {
            if let Some(driver) = weak.upgrade() {
                driver.listeners.borrow_mut().retain(|(i, _, _)| *i != id);
            }
        })
        .unchecked_into()
    }

    /// Queues `input` and runs the driver unless it is already running (a listener that calls
    /// `pay` from inside an event, a synchronous answer).
    pub fn feed(&self, input: Input) {
        self.inbox.borrow_mut().push_back(input);
        self.drive();
    }

    fn drive(&self) {
        if self.driving.replace(true) {
            return;
        }
        loop {
            let action = self.guard.borrow_mut().poll_action();
            if let Some(action) = action {
                self.perform(action);
                continue;
            }
            let input = self.inbox.borrow_mut().pop_front();
            match input {
                Some(input) => self.guard.borrow_mut().handle(input, now()),
                None => break,
            }
        }
        self.driving.set(false);
        let now = now();
        self.platform.driven(now);
        self.timer.arm(self.guard.borrow().poll_timeout(), now);
        let busy = !self.guard.borrow().is_idle() || !self.calls.borrow().is_empty();
        *self.keep_alive.borrow_mut() = if busy { self.me.upgrade() } else { None };
        self.report_storage_warnings();
    }

    fn perform(&self, action: Action) {
        match action {
            // The three requests: `core::contract` builds them and reads their replies.
            send @ (Action::SendCreate { .. }
            | Action::SendStatus { .. }
            | Action::SendSubmit { .. }) => {
                if let Some(exchange) = Exchange::of(send, &self.options.endpoints) {
                    self.send(exchange);
                }
            }
            Action::LockUi { order_no } => self.platform.lock_ui(&order_no),
            Action::UnlockUi { order_no, status } => {
                // The call ended: a window prepared for it and never launched goes.
                let unused = self.prepared.borrow_mut().remove(&order_no);
                if let Some(prepared) = unused {
                    self.dismiss(prepared);
                }
                self.platform.unlock_ui(&order_no, status)
            }
            Action::AcquireTabLock { order_no, request } => {
                if let Some(driver) = self.me.upgrade() {
                    self.platform.clone().acquire(driver, order_no, request);
                }
            }
            Action::ReleaseTabLock { order_no } => self.platform.release(&order_no),
            // The six storage actions: `core::storage` says which key and what text.
            stored @ (Action::LoadRecord { .. }
            | Action::Persist(_)
            | Action::Remove { .. }
            | Action::LoadSubmission { .. }
            | Action::PersistSubmission(_)
            | Action::RemoveSubmission { .. }) => {
                match StorageOp::of(stored, &self.options.namespace, &self.scope) {
                    // Answered after the drain, never from inside it (see the module doc).
                    Some(StorageOp::Read(read)) => {
                        let text = self.store.get(&read.key);
                        self.inbox
                            .borrow_mut()
                            .push_back(read.answered(text.as_deref()));
                    }
                    Some(StorageOp::Write { key, value }) => self.store.set(&key, &value),
                    Some(StorageOp::Delete { key }) => self.store.remove(&key),
                    None => {}
                }
            }
            Action::Launch {
                order_no,
                request,
                attempt_id,
                prepay,
            } => {
                let mut context = Writer::new();
                context.str("orderNo", order_no.as_str());
                context.str("attemptId", attempt_id.as_str());
                let context = from_json(&context.finish());
                let prepared = self.prepared.borrow_mut().remove(&order_no);
                if let Some(prepared) = prepared {
                    let _ = Reflect::set(&context, &"prepared".into(), &prepared);
                }
                let args = (from_json(prepay.as_str()), context);
                self.launch(order_no, request, args);
            }
            Action::Emit(event) => self.emit_event(&event),
            Action::Resolve { callers, result } => {
                let value = match &result {
                    Ok(outcome) => {
                        let mut w = Writer::new();
                        outcome.fields(&mut w);
                        Ok(from_json(&w.finish()))
                    }
                    Err(e) => Err(pay_error(e)),
                };
                self.settle(&callers, &value);
            }
            Action::Broadcast { order_no, status } => self.platform.broadcast(&order_no, status),
            Action::ResolveSubmit { callers, result } => {
                let value = match &result {
                    Ok(submitted) => {
                        let mut w = Writer::new();
                        submitted.fields(&mut w);
                        Ok(from_json(&w.finish()))
                    }
                    Err(e) => Err(submit_error(e)),
                };
                self.settle(&callers, &value);
            }
        }
    }

    /// Sends one of the core's requests and feeds what comes back (or that nothing did).
    fn send(&self, exchange: Exchange) {
        let Some(driver) = self.me.upgrade() else {
            return;
        };
        let timeout_ms = self.options.request_timeout_ms;
        spawn_local(async move {
            let input = match driver.transport.send(&exchange.request, timeout_ms).await {
                Ok(r) => exchange.replied(&http_reply(&r)),
                Err(_) => exchange.lost(),
            };
            driver.feed(input);
        });
    }

    /// Calls the page's `launch(prepay, { orderNo, attemptId })` and reads what it settles
    /// with: `'ok'`, `'cancelled'`, anything else (or a throw) is `failed`.
    fn launch(&self, order_no: OrderNo, request: RequestId, args: (JsValue, JsValue)) {
        let Some(driver) = self.me.upgrade() else {
            return;
        };
        let returned = self
            .options
            .launch
            .call2(&JsValue::UNDEFINED, &args.0, &args.1);
        spawn_local(async move {
            let settled = match returned {
                Ok(value) => JsFuture::from(Promise::resolve(&value)).await,
                Err(e) => Err(e),
            };
            let result = match settled.ok().and_then(|v| v.as_string()).as_deref() {
                Some("ok") => LaunchResult::Ok,
                Some("cancelled") => LaunchResult::Cancelled,
                _ => LaunchResult::Failed,
            };
            driver.feed(Input::Launched {
                order_no,
                request,
                result,
            });
        });
    }

    fn emit_event(&self, event: &Event) {
        self.emit(event.kind(), &from_json(&event.to_json()));
    }

    /// Calls the listeners of `kind` and of `'state'` (every event but `'error'`). A listener
    /// that throws does not stop the others or the guard.
    pub fn emit(&self, kind: &str, value: &JsValue) {
        let targets: Vec<Function> = self
            .listeners
            .borrow()
            .iter()
            .filter(|(_, k, _)| k == kind || (k == "state" && kind != "error"))
            .map(|(_, _, f)| f.clone())
            .collect();
        for listener in targets {
            let _ = listener.call1(&JsValue::UNDEFINED, value);
        }
    }

    /// Emits the storage warnings, but only once someone listens for them (`'storage'` or
    /// `'state'`): until then they stay queued, so a page that subscribes to `'outcome'`
    /// first does not lose them.
    fn report_storage_warnings(&self) {
        let heard = self
            .listeners
            .borrow()
            .iter()
            .any(|(_, kind, _)| kind == "storage" || kind == "state");
        if !heard {
            return;
        }
        for warning in self.store.take_warnings() {
            let mut event = Writer::new();
            event.str("type", "storage");
            event.str("message", &warning.message);
            self.emit("storage", &from_json(&event.finish()));
        }
    }
}

/// Feeds `input` to the driver behind `weak`, if the guard still exists.
pub fn feed(weak: &Weak<Driver>, input: Input) {
    if let Some(driver) = weak.upgrade() {
        driver.feed(input);
    }
}

/// An order number from JS, or `invalid_order`.
pub fn order_no_of(text: &str) -> Result<OrderNo, GuardError> {
    OrderNo::parse(text).map_err(|e| {
        GuardError::new(
            ErrorCode::InvalidOrder,
            ["orderNo: ", &e.message()].concat(),
        )
    })
}

fn http_reply(response: &HttpResponse) -> HttpReply<'_> {
    HttpReply {
        status: response.status,
        retry_after: response.retry_after.as_deref(),
        body: &response.body,
    }
}

/// JSON text the core wrote (an event, an outcome, a prepay) as a plain JS value: one
/// `JSON.parse`, rather than a property set per member from wasm.
fn from_json(text: &str) -> JsValue {
    // The texts come from `core::json` (or were validated by it): `JSON.parse` reads them;
    // `undefined` is the unreachable fallback.
    js_sys::JSON::parse(text).unwrap_or(JsValue::UNDEFINED)
}

fn submit_error(error: &SubmitError) -> JsValue {
    let code = match error {
        SubmitError::Rejected { .. } => ErrorCode::ServerRejected,
        SubmitError::Unreachable(_) => ErrorCode::Network,
    };
    js_error(code, &error.message())
}

fn pay_error(error: &PayError) -> JsValue {
    let code = match error {
        PayError::Busy => ErrorCode::Busy,
        PayError::Rejected { .. } => ErrorCode::ServerRejected,
    };
    js_error(code, &error.message())
}

/// `{ orderNo, content }` → the order number and the content's fingerprint.
fn read_order(order: &JsValue) -> Result<(OrderNo, Fingerprint), GuardError> {
    let field = |name: &str| Reflect::get(order, &name.into()).unwrap_or(JsValue::UNDEFINED);
    if !order.is_object() {
        return Err(GuardError::new(
            ErrorCode::InvalidOrder,
            "the order must be { orderNo, content }",
        ));
    }
    let order_no = field("orderNo").as_string().unwrap_or_default();
    let order_no = order_no_of(&order_no)?;
    let content = field("content");
    if !content.is_object() {
        return Err(GuardError::new(
            ErrorCode::InvalidOrder,
            "order.content must be the order's content (an object or array)",
        ));
    }
    let print = fingerprint::sha256_hex(to_canonical(&content)?.as_bytes());
    Ok((order_no, print))
}
