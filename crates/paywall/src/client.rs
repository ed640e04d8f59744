//! How the paywall reaches a facilitator: in the same process, or over HTTP.

use quittance_chain::Chain;
use quittance_facilitator::Facilitator;
use quittance_x402::{ErrorReason, SettleResponse, VerifyRequest, VerifyResponse};
use std::future::Future;

/// A facilitator could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP request failed or the answer was not a facilitator's.
    #[error("facilitator request failed: {0}")]
    Http(String),
}

/// A facilitator the paywall asks to verify and settle.
pub trait FacilitatorClient: Send + Sync + 'static {
    /// `/verify`.
    fn verify(&self, request: &VerifyRequest) -> impl Future<Output = Result<VerifyResponse, ClientError>> + Send;
    /// `/settle`.
    fn settle(&self, request: &VerifyRequest) -> impl Future<Output = Result<SettleResponse, ClientError>> + Send;
}

impl<C: Chain + 'static> FacilitatorClient for Facilitator<C> {
    async fn verify(&self, request: &VerifyRequest) -> Result<VerifyResponse, ClientError> {
        Ok(Facilitator::verify(self, request).await)
    }

    async fn settle(&self, request: &VerifyRequest) -> Result<SettleResponse, ClientError> {
        Ok(Facilitator::settle(self, request).await)
    }
}

/// A facilitator reached over HTTP (Quittance's or any x402 facilitator).
#[derive(Debug, Clone)]
pub struct HttpFacilitator {
    base: reqwest::Url,
    client: reqwest::Client,
}

impl HttpFacilitator {
    /// The facilitator at `base` (e.g. `http://127.0.0.1:4021/`).
    pub fn new(base: reqwest::Url) -> Self {
        Self { base, client: reqwest::Client::new() }
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        request: &VerifyRequest,
    ) -> Result<T, ClientError> {
        let url = self.base.join(path).map_err(|e| ClientError::Http(e.to_string()))?;
        let response =
            self.client.post(url).json(request).send().await.map_err(|e| ClientError::Http(e.to_string()))?;
        response.json().await.map_err(|e| ClientError::Http(e.to_string()))
    }
}

impl FacilitatorClient for HttpFacilitator {
    async fn verify(&self, request: &VerifyRequest) -> Result<VerifyResponse, ClientError> {
        self.post("verify", request).await
    }

    async fn settle(&self, request: &VerifyRequest) -> Result<SettleResponse, ClientError> {
        self.post("settle", request).await
    }
}

/// Facilitators by the network they serve: each request goes to the facilitator of its option's network (a
/// cross-chain option's network is the one the agent pays on). A network none serves is refused with
/// `invalid_network`.
#[derive(Debug)]
pub struct ByNetwork<F> {
    facilitators: std::collections::BTreeMap<String, std::sync::Arc<F>>,
}

impl<F> ByNetwork<F> {
    /// Routes nothing yet.
    pub fn new() -> Self {
        Self { facilitators: Default::default() }
    }

    /// The same routing with `network` (CAIP-2) going to `facilitator`.
    pub fn with(mut self, network: impl Into<String>, facilitator: std::sync::Arc<F>) -> Self {
        self.facilitators.insert(network.into(), facilitator);
        self
    }

    /// Whether a facilitator serves `network`.
    pub fn serves(&self, network: &str) -> bool {
        self.facilitators.contains_key(network)
    }

    fn route(&self, request: &VerifyRequest) -> Option<&F> {
        self.facilitators.get(&request.payment_requirements.network).map(|f| f.as_ref())
    }
}

impl<F> Default for ByNetwork<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: FacilitatorClient> FacilitatorClient for ByNetwork<F> {
    async fn verify(&self, request: &VerifyRequest) -> Result<VerifyResponse, ClientError> {
        match self.route(request) {
            Some(facilitator) => facilitator.verify(request).await,
            None => Ok(VerifyResponse {
                is_valid: false,
                invalid_reason: Some(ErrorReason::InvalidNetwork),
                invalid_message: Some(format!("no facilitator for {}", request.payment_requirements.network)),
                payer: None,
            }),
        }
    }

    async fn settle(&self, request: &VerifyRequest) -> Result<SettleResponse, ClientError> {
        match self.route(request) {
            Some(facilitator) => facilitator.settle(request).await,
            None => Ok(SettleResponse {
                success: false,
                error_reason: Some(ErrorReason::InvalidNetwork),
                error_message: Some(format!("no facilitator for {}", request.payment_requirements.network)),
                payer: None,
                transaction: String::new(),
                network: request.payment_requirements.network.clone(),
                amount: None,
                extra: None,
            }),
        }
    }
}
