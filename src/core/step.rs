//! The guard behind a text interface: the core's second shape, for a shell written in another
//! language (the package's JavaScript), which then does all the I/O itself.
//!
//! [`Guard`] speaks Rust types; a shell in JavaScript would have to cross into wasm once per
//! action and per field. [`Step`] wraps the guard with what every shell otherwise repeats (the
//! inbox of inputs, the requests, reads, locks and wallets in flight, the wire formats of
//! `core::contract` and `core::storage`, the other tabs' messages) and answers each call with
//! one JSON text: the actions to perform, in order, the next deadline, and whether the guard is
//! idle. The shell performs them and calls back with what came of those that wait for an
//! answer, each named by the `id` the action carried. No action needs a `JsValue`, a closure or
//! a future in the wasm: the module that exports this is the core and nothing else.
//!
//! # The batch
//!
//! `{"do":[action, …],"timeout":ms|null,"idle":bool}`, or `{"error":{"code","message"}}` when
//! the call itself was refused (a bad order number: `invalid_order`). `timeout` is the absolute
//! time (ms since the epoch) at which the shell calls [`Step::timer`]; `idle`: no call is
//! running, nothing would feed the guard on its own (the shell may let go of it).
//!
//! The actions (`op`):
//! - `send` `{id, method, url, headers: {name: value}, body: text|null, waitSecs}`: make the
//!   request (extend the time-out by `waitSecs`, the long poll it asks for); answer
//!   [`Answer::Reply`] or [`Answer::Lost`].
//! - `get` `{id, key}`: read storage, answered [`Answer::Stored`] **after** the batch is
//!   performed (never from inside it). `set` `{key, value}`, `remove` `{key}`.
//! - `lock` `{id, orderNo}`: try for the cross-tab lock without waiting, answer
//!   [`Answer::Lock`]; `unlock` `{orderNo}`.
//! - `lockUi` `{orderNo}`, `unlockUi` `{orderNo, status: text|null}`: the Pay button.
//! - `launch` `{id, orderNo, attemptId, prepay: {…}}`: open the wallet with the provider's
//!   parameters (as the server sent them), answer [`Answer::Launched`].
//! - `emit` `{event: {type, …}}`: to the page's listeners (the shape `pkg/types.d.cts` declares).
//! - `resolve` `{callers: [n], value: outcome}` or `{callers, error: {code, message}}`: settle
//!   those `pay()` calls; `resolveSubmit`, the same for `submit()`.
//! - `broadcast` `{message}`: post `message` (text) to the other tabs of the origin; theirs come
//!   back through [`Step::heard`].

use super::config::Config;
use super::contract::{names_order, Endpoints, Exchange, HttpReply};
use super::fingerprint;
use super::ids::OrderNo;
use super::json::{self, concat, Fields, Object, Raw, Writer};
use super::machine::{
    Action, CallerId, Guard, Input, LaunchResult, LockResult, OutcomeStatus, PayError, RequestId,
    SubmitError,
};
use super::queue::Queue;
use super::storage::{Awaiting, StorageOp};
use super::time::Millis;
use crate::prelude::*;
use thiserror::Error;

/// Why a call was refused, with the stable code the page's error carries.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct StepError {
    /// `invalid_options`, `invalid_order` or `busy`: the codes of `pkg/errors.js`.
    pub code: &'static str,
    /// What is wrong, naming the option or the field.
    pub message: String,
}

impl StepError {
    fn new(code: &'static str, message: String) -> StepError {
        StepError { code, message }
    }

    fn option(option: &str, reason: &str) -> StepError {
        StepError::new(
            "invalid_options",
            concat(&["invalid option `", option, "`: ", reason]),
        )
    }

    /// `{"error":{"code","message"}}`, the refused call's batch.
    pub fn to_json(&self) -> String {
        let mut out = Writer::new();
        out.raw("error", &self.error_json());
        out.finish()
    }
}

