//! The wasm bindings, compiled only for `wasm32`; cargo features choose which are built.
//!
//! - Feature `step` (the default): [`step`], `Core`, the core's second shape for JavaScript:
//!   text and numbers in, one JSON batch out. The npm package's browser, bundler and Node
//!   builds ship it, built alone; the package's JS (`pkg/guard.js`, `pkg/platform.js`) performs
//!   the actions.
//! - Feature `miniprogram`: the WeChat mini-program's shell in Rust, which has not moved to the
//!   second shape yet (built with `--no-default-features --features miniprogram`):
//!   - [`miniprogram`]: the `MiniProgramGuard` class over adapters the loader builds on `wx.*`;
//!   - [`driver`]: the core's driver (inputs, actions, one timer) behind a small
//!     [`driver::Platform`] trait;
//!   - [`options`]: the constructor options, validated (errors name the option);
//!   - [`errors`]: the only place Rust errors become JS `Error`s with a stable `code`;
//!   - [`order`]: a JS value → JSON, refusing what JSON cannot say (NaN, `undefined`, cycles…);
//!   - [`exports`]: the bundle's `canonicalize` / `fingerprint`;
//!   - [`storage`]: records in the adapter's storage, memory when that fails;
//!   - [`transport`]: a `fetch`-shaped function with a time-out; status, `Retry-After`, body;
//!   - [`timer`]: the one platform timer, re-armed to the core's earliest deadline;
//!   - [`pool`]: the entropy pool the loader fills from `wx.getRandomValues`;
//!   - [`global`]: bindings to globals (`setTimeout`, …) that work without `window`;
//!   - [`table`]: a small map for the shell's handful of entries.
//!
//! Globals are bound as globals, never through `window`.

#[cfg(feature = "miniprogram")]
pub mod driver;
#[cfg(feature = "miniprogram")]
pub mod errors;
#[cfg(feature = "miniprogram")]
pub mod exports;
#[cfg(feature = "miniprogram")]
pub mod global;
#[cfg(feature = "miniprogram")]
pub mod miniprogram;
#[cfg(feature = "miniprogram")]
pub mod options;
#[cfg(feature = "miniprogram")]
pub mod order;
#[cfg(feature = "miniprogram")]
pub mod pool;
#[cfg(feature = "step")]
pub mod step;
#[cfg(feature = "miniprogram")]
pub mod storage;
#[cfg(feature = "miniprogram")]
pub mod table;
#[cfg(feature = "miniprogram")]
pub mod timer;
#[cfg(feature = "miniprogram")]
pub mod transport;
