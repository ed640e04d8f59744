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

/// A facilitator reached over HTTP (Quittance's or any x402 facilitator). Every request gives up after its
/// timeout with a [`ClientError`], so a facilitator that never answers cannot hold the paywall.
#[derive(Debug, Clone)]
pub struct HttpFacilitator {
    base: reqwest::Url,
    client: reqwest::Client,
    timeout: std::time::Duration,
}

impl HttpFacilitator {
    /// How long [`HttpFacilitator::new`] waits for each answer, connecting included: longer than a Quittance
    /// facilitator waits for a settlement's receipt (30 s) before it answers `settlement_pending`.
    pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(40);

    /// How long it waits to connect, at most (and never longer than its request timeout).
    pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

    /// The facilitator at `base` (e.g. `http://127.0.0.1:4021/`), each request timing out after
    /// [`HttpFacilitator::DEFAULT_TIMEOUT`].
    pub fn new(base: reqwest::Url) -> Self {
        Self::with_timeout(base, Self::DEFAULT_TIMEOUT)
    }

    /// The facilitator at `base`, each request (connecting, sending, reading the answer) timing out after
    /// `timeout`.
    pub fn with_timeout(base: reqwest::Url, timeout: std::time::Duration) -> Self {
        // Building fails only where the TLS backend cannot start; `Client::new()` then fails the same way.
        // The total timeout is set on every request as well, so it holds whichever client this is.
        let client = reqwest::Client::builder()
            .connect_timeout(Self::CONNECT_TIMEOUT.min(timeout))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { base, client, timeout }
    }

    /// How long each request waits for its answer.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        request: &VerifyRequest,
    ) -> Result<T, ClientError> {
        let url = self.base.join(path).map_err(|e| ClientError::Http(e.to_string()))?;
        let failed = |err: reqwest::Error| match err.is_timeout() {
            true => ClientError::Http(format!(
                "the facilitator at {url} did not answer within {}s (timed out)",
                self.timeout.as_secs_f64()
            )),
            false => ClientError::Http(format!("{url}: {err}")),
        };
        let response =
            self.client.post(url.clone()).timeout(self.timeout).json(request).send().await.map_err(failed)?;
        let status = response.status();
        // A facilitator answers its refusals as JSON too (any status); anything else is not its answer.
        let body = response.bytes().await.map_err(failed)?;
        serde_json::from_slice(&body).map_err(|err| {
            ClientError::Http(format!("{url} answered {status} with something other than a facilitator answer: {err}"))
        })
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
                extra: None,
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
