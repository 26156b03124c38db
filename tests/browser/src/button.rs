//! `button`: what the buyer (and a screen reader) sees while paying and after.

use checkout_guard::core::machine::OutcomeStatus;
use checkout_guard::wasm::button::Button;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::Element;

fn button() -> Element {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .unwrap_or_else(|| panic!("a browser test has a document"));
    document
        .create_element("button")
        .unwrap_or_else(|_| panic!("creating a button cannot fail"))
}

fn attr(element: &Element, name: &str) -> Option<String> {
    element.get_attribute(name)
}

#[wasm_bindgen_test]
fn lock_disables_and_marks_busy() {
    let element = button();
    let mut b = Button::new(element.clone());
    b.lock();
    assert!(element.has_attribute("disabled"));
    assert_eq!(attr(&element, "aria-busy").as_deref(), Some("true"));
    assert_eq!(
        attr(&element, "data-checkout-state").as_deref(),
        Some("busy")
    );
}

#[wasm_bindgen_test]
fn pending_restores_the_button_but_says_pending() {
    let element = button();
    let mut b = Button::new(element.clone());
    b.lock();
    b.show(Some(OutcomeStatus::Pending));
    assert!(!element.has_attribute("disabled"));
    assert_eq!(attr(&element, "aria-busy"), None);
    assert_eq!(
        attr(&element, "data-checkout-state").as_deref(),
        Some("pending")
    );
}

#[wasm_bindgen_test]
fn paid_stays_disabled() {
    let element = button();
    let mut b = Button::new(element.clone());
    b.lock();
    b.show(Some(OutcomeStatus::Paid));
    assert!(element.has_attribute("disabled"));
    assert_eq!(attr(&element, "aria-busy"), None);
    assert_eq!(
        attr(&element, "data-checkout-state").as_deref(),
        Some("paid")
    );
}

#[wasm_bindgen_test]
fn the_page_s_own_attributes_come_back() {
    let element = button();
    let _ = element.set_attribute("aria-busy", "false");
    let mut b = Button::new(element.clone());
    b.lock();
    b.lock(); // a second lock must not save the locked state as "before"
    b.show(Some(OutcomeStatus::Cancelled));
    assert!(!element.has_attribute("disabled"));
    assert_eq!(attr(&element, "aria-busy").as_deref(), Some("false"));
    assert_eq!(
        attr(&element, "data-checkout-state").as_deref(),
        Some("cancelled")
    );
    b.lock();
    b.show(None);
    assert_eq!(attr(&element, "data-checkout-state"), None);

    let disabled = button();
    let _ = disabled.set_attribute("disabled", "");
    let mut d = Button::new(disabled.clone());
    d.lock();
    d.show(Some(OutcomeStatus::Failed));
    assert!(
        disabled.has_attribute("disabled"),
        "it was disabled before the lock"
    );
}
