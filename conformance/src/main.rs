//! `checkout-guard-conformance`: the command line over [`checkout_guard_conformance::run`].
//! Prints the case table, writes JUnit XML when asked, and exits 1 on any failure (2 when the
//! kit could not start at all), so CI systems need nothing else.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use checkout_guard_conformance::orders::{Orders, Template};
use checkout_guard_conformance::{report, run, KitError, Options};
use clap::Parser;

/// Checks a running merchant backend against docs/contract.md, from the outside, with the
/// WeChat Pay v3 simulator standing in for WeChat Pay.
#[derive(Debug, Parser)]
#[command(name = "checkout-guard-conformance", version)]
struct Args {
    /// The backend's base URL (the guard's create and status endpoints are under it).
    #[arg(long, env = "CG_CONFORMANCE_BACKEND")]
    backend: String,
    /// The WeChat Pay v3 simulator the backend's WeChat Pay base URL points at.
    #[arg(long, env = "CG_CONFORMANCE_PROVIDER_SIM")]
    provider_sim: String,
    /// How orders are made: `business-api` (the payment center's /v1/business API, with
    /// --api-key-file).
    #[arg(long, value_name = "ADAPTER")]
    orders: Option<String>,
    /// The business API key, for `--orders business-api`.
    #[arg(long, value_name = "FILE")]
    api_key_file: Option<PathBuf>,
    /// A program that makes (and changes) orders: see the README, "Check your own backend".
    #[arg(long, value_name = "CMD")]
    orders_command: Option<String>,
    /// An HTTP template that makes an order: `METHOD URL [BODY]` with {amount} and {nonce}.
    #[arg(long, value_name = "TEMPLATE")]
    orders_http: Option<String>,
    /// An HTTP template that changes an order's amount: `METHOD URL [BODY]` with {orderNo}
    /// and {amount}. Without it the content-change case is not applicable.
    #[arg(long, value_name = "TEMPLATE")]
    orders_http_change: Option<String>,
    /// The create template, if not the contract's `/api/orders/{orderNo}/payments`.
    #[arg(long)]
    create_path: Option<String>,
    /// The status template, if not the contract's `/api/orders/{orderNo}/payment`.
    #[arg(long)]
    status_path: Option<String>,
    /// The order submission path (§4), if not the contract's `/api/orders`.
    #[arg(long)]
    submit_path: Option<String>,
    /// The content the submission cases send (§4): a JSON object, `{nonce}` replaced by a
    /// fresh token per order.
    #[arg(long, value_name = "JSON")]
    submit_content: Option<String>,
    /// Write JUnit XML here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Run only the cases whose name starts with one of these (repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// The longest the expiry cases wait for a prepay to expire, in seconds.
    #[arg(long, default_value_t = 20)]
    max_expiry_wait: u64,
    /// How long a payment may take to show as paid, in seconds.
    #[arg(long, default_value_t = 15)]
    settle_timeout: u64,
}

fn orders(args: &Args) -> Result<Orders, KitError> {
    let chosen = [
        args.orders.is_some(),
        args.orders_command.is_some(),
        args.orders_http.is_some(),
    ]
    .iter()
    .filter(|c| **c)
    .count();
    if chosen != 1 {
        return Err(KitError::Usage(
            "choose one of --orders business-api, --orders-command, --orders-http".into(),
        ));
    }
    if let Some(adapter) = &args.orders {
        if adapter != "business-api" {
            return Err(KitError::Usage(format!(
                "--orders {adapter:?}: the built-in adapter is `business-api`"
            )));
        }
        let path = args
            .api_key_file
            .as_ref()
            .ok_or_else(|| KitError::Usage("--orders business-api needs --api-key-file".into()))?;
        let key = std::fs::read_to_string(path)
            .map_err(|e| KitError::Usage(format!("--api-key-file {}: {e}", path.display())))?;
        let api_key = key.trim_end_matches(['\n', '\r']).to_owned();
        return Ok(Orders::BusinessApi {
            base: args.backend.trim_end_matches('/').to_owned(),
            api_key,
        });
    }
    if let Some(command) = &args.orders_command {
        return Ok(Orders::Command {
            command: command.clone(),
        });
    }
    let create = Template::parse(args.orders_http.as_deref().unwrap_or_default())?;
    let change = args
        .orders_http_change
        .as_deref()
        .map(Template::parse)
        .transpose()?;
    Ok(Orders::Http { create, change })
}

async fn main_inner(args: Args) -> Result<bool, KitError> {
    let mut options = Options::new(&args.backend, &args.provider_sim, orders(&args)?);
    options.create_path = args.create_path.clone();
    options.status_path = args.status_path.clone();
    options.submit_path = args.submit_path.clone();
    options.submit_content = args.submit_content.clone();
    options.only = args.only.clone();
    options.max_expiry_wait = Duration::from_secs(args.max_expiry_wait);
    options.settle_timeout = Duration::from_secs(args.settle_timeout);
    let started = Instant::now();
    let reports = run(options).await?;
    print!("{}", report::table(&reports));
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&reports, started.elapsed()))
            .map_err(|e| KitError::Usage(format!("--junit {}: {e}", path.display())))?;
    }
    Ok(report::totals(&reports).failed == 0)
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_inner(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("checkout-guard-conformance: {err}");
            ExitCode::from(2)
        }
    }
}