/// What became of an action that waits for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer<'a> {
    /// `send`: the server replied.
    Reply {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header, if any.
        retry_after: Option<&'a str>,
        /// The body's text.
        body: &'a str,
    },
    /// `send`: no reply (a network error, a time-out).
    Lost,
    /// `get`: the text stored under the key (`None`: nothing, or storage that cannot be read).
    Stored(Option<&'a str>),
    /// `lock`: whether this tab got it.
    Lock(LockResult),
    /// `launch`: what the wallet said.
    Launched(LaunchResult),
}

/// An action waiting for its answer, by the id it carried.
enum Waiting {
    Reply(Exchange),
    /// A `get`: what the stored text becomes (its key was sent, its scope is the step's).
    Read(Awaiting),
    Lock {
        order_no: OrderNo,
        request: RequestId,
    },
    Launch {
        order_no: OrderNo,
        request: RequestId,
    },
}

/// The guard and what its shell would otherwise keep: see the module doc.
pub struct Step {
    guard: Guard,
    endpoints: Endpoints,
    namespace: String,
    scope: String,
    waiting: Vec<(u64, Waiting)>,
    next_id: u64,
    inbox: Queue<Input>,
}

impl Step {
    /// A guard over `options`, the JSON object of the page's options that are not functions:
    /// `namespace`, `endpoints` and the core's tuning ([`Config::from_json`]); seeded with
    /// `seed` (32 bytes from the platform's cryptographic random source).
    pub fn new(options: &str, seed: [u8; 32]) -> Result<Step, StepError> {
        let object = Object::parse(options).map_err(|e| {
            StepError::option(
                "options",
                &concat(&["must be an object (", &e.message(), ")"]),
            )
        })?;
        let mut namespace = "default".to_owned();
        let mut endpoints = Endpoints::default();
        // Every `namespace` and `endpoints` member is checked before any of the core's options.
        for (name, value) in object.members() {
            match name {
                "namespace" => namespace = namespace_of(value)?,
                "endpoints" => endpoints = endpoints_of(value)?,
                _ => {}
            }
        }
        let config = Config::from_object(&object, &SHELL_OPTIONS)
            .map_err(|e| StepError::new("invalid_options", e.message()))?;
        let scope = config.scope.clone();
        let guard =
            Guard::new(config, seed).map_err(|e| StepError::new("invalid_options", e.message()))?;
        Ok(Step {
            guard,
            endpoints,
            namespace,
            scope,
            waiting: Vec::new(),
            next_id: 0,
            inbox: Queue::new(),
        })
    }

    /// The namespace of storage keys, lock names and the broadcast channel.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The buyer's scope (the core's `scope` option).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Whether `pay` for this order would start a payment rather than join one or answer from
    /// what is known (the shell's `prepare` runs only then). `false` for a bad number.
    pub fn would_start(&self, order_no: &str) -> bool {
        OrderNo::parse(order_no)
            .map(|n| !self.guard.is_busy(&n) && !self.guard.is_paid(&n))
            .unwrap_or(false)
    }

    /// `pay()`: the order `order_no`, whose content's RFC 8785 canonical JSON is `canonical`,
    /// for `caller` (settled by a later `resolve`).
    pub fn pay(
        &mut self,
        order_no: &str,
        canonical: &str,
        caller: u64,
        now: Millis,
    ) -> Result<String, StepError> {
        let order_no = order_no_of(order_no)?;
        self.inbox.push_back(Input::Pay {
            order_no,
            fingerprint: fingerprint::sha256_hex(canonical.as_bytes()),
            caller: CallerId(caller),
        });
        Ok(self.run(now))
    }

    /// `submit()`: the order form's content as its canonical JSON, for `caller`.
    pub fn submit(&mut self, canonical: &str, caller: u64, now: Millis) -> String {
        self.inbox.push_back(Input::Submit {
            content: canonical.to_owned(),
            fingerprint: fingerprint::sha256_hex(canonical.as_bytes()),
            caller: CallerId(caller),
        });
        self.run(now)
    }

