//! The step driven as the package's JavaScript drives it: batches read as JSON, storage in a
//! map, the server's replies as the contract states them.

use super::*;
use crate::core::json::Object;
use std::collections::HashMap;

const T0: Millis = Millis(1_795_000_000_000);
const CONTENT: &str = r#"{"amount":1999,"items":[{"qty":2,"sku":"tea"}]}"#;

/// A shell: storage in a map; every batch kept as text.
struct Shell {
    step: Step,
    store: HashMap<String, String>,
    now: Millis,
}

/// One action of a batch: its `op` and its text.
#[derive(Debug, Clone)]
struct Act {
    op: String,
    text: String,
}

impl Act {
    fn field(&self, name: &str) -> Option<String> {
        let object = Object::parse(&self.text).expect("an action is an object");
        object.get(name).map(|v| v.text().to_owned())
    }

    fn str(&self, name: &str) -> String {
        let object = Object::parse(&self.text).expect("an action is an object");
        object
            .get(name)
            .and_then(Raw::as_str)
            .unwrap_or_else(|| panic!("{} has no string {name}", self.text))
    }

    fn id(&self) -> u64 {
        let object = Object::parse(&self.text).expect("an action is an object");
        object.get("id").and_then(Raw::as_u64).expect("an id")
    }
}

/// The batch's actions, `timeout` and `idle`.
fn read(batch: &str) -> (Vec<Act>, Option<u64>, bool) {
    let object = Object::parse(batch).unwrap_or_else(|e| panic!("{batch}: {}", e.message()));
    let actions = object
        .get("do")
        .and_then(Raw::as_array)
        .unwrap_or_else(|| panic!("no actions in {batch}"))
        .into_iter()
        .map(|raw| {
            let op = raw
                .as_object()
                .and_then(|o| o.get("op"))
                .and_then(Raw::as_str)
                .expect("every action has an op");
            Act {
                op,
                text: raw.text().to_owned(),
            }
        })
        .collect();
    let timeout = object.get("timeout").and_then(Raw::as_u64);
    let idle = object.get("idle").and_then(Raw::as_bool).expect("idle");
    (actions, timeout, idle)
}

impl Shell {
    fn new(options: &str) -> Shell {
        Shell {
            step: Step::new(options, [7; 32]).expect("valid options"),
            store: HashMap::new(),
            now: T0,
        }
    }

    /// Performs a batch as a shell does: storage at once, reads answered after the batch;
    /// returns the actions that wait for someone else (requests, locks, wallets) and the rest.
    fn perform(&mut self, batch: String) -> Vec<Act> {
        let (actions, _, _) = read(&batch);
        let mut reads = Vec::new();
        for act in &actions {
            match act.op.as_str() {
                "set" => {
                    self.store.insert(act.str("key"), act.str("value"));
                }
                "remove" => {
                    self.store.remove(&act.str("key"));
                }
                "get" => reads.push((act.id(), self.store.get(&act.str("key")).cloned())),
                _ => {}
            }
        }
        let mut all = actions;
        for (id, text) in reads {
            let next = self
                .step
                .answer(id, Answer::Stored(text.as_deref()), self.now);
            all.extend(self.perform(next));
        }
        all
    }

    fn answer(&mut self, id: u64, answer: Answer<'_>) -> Vec<Act> {
        let batch = self.step.answer(id, answer, self.now);
        self.perform(batch)
    }
}

fn only<'a>(acts: &'a [Act], op: &str) -> Vec<&'a Act> {
    acts.iter().filter(|a| a.op == op).collect()
}

fn one<'a>(acts: &'a [Act], op: &str) -> &'a Act {
    let found = only(acts, op);
    assert_eq!(found.len(), 1, "one {op} in {acts:#?}");
    found[0]
}

