//! Inputs the fuzzer (`fuzz/`, target `server_requests`) or its review found, kept as tests
//! over real HTTP: bad input is a JSON 4xx, never an empty body or a 5xx.

mod common;

use common::{spawn, spawn_in_process, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn bare_prefixes_answer_json_errors() {
    let server = spawn().await;
    for (method, path) in [
        ("GET", "/api/"),
        ("POST", "/api/"),
        ("GET", "/api"),
        ("GET", "/sim/"),
        ("GET", "/admin/"),
    ] {
        let reply = server
            .client
            .request(method.parse().expect("method"), server.at(path))
            .send()
            .await
            .expect("reply");
        let status = reply.status().as_u16();
        let body: serde_json::Value = reply.json().await.unwrap_or_default();
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(body["error"], "not_found", "{method} {path}: {body}");
    }
}

#[tokio::test]
async fn a_request_target_without_a_slash_is_a_400() {
    let server = spawn().await;
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(
            format!("GET nts HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.expect("read");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("\"error\":\"invalid_path\""), "{reply}");
}

#[tokio::test]
async fn an_extreme_notify_timestamp_is_refused_not_a_crash() {
    // The in-process provider's HMAC notify, which checks the timestamp (on WeChat Pay the
    // payment center answers 404 there: `provider_and_faults.rs`).
    let server = spawn_in_process(test_config()).await;
    let reply = server
        .client
        .post(server.at("/api/notify"))
        .header("Wechatpay-Timestamp", "-9223372036854775808")
        .header("Wechatpay-Nonce", "n")
        .header("Wechatpay-Signature", "00")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("reply");
    assert_eq!(reply.status().as_u16(), 401);
}
