#![doc = include_str!("../README.md")]

mod channels;
mod funds;
mod policy;
mod record;

pub use funds::{ChainFunds, Funds};
pub use policy::{Budget, Policy, PolicyRefusal};
pub use record::{OpenChannel, RecordError, Spend, SpendRecord};

use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use quittance_x402::{
    Ambient, ErrorReason, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, PaymentPayload, PaymentRequired,
    PaymentRequirements, SettleResponse, channel, crosschain, decode_header, encode_header, exact, invoice,
};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

/// Why a paid request failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The HTTP request failed.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The request's body cannot be sent twice (a stream), so it cannot be retried with a payment.
    #[error("the request cannot be retried with a payment (streaming body)")]
    NotRetryable,
    /// A 402 without a readable `PAYMENT-REQUIRED`.
    #[error("the 402 answer carries no readable x402 offer: {0}")]
    NoOffer(String),
    /// No offered option fits the policy.
    #[error("no option fits the spending policy: {0:?}")]
    Policy(Vec<PolicyRefusal>),
    /// The agent could not sign.
    #[error("signing failed: {0}")]
    Sign(String),
    /// The server refused the payment.
    #[error("the server refused the payment: {0}")]
    Refused(ErrorReason),
    /// The spend record failed (nothing was paid).
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The answer to a request, with what it cost.
#[derive(Debug)]
pub struct Paid {
    /// The server's response.
    pub response: reqwest::Response,
    /// The settlement receipt, when the request was paid.
    pub receipt: Option<SettleResponse>,
    /// The payment sent, when the request was paid.
    pub payment: Option<PaymentPayload>,
}

/// Seconds a reused payment must still be valid for.
const REUSE_MARGIN: u64 = 10;

/// The longest wait between two looks at a payment in flight, whatever `Retry-After` says.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Balances by network and token, as far as the agent knows them.
type Balances = BTreeMap<(String, Address), U256>;

/// An agent that pays for HTTP resources on its own, within its policy.
#[derive(Debug, Clone)]
pub struct Agent {
    signer: PrivateKeySigner,
    policy: Policy,
    record: Arc<SpendRecord>,
    http: reqwest::Client,
    ambient: Ambient,
    funds: Option<Arc<dyn Funds>>,
    pending_timeout: Duration,
}

impl Agent {
    /// An agent paying with `signer`, within `policy`, remembering payments in `record`.
    pub fn new(signer: PrivateKeySigner, policy: Policy, record: Arc<SpendRecord>) -> Self {
        Self {
            signer,
            policy,
            record,
            http: reqwest::Client::new(),
            ambient: Ambient::system(),
            funds: None,
            pending_timeout: Duration::from_secs(120),
        }
    }

    /// The same agent knowing where its funds are: it skips options on networks where it holds too little
    /// of the token, and so pays across chains (`cross-chain-invoice`) when only another network funds it.
    /// Without it, every option the policy allows is tried in order.
    pub fn with_funds(self, funds: Arc<dyn Funds>) -> Self {
        Self { funds: Some(funds), ..self }
    }

    /// The same agent waiting at most `timeout` for a payment in flight (`settlement_pending`, e.g. a
    /// cross-chain message on its way) before giving up on this request; the payment stays recorded, and the
    /// next request for the same resource sends it again rather than paying twice. Default: two minutes.
    pub fn with_pending_timeout(self, timeout: Duration) -> Self {
        Self { pending_timeout: timeout, ..self }
    }

    /// The same agent reading the time and drawing nonces from `ambient` (a simulation's clock and seed).
    pub fn with_ambient(self, ambient: Ambient) -> Self {
        Self { ambient, ..self }
    }

