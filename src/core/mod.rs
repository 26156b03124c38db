//! The sans-IO guard core: pure decisions, no I/O.
//!
//! - [`fingerprint`]: RFC 8785 canonical JSON and its SHA-256, the order's identity.
//! - [`time`]: milliseconds since the epoch, always passed in.

pub mod fingerprint;
pub mod time;
