//! `CheckoutGuard`, the class pages use: the core's driver plus the platform modules.
//!
//! The driver follows the core's calling contract (`core::machine`): every event becomes an
//! [`Input`] fed with the current time; then the actions are drained and performed **in
//! order**, and the one timer is re-armed to `poll_timeout`. Answers that the platform gives
//! synchronously (a record read) are queued and fed after the drain, never from inside it, so
//! the core never sees an input while the shell is half-way through its actions. Asynchronous
//! answers (a lock, a reply, the wallet) come back later through the same queue.

use super::broadcast::Channel;
use super::button::{status_name, Button};
use super::errors::{describe, js_error, ErrorCode, GuardError};
use super::options::{parse, ShellOptions, StorageChoice};
use super::order::to_json;
use super::random::seed;
use super::storage::Store;
use super::tablock::{Mechanism, TabLock, TabLocks};
use super::timer::{now, Timer};
use super::transport::{HttpRequest, Method, Transport};
use super::visibility::Watcher;
use crate::core::contract::{parse_create, parse_status, CreateReply, HttpReply, StatusReply};
use crate::core::fingerprint::{self, hex, Fingerprint};
use crate::core::ids::OrderNo;
use crate::core::machine::{
    Action, CallerId, Event, Guard, Input, LaunchResult, Loaded, LockResult, OutcomeStatus,
    PayError, RequestId,
};
use crate::core::record::{storage_key, Record};
use js_sys::{Function, Promise, Reflect};
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// How long a storage lease (the tab lock where Web Locks are missing) lasts without renewal.
const LEASE_MS: u64 = 30_000;

/// Guards every order of one page: `pay`, `attach`, `resume`, `forget`, `on`.
#[wasm_bindgen]
pub struct CheckoutGuard {
    shell: Rc<Shell>,
}

struct Shell {
    me: Weak<Shell>,
    guard: RefCell<Guard>,
    options: ShellOptions,
    scope: String,
    store: Rc<Store>,
    transport: Transport,
    locks: TabLocks,
    held: RefCell<HashMap<OrderNo, TabLock>>,
    timer: Timer,
    channel: Option<Channel>,
    _watcher: Option<Watcher>,
    buttons: RefCell<HashMap<OrderNo, Button>>,
    calls: RefCell<HashMap<u64, (Function, Function)>>,
    next_caller: Cell<u64>,
    listeners: RefCell<Vec<(u64, String, Function)>>,
    next_listener: Cell<u64>,
    inbox: RefCell<VecDeque<Input>>,
    driving: Cell<bool>,
}

#[wasm_bindgen]
impl CheckoutGuard {
    /// Validates `options` (errors name the option) and opens storage, lock and channel.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<CheckoutGuard, GuardError> {
        let options = parse(&options)?;
        let seed = seed()?;
        let guard = Guard::new(options.config.clone(), seed)
            .map_err(|e| GuardError::new(ErrorCode::InvalidOptions, e.to_string()))?;
        let store = Rc::new(match &options.storage {
            StorageChoice::Local => Store::local(),
            StorageChoice::Memory => Store::memory(),
            StorageChoice::Custom(object) => Store::custom(object)?,
        });
        let transport = match &options.fetch {
            Some(fetch) => Transport::custom(fetch.clone()),
            None => Transport::global()?,
        };
        let scope = options.config.scope.clone();
        let owner = hex(&seed[..8]);
        let locks = TabLocks::new(Mechanism::detect(), store.clone(), owner, LEASE_MS);
        let channel_name = format!("checkout-guard:{}:{scope}", options.namespace);
        let shell = Rc::new_cyclic(|weak: &Weak<Shell>| {
            let on_timer = weak.clone();
            let on_message = weak.clone();
            let on_shown = weak.clone();
            Shell {
                me: weak.clone(),
                guard: RefCell::new(guard),
                options,
                scope,
                store,
                transport,
                locks,
                held: RefCell::new(HashMap::new()),
                timer: Timer::new(move || feed(&on_timer, Input::TimerFired)),
                channel: Channel::open(&channel_name, move |text| {
                    if let Some(input) = parse_broadcast(&text) {
                        feed(&on_message, input);
                    }
                }),
                _watcher: Watcher::watch(move || feed(&on_shown, Input::PageShown)),
                buttons: RefCell::new(HashMap::new()),
                calls: RefCell::new(HashMap::new()),
                next_caller: Cell::new(0),
                listeners: RefCell::new(Vec::new()),
                next_listener: Cell::new(0),
                inbox: RefCell::new(VecDeque::new()),
                driving: Cell::new(false),
            }
        });
        // Warnings from opening the storage wait for the first `storage` listener (see `on`).
        Ok(CheckoutGuard { shell })
    }

    /// Pays `order` (`{ orderNo, content }`) at most once; resolves with the outcome
    /// `{ status, orderNo, attemptId, reused, reason }`. A second call for the same order joins
    /// the first.
    pub fn pay(&self, order: JsValue) -> Promise {
        match self.shell.clone().pay(&order) {
            Ok(promise) => promise,
            Err(error) => Promise::reject(&error.into()),
        }
    }

    /// Locks `element` synchronously on click (and Enter / Space on non-buttons) and pays
    /// `getOrder()`. Returns a function that detaches the handlers.
    pub fn attach(&self, element: web_sys::Element, get_order: Function) -> Function {
        attach(&self.shell, element, get_order)
    }

    /// Finds out what became of `orderNo`, paid from an earlier page (never launches a
    /// payment); the result arrives as an `outcome` event.
    pub fn resume(&self, order_no: &str) -> Result<(), GuardError> {
        let order_no = order_no_of(order_no)?;
        self.shell.feed(Input::Resume { order_no });
        Ok(())
    }

    /// Forgets an order and deletes its record, so it may be paid again (e.g. reopened by the
    /// merchant). Throws `busy` while a call for it runs.
    pub fn forget(&self, order_no: &str) -> Result<(), GuardError> {
        let order_no = order_no_of(order_no)?;
        self.shell
            .guard
            .borrow_mut()
            .forget(&order_no)
            .map_err(|e| GuardError::new(ErrorCode::Busy, e.to_string()))?;
        self.shell.drive();
        Ok(())
    }

    /// Calls `listener(event)` for events of `type` (`'state'`: every event; `'outcome'`,
    /// `'storage'`, `'error'`, or any event's `type`). Returns a function that unsubscribes.
    pub fn on(&self, kind: String, listener: Function) -> Function {
        let id = self.shell.next_listener.get();
        self.shell.next_listener.set(id + 1);
        self.shell.listeners.borrow_mut().push((id, kind, listener));
        self.shell.report_storage_warnings();
        let weak = Rc::downgrade(&self.shell);
        Closure::once_into_js(move || {
            if let Some(shell) = weak.upgrade() {
                shell.listeners.borrow_mut().retain(|(i, _, _)| *i != id);
            }
        })
        .unchecked_into()
    }
}