    /// The same agent sending its requests through `http` (timeouts, proxies, name resolution).
    pub fn with_http(self, http: reqwest::Client) -> Self {
        Self { http, ..self }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Its spend record.
    pub fn record(&self) -> &SpendRecord {
        &self.record
    }

    /// `GET url`, paying if asked.
    pub async fn get(&self, url: &str) -> Result<Paid, AgentError> {
        self.send(self.http.get(url).build()?).await
    }

    /// Sends `request`; on `402`, picks the best option the policy allows (Quittance's invoice before
    /// `exact`), signs it — or reuses a payment already signed for the same request and still valid —,
    /// records it, and retries once with `PAYMENT-SIGNATURE`.
    #[tracing::instrument(skip_all, fields(url = %request.url()))]
    pub async fn send(&self, request: reqwest::Request) -> Result<Paid, AgentError> {
        let retry = request.try_clone().ok_or(AgentError::NotRetryable)?;
        let response = self.http.execute(request).await?;
        if response.status() != reqwest::StatusCode::PAYMENT_REQUIRED {
            return Ok(Paid { response, receipt: None, payment: None });
        }
        let offer: PaymentRequired = response
            .headers()
            .get(PAYMENT_REQUIRED)
            .ok_or_else(|| AgentError::NoOffer("no PAYMENT-REQUIRED header".into()))
            .and_then(|v| v.to_str().map_err(|e| AgentError::NoOffer(e.to_string())))
            .and_then(|v| decode_header(v).map_err(|e| AgentError::NoOffer(e.to_string())))?;

        let url = retry.url().to_string();
        let host = retry.url().host_str().unwrap_or_default().to_owned();
        let key = format!("{} {url}", retry.method());
        let now = self.ambient.now();
        let (id, payment) = match self.record.reusable(&key, now, REUSE_MARGIN)? {
            Some(spend) if offered(&offer, &spend.payment.accepted) => {
                tracing::info!("reusing the payment already signed for this request");
                (Some(spend.id), spend.payment)
            }
            _ => {
                let balances = self.balances(&offer).await;
                self.pay(&offer, &url, &host, &key, now, &balances)?
            }
        };

        let mut retry = retry;
        let header = encode_header(&payment).parse().map_err(|_| AgentError::Sign("header".into()))?;
        retry.headers_mut().insert(PAYMENT_SIGNATURE, header);
        let started = tokio::time::Instant::now();
        let mut response = self.http.execute(retry.try_clone().ok_or(AgentError::NotRetryable)?).await?;
        // A payment in flight: send the same payment again after the server's `Retry-After`, until it settles
        // or the patience runs out.
        while let Some(wait) = in_flight(&response) {
            let wait = wait.min(MAX_RETRY_AFTER);
            if started.elapsed() + wait > self.pending_timeout {
                tracing::warn!("the payment is still in flight; it stays recorded for the next request");
                return Err(AgentError::Refused(ErrorReason::SettlementPending));
            }
            tracing::info!(?wait, "the payment is in flight; asking again");
            tokio::time::sleep(wait).await;
            response = self.http.execute(retry.try_clone().ok_or(AgentError::NotRetryable)?).await?;
        }
        if response.status() == reqwest::StatusCode::PAYMENT_REQUIRED {
            let reason = refusal_reason(&response);
            if let Some(id) = id {
                self.record.refused(id, reason.as_str())?;
            }
            if let Some(channel) = channels::channel_key(&payment.accepted) {
                match reason {
                    // The channel is closing: the next payment opens another.
                    ErrorReason::ChannelClosing => self.record.forget_channel(&channel)?,
                    // Its deposit did not arrive: the next payment tops it up.
                    ErrorReason::ChannelInsufficientDeposit => {
                        if let Some(open) = self.record.channel(&channel)? {
                            self.record.save_channel(&channel, &OpenChannel { deposited: 0, ..open })?;
                        }
                    }
                    _ => {}
                }
            }
            return Err(AgentError::Refused(reason));
        }
        let receipt = response
            .headers()
            .get(PAYMENT_RESPONSE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| decode_header::<SettleResponse>(v).ok());
        if let (Some(receipt), Some(id)) = (&receipt, id) {
            self.record.settled(id, receipt)?;
        }
        Ok(Paid { response, receipt, payment: Some(payment) })
    }

    /// What the agent holds of each option's token on its network, where its [`Funds`] know.
    async fn balances(&self, offer: &PaymentRequired) -> Balances {
        let mut balances = Balances::new();
        let Some(funds) = &self.funds else { return balances };
        for option in &offer.accepts {
            let Ok(asset) = option.asset.parse::<Address>() else { continue };
            let key = (option.network.clone(), asset);
            if balances.contains_key(&key) {
                continue;
            }
            if let Some(balance) = funds.balance(&option.network, asset, self.address()).await {
                balances.insert(key, balance);
            }
        }
        balances
    }

    /// Chooses, checks against the policy and the balances known, signs and records a payment for `offer`.
    fn pay(
        &self,
        offer: &PaymentRequired,
        url: &str,
        host: &str,
        key: &str,
        now: u64,
        balances: &Balances,
    ) -> Result<(Option<i64>, PaymentPayload), AgentError> {
        let mut refusals = Vec::new();
        let mut options: Vec<&PaymentRequirements> = offer.accepts.iter().collect();
        // Prefer a channel when the policy opens them (no chain round trip per request), then the invoice
        // (its payment leaves a proof in the registry), then `exact`, then an invoice paid from another
        // network (slower: a CCIP message).
        options.sort_by_key(|o| match o.scheme.as_str() {
            channel::SCHEME => 0,
            invoice::SCHEME => 1,
            crosschain::SCHEME => 3,
            _ => 2,
        });
        for option in options {
            if let Err(refusal) = funded(option, balances) {
                refusals.push(refusal);
                continue;
            }
            match self.allowed(option, host, now) {
                Ok((_, amount, spent)) if option.scheme == channel::SCHEME => {
                    let resource = quittance_x402::ResourceInfo { url: url.into(), ..offer.resource.clone() };
                    match self.pay_channel(option, &resource, host, key, amount, spent, now) {
                        Ok(paid) => return Ok(paid),
                        Err(channels::Decline::Policy(refusal)) => refusals.push(refusal),
                        Err(channels::Decline::Failed(err)) => return Err(err),
                    }
                }
                Ok((asset, amount, _)) => {
                    let resource = quittance_x402::ResourceInfo { url: url.into(), ..offer.resource.clone() };
                    let payment = match option.scheme.as_str() {
                        invoice::SCHEME => invoice::pay(option, &resource, &self.signer, self.address(), now)
                            .map_err(|e| AgentError::Sign(e.to_string())),
                        crosschain::SCHEME => crosschain::pay(option, &resource, &self.signer, self.address(), now)
                            .map_err(|e| AgentError::Sign(e.to_string())),
                        _ => exact::pay(
                            option,
                            Some(offer.resource.clone()),
                            &self.signer,
                            self.address(),
                            now,
                            self.ambient.random(),
                        )
                        .map_err(|e| AgentError::Sign(e.to_string())),
                    };
                    let payment = match payment {
                        Ok(payment) => payment,
                        Err(err) => {
                            tracing::warn!(%err, scheme = %option.scheme, "option not payable");
                            continue;
                        }
                    };
                    let valid_before = valid_before(&payment).unwrap_or(now);
                    let id = self.record.signed(key, host, asset, amount, &payment, valid_before, now)?;
                    return Ok((Some(id), payment));
                }
                Err(refusal) => refusals.push(refusal),
            }
        }
        Err(AgentError::Policy(refusals))
    }

    /// Whether the policy allows `option` now; returns its token, amount, and what was spent on the token in
    /// total and with this host within the budget's period. A channel's voucher is paid from a deposit the
    /// budgets already counted, so only its deposits are checked against them (when made).
    fn allowed(
        &self,
        option: &PaymentRequirements,
        host: &str,
        now: u64,
    ) -> Result<(Address, U256, (U256, U256)), PolicyRefusal> {
        let through_channel = option.scheme == channel::SCHEME && self.policy.channel_requests > 0;
        let one_payment = [exact::SCHEME, invoice::SCHEME, crosschain::SCHEME].contains(&option.scheme.as_str());
        if !one_payment && !through_channel {
            return Err(PolicyRefusal::Scheme(option.scheme.clone()));
        }
        let asset: Address = option.asset.parse().map_err(|_| PolicyRefusal::Asset(option.asset.clone()))?;
        let amount =
            U256::from_str_radix(&option.amount, 10).map_err(|_| PolicyRefusal::Amount(option.amount.clone()))?;
        let period = self.policy.budgets.get(&asset).map(|b| b.period.as_secs()).unwrap_or_default();
        let spent_total = self.record.spent_total(asset, now).map_err(|e| PolicyRefusal::Amount(e.to_string()))?;
        let spent_host = self
            .record
            .spent_since(asset, host, now.saturating_sub(period), now)
            .map_err(|e| PolicyRefusal::Amount(e.to_string()))?;
        let (checked_total, checked_host) =
            if through_channel { (U256::ZERO, U256::ZERO) } else { (spent_total, spent_host) };
        self.policy.check(&option.network, asset, host, amount, checked_total, checked_host)?;
        Ok((asset, amount, (spent_total, spent_host)))
    }
}

/// Whether the server still offers what `accepted` pays: the same scheme, network, asset, amount and payee.
fn offered(offer: &PaymentRequired, accepted: &PaymentRequirements) -> bool {
    offer.accepts.iter().any(|o| {
        o.scheme == accepted.scheme
            && o.network == accepted.network
            && o.asset.eq_ignore_ascii_case(&accepted.asset)
            && o.amount == accepted.amount
            && o.pay_to.eq_ignore_ascii_case(&accepted.pay_to)
    })
}

/// Until when a payment can still settle: its authorization's `validBefore`, or for a cross-chain payment
/// (which may still be in flight after the authorization was used) its invoice's deadline.
fn valid_before(payment: &PaymentPayload) -> Option<u64> {
    if payment.accepted.scheme == crosschain::SCHEME {
        let terms = crosschain::CrossChainTerms::from_requirements(&payment.accepted).ok()?;
        return terms.invoice.invoice.deadline.try_into().ok();
    }
    let exact: exact::ExactEvmPayload = serde_json::from_value(payment.payload.clone()).ok()?;
    exact.authorization.valid_before.try_into().ok()
}

/// Refuses an option whose token the agent is known to hold too little of on the option's network.
fn funded(option: &PaymentRequirements, balances: &Balances) -> Result<(), PolicyRefusal> {
    let (Ok(asset), Ok(price)) = (option.asset.parse::<Address>(), U256::from_str_radix(&option.amount, 10)) else {
        return Ok(());
    };
    match balances.get(&(option.network.clone(), asset)) {
        Some(&balance) if balance < price => {
            Err(PolicyRefusal::Funds { network: option.network.clone(), asset: option.asset.clone(), balance, price })
        }
        _ => Ok(()),
    }
}

/// How long to wait before asking again, when `response` says the payment is in flight.
fn in_flight(response: &reqwest::Response) -> Option<Duration> {
    if response.status() != reqwest::StatusCode::PAYMENT_REQUIRED
        || refusal_reason(response) != ErrorReason::SettlementPending
    {
        return None;
    }
    let seconds = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Some(Duration::from_secs(seconds.max(1)))
}

/// The reason a 402 gives in its `PAYMENT-REQUIRED` error.
fn refusal_reason(response: &reqwest::Response) -> ErrorReason {
    response
        .headers()
        .get(PAYMENT_REQUIRED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| decode_header::<PaymentRequired>(v).ok())
        .and_then(|r| r.error)
        .map(|e| ErrorReason::from_code(&e))
        .unwrap_or(ErrorReason::PaymentRequired)
}
