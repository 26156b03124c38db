//! The real program: flags, the printed address, SIGTERM, and a restart on the same file.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The child process, killed if a failing test drops it before [`terminate`].
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts the binary on `db`; returns the child and its base URL.
fn launch(db: &std::path::Path) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_checkout-guard-server"))
        .args(["--profile", "demo", "--listen", "127.0.0.1:0"])
        .args(["--notify-delay-ms", "0", "--db"])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("url at the end")
        .to_owned();
    let running = Running(Some(child));
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    (running, url)
}

fn terminate(mut running: Running) {
    let mut child = running.0.take().expect("still running");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
}

#[tokio::test]
async fn the_binary_serves_stops_on_sigterm_and_restarts_with_its_data() {
    let dir = std::env::temp_dir().join(format!("cg-server-bin-{}", std::process::id()));
    let db = dir.join("nested").join("demo.sqlite");
    let client = reqwest::Client::new();

    let (child, url) = launch(&db);
    let order: Value = client
        .post(format!("{url}/api/orders"))
        .json(&json!({"content": {"amount": 1999, "currency": "CNY"}}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let order_no = order["orderNo"].as_str().expect("orderNo").to_owned();
    let key = "\"0123456789abcdef0123456789abcdef\"";
    let pay = |url: String| {
        client
            .post(format!("{url}/api/orders/{order_no}/payments"))
            .header("Idempotency-Key", key)
            .json(&json!({"fingerprint": order["fingerprint"]}))
            .send()
    };
    let first = pay(url.clone()).await.expect("send");
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    terminate(child);
    assert!(db.exists());

    let (child, url) = launch(&db);
    let again = pay(url.clone()).await.expect("send");
    assert_eq!(again.status(), 200);
    let mut again: Value = again.json().await.expect("json");
    let mut first = first;
    // The stored reply, with the server's clock of this reply (not of the stored one).
    let (now_then, now) = (first["now"].take(), again["now"].take());
    assert!(
        now.as_i64() >= now_then.as_i64() && now_then.is_i64(),
        "{now_then} {now}"
    );
    assert_eq!(again, first);
    terminate(child);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
