//! The platform shells: everything that touches JavaScript, compiled only for `wasm32`.
//!
//! The core (`crate::core`) decides; these modules perform its actions on the platform and
//! translate results back. One module per platform concern, each small enough to read in one
//! sitting (gloo's shape). Two shells share the [`driver`]; cargo features choose which are
//! built (`browser`, the default, and `miniprogram`; the mini-program bundle is built with
//! `--no-default-features --features miniprogram` so that no browser module is linked and its
//! glue names no browser API).
//!
//! Shared:
//! - [`driver`]: the core's driver (inputs, actions, one timer) and the [`driver::Platform`]
//!   trait that each shell implements.
//! - [`options`]: the constructor options, validated (errors name the option).
//! - [`errors`]: the only place Rust errors become JS `Error`s with a stable `code`.
//! - [`order`]: a JS value → JSON, refusing what JSON cannot say (NaN, `undefined`, cycles…).
//! - [`exports`]: the `canonicalize` / `fingerprint` functions of the npm package.
//! - [`flights`]: the calls in flight, which the package's JS layer reads for a double click.
//! - [`storage`]: records in `localStorage` or a caller's storage, memory when that fails.
//! - [`transport`]: a `fetch`-shaped function with a time-out; status, `Retry-After`, body.
//! - [`timer`]: the one platform timer, re-armed to the core's earliest deadline.
//! - [`global`]: bindings to globals (`setTimeout`, …) that work without `window`.
//! - [`table`]: a small map for the shells' handful of entries.
//!
//! Browser (feature `browser`):
//! - [`checkout`]: the `CheckoutGuard` class.
//! - [`random`]: the guard's seed from `crypto.getRandomValues`.
//! - [`button`]: disabled + `aria-busy` + `data-checkout-state`, restored on the outcome.
//! - [`tablock`]: one tab per order (Web Locks, or a storage lease).
//! - [`broadcast`]: outcomes to the other tabs (`BroadcastChannel`).
//! - [`visibility`]: "the buyer is back" (`visibilitychange`, `pageshow`).
//!
//! WeChat mini-program (feature `miniprogram`):
//! - [`miniprogram`]: the `MiniProgramGuard` class over adapters the loader builds on `wx.*`.
//! - [`pool`]: the entropy pool the loader fills from `wx.getRandomValues`.
//!
//! Globals are bound as globals, never through `window`: the same code then runs in Node, in a
//! worker and in a mini-program that has no `window`.

#[cfg(feature = "browser")]
pub mod broadcast;
#[cfg(feature = "browser")]
pub mod button;
#[cfg(feature = "browser")]
pub mod checkout;
#[cfg(any(feature = "browser", feature = "miniprogram"))]
pub mod driver;
#[cfg(any(feature = "browser", feature = "miniprogram"))]
pub mod errors;
#[cfg(any(feature = "browser", feature = "miniprogram"))]
pub mod exports;
#[cfg(any(feature = "browser", feature = "miniprogram"))]
pub mod flights;
#[cfg(any(feature = "browser", feature = "miniprogram"))]
pub mod global;
#[cfg(feature = "miniprogram")]
pub mod miniprogram;
#[cfg(any(feature = "browser", feature = "miniprogram"))]
pub mod options;
#[cfg(any(feature = "browser", feature = "miniprogram"))]
pub mod order;
#[cfg(feature = "miniprogram")]
pub mod pool;
#[cfg(feature = "browser")]
pub mod random;
#[cfg(feature = "step")]
pub mod step;
#[cfg(any(feature = "browser", feature = "miniprogram"))]
pub mod storage;
#[cfg(any(feature = "browser", feature = "miniprogram"))]
pub mod table;
#[cfg(feature = "browser")]
pub mod tablock;
#[cfg(any(feature = "browser", feature = "miniprogram"))]
pub mod timer;
#[cfg(any(feature = "browser", feature = "miniprogram"))]
pub mod transport;
#[cfg(feature = "browser")]
pub mod visibility;
