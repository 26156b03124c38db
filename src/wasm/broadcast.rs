//! Telling the other tabs of this origin what became of an order (`BroadcastChannel`).
//!
//! The tab lock keeps a second tab from paying; this lets it *show* the first tab's outcome
//! instead of waiting for its own polling. Messages are short JSON texts the guard writes and
//! parses; a tab never receives its own messages. Where `BroadcastChannel` is missing the
//! channel is absent and the other tab learns the outcome from the server, later.

use super::global::property;
use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent};

/// An open channel and its listener; closed when dropped.
pub struct Channel {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Channel {
    /// Opens channel `name`, calling `on_message` with each text message from other tabs, or
    /// `None` where the platform has no `BroadcastChannel`.
    pub fn open(name: &str, mut on_message: impl FnMut(String) + 'static) -> Option<Channel> {
        property("BroadcastChannel")?;
        let channel = BroadcastChannel::new(name).ok()?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(text) = event.data().as_string() {
                on_message(text);
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // Node's channel would keep the process alive for ever; a page's has no `unref`.
        if let Some(unref) = super::global::method(&channel, "unref") {
            let _ = unref.call0(&channel);
        }
        Some(Channel {
            channel,
            _on_message: on_message,
        })
    }

    /// Sends `text` to every other tab's channel of the same name.
    pub fn post(&self, text: &str) {
        // Posting a string to an open channel cannot throw.
        let _ = self.channel.post_message(&JsValue::from_str(text));
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