fn order_no_of(text: &str) -> Result<OrderNo, GuardError> {
    OrderNo::parse(text)
        .map_err(|e| GuardError::new(ErrorCode::InvalidOrder, format!("orderNo: {e}")))
}

/// Feeds `input` to the shell behind `weak`, if the guard still exists.
fn feed(weak: &Weak<Shell>, input: Input) {
    if let Some(shell) = weak.upgrade() {
        shell.feed(input);
    }
}

impl Shell {
    fn pay(self: Rc<Self>, order: &JsValue) -> Result<Promise, GuardError> {
        let (order_no, print) = read_order(order)?;
        let caller = self.next_caller.get();
        self.next_caller.set(caller + 1);
        let mut parts = None;
        let promise = Promise::new(&mut |resolve, reject| parts = Some((resolve, reject)));
        if let Some(parts) = parts {
            self.calls.borrow_mut().insert(caller, parts);
        }
        self.feed(Input::Pay {
            order_no,
            fingerprint: print,
            caller: CallerId(caller),
        });
        Ok(promise)
    }

    /// Queues `input` and runs the driver unless it is already running (a listener that calls
    /// `pay` from inside an event, a synchronous answer).
    fn feed(&self, input: Input) {
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
        for lock in self.held.borrow().values() {
            lock.renew(now, LEASE_MS);
        }
        self.timer.arm(self.guard.borrow().poll_timeout(), now);
        self.report_storage_warnings();
    }

