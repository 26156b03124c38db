//! `Core`: the core's second shape for JavaScript ([`crate::core::step`]), with nothing of the
//! platform in the wasm: text and numbers in, one JSON text (the batch) out. The JS shell does
//! the I/O (fetch, timers, storage, locks, the wallet) and calls back with what came of it.
//!
//! The module is the core, sha2 and the allocator: no future, closure or JS type is linked.

use crate::core::fingerprint;
use crate::core::machine::{LaunchResult, LockResult};
use crate::core::step::{Answer, Step, StepError};
use crate::core::time::Millis;
use crate::prelude::*;
use wasm_bindgen::prelude::*;

/// The guard for one page, driven by the package's JS (`pkg/core.js`).
#[wasm_bindgen]
pub struct Core {
    step: Step,
}

/// `now` from JS (`Date.now()`), as the core's time.
fn at(now: f64) -> Millis {
    Millis(now as u64)
}

/// A call's batch, or its refusal's `{"error"}` text. One copy for the calls that may be
/// refused (it was inlined into each).
#[inline(never)]
fn batch(result: Result<String, StepError>) -> String {
    result.unwrap_or_else(|e| e.to_json())
}

/// An id the batch carried, back from JS.
fn id(id: f64) -> u64 {
    id as u64
}

#[wasm_bindgen]
impl Core {
    /// A guard over `options` (JSON text) seeded with `seed` (32 random bytes). Throws the
    /// refusal's JSON text, `{"error":{"code","message"}}`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: &str, seed: &[u8]) -> Result<Core, String> {
        let seed: [u8; 32] = seed.try_into().map_err(|_| {
            crate::core::step::StepError {
                code: "platform",
                message: "the seed must be 32 bytes".to_owned(),
            }
            .to_json()
        })?;
        Step::new(options, seed)
            .map(|step| Core { step })
            .map_err(|e| e.to_json())
    }

    /// The namespace option (lock names, the broadcast channel).
    pub fn namespace(&self) -> String {
        self.step.namespace().to_owned()
    }

    /// The scope option.
    pub fn scope(&self) -> String {
        self.step.scope().to_owned()
    }

    /// Whether `pay` would start a payment (then the page's `prepare` runs).
    #[wasm_bindgen(js_name = wouldStart)]
    pub fn would_start(&self, order_no: &str) -> bool {
        self.step.would_start(order_no)
    }

    /// `pay()`: the order, its content's canonical JSON, the caller's number.
    pub fn pay(&mut self, order_no: &str, canonical: &str, caller: f64, now: f64) -> String {
        batch(self.step.pay(order_no, canonical, id(caller), at(now)))
    }

    /// `submit()`: the content's canonical JSON, the caller's number.
    pub fn submit(&mut self, canonical: &str, caller: f64, now: f64) -> String {
        self.step.submit(canonical, id(caller), at(now))
    }

    /// `resume(orderNo)`.
    pub fn resume(&mut self, order_no: &str, now: f64) -> String {
        batch(self.step.resume(order_no, at(now)))
    }

    /// `forget(orderNo)`.
    pub fn forget(&mut self, order_no: &str, now: f64) -> String {
        batch(self.step.forget(order_no, at(now)))
    }

    /// The timer armed to the last batch's `timeout` fired.
    pub fn timer(&mut self, now: f64) -> String {
        self.step.timer(at(now))
    }

    /// The page is visible again.
    pub fn shown(&mut self, now: f64) -> String {
        self.step.shown(at(now))
    }

    /// Another tab's broadcast message.
    pub fn heard(&mut self, message: &str, now: f64) -> String {
        self.step.heard(message, at(now))
    }

    /// `send` `id`: the server replied.
    pub fn replied(
        &mut self,
        id_: f64,
        status: u16,
        retry_after: Option<String>,
        body: &str,
        now: f64,
    ) -> String {
        let answer = Answer::Reply {
            status,
            retry_after: retry_after.as_deref(),
            body,
        };
        self.step.answer(id(id_), answer, at(now))
    }

    /// `send` `id`: no reply.
    pub fn lost(&mut self, id_: f64, now: f64) -> String {
        self.step.answer(id(id_), Answer::Lost, at(now))
    }

    /// `get` `id`: the stored text, or `undefined`.
    pub fn stored(&mut self, id_: f64, text: Option<String>, now: f64) -> String {
        self.step
            .answer(id(id_), Answer::Stored(text.as_deref()), at(now))
    }

    /// `lock` `id`: whether this tab got it.
    pub fn locked(&mut self, id_: f64, acquired: bool, now: f64) -> String {
        let result = if acquired {
            LockResult::Acquired
        } else {
            LockResult::HeldElsewhere
        };
        self.step.answer(id(id_), Answer::Lock(result), at(now))
    }

    /// `launch` `id`: what the wallet settled with (`'ok'`, `'cancelled'`, else failed).
    pub fn launched(&mut self, id_: f64, result: &str, now: f64) -> String {
        let result = match result {
            "ok" => LaunchResult::Ok,
            "cancelled" => LaunchResult::Cancelled,
            _ => LaunchResult::Failed,
        };
        self.step.answer(id(id_), Answer::Launched(result), at(now))
    }
}

/// Lowercase hex SHA-256 of `text` (the canonical JSON the JS built): a fingerprint.
#[wasm_bindgen(js_name = sha256Hex)]
pub fn sha256_hex(text: &str) -> String {
    fingerprint::sha256_hex(text.as_bytes()).as_str().to_owned()
}
