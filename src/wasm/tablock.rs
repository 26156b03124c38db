//! One tab at a time per order: `navigator.locks` where it exists, a storage lease elsewhere.
//!
//! Two tabs of one checkout share `localStorage` but not memory; without a lock both could
//! read "no record" and both create a payment. Web Locks give a real mutual exclusion that the
//! browser releases when the tab dies: the lock is requested with `ifAvailable` (never queue
//! behind another tab: the guard waits for its broadcast or asks the server instead) and held
//! by a promise that resolves on [`TabLock`]'s drop. Where Web Locks are missing, a lease in
//! storage with an expiry stands in: weaker (two tabs can race between read and write, which
//! the read-back narrows), and a crashed tab blocks others only until the lease expires.

use super::errors::{describe, ErrorCode, GuardError};
use super::global::{method, property};
use super::storage::Store;
use crate::core::json::push_u64;
use crate::core::time::Millis;
use js_sys::{Array, Function, Object, Promise, Reflect};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// How tabs exclude each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `navigator.locks.request(name, { ifAvailable: true }, …)`.
    WebLocks,
    /// A `{owner} {expiresAt}` record in storage.
    Lease,
}

impl Mechanism {
    /// Web Locks where the platform has them, else the lease.
    pub fn detect() -> Mechanism {
        match web_locks() {
            Some(_) => Mechanism::WebLocks,
            None => Mechanism::Lease,
        }
    }
}

/// Takes locks for this tab.
pub struct TabLocks {
    mechanism: Mechanism,
    store: Rc<Store>,
    owner: String,
    lease_ms: u64,
}

/// A held lock; released when dropped.
pub struct TabLock {
    held: Held,
}

enum Held {
    /// Resolving this function's promise ends the lock callback, which releases the lock.
    WebLock(Function),
    Lease {
        store: Rc<Store>,
        key: String,
        owner: String,
    },
}

impl TabLocks {
    /// `owner` must be unique to this tab (a random id); `lease_ms` bounds how long a crashed
    /// tab's lease blocks the others (leases only).
    pub fn new(mechanism: Mechanism, store: Rc<Store>, owner: String, lease_ms: u64) -> TabLocks {
        TabLocks {
            mechanism,
            store,
            owner,
            lease_ms,
        }
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The lock `name` if no other holder has it now (never waits for one), else `None`.
    pub async fn try_acquire(
        &self,
        name: &str,
        now: Millis,
    ) -> Result<Option<TabLock>, GuardError> {
        match self.mechanism {
            Mechanism::WebLocks => web_lock(name).await,
            Mechanism::Lease => Ok(self.lease(name, now)),
        }
    }

    fn lease(&self, name: &str, now: Millis) -> Option<TabLock> {
        let key = ["checkout-guard:lock:", name].concat();
        if let Some((owner, expires)) = self.store.get(&key).as_deref().and_then(parse_lease) {
            if owner != self.owner && expires > now.0 {
                return None;
            }
        }
        self.store
            .set(&key, &lease(&self.owner, now.plus(self.lease_ms)));
        // Read back: of two tabs writing at once, only the one whose write stuck goes on.
        let stuck = self.store.get(&key);
        let ours = stuck
            .as_deref()
            .and_then(parse_lease)
            .map(|(owner, _)| owner)
            == Some(&self.owner);
        ours.then(|| TabLock {
            held: Held::Lease {
                store: self.store.clone(),
                key,
                owner: self.owner.clone(),
            },
        })
    }
}

impl TabLock {
    /// Extends a lease to `now + lease_ms` (a long payment must not outlive its lease); a
    /// no-op for Web Locks, which last until dropped.
    pub fn renew(&self, now: Millis, lease_ms: u64) {
        if let Held::Lease { store, key, owner } = &self.held {
            store.set(key, &lease(owner, now.plus(lease_ms)));
        }
    }
}

impl Drop for TabLock {
    fn drop(&mut self) {
        match &self.held {
            Held::WebLock(release) => {
                let _ = release.call0(&JsValue::UNDEFINED);
            }
            Held::Lease { store, key, owner } => {
                let mine = store
                    .get(key)
                    .as_deref()
                    .and_then(parse_lease)
                    .is_some_and(|(o, _)| o == owner);
                if mine {
                    store.remove(key);
                }
            }
        }
    }
}

/// A lease's text: `{owner} {expiresAt}`.
fn lease(owner: &str, expires: Millis) -> String {
    let mut text = [owner, " "].concat();
    push_u64(&mut text, expires.0);
    text
}

fn parse_lease(text: &str) -> Option<(&str, u64)> {
    let (owner, expires) = text.split_once(' ')?;
    Some((owner, expires.parse().ok()?))
}

/// `navigator.locks`, where it exists.
fn web_locks() -> Option<JsValue> {
    let navigator = property("navigator")?;
    Reflect::get(&navigator, &"locks".into())
        .ok()
        .filter(|l| l.is_object())
}

async fn web_lock(name: &str) -> Result<Option<TabLock>, GuardError> {
    let platform = |what: &str| GuardError::new(ErrorCode::Platform, what.to_owned());
    let locks = web_locks().ok_or_else(|| platform("navigator.locks is missing"))?;
    let request = method(&locks, "request").ok_or_else(|| platform("locks.request is missing"))?;
    let mut release = None;
    let held = Promise::new(&mut |resolve, _| release = Some(resolve));
    let mut answer = None;
    let answered = Promise::new(&mut |resolve, _| answer = Some(resolve));
    let (Some(release), Some(answer)) = (release, answer) else {
        return Err(platform(
            "unreachable: a Promise executor runs synchronously",
        ));
    };
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        let got = !lock.is_null();
        let _ = answer.call1(&JsValue::UNDEFINED, &JsValue::from_bool(got));
        if got {
            held.into()
        } else {
            JsValue::UNDEFINED
        }
    });
    let options = Object::new();
    let _ = Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE);
    let requested = request
        .call3(&locks, &JsValue::from_str(name), &options, &callback)
        .map_err(|e| platform(&["locks.request threw: ", &describe(&e)].concat()))?;
    // `requested` settles after the lock ends, or rejects at once (e.g. an opaque origin);
    // `answered` settles as soon as the callback knows whether the lock was granted.
    let got = JsFuture::from(Promise::race(&Array::of2(&answered, &requested)))
        .await
        .map_err(|e| platform(&["locks.request failed: ", &describe(&e)].concat()))?;
    Ok((got.as_bool() == Some(true)).then_some(TabLock {
        held: Held::WebLock(release),
    }))
}