    /// `resume(orderNo)`: what became of an order paid from an earlier page.
    pub fn resume(&mut self, order_no: &str, now: Millis) -> Result<String, StepError> {
        let order_no = order_no_of(order_no)?;
        self.inbox.push_back(Input::Resume { order_no });
        Ok(self.run(now))
    }

    /// `forget(orderNo)`: the order and its record dropped; `busy` while a call for it runs.
    pub fn forget(&mut self, order_no: &str, now: Millis) -> Result<String, StepError> {
        let order_no = order_no_of(order_no)?;
        self.guard
            .forget(&order_no)
            .map_err(|e| StepError::new("busy", e.message()))?;
        Ok(self.run(now))
    }

    /// The platform timer fired (armed to the last batch's `timeout`).
    pub fn timer(&mut self, now: Millis) -> String {
        self.inbox.push_back(Input::TimerFired);
        self.run(now)
    }

    /// The page is visible again (the buyer is back from the wallet, the app was shown).
    pub fn shown(&mut self, now: Millis) -> String {
        self.inbox.push_back(Input::PageShown);
        self.run(now)
    }

    /// A message another tab's `broadcast` posted; anything else is ignored.
    pub fn heard(&mut self, message: &str, now: Millis) -> String {
        if let Some(input) = parse_broadcast(message) {
            self.inbox.push_back(input);
        }
        self.run(now)
    }

    /// What came of the action that carried `id`; an unknown id (answered twice, or for a
    /// guard that moved on) is ignored.
    pub fn answer(&mut self, id: u64, answer: Answer<'_>, now: Millis) -> String {
        if let Some(at) = self.waiting.iter().position(|(i, _)| *i == id) {
            let (_, waiting) = self.waiting.swap_remove(at);
            let input = self.input_of(waiting, answer);
            self.inbox.push_back(input);
        }
        self.run(now)
    }

    fn input_of(&self, waiting: Waiting, answer: Answer<'_>) -> Input {
        match (waiting, answer) {
            (
                Waiting::Reply(exchange),
                Answer::Reply {
                    status,
                    retry_after,
                    body,
                },
            ) => exchange.replied(&HttpReply {
                status,
                retry_after,
                body,
            }),
            (Waiting::Reply(exchange), _) => exchange.lost(),
            (Waiting::Read(read), answer) => {
                let stored = match answer {
                    Answer::Stored(text) => text,
                    _ => None,
                };
                read.answered(stored, &self.scope)
            }
            (Waiting::Lock { order_no, request }, answer) => Input::TabLock {
                order_no,
                request,
                // A lock primitive that failed: go on alone (the server's one-live-attempt
                // rule still protects the buyer), as the shells always did.
                result: match answer {
                    Answer::Lock(result) => result,
                    _ => LockResult::Acquired,
                },
            },
            (Waiting::Launch { order_no, request }, answer) => Input::Launched {
                order_no,
                request,
                result: match answer {
                    Answer::Launched(result) => result,
                    _ => LaunchResult::Failed,
                },
            },
        }
    }

    /// Feeds the inbox, encoding every action, until the guard has nothing more to say.
    fn run(&mut self, now: Millis) -> String {
        let mut out = String::from("{\"do\":[");
        let mut first = true;
        loop {
            while let Some(action) = self.guard.poll_action() {
                if let Some(text) = self.encode(action) {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(&text);
                }
            }
            match self.inbox.pop_front() {
                Some(input) => self.guard.handle(input, now),
                None => break,
            }
        }
        out.push_str("],\"timeout\":");
        match self.guard.poll_timeout() {
            Some(at) => json::push_u64(&mut out, at.0),
            None => out.push_str("null"),
        }
        out.push_str(",\"idle\":");
        out.push_str(if self.guard.is_idle() {
            "true"
        } else {
            "false"
        });
        out.push('}');
        out
    }

