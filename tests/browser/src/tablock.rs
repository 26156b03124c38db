//! `tablock`: a second holder is refused while the first holds the lock.

use checkout_guard::core::time::Millis;
use checkout_guard::wasm::storage::Store;
use checkout_guard::wasm::tablock::{Mechanism, TabLocks};
use gloo_timers::future::TimeoutFuture;
use std::rc::Rc;
use wasm_bindgen_test::wasm_bindgen_test;

fn locks(mechanism: Mechanism, store: &Rc<Store>, owner: &str) -> TabLocks {
    TabLocks::new(mechanism, store.clone(), owner.into(), 1_000)
}

#[wasm_bindgen_test]
async fn web_locks_refuse_a_second_holder_until_released() {
    assert_eq!(Mechanism::detect(), Mechanism::WebLocks);
    let store = Rc::new(Store::memory());
    let (a, b) = (
        locks(Mechanism::WebLocks, &store, "a"),
        locks(Mechanism::WebLocks, &store, "b"),
    );
    let now = Millis(1);
    let held = a.try_acquire("cg-test-order-1", now).await;
    let held = held.unwrap_or_else(|e| panic!("{e:?}"));
    assert!(held.is_some(), "the first request gets the lock");
    let refused = b.try_acquire("cg-test-order-1", now).await;
    assert!(
        matches!(refused, Ok(None)),
        "a second request is refused while held"
    );
    let other = b.try_acquire("cg-test-order-2", now).await;
    assert!(
        matches!(other, Ok(Some(_))),
        "another order's lock is independent"
    );
    drop(held);
    TimeoutFuture::new(20).await;
    let again = b.try_acquire("cg-test-order-1", now).await;
    assert!(matches!(again, Ok(Some(_))), "released on drop");
}

#[wasm_bindgen_test]
async fn the_lease_refuses_a_second_owner_until_it_expires() {
    let store = Rc::new(Store::memory());
    let (a, b) = (
        locks(Mechanism::Lease, &store, "a"),
        locks(Mechanism::Lease, &store, "b"),
    );
    let held = a.try_acquire("order-1", Millis(10_000)).await;
    let held = held
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("the first owner gets the lease"));
    assert!(matches!(
        b.try_acquire("order-1", Millis(10_500)).await,
        Ok(None)
    ));
    held.renew(Millis(10_900), 1_000);
    assert!(
        matches!(b.try_acquire("order-1", Millis(11_500)).await, Ok(None)),
        "renewed"
    );
    // The holder vanished without releasing (a crashed tab): the lease expires.
    std::mem::forget(held);
    let taken = b.try_acquire("order-1", Millis(12_000)).await;
    assert!(
        matches!(taken, Ok(Some(_))),
        "an expired lease is taken over"
    );
}

#[wasm_bindgen_test]
async fn dropping_a_lease_frees_it_but_never_someone_else_s() {
    let store = Rc::new(Store::memory());
    let (a, b) = (
        locks(Mechanism::Lease, &store, "a"),
        locks(Mechanism::Lease, &store, "b"),
    );
    let held = a.try_acquire("order-1", Millis(0)).await.ok().flatten();
    drop(held);
    let b_held = b.try_acquire("order-1", Millis(1)).await.ok().flatten();
    assert!(b_held.is_some(), "a's drop released it");
    assert_eq!(
        store.get("checkout-guard:lock:order-1").as_deref(),
        Some("b 1001")
    );
}
