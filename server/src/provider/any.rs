//! [`AnyProvider`]: the provider the configuration chose, as one type, so the rules (generic
//! over [`Provider`]) are built once whichever runs.

use super::sim::SimProvider;
use super::wechatpay::WechatPayV3;
use super::{Payment, Prepay, PrepayRequest, Provider, ProviderError};

/// The simulated provider or WeChat Pay.
#[derive(Debug, Clone)]
pub enum AnyProvider {
    /// The in-process simulation.
    Sim(SimProvider),
    /// WeChat Pay API v3 over HTTPS (boxed: its keys make it ten times the simulation).
    WechatPay(Box<WechatPayV3>),
}

impl Provider for AnyProvider {
    async fn create(&self, req: &PrepayRequest) -> Result<Prepay, ProviderError> {
        match self {
            AnyProvider::Sim(p) => p.create(req).await,
            AnyProvider::WechatPay(p) => p.create(req).await,
        }
    }

    async fn query(&self, attempt_id: &str) -> Result<Payment, ProviderError> {
        match self {
            AnyProvider::Sim(p) => p.query(attempt_id).await,
            AnyProvider::WechatPay(p) => p.query(attempt_id).await,
        }
    }

    async fn close(&self, attempt_id: &str) -> Result<(), ProviderError> {
        match self {
            AnyProvider::Sim(p) => p.close(attempt_id).await,
            AnyProvider::WechatPay(p) => p.close(attempt_id).await,
        }
    }
}
