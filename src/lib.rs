//! checkout-guard: stops a shopper from ever starting a second payment for one order.
//!
//! The crate is a **sans-IO core** ([`core`]): events and the current time go in, actions come
//! out. It has no clock, no storage, no network and no JS types; the platform shells that
//! perform its actions (browser, WeChat mini-program) live in their own modules and only
//! translate. See `ARCHITECTURE.md` for the map and `docs/contract.md` for the server side.

pub mod core;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

/// The wasm's allocator (see `Cargo.toml`): talc over the module's linear memory, which it grows
/// with `memory.grow` as dlmalloc did. The wasm is single-threaded, so its lock is a no-op.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };
