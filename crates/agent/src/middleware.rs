//! The agent as `reqwest-middleware` middleware: a [`reqwest_middleware::ClientWithMiddleware`] built
//! `.with(Paying::new(agent))` pays on `402` within the agent's policy.
//!
//! Every request goes through [`Agent::send`] (or [`Agent::send_purchase`] when the request carries a
//! [`PurchaseId`] extension): the same durable spend record, the same handling of payments in doubt, the
//! same answer when a payment is sent again. The agent sends the request with its own HTTP client
//! ([`Agent::with_http`]), so middleware attached after this one does not see it; attach logging or
//! retries before it. A retried payment is the agent's own business (it sends the same payment again, never
//! a second one): a retry middleware placed before this one only repeats what the agent already resolves.

use crate::{Agent, AgentError, SpendState};
use quittance_x402::{PaymentPayload, SettleResponse};
use reqwest_middleware::{Middleware, Next};

/// Middleware paying with an [`Agent`]: `ClientBuilder::new(reqwest::Client::new()).with(Paying::new(agent))`.
///
/// The paid response carries a [`Payment`] in its extensions (`response.extensions().get::<Payment>()`):
/// the payment sent, its receipt and where its spend stands. A request whose body cannot be sent twice (a
/// stream) is refused before it is sent ([`AgentError::NotRetryable`], inside
/// [`reqwest_middleware::Error::Middleware`]); so is anything else the agent refuses, as an [`AgentError`]
/// (`err.downcast_ref::<AgentError>()` on the middleware error).
#[derive(Debug, Clone)]
pub struct Paying {
    agent: Agent,
}

impl Paying {
    /// Middleware paying with `agent`.
    pub fn new(agent: Agent) -> Self {
        Self { agent }
    }

    /// The agent paying.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }
}

impl From<Agent> for Paying {
    fn from(agent: Agent) -> Self {
        Self::new(agent)
    }
}

/// A request extension naming the purchase (an idempotency key of the caller's, as
/// [`Agent::send_purchase`]): `client.get(url).with_extension(PurchaseId("order-7".into()))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseId(pub String);

/// What a paid request cost, in the extensions of the response [`Paying`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    /// The payment sent.
    pub payment: PaymentPayload,
    /// The settlement receipt, when the server sent one.
    pub receipt: Option<SettleResponse>,
    /// The payment's spend in the record (`None`: a voucher of a channel already funded).
    pub spend: Option<i64>,
    /// Where that spend stands after this answer.
    pub state: Option<SpendState>,
}

#[async_trait::async_trait]
impl Middleware for Paying {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        _next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let paid = match extensions.get::<PurchaseId>() {
            Some(PurchaseId(id)) => self.agent.send_purchase(request, id).await,
            None => self.agent.send(request).await,
        };
        let paid = match paid {
            Ok(paid) => paid,
            Err(AgentError::Http(err)) => return Err(reqwest_middleware::Error::Reqwest(err)),
            Err(err) => return Err(reqwest_middleware::Error::middleware(err)),
        };
        let mut response = paid.response;
        if let Some(payment) = paid.payment {
            response.extensions_mut().insert(Payment {
                payment,
                receipt: paid.receipt,
                spend: paid.spend,
                state: paid.state,
            });
        }
        Ok(response)
    }
}
