//! `broadcast`: a message posted in one channel object arrives in another of the same name.

use checkout_guard::wasm::broadcast::Channel;
use gloo_timers::future::TimeoutFuture;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen_test::wasm_bindgen_test;

fn recording(name: &str) -> (Channel, Rc<RefCell<Vec<String>>>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    let channel = Channel::open(name, move |text| sink.borrow_mut().push(text));
    (
        channel.unwrap_or_else(|| panic!("Chromium has BroadcastChannel")),
        seen,
    )
}

#[wasm_bindgen_test]
async fn another_channel_object_receives_the_message() {
    let (first, first_seen) = recording("cg-test-outcomes");
    let (second, second_seen) = recording("cg-test-outcomes");
    let (_elsewhere, elsewhere_seen) = recording("cg-test-other-name");
    first.post("{\"orderNo\":\"A1\",\"status\":\"paid\"}");
    TimeoutFuture::new(50).await;
    assert_eq!(
        *second_seen.borrow(),
        vec!["{\"orderNo\":\"A1\",\"status\":\"paid\"}".to_string()]
    );
    assert!(
        first_seen.borrow().is_empty(),
        "a channel never hears itself"
    );
    assert!(elsewhere_seen.borrow().is_empty());
    drop(second);
    first.post("after close");
    TimeoutFuture::new(50).await;
    assert_eq!(second_seen.borrow().len(), 1, "a dropped channel is closed");
}
