//! The guard's requests, built as `docs/contract.md` spells them, and the way back: the reply
//! a shell received turned into the core's next [`Input`].
//!
//! quinn-proto hands its shells a `Transmit` (where to, what bytes) and takes datagrams back;
//! this is the same for HTTP. A shell turns a `SendCreate`, `SendStatus` or `SendSubmit`
//! action into an [`Exchange`] with [`Exchange::of`], performs [`Exchange::request`] with
//! whatever HTTP it has (`fetch`, `wx.request`, reqwest) and feeds [`Exchange::replied`] or
//! [`Exchange::lost`]. Method, URL, headers, body and the reading of the reply are decided
//! here, once, for the browser, the mini-program and the native shells alike; a shell only
//! moves bytes and adds the page's own headers (a buyer token), which may not replace these.

use super::{
    create_body, create_reply, server_now, status_reply, submit_reply, CreateReply, HttpReply,
    StatusReply, SubmitReply,
};
use crate::core::fingerprint::Fingerprint;
use crate::core::ids::OrderNo;
use crate::core::json::{self, concat};
use crate::core::machine::{Action, Input, RequestId};
use crate::prelude::*;

/// The create endpoint when none is given (`docs/contract.md` §1).
pub const DEFAULT_CREATE: &str = "/api/orders/{orderNo}/payments";
/// The status endpoint when none is given (`docs/contract.md` §2).
pub const DEFAULT_STATUS: &str = "/api/orders/{orderNo}/payment";
/// The order-submission endpoint when none is given (`docs/contract.md` §4).
pub const DEFAULT_SUBMIT: &str = "/api/orders";

/// The headers the guard sets itself, lower-cased: a page's extra headers may not name them.
pub const OWN_HEADERS: [&str; 4] = ["idempotency-key", "prefer", "content-type", "accept"];

/// The request method: the contract has exactly two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The status query.
    Get,
    /// The create and the submission.
    Post,
}

impl Method {
    /// `"GET"` or `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Where the three requests go: URL templates, the two per order naming `{orderNo}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The create-payment endpoint (contains [`super::ORDER_SLOT`]).
    pub create: String,
    /// The status endpoint (contains [`super::ORDER_SLOT`]).
    pub status: String,
    /// The order-submission endpoint (a plain URL: the order has no number yet).
    pub submit: String,
}

impl Default for Endpoints {
    fn default() -> Endpoints {
        Endpoints {
            create: DEFAULT_CREATE.to_owned(),
            status: DEFAULT_STATUS.to_owned(),
            submit: DEFAULT_SUBMIT.to_owned(),
        }
    }
}

impl Endpoints {
    /// The defaults under `base` (`http://host:port`), as a native shell talking to one
    /// backend uses them.
    pub fn under(base: &str) -> Endpoints {
        let base = base.trim_end_matches('/');
        Endpoints {
            create: concat(&[base, DEFAULT_CREATE]),
            status: concat(&[base, DEFAULT_STATUS]),
            submit: concat(&[base, DEFAULT_SUBMIT]),
        }
    }
}

/// One request as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET` or `POST`.
    pub method: Method,
    /// The URL, the order number encoded as a path segment.
    pub url: String,
    /// The contract's headers, in the order they are set.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body of a `POST`.
    pub body: Option<String>,
    /// The long-poll hold the request asks for (`Prefer: wait=N`): a shell extends its
    /// time-out by as much, or the answer it asked for would always arrive too late.
    pub wait_secs: u32,
}

impl Request {
    fn new(method: Method, url: String) -> Request {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
            wait_secs: 0,
        }
    }

    /// `Idempotency-Key` as an sf-string (`"<key>"`, `docs/contract.md` §1).
    fn key(mut self, key: &str) -> Request {
        self.headers
            .push(("Idempotency-Key", concat(&["\"", key, "\""])));
        self
    }

    fn json(mut self, body: String) -> Request {
        self.headers
            .push(("Content-Type", "application/json".to_owned()));
        self.body = Some(body);
        self
    }

    fn wait(mut self, secs: u32) -> Request {
        if secs > 0 {
            self.headers.push((
                "Prefer",
                concat(&["wait=", &json::decimal(u64::from(secs))]),
            ));
            self.wait_secs = secs;
        }
        self
    }

    fn accept_json(mut self) -> Request {
        self.headers.push(("Accept", "application/json".to_owned()));
        self
    }
}

