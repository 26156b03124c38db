//! `Core`: the core's second shape for JavaScript ([`crate::core::step`]), with nothing of the
//! platform in the wasm: text and numbers in, one JSON text (the batch) out. The JS shell does
//! the I/O (fetch, timers, storage, locks, the wallet) and calls back with what came of it.
//!
//! The wasm's exports are a small hand-written ABI, bound by `pkg/core.js` (the `Core` class and
//! `sha256Hex` the package's JS uses). It replaced wasm-bindgen (issue 13): its shims, the
//! externref table, the `Rc<RefCell>` around each exported object and the per-call string
//! allocations were 10.7 KB raw, 3.1 KB brotli of the wasm, and its glue 7 KB of minified JS
//! (measured 2026-12-02). The module imports nothing:
//! - **Texts in**: before a call the JS asks for the input buffer ([`cg_input`], grown to the
//!   bytes it may need), writes the call's texts into it as UTF-8, one after the other, and
//!   passes their byte lengths. An absent text (`undefined`) is the length `u32::MAX`.
//! - **Text out**: a call that answers with text leaves it in the output buffer and returns its
//!   length in bytes; [`cg_output`] says where it starts. It stays there until the next call.
//! - **A guard** is a pointer ([`cg_new`]: 0 when the options are refused, the refusal's text
//!   then in the output buffer, [`cg_output_len`] long), given back by [`cg_free`].
//!
//! Nothing here calls into JS, so no call re-enters the wasm and one buffer each way is enough.
//! A call that breaks the ABI (a null guard, lengths beyond the input) traps, as a panic does:
//! the JS sees a `RuntimeError`, never a guess. The texts are UTF-8 by construction (see
//! `Texts::text`).
//!
//! The module is the core (with its own SHA-256, `core::sha256`) and the allocator.

use crate::core::fingerprint;
use crate::core::machine::{LaunchResult, LockResult};
use crate::core::step::{Answer, Step, StepError};
use crate::core::time::Millis;
use crate::prelude::*;
use ::core::cell::UnsafeCell;
use alloc::boxed::Box;

/// The guard for one page, driven by the package's JS (`pkg/guard.js` through `pkg/core.js`).
pub struct Core {
    step: Step,
}

/// The two buffers of the ABI.
struct Buffers {
    input: UnsafeCell<Vec<u8>>,
    output: UnsafeCell<String>,
}

// SAFETY: the wasm is single-threaded (no atomics, no shared memory), and every access is
// within one exported call, which nothing re-enters.
unsafe impl Sync for Buffers {}

static BUFFERS: Buffers = Buffers {
    input: UnsafeCell::new(Vec::new()),
    output: UnsafeCell::new(String::new()),
};

/// The length JS passes for an absent text.
const NONE: usize = u32::MAX as usize;

/// A broken ABI: a trap, like a panic.
fn broken() -> ! {
    ::core::arch::wasm32::unreachable()
}

/// The input buffer as the call's JS wrote it.
fn input() -> &'static [u8] {
    // SAFETY: see `Buffers`; no `&mut` to the input is alive during a call.
    unsafe { &*BUFFERS.input.get() }
}

/// The texts a call passed, in order, by their byte lengths.
struct Texts {
    at: usize,
}

impl Texts {
    fn new() -> Texts {
        Texts { at: 0 }
    }

    /// The next `len` bytes of the input.
    fn bytes(&mut self, len: usize) -> &'static [u8] {
        let end = self.at.checked_add(len).unwrap_or_else(|| broken());
        let bytes = input().get(self.at..end).unwrap_or_else(|| broken());
        self.at = end;
        bytes
    }

    /// The next text.
    fn text(&mut self, len: usize) -> &'static str {
        let bytes = self.bytes(len);
        // SAFETY: pkg/core.js writes every text with `TextEncoder.encodeInto` (or ./text.js's
        // equivalent, tested against it), which writes well-formed UTF-8 only (a lone surrogate
        // becomes U+FFFD) and whole characters, and passes the bytes it wrote: the contract
        // wasm-bindgen relied on as well. Checking again cost 263 B brotli of the wasm.
        unsafe { ::core::str::from_utf8_unchecked(bytes) }
    }

    /// The next text, or none (`u32::MAX`).
    fn maybe(&mut self, len: usize) -> Option<&'static str> {
        (len != NONE).then(|| self.text(len))
    }
}

