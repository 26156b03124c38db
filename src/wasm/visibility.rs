//! "The buyer is back": the page became visible again, or was restored from the back-forward
//! cache.
//!
//! After a wallet app or a redirect, the payment's result is most likely known to the server
//! right now; the guard asks at once instead of waiting for its next scheduled poll. A plain
//! first load's `pageshow` is not a return (`persisted` is false) and is ignored: a reloaded
//! page finds its orders with `resume()`.

use super::global::property;
use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Event, EventTarget};

/// Installed listeners; removed when dropped.
pub struct Watcher {
    document: EventTarget,
    global: EventTarget,
    on_visibility: Closure<dyn FnMut(Event)>,
    on_pageshow: Closure<dyn FnMut(Event)>,
}

impl Watcher {
    /// Calls `on_shown` on each return, or `None` where there is no `document` (Node, workers,
    /// mini-programs: their shells report returns themselves).
    pub fn watch(on_shown: impl Fn() + 'static) -> Option<Watcher> {
        let document: Document = property("document")?.dyn_into().ok()?;
        let global: EventTarget = js_sys::global().dyn_into().ok()?;
        let on_shown = std::rc::Rc::new(on_shown);
        let on_visibility = {
            let (on_shown, document) = (on_shown.clone(), document.clone());
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                if document.visibility_state() == web_sys::VisibilityState::Visible {
                    on_shown();
                }
            })
        };
        let on_pageshow = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            let persisted = Reflect::get(&event, &"persisted".into())
                .ok()
                .and_then(|p| p.as_bool())
                .unwrap_or(false);
            if persisted {
                on_shown();
            }
        });
        let document: EventTarget = document.into();
        // Adding a listener with a function cannot throw.
        let _ = document.add_event_listener_with_callback(
            "visibilitychange",
            on_visibility.as_ref().unchecked_ref(),
        );
        let _ = global
            .add_event_listener_with_callback("pageshow", on_pageshow.as_ref().unchecked_ref());
        Some(Watcher {
            document,
            global,
            on_visibility,
            on_pageshow,
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.document.remove_event_listener_with_callback(
            "visibilitychange",
            self.on_visibility.as_ref().unchecked_ref(),
        );
        let _ = self.global.remove_event_listener_with_callback(
            "pageshow",
            self.on_pageshow.as_ref().unchecked_ref(),
        );
    }
}