/// What the reply to one request becomes: the request's identity, kept until it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaiting {
    Create {
        order_no: OrderNo,
        request: RequestId,
        fingerprint: Fingerprint,
    },
    Status {
        order_no: OrderNo,
        request: RequestId,
    },
    Submit {
        fingerprint: Fingerprint,
        request: RequestId,
    },
}

/// One request of the core in flight: what to send, and how its answer is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// What to send.
    pub request: Request,
    awaiting: Awaiting,
}

impl Exchange {
    /// The exchange a `SendCreate`, `SendStatus` or `SendSubmit` asks for; `None` for any other
    /// action (a shell matches those three and hands them here).
    pub fn of(action: Action, endpoints: &Endpoints) -> Option<Exchange> {
        let (request, awaiting) = match action {
            Action::SendCreate {
                order_no,
                request,
                key,
                fingerprint,
            } => (
                Request::new(Method::Post, order_url(&endpoints.create, &order_no))
                    .key(key.as_str())
                    .json(create_body(&fingerprint))
                    .accept_json(),
                Awaiting::Create {
                    order_no,
                    request,
                    fingerprint,
                },
            ),
            Action::SendStatus {
                order_no,
                request,
                wait_secs,
            } => (
                Request::new(Method::Get, order_url(&endpoints.status, &order_no))
                    .wait(wait_secs)
                    .accept_json(),
                Awaiting::Status { order_no, request },
            ),
            Action::SendSubmit {
                fingerprint,
                request,
                key,
                body,
            } => (
                Request::new(Method::Post, endpoints.submit.clone())
                    .key(key.as_str())
                    .json(body)
                    .accept_json(),
                Awaiting::Submit {
                    fingerprint,
                    request,
                },
            ),
            _ => return None,
        };
        Some(Exchange { request, awaiting })
    }

    /// The input for the reply the server gave (its status, `Retry-After` and body).
    pub fn replied(self, reply: &HttpReply<'_>) -> Input {
        let body = json::Object::parse(reply.body);
        let server_now = server_now(&body);
        match self.awaiting {
            Awaiting::Create {
                order_no,
                request,
                fingerprint,
            } => Input::CreateReplied {
                reply: create_reply(reply, &body, &order_no, &fingerprint),
                order_no,
                request,
                server_now,
            },
            Awaiting::Status { order_no, request } => Input::StatusReplied {
                reply: status_reply(reply, &body, &order_no),
                order_no,
                request,
                server_now,
            },
            Awaiting::Submit {
                fingerprint,
                request,
            } => Input::SubmitReplied {
                reply: submit_reply(reply, &body, &fingerprint),
                fingerprint,
                request,
                server_now,
            },
        }
    }

    /// The input for no reply (a network error, a time-out, headers that could not be built):
    /// the request may or may not have reached the server.
    pub fn lost(self) -> Input {
        match self.awaiting {
            Awaiting::Create {
                order_no, request, ..
            } => Input::CreateReplied {
                order_no,
                request,
                reply: CreateReply::NoReply,
                server_now: None,
            },
            Awaiting::Status { order_no, request } => Input::StatusReplied {
                order_no,
                request,
                reply: StatusReply::NoReply,
                server_now: None,
            },
            Awaiting::Submit {
                fingerprint,
                request,
            } => Input::SubmitReplied {
                fingerprint,
                request,
                reply: SubmitReply::NoReply,
                server_now: None,
            },
        }
    }
}

/// `template` naming `order_no`, the number encoded as `encodeURIComponent` would.
fn order_url(template: &str, order_no: &OrderNo) -> String {
    super::endpoint_url(template, &path_segment(order_no.as_str()))
}

