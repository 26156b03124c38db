//! The conformance kit: checks a running merchant backend against `docs/contract.md` from the
//! outside, the way the guard uses it, because the guard is only as safe as the backend's
//! keeping of that contract and most merchants keep their own backend.
//!
//! The backend's WeChat Pay base URL points at the WeChat Pay v3 simulator
//! (`checkout-guard-wechatpay-sim`); payments are made, cancelled or failed in the simulator's
//! wallet, provider faults are injected at the simulator (never at the backend, so nothing
//! backend-specific is needed), and every charge is counted on WeChat Pay's side of the record.
//! How orders are made on the backend is the one adapter ([`orders`]).
//!
//! Each case ([`cases`]) is named, cites the contract rule it proves, and ends `pass`, `FAIL`
//! or `n/a` with why ([`report`]). After the HTTP cases the real guard core is driven against
//! the backend through adversarial sequences ([`guard`]). Cases run one after another: the
//! simulator's global fault rules would otherwise hit a neighbour's requests.
//!
//! ```no_run
//! # async fn run() -> Result<(), checkout_guard_conformance::KitError> {
//! use checkout_guard_conformance::{orders::Orders, run, Options};
//! let reports = run(Options::new(
//!     "http://127.0.0.1:8080",
//!     "http://127.0.0.1:8090",
//!     Orders::BusinessApi { base: "http://127.0.0.1:8080".into(), api_key: "k".into() },
//! ))
//! .await?;
//! print!("{}", checkout_guard_conformance::report::table(&reports));
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod cases;
pub mod guard;
pub mod orders;
pub mod report;
pub mod sim;

use std::time::{Duration, Instant};

use crate::backend::{Backend, Paths};
use crate::cases::Kit;
use crate::orders::Orders;
use crate::report::{CaseReport, Verdict};
use crate::sim::Sim;

/// Why the kit could not do something (as opposed to a case's verdict).
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The command line or a template is wrong.
    #[error("usage: {0}")]
    Usage(String),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
    /// A request to the backend got no HTTP reply (refused, reset, timed out).
    #[error("{request}: no reply ({source})")]
    NoReply {
        /// The request.
        request: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The simulator could not be used.
    #[error("simulator: {0}")]
    Sim(String),
    /// The orders adapter failed.
    #[error("orders adapter: {0}")]
    Adapter(String),
}

/// What to test and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The backend's base URL.
    pub backend: String,
    /// The simulator's base URL.
    pub provider_sim: String,
    /// How orders are made.
    pub orders: Orders,
    /// The create template (default `/api/orders/{orderNo}/payments`).
    pub create_path: Option<String>,
    /// The status template (default `/api/orders/{orderNo}/payment`).
    pub status_path: Option<String>,
    /// The order submission path (§4, default `/api/orders`).
    pub submit_path: Option<String>,
    /// The content the submission cases send (§4), JSON with `{nonce}` replaced by a fresh
    /// token for every order; `None`: [`cases::DEFAULT_SUBMIT_CONTENT`], and a backend that
    /// refuses it as malformed gets `n/a`.
    pub submit_content: Option<String>,
    /// Run only the cases whose id starts with one of these (empty: all).
    pub only: Vec<String>,
    /// The longest the expiry case waits for a prepay to expire; a backend whose prepays live
    /// longer gets `n/a` (configure a prepay lifetime of a few seconds to check rule 2.1).
    pub max_expiry_wait: Duration,
    /// How long a payment may take to show as `paid` (notify or active query).
    pub settle_timeout: Duration,
    /// How many parallel creates the concurrency cases send.
    pub parallel: usize,
}

impl Options {
    /// The defaults: the contract's templates, every case, 20 s for an expiry, 15 s to settle,
    /// 50 parallel creates.
    pub fn new(backend: &str, provider_sim: &str, orders: Orders) -> Self {
        Options {
            backend: backend.to_owned(),
            provider_sim: provider_sim.to_owned(),
            orders,
            create_path: None,
            status_path: None,
            submit_path: None,
            submit_content: None,
            only: Vec::new(),
            max_expiry_wait: Duration::from_secs(20),
            settle_timeout: Duration::from_secs(15),
            parallel: 50,
        }
    }
}

/// Runs every selected case, in order, and returns their reports.
pub async fn run(options: Options) -> Result<Vec<CaseReport>, KitError> {
    let backend = Backend::new(
        &options.backend,
        Paths {
            create: options.create_path.clone(),
            status: options.status_path.clone(),
            submit: options.submit_path.clone(),
        },
    )?;
    let sim = Sim::new(backend.client().clone(), &options.provider_sim);
    // Fail fast and clearly when the simulator is not there.
    sim.clear_faults().await?;
    let kit = Kit::new(backend, sim, options.clone());
    let mut reports = Vec::new();
    for case in cases::all() {
        let selected = options.only.is_empty()
            || options
                .only
                .iter()
                .any(|prefix| case.id.starts_with(prefix));
        if !selected {
            continue;
        }
        let started = Instant::now();
        let verdict = match (case.run)(&kit).await {
            Ok(()) => Verdict::Pass,
            Err(verdict) => verdict,
        };
        // A case's fault rules never outlive it.
        let verdict = match (sim_clear(&kit).await, verdict) {
            (Err(e), Verdict::Pass) => Verdict::Fail(format!("clearing the faults: {e}")),
            (_, verdict) => verdict,
        };
        reports.push(CaseReport {
            id: case.id,
            rule: case.rule,
            title: case.title,
            verdict,
            elapsed: started.elapsed(),
        });
    }
    Ok(reports)
}

async fn sim_clear(kit: &Kit) -> Result<(), KitError> {
    kit.sim.clear_faults().await
}

/// A random token of `len` characters of `0-9 a-z`: idempotency keys (the guard's are 32 hex),
/// order numbers, nonces.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut bytes = vec![0u8; len];
    // Without entropy the kit still works: keys only need to differ within one run.
    if getrandom::fill(&mut bytes).is_err() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A fresh idempotency key as the guard mints them: 32 lowercase hex characters.
pub fn new_key() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        return random_token(32)
            .chars()
            .map(|c| if c.is_ascii_hexdigit() { c } else { 'a' })
            .collect();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
