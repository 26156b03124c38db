//! The Pay button: locked the moment a payment starts, showing the outcome when it ends.
//!
//! Locking sets `disabled`, `aria-busy="true"` (screen readers announce the wait) and
//! `data-checkout-state="busy"`; the page styles the states through that attribute. When the
//! order reaches an outcome, `disabled` and `aria-busy` go back to what they were before the
//! lock and `data-checkout-state` names the outcome. `pending` leaves the button usable but
//! marked `pending`: the page shows "check status", and a click asks the server rather than
//! paying again (the core guarantees that). `paid` keeps it disabled: there is nothing left to
//! pay.

use crate::core::machine::OutcomeStatus;
use web_sys::Element;

/// The attribute pages style and tests read.
pub const STATE_ATTRIBUTE: &str = "data-checkout-state";

/// What the element looked like before the lock, to put back afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Saved {
    disabled: bool,
    aria_busy: Option<String>,
}

/// One button (any element) the guard locks and unlocks.
pub struct Button {
    element: Element,
    saved: Option<Saved>,
}

impl Button {
    pub fn new(element: Element) -> Button {
        Button {
            element,
            saved: None,
        }
    }

    pub fn element(&self) -> &Element {
        &self.element
    }

    /// Disables the element at once (synchronously, inside the click handler).
    pub fn lock(&mut self) {
        if self.saved.is_none() {
            self.saved = Some(Saved {
                disabled: self.element.has_attribute("disabled"),
                aria_busy: self.element.get_attribute("aria-busy"),
            });
        }
        self.set("disabled", "");
        self.set("aria-busy", "true");
        self.set(STATE_ATTRIBUTE, "busy");
    }

    /// Shows `status` and restores the element; `None` is back to plain "pay" (a refused call).
    pub fn show(&mut self, status: Option<OutcomeStatus>) {
        let saved = self.saved.take().unwrap_or(Saved {
            disabled: self.element.has_attribute("disabled"),
            aria_busy: None,
        });
        let keep_disabled = saved.disabled || status == Some(OutcomeStatus::Paid);
        if keep_disabled {
            self.set("disabled", "");
        } else {
            self.remove("disabled");
        }
        match &saved.aria_busy {
            Some(value) => self.set("aria-busy", value),
            None => self.remove("aria-busy"),
        }
        match status {
            Some(status) => self.set(STATE_ATTRIBUTE, status.as_str()),
            None => self.remove(STATE_ATTRIBUTE),
        }
    }

    // Setting or removing an attribute with a valid, constant name cannot throw.
    fn set(&self, name: &str, value: &str) {
        let _ = self.element.set_attribute(name, value);
    }

    fn remove(&self, name: &str) {
        let _ = self.element.remove_attribute(name);
    }
}