/// `text` percent-encoded as `encodeURIComponent` does: every byte but `A–Z a–z 0–9` and
/// `- _ . ! ~ * ' ( )` becomes `%XX`. An order number's `:` is the one that occurs.
pub fn path_segment(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::contract::parse_status;
    use crate::core::fingerprint::sha256_hex;
    use crate::core::ids::IdempotencyKey;
    use crate::core::time::Millis;

    fn order() -> OrderNo {
        OrderNo::parse("shop:42").expect("order number")
    }

    fn key() -> IdempotencyKey {
        IdempotencyKey::parse("k_0123456789abcdef0123456789abcdef").expect("key")
    }

    fn print() -> Fingerprint {
        sha256_hex(b"{}")
    }

    fn request(action: Action) -> Request {
        Exchange::of(action, &Endpoints::under("http://shop.test/"))
            .expect("a request")
            .request
    }

    #[test]
    fn a_create_is_a_post_with_the_quoted_key_and_the_fingerprint() {
        let r = request(Action::SendCreate {
            order_no: order(),
            request: RequestId(7),
            key: key(),
            fingerprint: print(),
        });
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "http://shop.test/api/orders/shop%3A42/payments");
        assert_eq!(
            r.headers,
            vec![
                (
                    "Idempotency-Key",
                    "\"k_0123456789abcdef0123456789abcdef\"".to_owned()
                ),
                ("Content-Type", "application/json".to_owned()),
                ("Accept", "application/json".to_owned()),
            ]
        );
        assert_eq!(
            r.body.as_deref(),
            Some(
                ["{\"fingerprint\":\"", print().as_str(), "\"}"]
                    .concat()
                    .as_str()
            )
        );
        assert_eq!(r.wait_secs, 0);
    }

    #[test]
    fn a_status_asks_for_its_long_poll_with_prefer() {
        let r = request(Action::SendStatus {
            order_no: order(),
            request: RequestId(1),
            wait_secs: 25,
        });
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.url, "http://shop.test/api/orders/shop%3A42/payment");
        assert_eq!(
            r.headers,
            vec![
                ("Prefer", "wait=25".to_owned()),
                ("Accept", "application/json".to_owned())
            ]
        );
        assert_eq!((r.body, r.wait_secs), (None, 25));
        let quick = request(Action::SendStatus {
            order_no: order(),
            request: RequestId(1),
            wait_secs: 0,
        });
        assert_eq!(
            quick.headers,
            vec![("Accept", "application/json".to_owned())]
        );
    }

    #[test]
    fn a_submission_posts_its_body_to_the_plain_url() {
        let r = request(Action::SendSubmit {
            fingerprint: print(),
            request: RequestId(3),
            key: key(),
            body: "{\"content\":{}}".to_owned(),
        });
        assert_eq!(
            (r.method, r.url.as_str()),
            (Method::Post, "http://shop.test/api/orders")
        );
        assert_eq!(r.body.as_deref(), Some("{\"content\":{}}"));
        assert_eq!(r.headers.len(), 3);
    }

    #[test]
    fn other_actions_are_not_requests() {
        let action = Action::ReleaseTabLock { order_no: order() };
        assert_eq!(Exchange::of(action, &Endpoints::default()), None);
    }

    #[test]
    fn a_reply_and_a_lost_request_become_the_inputs_for_the_same_request() {
        let exchange = Exchange::of(
            Action::SendStatus {
                order_no: order(),
                request: RequestId(9),
                wait_secs: 0,
            },
            &Endpoints::default(),
        )
        .expect("a request");
        let body = r#"{"orderNo":"shop:42","status":"none","now":1700000000000}"#;
        match exchange.clone().replied(&HttpReply {
            status: 200,
            retry_after: None,
            body,
        }) {
            Input::StatusReplied {
                order_no,
                request,
                reply,
                server_now,
            } => {
                assert_eq!((order_no, request), (order(), RequestId(9)));
                assert_eq!(
                    reply,
                    parse_status(
                        &HttpReply {
                            status: 200,
                            retry_after: None,
                            body
                        },
                        &order()
                    )
                );
                assert_eq!(server_now, Some(Millis(1_700_000_000_000)));
            }
            other => panic!("not a status reply: {other:?}"),
        }
        match exchange.lost() {
            Input::StatusReplied {
                reply, server_now, ..
            } => assert_eq!((reply, server_now), (StatusReply::NoReply, None)),
            other => panic!("not a status reply: {other:?}"),
        }
    }

    #[test]
    fn a_path_segment_is_encoded_as_encode_uri_component_does() {
        assert_eq!(path_segment("A-z_0.9!~*'()"), "A-z_0.9!~*'()");
        assert_eq!(path_segment("a:b/c d"), "a%3Ab%2Fc%20d");
        assert_eq!(path_segment("é"), "%C3%A9");
    }
}