    fn perform(&self, action: Action) {
        match action {
            Action::LockUi { order_no } => {
                if let Some(button) = self.buttons.borrow_mut().get_mut(&order_no) {
                    button.lock();
                }
            }
            Action::UnlockUi { order_no, status } => {
                if let Some(button) = self.buttons.borrow_mut().get_mut(&order_no) {
                    button.show(status);
                }
            }
            Action::AcquireTabLock { order_no, request } => self.acquire(order_no, request),
            Action::ReleaseTabLock { order_no } => {
                self.held.borrow_mut().remove(&order_no);
            }
            Action::LoadRecord { order_no, request } => {
                let key = storage_key(&self.options.namespace, &self.scope, &order_no);
                let loaded = match self.store.get(&key) {
                    None => Loaded::Missing,
                    Some(text) => match Record::decode(&text, &self.scope, &order_no) {
                        Ok(record) => Loaded::Found(record),
                        Err(e) => Loaded::Unusable(e),
                    },
                };
                self.inbox.borrow_mut().push_back(Input::RecordLoaded {
                    order_no,
                    request,
                    loaded,
                });
            }
            Action::Persist(record) => {
                let key = storage_key(&self.options.namespace, &self.scope, &record.order_no);
                self.store.set(&key, &record.encode());
            }
            Action::Remove { order_no } => {
                let key = storage_key(&self.options.namespace, &self.scope, &order_no);
                self.store.remove(&key);
            }
            Action::SendCreate {
                order_no,
                request,
                key,
                fingerprint,
            } => self.send_create(order_no, request, key.as_str().to_owned(), fingerprint),
            Action::SendStatus {
                order_no,
                request,
                wait_secs,
            } => self.send_status(order_no, request, wait_secs),
            Action::Launch {
                order_no,
                request,
                attempt_id,
                prepay,
            } => {
                let context = LaunchContext {
                    order_no: order_no.as_str(),
                    attempt_id: attempt_id.as_str(),
                };
                let args = (to_js(prepay.as_map()), to_js(&context));
                self.launch(order_no, request, args);
            }
            Action::Emit(event) => self.emit_event(&event),
            Action::Resolve { callers, result } => {
                let value = match &result {
                    Ok(outcome) => Ok(to_js(outcome)),
                    Err(e) => Err(pay_error(e)),
                };
                for caller in callers {
                    let Some((resolve, reject)) = self.calls.borrow_mut().remove(&caller.0) else {
                        continue;
                    };
                    let _ = match &value {
                        Ok(v) => resolve.call1(&JsValue::UNDEFINED, v),
                        Err(e) => reject.call1(&JsValue::UNDEFINED, e),
                    };
                }
            }
            Action::Broadcast { order_no, status } => {
                if let Some(channel) = &self.channel {
                    let message = serde_json::json!({
                        "orderNo": order_no.as_str(),
                        "status": status_name(status),
                    });
                    channel.post(&message.to_string());
                }
            }
        }
    }

    /// `self` as an `Rc`, for async tasks; `None` once the guard is being freed.
    fn this(&self) -> Option<Rc<Shell>> {
        self.me.upgrade()
    }

    fn acquire(&self, order_no: OrderNo, request: RequestId) {
        let Some(shell) = self.this() else { return };
        spawn_local(async move {
            let name = format!(
                "checkout-guard:{}:{}:{}",
                shell.options.namespace, shell.scope, order_no
            );
            let result = match shell.locks.try_acquire(&name, now()).await {
                Ok(Some(lock)) => {
                    shell.held.borrow_mut().insert(order_no.clone(), lock);
                    LockResult::Acquired
                }
                Ok(None) => LockResult::HeldElsewhere,
                // No working lock primitive: go on alone; the server's one-live-attempt rule
                // still protects the buyer.
                Err(_) => LockResult::Acquired,
            };
            shell.feed(Input::TabLock {
                order_no,
                request,
                result,
            });
        });
    }

    fn url(&self, template: &str, order_no: &OrderNo) -> String {
        let encoded = String::from(js_sys::encode_uri_component(order_no.as_str()));
        template.replace("{orderNo}", &encoded)
    }

    fn send_create(&self, order_no: OrderNo, request: RequestId, key: String, print: Fingerprint) {
        let Some(shell) = self.this() else { return };
        let http = HttpRequest {
            method: Method::Post,
            url: self.url(&self.options.create_url, &order_no),
            idempotency_key: Some(key),
            json_body: Some(serde_json::json!({ "fingerprint": print.as_str() }).to_string()),
            wait_secs: 0,
            timeout_ms: self.options.request_timeout_ms,
        };
        spawn_local(async move {
            let reply = match shell.transport.send(&http).await {
                Ok(r) => parse_create(&http_reply(&r), &order_no, &print),
                Err(_) => CreateReply::NoReply,
            };
            shell.feed(Input::CreateReplied {
                order_no,
                request,
                reply,
            });
        });
    }

    fn send_status(&self, order_no: OrderNo, request: RequestId, wait_secs: u32) {
        let Some(shell) = self.this() else { return };
        let http = HttpRequest {
            method: Method::Get,
            url: self.url(&self.options.status_url, &order_no),
            idempotency_key: None,
            json_body: None,
            wait_secs,
            timeout_ms: self.options.request_timeout_ms,
        };
        spawn_local(async move {
            let reply = match shell.transport.send(&http).await {
                Ok(r) => parse_status(&http_reply(&r), &order_no),
                Err(_) => StatusReply::NoReply,
            };
            shell.feed(Input::StatusReplied {
                order_no,
                request,
                reply,
            });
        });
    }