/// The output buffer.
fn output() -> &'static mut String {
    // SAFETY: see `Buffers`; the previous answer's bytes were read by JS before this call, and
    // each use of this reference ends before the next.
    unsafe { &mut *BUFFERS.output.get() }
}

/// Leaves `text` in the output buffer; its length.
#[inline(never)]
fn out(text: String) -> usize {
    let output = output();
    *output = text;
    output.len()
}

/// A call's batch, or its refusal's `{"error"}` text. One copy for the calls that may be
/// refused (it was inlined into each).
#[inline(never)]
fn batch(result: Result<String, StepError>) -> usize {
    out(result.unwrap_or_else(|e| e.to_json()))
}

/// The guard behind a pointer `cg_new` returned.
fn core<'a>(core: *mut Core) -> &'a mut Core {
    // SAFETY: JS passes only what `cg_new` returned and `cg_free` has not taken back (pkg/core.js
    // zeroes its pointer on `free`); null traps.
    unsafe { core.as_mut() }.unwrap_or_else(|| broken())
}

/// `now` from JS (`Date.now()`), as the core's time.
fn at(now: f64) -> Millis {
    Millis(now as u64)
}

/// An id the batch carried, back from JS.
fn id(id: f64) -> u64 {
    id as u64
}

/// Where JS writes a call's texts: the input buffer, grown to at least `bytes`.
#[no_mangle]
pub extern "C" fn cg_input(bytes: usize) -> *mut u8 {
    // SAFETY: see `Buffers`; called between calls, when no text of the input is borrowed.
    let input = unsafe { &mut *BUFFERS.input.get() };
    if input.len() < bytes {
        input.resize(bytes, 0);
    }
    input.as_mut_ptr()
}

/// Where the last answer's text starts.
#[no_mangle]
pub extern "C" fn cg_output() -> *const u8 {
    output().as_ptr()
}

/// The last answer's length in bytes (for `cg_new`'s refusal).
#[no_mangle]
pub extern "C" fn cg_output_len() -> usize {
    output().len()
}

/// A guard over the options (JSON text, `options` bytes) seeded with the `seed` bytes after
/// them (32 random bytes); null when refused, the refusal's `{"error":{"code","message"}}`
/// then in the output buffer.
#[no_mangle]
pub extern "C" fn cg_new(options: usize, seed: usize) -> *mut Core {
    let mut texts = Texts::new();
    let options = texts.text(options);
    let Ok(seed) = <[u8; 32]>::try_from(texts.bytes(seed)) else {
        let refusal = StepError {
            code: "platform",
            message: "the seed must be 32 bytes".to_owned(),
        };
        out(refusal.to_json());
        return ::core::ptr::null_mut();
    };
    match Step::new(options, seed) {
        Ok(step) => Box::into_raw(Box::new(Core { step })),
        Err(refusal) => {
            out(refusal.to_json());
            ::core::ptr::null_mut()
        }
    }
}

/// Gives a guard back.
///
/// # Safety
/// `guard` is null or what `cg_new` returned, given back once (pkg/core.js zeroes its pointer).
#[no_mangle]
pub unsafe extern "C" fn cg_free(guard: *mut Core) {
    if !guard.is_null() {
        // SAFETY: the function's contract.
        drop(unsafe { Box::from_raw(guard) });
    }
}

/// The namespace option (lock names, the broadcast channel).
#[no_mangle]
pub extern "C" fn cg_namespace(guard: *mut Core) -> usize {
    out(core(guard).step.namespace().to_owned())
}

/// The scope option.
#[no_mangle]
pub extern "C" fn cg_scope(guard: *mut Core) -> usize {
    out(core(guard).step.scope().to_owned())
}

/// Whether `pay` would start a payment (then the page's `prepare` runs): 1 or 0.
#[no_mangle]
pub extern "C" fn cg_would_start(guard: *mut Core, order_no: usize) -> u32 {
    let order_no = Texts::new().text(order_no);
    u32::from(core(guard).step.would_start(order_no))
}