    /// A new id, remembered with what its answer becomes.
    fn wait(&mut self, waiting: Waiting) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.push((id, waiting));
        id
    }

    /// One action as the shell performs it; `None` for none (a request the contract cannot
    /// make).
    ///
    /// Kept out of `run` by LLVM (wasm-opt still inlines it, its one caller): the code
    /// generated then is ~190 B brotli smaller than `run` with it inlined (measured).
    #[inline(never)]
    fn encode(&mut self, action: Action) -> Option<String> {
        let mut w = Writer::new();
        match action {
            send @ (Action::SendCreate { .. }
            | Action::SendStatus { .. }
            | Action::SendSubmit { .. }) => {
                // Written from the exchange before it waits (no copy of the request), under the
                // id `wait` then gives it.
                let exchange = Exchange::of(send, &self.endpoints)?;
                let request = &exchange.request;
                let id = self.next_id;
                w.str("op", "send");
                w.u64("id", id);
                w.str("method", request.method.as_str());
                w.str("url", &request.url);
                let mut headers = Writer::new();
                for (name, value) in &request.headers {
                    headers.str(name, value);
                }
                w.raw("headers", &headers.finish());
                w.opt_str("body", request.body.as_deref());
                w.u64("waitSecs", u64::from(request.wait_secs));
                let waited = self.wait(Waiting::Reply(exchange));
                debug_assert_eq!(waited, id, "a send waits under the id it was written with");
            }
            storage @ (Action::LoadRecord { .. }
            | Action::LoadSubmission { .. }
            | Action::Persist(_)
            | Action::Remove { .. }
            | Action::PersistSubmission(_)
            | Action::RemoveSubmission { .. }) => {
                // One operation for each: a read keeps what its answer becomes, so that the
                // answer needs neither the action nor its key again.
                match StorageOp::of(storage, &self.namespace, &self.scope)? {
                    StorageOp::Read(read) => {
                        let (key, read) = read.split();
                        let id = self.wait(Waiting::Read(read));
                        w.str("op", "get");
                        w.u64("id", id);
                        w.str("key", &key);
                    }
                    StorageOp::Write { key, value } => {
                        w.str("op", "set");
                        w.str("key", &key);
                        w.str("value", &value);
                    }
                    StorageOp::Delete { key } => {
                        w.str("op", "remove");
                        w.str("key", &key);
                    }
                }
            }
            Action::AcquireTabLock { order_no, request } => {
                w.str("op", "lock");
                w.str("orderNo", order_no.as_str());
                let id = self.wait(Waiting::Lock { order_no, request });
                w.u64("id", id);
            }
            Action::ReleaseTabLock { order_no } => {
                w.str("op", "unlock");
                w.str("orderNo", order_no.as_str());
            }
            Action::LockUi { order_no } => {
                w.str("op", "lockUi");
                w.str("orderNo", order_no.as_str());
            }
            Action::UnlockUi { order_no, status } => {
                w.str("op", "unlockUi");
                w.str("orderNo", order_no.as_str());
                w.opt_str("status", status.map(OutcomeStatus::as_str));
            }
            Action::Launch {
                order_no,
                request,
                attempt_id,
                prepay,
            } => {
                w.str("op", "launch");
                w.str("orderNo", order_no.as_str());
                w.str("attemptId", attempt_id.as_str());
                w.raw("prepay", prepay.as_str());
                let id = self.wait(Waiting::Launch { order_no, request });
                w.u64("id", id);
            }
            Action::Emit(event) => {
                w.str("op", "emit");
                w.raw("event", &event.to_json());
            }
            Action::Resolve { callers, result } => {
                let result = match result {
                    Ok(outcome) => Ok(object(|value| outcome.fields(value))),
                    Err(e) => {
                        let code = match e {
                            PayError::Busy => "busy",
                            PayError::Rejected { .. } => "server_rejected",
                        };
                        Err(StepError::new(code, e.message()))
                    }
                };
                settle(&mut w, "resolve", &callers, result);
            }
            Action::ResolveSubmit { callers, result } => {
                let result = match result {
                    Ok(submitted) => Ok(object(|value| submitted.fields(value))),
                    Err(e) => {
                        let code = match e {
                            SubmitError::Rejected { .. } => "server_rejected",
                            SubmitError::Unreachable(_) => "network",
                        };
                        Err(StepError::new(code, e.message()))
                    }
                };
                settle(&mut w, "resolveSubmit", &callers, result);
            }
            Action::Broadcast { order_no, status } => {
                let mut message = Writer::new();
                message.str("orderNo", order_no.as_str());
                message.str("status", status.as_str());
                w.str("op", "broadcast");
                w.str("message", &message.finish());
            }
        }
        Some(w.finish())
    }
}

