//! The browser shell: everything that touches JavaScript, compiled only for `wasm32`.
//!
//! The core (`crate::core`) decides; these modules perform its actions on the platform and
//! translate results back. One module per platform concern, each small enough to read in one
//! sitting (gloo's shape):
//!
//! - [`checkout`]: the `CheckoutGuard` class: drives the core and performs its actions.
//! - [`options`]: its constructor options, validated (errors name the option).
//! - [`errors`]: the only place Rust errors become JS `Error`s with a stable `code`.
//! - [`order`]: a JS value → JSON, refusing what JSON cannot say (NaN, `undefined`, cycles…).
//! - [`exports`]: the `canonicalize` / `fingerprint` functions of the npm package.
//! - [`random`]: the guard's seed from `crypto.getRandomValues`.
//! - [`storage`]: records in `localStorage` or a caller's storage, memory when that fails.
//! - [`transport`]: `fetch` with a time-out; status, `Retry-After` and body text out.
//! - [`timer`]: the one platform timer, re-armed to the core's earliest deadline.
//! - [`button`]: disabled + `aria-busy` + `data-checkout-state`, restored on the outcome.
//! - [`tablock`]: one tab per order (Web Locks, or a storage lease).
//! - [`broadcast`]: outcomes to the other tabs (`BroadcastChannel`).
//! - [`visibility`]: "the buyer is back" (`visibilitychange`, `pageshow`).
//! - [`global`]: bindings to globals (`setTimeout`, `navigator`, …) that work without `window`.
//!
//! Globals are bound as globals, never through `window`: the same code then runs in Node, in a
//! worker and in a mini-program that has no `window`.

pub mod broadcast;
pub mod button;
pub mod checkout;
pub mod errors;
pub mod exports;
pub mod global;
pub mod options;
pub mod order;
pub mod random;
pub mod storage;
pub mod tablock;
pub mod timer;
pub mod transport;
pub mod visibility;