/// `pay()`: the order, its content's canonical JSON, the caller's number.
#[no_mangle]
pub extern "C" fn cg_pay(
    guard: *mut Core,
    order_no: usize,
    canonical: usize,
    caller: f64,
    now: f64,
) -> usize {
    let mut texts = Texts::new();
    let (order_no, canonical) = (texts.text(order_no), texts.text(canonical));
    batch(
        core(guard)
            .step
            .pay(order_no, canonical, id(caller), at(now)),
    )
}

/// `submit()`: the content's canonical JSON, the caller's number.
#[no_mangle]
pub extern "C" fn cg_submit(guard: *mut Core, canonical: usize, caller: f64, now: f64) -> usize {
    let canonical = Texts::new().text(canonical);
    out(core(guard).step.submit(canonical, id(caller), at(now)))
}

/// `resume(orderNo)`.
#[no_mangle]
pub extern "C" fn cg_resume(guard: *mut Core, order_no: usize, now: f64) -> usize {
    let order_no = Texts::new().text(order_no);
    batch(core(guard).step.resume(order_no, at(now)))
}

/// `forget(orderNo)`.
#[no_mangle]
pub extern "C" fn cg_forget(guard: *mut Core, order_no: usize, now: f64) -> usize {
    let order_no = Texts::new().text(order_no);
    batch(core(guard).step.forget(order_no, at(now)))
}

/// The timer armed to the last batch's `timeout` fired.
#[no_mangle]
pub extern "C" fn cg_timer(guard: *mut Core, now: f64) -> usize {
    out(core(guard).step.timer(at(now)))
}

/// The page is visible again.
#[no_mangle]
pub extern "C" fn cg_shown(guard: *mut Core, now: f64) -> usize {
    out(core(guard).step.shown(at(now)))
}

/// Another tab's broadcast message.
#[no_mangle]
pub extern "C" fn cg_heard(guard: *mut Core, message: usize, now: f64) -> usize {
    let message = Texts::new().text(message);
    out(core(guard).step.heard(message, at(now)))
}

/// `send` `id`: the server replied with `status`, its `Retry-After` header (or none) and body.
#[no_mangle]
pub extern "C" fn cg_replied(
    guard: *mut Core,
    id_: f64,
    status: u32,
    retry_after: usize,
    body: usize,
    now: f64,
) -> usize {
    let mut texts = Texts::new();
    let retry_after = texts.maybe(retry_after);
    let body = texts.text(body);
    let status = u16::try_from(status).unwrap_or_else(|_| broken());
    let answer = Answer::Reply {
        status,
        retry_after,
        body,
    };
    out(core(guard).step.answer(id(id_), answer, at(now)))
}

/// `send` `id`: no reply.
#[no_mangle]
pub extern "C" fn cg_lost(guard: *mut Core, id_: f64, now: f64) -> usize {
    out(core(guard).step.answer(id(id_), Answer::Lost, at(now)))
}

/// `get` `id`: the stored text, or none.
#[no_mangle]
pub extern "C" fn cg_stored(guard: *mut Core, id_: f64, text: usize, now: f64) -> usize {
    let text = Texts::new().maybe(text);
    out(core(guard)
        .step
        .answer(id(id_), Answer::Stored(text), at(now)))
}

/// `lock` `id`: whether this tab got it (1 or 0).
#[no_mangle]
pub extern "C" fn cg_locked(guard: *mut Core, id_: f64, acquired: u32, now: f64) -> usize {
    let result = if acquired != 0 {
        LockResult::Acquired
    } else {
        LockResult::HeldElsewhere
    };
    out(core(guard)
        .step
        .answer(id(id_), Answer::Lock(result), at(now)))
}

/// `launch` `id`: what the wallet settled with (`'ok'`, `'cancelled'`, else failed).
#[no_mangle]
pub extern "C" fn cg_launched(guard: *mut Core, id_: f64, result: usize, now: f64) -> usize {
    let result = match Texts::new().text(result) {
        "ok" => LaunchResult::Ok,
        "cancelled" => LaunchResult::Cancelled,
        _ => LaunchResult::Failed,
    };
    out(core(guard)
        .step
        .answer(id(id_), Answer::Launched(result), at(now)))
}

/// Lowercase hex SHA-256 of the text (the canonical JSON the JS built): a fingerprint.
#[no_mangle]
pub extern "C" fn cg_sha256(text: usize) -> usize {
    let text = Texts::new().bytes(text);
    out(fingerprint::sha256_hex(text).as_str().to_owned())
}
