//! Fault injection around any provider: [`Faulty`] makes the calls of one request fail (before
//! the provider acts), lose their answer (after it acted), or take longer, as that request
//! asked (`X-Fault: provider=fail`, `provider=lost`, `provider-latency=<ms>`).
//!
//! The faults travel beside the request, not through the rules: the HTTP fault layer runs the
//! request inside [`scope`], and the wrapper reads them with [`current`]. Outside a scope (a
//! unit test, a call no request made) there is no fault. A scope covers the request's own task
//! only, which is where the rules make their provider calls.

use super::{Payment, Prepay, PrepayRequest, Provider, ProviderError};
use serde::Serialize;
use std::future::Future;
use std::time::Duration;

/// How a faulted provider call goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderFault {
    /// The call fails before the provider does anything (a 500 from the provider).
    Fail,
    /// The provider does the work and commits, but its answer never arrives.
    Lost,
}

/// The provider faults of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderFaults {
    /// `provider=fail|lost`: every provider call of the request.
    pub mode: Option<ProviderFault>,
    /// `provider-latency=<ms>`: the create call takes this long first (with the order's lease
    /// held, which makes `409 in_progress` easy to see).
    pub create_latency_ms: u64,
}

tokio::task_local! {
    static FAULTS: ProviderFaults;
}

/// Runs `request` with `faults` applying to every [`Faulty`] provider call it makes.
pub async fn scope<F: Future>(faults: ProviderFaults, request: F) -> F::Output {
    FAULTS.scope(faults, request).await
}

/// The faults of the request running now (none outside a [`scope`]).
pub fn current() -> ProviderFaults {
    FAULTS.try_with(|faults| *faults).unwrap_or_default()
}

/// A provider whose calls fail as the current request's [`ProviderFaults`] say.
#[derive(Debug, Clone)]
pub struct Faulty<P> {
    inner: P,
}

impl<P> Faulty<P> {
    /// Wraps `inner`.
    pub fn new(inner: P) -> Self {
        Faulty { inner }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

/// Runs `call` as `faults` say: not at all (`fail`), or to its end with its answer dropped
/// (`lost`: whatever the provider answered, the caller never hears it).
async fn faulted<T>(
    faults: ProviderFaults,
    call: impl Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    match faults.mode {
        None => call.await,
        Some(ProviderFault::Fail) => Err(ProviderError::Unavailable(
            "injected fault: provider=fail".into(),
        )),
        Some(ProviderFault::Lost) => {
            let _lost = call.await;
            Err(ProviderError::Unavailable(
                "injected fault: provider=lost".into(),
            ))
        }
    }
}

impl<P: Provider> Provider for Faulty<P> {
    async fn create(&self, req: &PrepayRequest) -> Result<Prepay, ProviderError> {
        let faults = current();
        if faults.create_latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.create_latency_ms)).await;
        }
        faulted(faults, self.inner.create(req)).await
    }

    async fn query(&self, attempt_id: &str) -> Result<Payment, ProviderError> {
        faulted(current(), self.inner.query(attempt_id)).await
    }

    async fn close(&self, attempt_id: &str) -> Result<(), ProviderError> {
        faulted(current(), self.inner.close(attempt_id)).await
    }
}
