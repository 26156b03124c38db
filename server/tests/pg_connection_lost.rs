//! A PostgreSQL connection lost in the middle of a request (issue 12): the request answers `503
//! unavailable` with `Retry-After`, never a wrong answer (a `500`, a hang, a second live
//! attempt), and its retry with the same key finds what was committed. Run when
//! `CG_TEST_DATABASE_URL` is set, as `cargo xtask ci` does.
//!
//! A connection is lost *in the middle* deterministically: a connection of the test holds a
//! lock the server's next statement needs (the order's row, an attempt's row, a table), another
//! waits until `pg_stat_activity` shows the server's backend waiting for that lock, then ends
//! every backend of this server with `pg_terminate_backend`. Each test server connects with an
//! `application_name` of its own, so only its backends are ended, never those of the tests
//! running beside it on the same database. A last test ends the backends over and over while
//! creates and status requests run, wherever they happen to be.

mod common;

use checkout_guard_server::Storage;
use common::{new_key, on_postgres, spawn_with, test_config, without_now, Reply, TestServer};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Two connections of the test's own to the server's schema (not carrying its
/// `application_name`): `locker` holds the lock in an open transaction; `watcher` reads
/// `pg_stat_activity` and ends backends outside any transaction, since inside one PostgreSQL
/// keeps showing the statistics snapshot taken at its first read.
struct Admin {
    locker: PgConnection,
    watcher: PgConnection,
}

/// A test server on its own schema whose PostgreSQL backends carry `app` as their
/// `application_name`, and the test's [`Admin`] connections to the same schema.
async fn server_and_admin(app: &str) -> Option<(TestServer, Admin)> {
    if !on_postgres() {
        eprintln!("skipped: CG_TEST_DATABASE_URL is not set (this test needs PostgreSQL)");
        return None;
    }
    let mut config = test_config();
    let Storage::Postgres(url) = config.storage.clone() else {
        panic!("on PostgreSQL, test_config() gives a PostgreSQL store");
    };
    // `test_storage` always adds `?options=…` for the schema.
    config.storage = Storage::Postgres(format!("{url}&application_name={app}"));
    let admin = Admin {
        locker: PgConnection::connect(&url).await.expect("admin connection"),
        watcher: PgConnection::connect(&url).await.expect("admin connection"),
    };
    Some((spawn_with(config).await, admin))
}

/// A name for a test server's backends, unique per run.
fn app_name(test: &str) -> String {
    format!("cg_lost_{test}_{}", new_key())
}

/// Waits until a backend of `app` waits for a lock (the request is stuck mid-transaction);
/// `false` if `answered` came first (the request never got there).
async fn wait_until_blocked(admin: &mut PgConnection, app: &str, answered: &AtomicBool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE application_name = $1 AND wait_event_type = 'Lock'",
        )
        .bind(app)
        .fetch_one(&mut *admin)
        .await
        .expect("pg_stat_activity");
        if waiting > 0 {
            return true;
        }
        if answered.load(Ordering::SeqCst) {
            return false;
        }
        if Instant::now() > deadline {
            let backends: Vec<String> = sqlx::query_scalar(
                "SELECT concat_ws(' / ', state, wait_event_type, wait_event, query)
                 FROM pg_stat_activity WHERE application_name = $1",
            )
            .bind(app)
            .fetch_all(&mut *admin)
            .await
            .expect("pg_stat_activity");
            panic!("no backend of {app} ever waited for the lock: {backends:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Ends every backend of `app` (the server's pools, its leases, its `LISTEN`); how many.
async fn terminate(admin: &mut PgConnection, app: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = $1 AND pid <> pg_backend_pid()) AS ended",
    )
    .bind(app)
    .fetch_one(&mut *admin)
    .await
    .expect("pg_terminate_backend")
}

/// A lock the admin connection takes: a row of the order (`$1` is its number) or a table.
enum Lock {
    Row(&'static str),
    Table(&'static str),
}

/// While `lock` is held in an open transaction of `admin`, runs `request` until it waits for
/// that lock, ends the server's backends, then releases the lock; the request's reply.
async fn lose_connection_during(
    admin: &mut Admin,
    app: &str,
    lock: Lock,
    order: &str,
    request: impl std::future::Future<Output = Reply>,
) -> Reply {
    let Admin { locker, watcher } = admin;
    sqlx::raw_sql("BEGIN")
        .execute(&mut *locker)
        .await
        .expect("begin");
    match lock {
        Lock::Row(sql) => sqlx::query(sql).bind(order).execute(&mut *locker).await,
        Lock::Table(sql) => sqlx::raw_sql(sql).execute(&mut *locker).await,
    }
    .expect("lock");
    let answered = AtomicBool::new(false);
    let request = async {
        let reply = request.await;
        answered.store(true, Ordering::SeqCst);
        reply
    };
    let lose = async {
        let blocked = wait_until_blocked(watcher, app, &answered).await;
        if blocked {
            let ended = terminate(watcher, app).await;
            assert!(ended > 0, "no backend of {app} to end");
        }
        blocked
    };
    let (reply, blocked) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(request, lose)
    })
    .await
    .expect("the request answers once its connection is lost (no hang)");
    assert!(
        blocked,
        "the request answered before it waited for the lock: {} {}",
        reply.status, reply.body
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut *locker)
        .await
        .expect("rollback");
    reply
}

/// The contract's answer to a database that cannot be reached: `503`, `Retry-After`, the
/// error body.
fn assert_unavailable(reply: &Reply) {
    reply.assert_error(503, "unavailable");
    let after = reply.header("retry-after").expect("Retry-After on the 503");
    assert!(after.parse::<u64>().is_ok_and(|s| s >= 1), "{after}");
}

/// Sends `send` again, honouring `Retry-After`, while it answers `503` (the database coming
/// back); at most ten times.
async fn retry<F, Fut>(send: F) -> Reply
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    for _ in 0..10 {
        let reply = send().await;
        if reply.status.as_u16() != 503 {
            return reply;
        }
        assert_unavailable(&reply);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("still 503 after ten tries");
}

#[tokio::test]
async fn a_create_cut_off_before_it_commits_is_503_and_its_retry_makes_the_one_attempt() {
    let app = app_name("create");
    let Some((server, mut admin)) = server_and_admin(&app).await else {
        return;
    };
    let (order, fp) = server.simple_order().await;
    let key = new_key();
    // `begin_attempt` locks the order's row first: it waits there, then loses its connection.
    let reply = lose_connection_during(
        &mut admin,
        &app,
        Lock::Row("SELECT 1 FROM orders WHERE order_no = $1 FOR UPDATE"),
        &order,
        server.pay(&order, &key, &fp),
    )
    .await;
    assert_unavailable(&reply);
    let stats = server.stats(&order).await;
    assert_eq!(stats["attemptsCreated"], 0, "{stats}");
    assert_eq!(stats["prepayCalls"], 0, "{stats}");

    let created = retry(|| server.pay(&order, &key, &fp)).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    let again = server.pay(&order, &key, &fp).await;
    assert_eq!(again.status.as_u16(), 200, "{}", again.body);
    assert_eq!(without_now(&again.body), without_now(&created.body));
    let stats = server.stats(&order).await;
    assert_eq!(stats["attemptsCreated"], 1, "{stats}");
    assert_eq!(stats["prepayCalls"], 1, "{stats}");
    let dump = server.dump(&order).await;
    assert_eq!(dump["attempts"].as_array().map_or(0, Vec::len), 1, "{dump}");
    server.server.shutdown().await;
}

#[tokio::test]
async fn a_status_cut_off_mid_query_is_503_and_then_the_same_attempt() {
    let app = app_name("status");
    let Some((server, mut admin)) = server_and_admin(&app).await else {
        return;
    };
    let (order, fp) = server.simple_order().await;
    let key = new_key();
    let created = server.pay(&order, &key, &fp).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    let attempt = created.body["attemptId"].clone();
    // The status asks the provider (query interval 0) and first records that it did on the
    // attempt's row: it waits there, then loses its connection.
    let reply = lose_connection_during(
        &mut admin,
        &app,
        Lock::Row("SELECT 1 FROM attempts WHERE order_no = $1 FOR UPDATE"),
        &order,
        server.status(&order),
    )
    .await;
    assert_unavailable(&reply);

    let status = retry(|| server.status(&order)).await;
    assert_eq!(status.status.as_u16(), 200, "{}", status.body);
    assert_eq!(status.body["status"], "unpaid", "{}", status.body);
    assert_eq!(status.body["attemptId"], attempt, "{}", status.body);
    let again = retry(|| server.pay(&order, &key, &fp)).await;
    assert_eq!(again.status.as_u16(), 200, "{}", again.body);
    assert_eq!(without_now(&again.body), without_now(&created.body));
    let stats = server.stats(&order).await;
    assert_eq!(stats["attemptsCreated"], 1, "{stats}");
    assert_eq!(stats["prepayCalls"], 1, "{stats}");
    server.server.shutdown().await;
}

/// The one gap a lost connection can open: the provider has made the prepay, and the
/// transaction that stores it with the key's reply (rule 1.5) is cut off, so nothing of it
/// committed. The attempt stays `creating` (outcome unknown), and the retry with the same key
/// closes it at the provider before it makes the next one (rule 1.3): a second prepay call,
/// never a second payable attempt.
#[tokio::test]
async fn a_create_cut_off_after_the_provider_call_closes_that_prepay_before_the_next() {
    let app = app_name("finish");
    let Some((server, mut admin)) = server_and_admin(&app).await else {
        return;
    };
    let (order, fp) = server.simple_order().await;
    let key = new_key();
    // SHARE lets the key's lookup read the table and refuses the reply's insert: the request
    // waits in `finish_attempt`, after the provider's create, then loses its connection.
    let reply = lose_connection_during(
        &mut admin,
        &app,
        Lock::Table("LOCK TABLE idempotency_keys IN SHARE MODE"),
        &order,
        server.pay(&order, &key, &fp),
    )
    .await;
    assert_unavailable(&reply);
    let stats = server.stats(&order).await;
    assert_eq!(
        stats["prepayCalls"], 1,
        "the provider was asked once: {stats}"
    );
    let dump = server.dump(&order).await;
    assert_eq!(dump["attempts"][0]["state"], "creating", "{dump}");
    assert_eq!(dump["idempotencyKeys"], 0, "no reply was stored: {dump}");

    let created = retry(|| server.pay(&order, &key, &fp)).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    let stats = server.stats(&order).await;
    assert_eq!(
        stats["closes"], 1,
        "the cut-off prepay was closed first: {stats}"
    );
    assert_eq!(stats["prepayCalls"], 2, "{stats}");
    let dump = server.dump(&order).await;
    let states: Vec<&str> = dump["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["state"].as_str())
        .collect();
    assert_eq!(states.len(), 2, "{dump}");
    assert_eq!(
        states.iter().filter(|s| **s != "closed").count(),
        1,
        "one attempt not known dead: {dump}"
    );
    let again = server.pay(&order, &key, &fp).await;
    assert_eq!(again.status.as_u16(), 200, "{}", again.body);
    assert_eq!(without_now(&again.body), without_now(&created.body));
    server.server.shutdown().await;
}

/// Backends ended every 30 ms while creates and status requests run, wherever they
/// are: every reply is one the contract allows (`201`/`200`, `409 in_progress`, `503` with
/// `Retry-After`), never a `500`; once the database stays up, each key's retry gets an attempt
/// and each order has at most one attempt not known dead, the one its status names.
#[tokio::test]
async fn backends_ended_at_random_moments_never_give_a_wrong_answer() {
    let app = app_name("storm");
    let Some((server, mut admin)) = server_and_admin(&app).await else {
        return;
    };
    let mut orders = Vec::new();
    for _ in 0..12 {
        let (order, fp) = server.simple_order().await;
        orders.push((order, fp, new_key()));
    }
    let stop = AtomicBool::new(false);
    let storm = async {
        let mut ended = 0;
        while !stop.load(Ordering::Relaxed) {
            ended += terminate(&mut admin.watcher, &app).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        ended
    };
    let load = async {
        let mut replies = Vec::new();
        for round in 0..8 {
            let creates = orders
                .iter()
                .map(|(order, fp, key)| server.pay(order, key, fp));
            let statuses = orders.iter().map(|(order, _, _)| server.status(order));
            let (c, s) = tokio::join!(
                futures::future::join_all(creates),
                futures::future::join_all(statuses)
            );
            replies.extend(c.into_iter().map(|r| ("create", round, r)));
            replies.extend(s.into_iter().map(|r| ("status", round, r)));
        }
        stop.store(true, Ordering::Relaxed);
        replies
    };
    let (ended, replies) =
        tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(storm, load) })
            .await
            .expect("no request hangs");
    assert!(ended > 0, "the storm ended no backend");
    let (mut answered, mut unavailable) = (0, 0);
    for (kind, round, reply) in &replies {
        match reply.status.as_u16() {
            200 | 201 => answered += 1,
            409 => reply.assert_error(409, "in_progress"),
            503 => {
                unavailable += 1;
                assert_unavailable(reply);
            }
            other => panic!("{kind} in round {round}: {other} {}", reply.body),
        }
    }
    eprintln!(
        "storm: {ended} backends ended; of {} replies {answered} 200/201, {unavailable} 503",
        replies.len()
    );

    for (order, fp, key) in &orders {
        let reply = retry(|| server.pay(order, key, fp)).await;
        assert!(
            matches!(reply.status.as_u16(), 200 | 201),
            "{order}: {} {}",
            reply.status,
            reply.body
        );
        let status = retry(|| server.status(order)).await;
        assert_eq!(status.body["status"], "unpaid", "{}", status.body);
        assert_eq!(
            status.body["attemptId"], reply.body["attemptId"],
            "the key's attempt is the order's live one"
        );
        let dump = server.dump(order).await;
        let open: BTreeSet<&str> = dump["attempts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] != "closed")
            .filter_map(|a| a["attemptId"].as_str())
            .collect();
        assert!(open.len() <= 1, "two attempts not known dead: {dump}");
        let stats = server.stats(order).await;
        assert_eq!(stats["charges"], 0, "{stats}");
    }
    server.server.shutdown().await;
}
