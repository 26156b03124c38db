//! The sans-IO guard core: pure decisions, no I/O.
//!
//! - [`time`]: milliseconds since the epoch, always passed in.
//! - [`ids`]: order numbers, idempotency keys, attempt ids, validated at the edge.
//! - [`json`]: the core's own JSON reader and writer (no serde in the wasm).
//! - [`fingerprint`]: RFC 8785 canonical JSON and its SHA-256, the order's identity.
//! - [`sha256`]: SHA-256, small for the wasm.
//! - [`entropy`]: keys and jitter from a seed the shell supplies.
//! - [`record`]: the versioned per-order record the shell persists.
//! - [`submission`]: the record of which business order one submission made.
//! - [`schedule`]: when to ask the server for the payment status.
//! - [`contract`]: the server's replies, parsed as `docs/contract.md` states them.
//! - [`config`]: the core's tuning, validated with errors that name the option.
//! - [`map`]: the machine's ordered tables (a sorted `Vec`).
//! - [`queue`]: the machine's queue of actions and the step's inbox (a `Vec` and a cursor).
//! - [`machine`]: the guard itself: `handle(input, now)`, then drain `poll_action()`; a
//!   router over one machine per order.

pub mod config;
pub mod contract;
pub mod entropy;
pub mod fingerprint;
pub mod ids;
pub mod json;
pub mod machine;
pub mod map;
pub mod queue;
pub mod record;
pub mod schedule;
pub mod sha256;
pub mod step;
pub mod storage;
pub mod submission;
pub mod time;