#[test]
fn a_double_click_is_one_create_one_wallet_and_both_callers_paid() {
    let mut shell = Shell::new(r#"{"namespace":"shop","scope":"buyer-1"}"#);
    let first = shell
        .step
        .pay("A-1", CONTENT, 0, shell.now)
        .expect("a valid order");
    let acts = shell.perform(first);
    one(&acts, "lockUi");
    let lock = one(&acts, "lock").clone();
    assert_eq!(lock.str("orderNo"), "A-1");
    // The second click joins: nothing new is sent.
    let second = shell
        .step
        .pay("A-1", CONTENT, 1, shell.now)
        .expect("a valid order");
    assert!(only(&shell.perform(second), "send").is_empty());

    let acts = shell.answer(lock.id(), Answer::Lock(LockResult::Acquired));
    one(&acts, "get");
    // No record here: the server is asked what it knows before anything is created.
    let query = one(&acts, "send").clone();
    assert_eq!(query.str("method"), "GET");
    assert_eq!(query.str("url"), "/api/orders/A-1/payment");
    let acts = shell.answer(
        query.id(),
        Answer::Reply {
            status: 200,
            retry_after: None,
            body: r#"{"orderNo":"A-1","status":"none"}"#,
        },
    );
    let send = one(&acts, "send").clone();
    assert_eq!(send.str("method"), "POST");
    assert_eq!(send.str("url"), "/api/orders/A-1/payments");
    let headers = send.field("headers").expect("headers");
    let headers = Object::parse(&headers).expect("an object");
    let key = headers
        .get("Idempotency-Key")
        .and_then(Raw::as_str)
        .expect("a key");
    assert!(
        key.starts_with('"') && key.ends_with('"'),
        "an sf-string: {key}"
    );
    let fingerprint = fingerprint::sha256_hex(CONTENT.as_bytes());
    assert!(
        send.str("body").contains(fingerprint.as_str()),
        "{}",
        send.text
    );

    let body = format!(
        r#"{{"orderNo":"A-1","attemptId":"A-1x1","fingerprint":"{}","prepay":{{"package":"prepay_id=wx1","paySign":"s"}},"expiresAt":{},"reused":false}}"#,
        fingerprint.as_str(),
        T0.0 + 600_000
    );
    let reply = Answer::Reply {
        status: 201,
        retry_after: None,
        body: &body,
    };
    let acts = shell.answer(send.id(), reply);
    let launch = one(&acts, "launch").clone();
    // The provider's parameters exactly as the server sent them.
    assert_eq!(
        launch.field("prepay").as_deref(),
        Some(r#"{"package":"prepay_id=wx1","paySign":"s"}"#)
    );
    assert_eq!(launch.str("attemptId"), "A-1x1");
    let record = shell
        .store
        .iter()
        .find(|(k, _)| k.contains("A-1"))
        .map(|(k, _)| k.clone())
        .expect("the attempt is stored before the wallet opens");
    assert!(
        record.contains("shop") && record.contains("buyer-1"),
        "{record}"
    );

    let acts = shell.answer(launch.id(), Answer::Launched(LaunchResult::Ok));
    let status = one(&acts, "send").clone();
    assert_eq!(status.str("method"), "GET");
    let paid = r#"{"orderNo":"A-1","status":"paid","attemptId":"A-1x1"}"#;
    let batch = shell.step.answer(
        status.id(),
        Answer::Reply {
            status: 200,
            retry_after: None,
            body: paid,
        },
        shell.now,
    );
    let (acts, timeout, idle) = read(&batch);
    let resolve = one(&acts, "resolve");
    assert_eq!(resolve.field("callers").as_deref(), Some("[0,1]"));
    let value = resolve.field("value").expect("an outcome");
    assert!(value.contains(r#""status":"paid""#), "{value}");
    assert_eq!(one(&acts, "unlockUi").str("status"), "paid");
    assert_eq!(
        one(&acts, "broadcast").str("message"),
        r#"{"orderNo":"A-1","status":"paid"}"#
    );
    one(&acts, "unlock");
    assert!(only(&acts, "emit")
        .iter()
        .any(|e| e.text.contains(r#""type":"outcome""#)));
    assert!(idle, "nothing more to do: {batch}");
    assert_eq!(timeout, None);

    // Paid: paying again starts nothing.
    let again = shell.step.pay("A-1", CONTENT, 2, shell.now).expect("valid");
    let acts = shell.perform(again);
    assert!(only(&acts, "send").is_empty() && only(&acts, "lock").is_empty());
    assert!(one(&acts, "resolve").text.contains("paid"));
}

#[test]
fn a_lost_reply_is_asked_again_with_the_same_key_after_the_timeout() {
    let mut shell = Shell::new(r#"{"createRetryMs":100}"#);
    let batch = shell.step.pay("B-2", CONTENT, 0, shell.now).expect("valid");
    let acts = shell.perform(batch);
    let lock = one(&acts, "lock").clone();
    let acts = shell.answer(lock.id(), Answer::Lock(LockResult::Acquired));
    let query = one(&acts, "send").clone();
    let none = r#"{"orderNo":"B-2","status":"none"}"#;
    let reply = Answer::Reply {
        status: 200,
        retry_after: None,
        body: none,
    };
    let acts = shell.answer(query.id(), reply);
    let send = one(&acts, "send").clone();
    assert_eq!(send.str("method"), "POST");
    let batch = shell.step.answer(send.id(), Answer::Lost, shell.now);
    let (_, timeout, idle) = read(&batch);
    let at = timeout.expect("a retry is scheduled");
    assert!(!idle);
    // The same id answered twice is ignored.
    let (acts, _, _) = read(&shell.step.answer(send.id(), Answer::Lost, shell.now));
    assert!(acts.is_empty(), "{acts:?}");
    shell.now = Millis(at);
    let batch = shell.step.timer(shell.now);
    let acts = shell.perform(batch);
    let resend = one(&acts, "send");
    assert_eq!(
        resend.field("headers"),
        send.field("headers"),
        "the same key"
    );
    assert_ne!(resend.id(), send.id());
}

#[test]
fn refusals_carry_the_code_and_name_what_is_wrong() {
    let mut shell = Shell::new("{}");
    let error = shell
        .step
        .pay("no spaces allowed", CONTENT, 0, T0)
        .unwrap_err();
    assert_eq!(error.code, "invalid_order");
    assert!(error
        .to_json()
        .starts_with(r#"{"error":{"code":"invalid_order","message":"orderNo: "#));
    for (options, option) in [
        (r#"{"namespace":""}"#, "namespace"),
        (r#"{"endpoints":{"create":"/pay"}}"#, "endpoints.create"),
        (r#"{"endpoints":{"refund":"/r"}}"#, "endpoints.refund"),
        (r#"{"poll":{"capMs":"soon"}}"#, "poll.capMs"),
        (r#"{"colour":"red"}"#, "colour"),
        ("[1]", "options"),
    ] {
        let error = Step::new(options, [0; 32]).err().expect(options);
        assert_eq!(error.code, "invalid_options", "{options}");
        assert!(
            error.message.contains(option),
            "{options}: {}",
            error.message
        );
    }
    // A payment in flight cannot be forgotten.
    let batch = shell.step.pay("C-3", CONTENT, 0, T0).expect("valid");
    shell.perform(batch);
    assert_eq!(shell.step.forget("C-3", T0).unwrap_err().code, "busy");
}

#[test]
fn another_tabs_message_is_heard_and_anything_else_ignored() {
    let mut shell = Shell::new("{}");
    for garbage in ["", "{", r#"{"orderNo":"D-4","status":"stolen"}"#, "[]"] {
        let (acts, _, idle) = read(&shell.step.heard(garbage, T0));
        assert!(acts.is_empty() && idle, "{garbage}: {acts:?}");
    }
    assert!(shell.step.would_start("D-4"));
    let (acts, _, _) = read(&shell.step.heard(r#"{"orderNo":"D-4","status":"paid"}"#, T0));
    assert_eq!(one(&acts, "unlockUi").str("status"), "paid");
    assert!(
        !shell.step.would_start("D-4"),
        "known paid: no prepare, no payment"
    );
}
