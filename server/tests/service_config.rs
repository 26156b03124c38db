//! Configuring the service: flags > environment > TOML file > defaults, secrets from files,
//! never printed and never in a reply, and a start-up error that names the bad setting.

mod common;

use checkout_guard_server::config::load::{from_sources, LoadError};
use checkout_guard_server::{Profile, Storage};
use common::{spawn_in_process, temp_dir};
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn setting_of(err: LoadError) -> String {
    match err {
        LoadError::Config(err) => err.setting,
        LoadError::Flags(err) => panic!("a flag error: {err}"),
    }
}

#[tokio::test]
async fn flags_beat_the_environment_which_beats_the_file_which_beats_the_defaults() {
    let dir = temp_dir("config");
    let key_file = dir.join("api-key");
    std::fs::write(&key_file, "key-from-a-file-0001\n").expect("write");
    let file = dir.join("server.toml");
    std::fs::write(
        &file,
        format!(
            r#"
profile = "production"
listen = "127.0.0.1:0"
store = ":memory:"
prepay_ttl_ms = 5000
notify_delay_ms = 7
query_interval_ms = 11
api_key_file = "{}"
buyer_token_secret = "token-secret-from-the-file"
cors_origins = ["https://a.example", "https://b.example"]
"#,
            key_file.display()
        ),
    )
    .expect("write");
    let args = [
        "checkout-guard-server",
        "--config",
        file.to_str().expect("utf-8"),
        "--prepay-ttl-ms",
        "7000",
    ];
    let config = from_sources(
        args,
        &env(&[
            ("CG_PREPAY_TTL_MS", "6000"),
            ("CG_QUERY_INTERVAL_MS", "13"),
            ("CG_ADMIN_TOKEN", "admin-from-the-env-01"),
        ]),
    )
    .expect("loads");
    assert_eq!(config.profile, Profile::Production);
    assert_eq!(
        config.settings.prepay_ttl_ms, 7000,
        "flag over env and file"
    );
    assert_eq!(config.settings.query_interval_ms, 13, "env over file");
    assert_eq!(config.settings.notify_delay_ms, 7, "file over default");
    assert_eq!(config.settings.reuse_margin_ms, 60_000, "default");
    assert_eq!(config.storage, Storage::Memory);
    assert_eq!(
        config.cors_origins,
        ["https://a.example", "https://b.example"]
    );
    assert_eq!(config.api_keys.len(), 1);
    assert_eq!(
        config.api_keys[0].expose(),
        "key-from-a-file-0001",
        "file read, newline trimmed"
    );
    assert_eq!(
        config.admin_token.as_ref().map(|t| t.expose()),
        Some("admin-from-the-env-01")
    );

    // No secret in a debug print of the config.
    let printed = format!("{config:?}");
    for secret in [
        "key-from-a-file-0001",
        "token-secret-from-the-file",
        "admin-from-the-env-01",
    ] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
    assert!(printed.contains("Secret(***)"));

    // Nor in any reply: the production server from this config, over HTTP, as loaded (its
    // provider the default in-process one: nothing here reaches a provider).
    let t = spawn_in_process(config).await;
    let replies = [
        t.client
            .get(t.at("/admin/settings"))
            .bearer_auth("admin-from-the-env-01")
            .send(),
        t.client.get(t.at("/admin/stats")).send(),
        t.client
            .get(t.at("/v1/business/orders/ORD-NONE-1"))
            .bearer_auth("wrong")
            .send(),
        t.client
            .post(t.at("/v1/business/orders"))
            .bearer_auth("key-from-a-file-0001")
            .json(&serde_json::json!({"orderNo": "ORD-CFG-1", "amount": 1, "currency": "CNY"}))
            .send(),
    ];
    let mut statuses = Vec::new();
    for reply in replies {
        let reply = reply.await.expect("send");
        statuses.push(reply.status().as_u16());
        let text = format!(
            "{:?} {}",
            reply.headers().clone(),
            reply.text().await.expect("text")
        );
        for secret in [
            "key-from-a-file-0001",
            "token-secret-from-the-file",
            "admin-from-the-env-01",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert_eq!(statuses, [200, 403, 401, 201]);
    t.server.shutdown().await;
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// Flags, environment, and the setting the error must name.
type Case = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn a_bad_setting_is_named() {
    let base = ["checkout-guard-server"];
    const DEMO: &[(&str, &str)] = &[("CG_PROFILE", "demo")];
    let demo = DEMO;
    // Production is the default, and it needs its secrets.
    assert_eq!(
        setting_of(from_sources(base, &env(&[])).expect_err("no key")),
        "api_key"
    );
    assert_eq!(
        setting_of(from_sources(base, &env(&[("CG_API_KEY", "k")])).expect_err("no secret")),
        "buyer_token_secret"
    );
    assert!(
        from_sources(base, &env(demo)).is_ok(),
        "the demo needs none"
    );
    let cases: [Case; 7] = [
        (&["--listen", "nowhere"], demo, "listen"),
        (&["--profile", "staging"], &[], "profile"),
        (&["--provider", "wechat"], demo, "provider"),
        (&["--store", "mysql://db/cg"], demo, "store"),
        (
            &[],
            &[("CG_PROFILE", "demo"), ("CG_PREPAY_TTL_MS", "soon")],
            "prepay_ttl_ms",
        ),
        (&["--cors-origin", "*"], demo, "cors_origins"),
        (
            &["--api-key-file", "/nonexistent/key"],
            // The flag's file beats the environment's value, and cannot be read.
            &[("CG_PROFILE", "demo"), ("CG_API_KEY", "x")],
            "api_key_file",
        ),
    ];
    for (flags, vars, setting) in cases {
        let args = base.iter().chain(flags.iter()).copied();
        let err = from_sources(args, &env(vars)).expect_err(setting);
        assert_eq!(setting_of(err), setting, "{flags:?} {vars:?}");
    }
    // One source giving a secret both ways is refused; a missing secret file is named.
    let both = env(&[
        ("CG_PROFILE", "demo"),
        ("CG_API_KEY", "x"),
        ("CG_API_KEY_FILE", "/f"),
    ]);
    assert_eq!(
        setting_of(from_sources(base, &both).expect_err("both")),
        "api_key"
    );
    let missing = env(&[
        ("CG_PROFILE", "demo"),
        ("CG_ADMIN_TOKEN_FILE", "/nonexistent/t"),
    ]);
    assert_eq!(
        setting_of(from_sources(base, &missing).expect_err("no file")),
        "admin_token_file"
    );
    // An unknown key in the file is named too.
    let dir = temp_dir("config-bad");
    let file = dir.join("bad.toml");
    std::fs::write(&file, "profile = \"demo\"\nlisten_address = \"x\"\n").expect("write");
    let args = [
        "checkout-guard-server",
        "--config",
        file.to_str().expect("utf-8"),
    ];
    assert_eq!(
        setting_of(from_sources(args, &env(&[])).expect_err("unknown")),
        "listen_address"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn the_binary_refuses_to_start_and_says_which_setting() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_checkout-guard-server"))
        .args(["--listen", "127.0.0.1:0", "--db", ":memory:"])
        .env_remove("CG_API_KEY")
        .env_remove("CG_API_KEY_FILE")
        .env_remove("CG_PROFILE")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("setting `api_key`"), "{stderr}");
}

#[test]
fn the_webhook_and_sweeper_settings_load_with_the_secret_from_a_file() {
    let dir = temp_dir("webhook-config");
    let secret_file = dir.join("webhook-secret");
    std::fs::write(&secret_file, "whsec-from-a-file\n").expect("write");
    let args = [
        "checkout-guard-server",
        "--profile",
        "demo",
        "--webhook-url",
        "https://erp.example/hooks/paid",
        "--sweep-every-ms",
        "250",
    ];
    let config = from_sources(
        args,
        &env(&[
            (
                "CG_WEBHOOK_SECRET_FILE",
                secret_file.to_str().expect("utf-8"),
            ),
            ("CG_WEBHOOK_RETRY_MS", "20"),
            ("CG_SWEEP_AFTER_MS", "1500"),
        ]),
    )
    .expect("loads");
    assert_eq!(
        config.webhook_url.as_deref(),
        Some("https://erp.example/hooks/paid")
    );
    assert_eq!(
        config
            .webhook_secret
            .as_ref()
            .map(|s| s.expose().to_owned()),
        Some("whsec-from-a-file".to_owned())
    );
    assert!(!format!("{config:?}").contains("whsec-from-a-file"));
    assert_eq!(
        (
            config.settings.webhook_retry_ms,
            config.settings.sweep_after_ms,
            config.settings.sweep_every_ms
        ),
        (20, 1500, 250)
    );
    // A URL without its secret names the missing setting.
    let no_secret = [
        "checkout-guard-server",
        "--profile",
        "demo",
        "--webhook-url",
        "https://erp.example/h",
    ];
    assert_eq!(
        setting_of(from_sources(no_secret, &env(&[])).expect_err("no secret")),
        "webhook_secret"
    );
    let _ = std::fs::remove_dir_all(dir);
}
