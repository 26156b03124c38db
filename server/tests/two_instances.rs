//! Two payment-center instances on one PostgreSQL database (run when `CG_TEST_DATABASE_URL`
//! is set, as `cargo xtask ci` does), in front of one WeChat Pay simulator: they share no
//! process, no lease table and no memory, so only the database can keep the contract. Creates
//! for one order with many keys, spread over both instances at once, make exactly one attempt;
//! the same key sent to both at once is answered with that one attempt too, never a second.

mod common;

use common::{new_key, on_postgres, spawn_on, spawn_with, test_config};
use std::collections::BTreeSet;

#[tokio::test]
async fn two_instances_never_both_decide_there_is_no_live_attempt() {
    if !on_postgres() {
        eprintln!("skipped: CG_TEST_DATABASE_URL is not set (this test needs PostgreSQL)");
        return;
    }
    let config = test_config();
    let mut second = test_config();
    second.storage = config.storage.clone();
    // One WeChat Pay (simulator) in front of both, as in production.
    let a = spawn_with(config).await;
    let b = spawn_on(second, a.sim.clone().expect("on the WeChat Pay simulator")).await;
    let (order, fp) = a.simple_order().await;
    let shared = new_key();
    let plan: Vec<(&common::TestServer, String)> = (0..24)
        .map(|i| match i % 4 {
            0 => (&a, shared.clone()),
            1 => (&b, shared.clone()),
            2 => (&a, new_key()),
            _ => (&b, new_key()),
        })
        .collect();
    let creates = plan
        .iter()
        .map(|(server, key)| server.pay(&order, key, &fp));
    let replies = futures::future::join_all(creates).await;
    let mut attempts = BTreeSet::new();
    for reply in &replies {
        match reply.status.as_u16() {
            200 | 201 => {
                attempts.insert(reply.body["attemptId"].as_str().unwrap_or("").to_owned());
            }
            409 => assert_eq!(reply.body["error"], "in_progress", "{:?}", reply.body),
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
    assert!(attempts.len() <= 1, "two attempts handed out: {attempts:?}");
    for server in [&a, &b] {
        let dump = server.dump(&order).await;
        let rows = dump["attempts"].as_array().map_or(0, Vec::len);
        assert_eq!(rows, 1, "one attempt row in the shared database: {dump}");
    }
    a.server.shutdown().await;
    b.server.shutdown().await;
}
