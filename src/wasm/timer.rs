//! The shell's one platform timer, re-armed to the core's earliest deadline.
//!
//! The core keeps every timer it needs in its own table and reports only the earliest
//! (`poll_timeout`), so the shell never juggles several `setTimeout`s: after each input it
//! calls [`Timer::arm`] with that deadline, which replaces whatever was armed.

use super::global::{clear_timeout, set_timeout};
use crate::core::time::Millis;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

/// The longest delay `setTimeout` honours (2^31 − 1 ms); longer ones fire at once in browsers,
/// so they are clamped and the core, asked again then, re-arms for the rest.
const MAX_DELAY_MS: u64 = 0x7fff_ffff;

/// One re-armable timer calling `on_fire`.
pub struct Timer {
    on_fire: Closure<dyn FnMut()>,
    armed: RefCell<Option<JsValue>>,
}

impl Timer {
    /// A disarmed timer that will call `on_fire` when it fires.
    pub fn new(on_fire: impl FnMut() + 'static) -> Timer {
        Timer {
            on_fire: Closure::new(on_fire),
            armed: RefCell::new(None),
        }
    }

    /// Fires at `deadline` (at once if it has passed), replacing any earlier arming; `None`
    /// disarms.
    pub fn arm(&self, deadline: Option<Millis>, now: Millis) {
        self.disarm();
        if let Some(deadline) = deadline {
            let delay = deadline.since(now).min(MAX_DELAY_MS);
            let handle = set_timeout(self.on_fire.as_ref().unchecked_ref(), delay as f64);
            *self.armed.borrow_mut() = Some(handle);
        }
    }

    /// Cancels the pending firing, if any.
    pub fn disarm(&self) {
        if let Some(handle) = self.armed.borrow_mut().take() {
            clear_timeout(&handle);
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // The closure is freed with the timer: a firing after this would call freed memory.
        self.disarm();
    }
}

/// The platform clock, as the core's [`Millis`].
pub fn now() -> Millis {
    Millis(js_sys::Date::now().max(0.0) as u64)
}
