//! What `std`'s prelude gives and `alloc` holds, for the `no_std` wasm build (see `lib.rs`):
//! every module of the library starts with `use crate::prelude::*;`. In native builds these are
//! the very items std's prelude names.

pub(crate) use alloc::borrow::ToOwned;
pub(crate) use alloc::string::String;
pub(crate) use alloc::vec;
pub(crate) use alloc::vec::Vec;