impl StepError {
    /// `{"code","message"}`.
    fn error_json(&self) -> String {
        let mut error = Writer::new();
        error.str("code", self.code);
        error.str("message", &self.message);
        error.finish()
    }
}

/// `resolve` / `resolveSubmit` (`op`): settles `callers` with the value's JSON or the error.
fn settle(w: &mut Writer, op: &str, callers: &[CallerId], result: Result<String, StepError>) {
    w.str("op", op);
    w.raw("callers", &callers_json(callers));
    match result {
        Ok(value) => w.raw("value", &value),
        Err(e) => w.raw("error", &e.error_json()),
    }
}

/// The JSON object `write` writes.
fn object(write: impl FnOnce(&mut Writer)) -> String {
    let mut out = Writer::new();
    write(&mut out);
    out.finish()
}

fn callers_json(callers: &[CallerId]) -> String {
    let mut out = String::from("[");
    for (i, caller) in callers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::push_u64(&mut out, caller.0);
    }
    out.push(']');
    out
}

fn order_no_of(text: &str) -> Result<OrderNo, StepError> {
    OrderNo::parse(text)
        .map_err(|e| StepError::new("invalid_order", concat(&["orderNo: ", &e.message()])))
}

/// Another tab's `{"orderNo","status"}` message as an input; anything else is ignored.
fn parse_broadcast(text: &str) -> Option<Input> {
    let message = Object::parse(text).ok()?;
    let order_no = OrderNo::parse(&message.get("orderNo").and_then(Raw::as_str)?).ok()?;
    let status = OutcomeStatus::parse(&message.get("status").and_then(Raw::as_str)?)?;
    Some(Input::OtherTabFinished { order_no, status })
}

/// The options [`Step`] reads itself; the others are the core's ([`Config::from_object`]).
const SHELL_OPTIONS: [&str; 2] = ["namespace", "endpoints"];

fn namespace_of(value: Raw<'_>) -> Result<String, StepError> {
    let text = value.as_str().unwrap_or_default();
    let ok = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(text)
    } else {
        Err(StepError::option(
            "namespace",
            "1–64 characters of A–Z a–z 0–9 - _ . :",
        ))
    }
}

fn endpoints_of(value: Raw<'_>) -> Result<Endpoints, StepError> {
    let object = value
        .as_object()
        .ok_or_else(|| StepError::option("endpoints", "must be { create, status, submit }"))?;
    let mut endpoints = Endpoints::default();
    for (name, value) in object.members() {
        // `create` and `status` name the order, `submit` must not (it has no number yet); a
        // template that names the order is never empty. One refusal for every member: the
        // option's path is written only then.
        let (slot, templated, reason) = match name {
            "create" => (Some(&mut endpoints.create), true, TEMPLATE),
            "status" => (Some(&mut endpoints.status), true, TEMPLATE),
            "submit" => (
                Some(&mut endpoints.submit),
                false,
                "a URL (the order has no number yet)",
            ),
            _ => (
                None,
                false,
                "unknown: endpoints has create, status and submit",
            ),
        };
        let url = value
            .as_str()
            .filter(|u| !u.is_empty() && names_order(u) == templated);
        match (slot, url) {
            (Some(slot), Some(url)) => *slot = url,
            _ => return Err(StepError::option(&concat(&["endpoints.", name]), reason)),
        }
    }
    Ok(endpoints)
}

/// Why a `create` or `status` endpoint is refused.
const TEMPLATE: &str = "a URL template containing {orderNo}";

#[cfg(test)]
mod tests;
