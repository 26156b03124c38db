//! `wechatpay-sim`: the WeChat Pay API v3 simulator as a process (see README.md).

use std::net::SocketAddr;
use std::path::PathBuf;

use checkout_guard_wechatpay::{ApiV3Key, PrivateKey, PublicKey};
use checkout_guard_wechatpay_sim::{
    start, Config, MerchantConfig, SigningMode, DEFAULT_MIN_TIME_EXPIRE_MS, DEFAULT_PREPAY_TTL_MS,
    DEFAULT_WECHATPAY_SERIAL,
};
use clap::Parser;

/// A WeChat Pay API v3 simulator: the real paths, bodies, statuses and signatures, a wallet
/// page to pay in, fault injection and charge counting.
#[derive(Debug, Parser)]
#[command(name = "wechatpay-sim", version)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "WXSIM_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Base URL for the links the simulator hands out (h5_url, wallet pages); default
    /// http://<listen address>.
    #[arg(long, env = "WXSIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// The merchant number (mchid) requests must be signed for.
    #[arg(long, env = "WXSIM_MCHID")]
    mchid: String,
    /// The merchant API certificate serial (Authorization serial_no).
    #[arg(long, env = "WXSIM_MERCHANT_SERIAL")]
    merchant_serial: String,
    /// The merchant API public key, PEM (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY).
    #[arg(long, env = "WXSIM_MERCHANT_PUBLIC_KEY")]
    merchant_public_key: PathBuf,
    /// The APIv3 key file (its exact bytes, 32; a trailing newline is dropped). Without it no
    /// notifies are sent, as at WeChat Pay.
    #[arg(long, env = "WXSIM_APIV3_KEY_FILE")]
    apiv3_key_file: Option<PathBuf>,
    /// The simulator's WeChat Pay private key, PEM, to keep one key across restarts; default:
    /// a new key at every start.
    #[arg(long, env = "WXSIM_WECHATPAY_PRIVATE_KEY")]
    wechatpay_private_key: Option<PathBuf>,
    /// The WeChat Pay public key id (Wechatpay-Serial).
    #[arg(long, env = "WXSIM_WECHATPAY_SERIAL", default_value = DEFAULT_WECHATPAY_SERIAL)]
    wechatpay_serial: String,
    /// Write the WeChat Pay public key (PEM) here at start, for the merchant's configuration.
    #[arg(long, env = "WXSIM_WRITE_PUBLIC_KEY")]
    write_public_key: Option<PathBuf>,
    /// Sign with platform certificates instead of the public key: a self-signed certificate
    /// over the WeChat Pay key, listed by GET /v3/certificates (needs --apiv3-key-file);
    /// rotate through /sim/admin/certificates.
    #[arg(long, env = "WXSIM_PLATFORM_CERTIFICATES")]
    platform_certificates: bool,
    /// In certificate mode: write the platform certificate (PEM) here at start, for a merchant
    /// that configures certificate files instead of downloading them.
    #[arg(long, env = "WXSIM_WRITE_PLATFORM_CERTIFICATE")]
    write_platform_certificate: Option<PathBuf>,
    /// How long a prepay is payable, in milliseconds (WeChat Pay: 2 h).
    #[arg(long, env = "WXSIM_PREPAY_TTL_MS", default_value_t = DEFAULT_PREPAY_TTL_MS)]
    prepay_ttl_ms: i64,
    /// Multiplies WeChat Pay's notify retry schedule (15 s, 15 s, 30 s, 3 m, …): 0.01 for tests.
    #[arg(long, env = "WXSIM_NOTIFY_TIME_SCALE", default_value_t = 1.0)]
    notify_time_scale: f64,
    /// How far ahead a `time_expire` must be, in ms (WeChat Pay: 60000). Lower it to test
    /// prepay expiry in seconds (the conformance kit's expiry case).
    #[arg(long, env = "WXSIM_MIN_TIME_EXPIRE_MS", default_value_t = DEFAULT_MIN_TIME_EXPIRE_MS)]
    min_time_expire_ms: i64,
}

fn read(path: &PathBuf, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

async fn run(args: Args) -> Result<(), String> {
    let public_key = PublicKey::from_pem(&read(&args.merchant_public_key, "merchant public key")?)
        .map_err(|e| format!("--merchant-public-key: {e}"))?;
    let mut config = Config::new(MerchantConfig {
        mchid: args.mchid,
        serial_no: args.merchant_serial,
        public_key,
    });
    config.listen = args.listen;
    config.public_url = args.public_url;
    config.wechatpay_serial = args.wechatpay_serial;
    config.prepay_ttl_ms = args.prepay_ttl_ms;
    config.notify_time_scale = args.notify_time_scale;
    config.min_time_expire_ms = args.min_time_expire_ms;
    if args.platform_certificates {
        config.signing = SigningMode::Certificates;
    }
    if let Some(path) = &args.apiv3_key_file {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the APIv3 key {}: {e}", path.display()))?;
        let trimmed = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        config.apiv3_key =
            Some(ApiV3Key::new(trimmed).map_err(|e| format!("--apiv3-key-file: {e}"))?);
    } else {
        tracing::warn!("no --apiv3-key-file: no notifies will be sent");
    }
    if let Some(path) = &args.wechatpay_private_key {
        let key = PrivateKey::from_pem(&read(path, "WeChat Pay private key")?)
            .map_err(|e| format!("--wechatpay-private-key: {e}"))?;
        config.wechatpay_key = Some(key);
    }
    let sim = start(config).await.map_err(|e| e.to_string())?;
    if let Some(path) = &args.write_public_key {
        let pem = sim
            .wechatpay_public_key()
            .to_pem()
            .map_err(|e| e.to_string())?;
        std::fs::write(path, pem).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.write_platform_certificate {
        let pem: String = sim
            .platform_certificates()
            .iter()
            .map(|c| c.to_pem().to_owned())
            .collect();
        if pem.is_empty() {
            return Err("--write-platform-certificate needs --platform-certificates".to_owned());
        }
        std::fs::write(path, pem).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!(
        "wechatpay-sim listening on {} (Wechatpay-Serial {})",
        sim.base_url(),
        sim.wechatpay_serial()
    );
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("wechatpay-sim: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
