//! `timer`: one platform timer, re-armed to the latest deadline.

use checkout_guard::wasm::timer::{now, Timer};
use gloo_timers::future::TimeoutFuture;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen_test::wasm_bindgen_test;

fn counting_timer() -> (Timer, Rc<Cell<u32>>) {
    let fired = Rc::new(Cell::new(0));
    let counter = fired.clone();
    (Timer::new(move || counter.set(counter.get() + 1)), fired)
}

#[wasm_bindgen_test]
async fn fires_once_at_its_deadline() {
    let (timer, fired) = counting_timer();
    timer.arm(Some(now().plus(10)), now());
    assert_eq!(fired.get(), 0);
    TimeoutFuture::new(80).await;
    assert_eq!(fired.get(), 1);
}

#[wasm_bindgen_test]
async fn re_arming_replaces_the_earlier_deadline() {
    let (timer, fired) = counting_timer();
    timer.arm(Some(now().plus(20)), now());
    timer.arm(Some(now().plus(400)), now());
    TimeoutFuture::new(100).await;
    assert_eq!(fired.get(), 0);
    timer.arm(Some(now().minus(5)), now()); // already passed: fires at once
    TimeoutFuture::new(30).await;
    assert_eq!(fired.get(), 1);
}

#[wasm_bindgen_test]
async fn disarming_and_dropping_cancel() {
    let (timer, fired) = counting_timer();
    timer.arm(Some(now().plus(10)), now());
    timer.arm(None, now());
    let (dropped, dropped_fired) = counting_timer();
    dropped.arm(Some(now().plus(10)), now());
    drop(dropped);
    TimeoutFuture::new(60).await;
    assert_eq!(fired.get(), 0);
    assert_eq!(dropped_fired.get(), 0);
}
