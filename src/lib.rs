//! checkout-guard: stops a shopper from ever starting a second payment for one order.
//!
//! The crate is a **sans-IO core** ([`core`]): events and the current time go in, actions come
//! out. It has no clock, no storage, no network and no JS types; the platform shells that
//! perform its actions (browser, WeChat mini-program) live in their own modules and only
//! translate. See `ARCHITECTURE.md` for the map and `docs/contract.md` for the server side.

// No `std` in the wasm: its panic machinery (the hook, the message formatting, `core::fmt`)
// was 4.7 KB raw, 1.9 KB brotli of a module that never prints (issue 13's size budget). A
// panic is a trap in the wasm, as `panic = "abort"` made it already; native builds keep `std`.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

pub mod core;
mod prelude;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

#[cfg(any(target_arch = "wasm32", test))]
pub mod heap;

/// The wasm's allocator: size classes over the module's linear memory, which it grows with
/// `memory.grow` (`heap.rs`). The wasm is single-threaded.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: heap::Global = heap::Global::new();

/// A panic in the wasm traps (`unreachable`): the page's JS sees a `RuntimeError` from the call,
/// as it did with `panic = "abort"`, without the formatting std's handler linked in.
#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo<'_>) -> ! {
    ::core::arch::wasm32::unreachable()
}