    /// Calls the page's `launch(prepay, { orderNo, attemptId })` and reads what it settles
    /// with: `'ok'`, `'cancelled'`, anything else (or a throw) is `failed`.
    fn launch(&self, order_no: OrderNo, request: RequestId, args: (JsValue, JsValue)) {
        let Some(shell) = self.this() else { return };
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
            shell.feed(Input::Launched {
                order_no,
                request,
                result,
            });
        });
    }

    fn emit_event(&self, event: &Event) {
        let value = to_js(event);
        let kind = Reflect::get(&value, &"type".into())
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default();
        self.emit(&kind, &value);
    }

    /// Calls the listeners of `kind` and of `'state'` (every event but `'error'`). A listener
    /// that throws does not stop the others or the guard.
    fn emit(&self, kind: &str, value: &JsValue) {
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

    fn report_storage_warnings(&self) {
        for warning in self.store.take_warnings() {
            let event = serde_json::json!({ "type": "storage", "message": warning.message });
            self.emit("storage", &to_js(&event));
        }
    }
}

fn http_reply(response: &super::transport::HttpResponse) -> HttpReply<'_> {
    HttpReply {
        status: response.status,
        retry_after: response.retry_after.as_deref(),
        body: &response.body,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LaunchContext<'a> {
    order_no: &'a str,
    attempt_id: &'a str,
}

/// A Rust value as a plain JS value (objects, not Maps; `None` as `null`).
///
/// Through JSON text rather than `serde-wasm-bindgen`: serde_json's serialiser is in the
/// module anyway (records), and a second serialiser per event type cost ~20 KB of wasm.
fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    // Every type passed here is plain data (strings, numbers, maps with string keys), which
    // always serialises to JSON that `JSON.parse` reads; `undefined` is the unreachable
    // fallback.
    serde_json::to_string(value)
        .ok()
        .and_then(|text| js_sys::JSON::parse(&text).ok())
        .unwrap_or(JsValue::UNDEFINED)
}

fn pay_error(error: &PayError) -> JsValue {
    let code = match error {
        PayError::Busy => ErrorCode::Busy,
        PayError::Rejected { .. } => ErrorCode::ServerRejected,
    };
    js_error(code, &error.to_string())
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
    let print = fingerprint::fingerprint(&to_json(&content)?)?;
    Ok((order_no, print))
}

/// Another tab's `{"orderNo","status"}` message as an input; anything else is ignored.
fn parse_broadcast(text: &str) -> Option<Input> {
    let message: serde_json::Value = serde_json::from_str(text).ok()?;
    let order_no = OrderNo::parse(message.get("orderNo")?.as_str()?).ok()?;
    let status = match message.get("status")?.as_str()? {
        "paid" => OutcomeStatus::Paid,
        "cancelled" => OutcomeStatus::Cancelled,
        "failed" => OutcomeStatus::Failed,
        "pending" => OutcomeStatus::Pending,
        _ => return None,
    };
    Some(Input::OtherTabFinished { order_no, status })
}

/// The handlers behind `attach`: lock at once, then pay.
fn attach(shell: &Rc<Shell>, element: web_sys::Element, get_order: Function) -> Function {
    let weak = Rc::downgrade(shell);
    let target = element.clone();
    let on_click = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let Some(shell) = weak.upgrade() else { return };
        if let Some(key) = Reflect::get(&event, &"key".into())
            .ok()
            .and_then(|k| k.as_string())
        {
            if key != "Enter" && key != " " {
                return;
            }
            event.prevent_default();
        }
        click(&shell, &target, &get_order);
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
    })
    .unchecked_into()
}

fn click(shell: &Rc<Shell>, element: &web_sys::Element, get_order: &Function) {
    let order = get_order.call0(&JsValue::UNDEFINED);
    let order_no = order
        .as_ref()
        .ok()
        .and_then(|o| Reflect::get(o, &"orderNo".into()).ok())
        .and_then(|n| n.as_string())
        .and_then(|n| OrderNo::parse(&n).ok());
    // Lock first, synchronously, before anything can yield to the event loop.
    if let Some(order_no) = &order_no {
        let mut buttons = shell.buttons.borrow_mut();
        let button = buttons
            .entry(order_no.clone())
            .or_insert_with(|| Button::new(element.clone()));
        button.lock();
    }
    let result = match order {
        Ok(order) => shell.clone().pay(&order),
        Err(e) => Err(GuardError::new(
            ErrorCode::InvalidOrder,
            format!("getOrder() threw: {}", describe(&e)),
        )),
    };
    let promise = match result {
        Ok(promise) => promise,
        Err(error) => {
            if let Some(button) = order_no.and_then(|n| shell.buttons.borrow_mut().remove(&n)) {
                let mut button = button;
                button.show(None);
            }
            Promise::reject(&error.into())
        }
    };
    // A click has no caller to reject to: failures go to the 'error' listeners.
    let weak = Rc::downgrade(shell);
    let on_error = Closure::once_into_js(move |error: JsValue| {
        if let Some(shell) = weak.upgrade() {
            shell.emit("error", &error);
        }
    });
    if let Some(catch) = super::global::method(&promise, "catch") {
        let _ = catch.call1(&promise, &on_error);
    }
}
