#![doc = include_str!("../README.md")]

mod answer;
mod batches;
mod channels;
mod doubt;
mod funds;
mod middleware;
mod policy;
mod record;
mod signer;

pub use channels::channel_place;
pub use doubt::Resolution;
pub use funds::{Answer, ChainFunds, ChainWord, ChannelSeen, Funds, Mark, Seen};
pub use middleware::{Paying, Payment, PurchaseId};
pub use policy::{Budget, Policy, PolicyRefusal};
pub use record::{BatchChannel, Declared, OpenChannel, RecordError, Spend, SpendRecord, SpendState};
pub use signer::PaymentSigner;

use alloy::primitives::{Address, U256};
use quittance_x402::{
    Ambient, ErrorReason, PAYMENT_REQUIRED, PaymentPayload, PaymentRequired, PaymentRequirements, Scheme,
    SettleResponse, X402_V1, auth_capture, crosschain, decode_header, eip2612_gas_sponsoring, exact, exact_permit2,
    invoice, payment_identifier, upto,
};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

/// Why a paid request failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The HTTP request failed before any payment was sent.
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
    /// The server refused the payment, and nothing was taken. With `settlement_pending` the payment is
    /// still in flight when the agent's patience ran out: it stays in doubt, and the next request for the
    /// purchase sends it again.
    #[error("the server refused the payment: {0}")]
    Refused(ErrorReason),
    /// A payment for this purchase may have been taken (or was, and was not served): nothing new is signed
    /// for the purchase until it is resolved; `advice` says how.
    #[error("payment {spend} for {request} is {state} ({reason}): {advice}")]
    InDoubt {
        /// The spend in the record.
        spend: i64,
        /// The purchase (method and URL).
        request: String,
        /// Where it stands: signed, in doubt, or charged.
        state: SpendState,
        /// The last thing learnt of it (a reason code or a few words).
        reason: String,
        /// How it gets resolved.
        advice: String,
    },
    /// The server holds another payment under this payment's identifier (x402 `payment-identifier`): a bug
    /// of the agent's, since it sends one id with one payment only. The payment stays in doubt.
    #[error(
        "the server holds another payment under payment id {id:?} (spend {spend:?} for {request}): \
         the agent's bug; the payment stays in doubt"
    )]
    PaymentIdConflict {
        /// The spend in the record, if the payment is recorded.
        spend: Option<i64>,
        /// The purchase.
        request: String,
        /// The payment id sent.
        id: Option<String>,
    },
    /// The only payable option is `exact` over Permit2, the wallet has not approved Permit2 for the token,
    /// and the server offers no `eip2612GasSponsoring` (or the token's EIP-2612 nonce cannot be read): the
    /// agent sends no approval of its own. Approve Permit2 once from the wallet, then pay again.
    #[error(
        "the wallet has not approved Permit2 ({permit2}) for {asset} on {network}, and the server offers no \
         eip2612GasSponsoring the agent can use: approve Permit2 for the token once, then pay again"
    )]
    Permit2Approval {
        /// The option's network.
        network: String,
        /// The token.
        asset: String,
        /// Permit2's address.
        permit2: Address,
    },
    /// The spend record failed (nothing new was paid).
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The answer to a request, with what it cost.
#[derive(Debug)]
pub struct Paid {
    /// The server's response.
    pub response: reqwest::Response,
    /// The settlement receipt, when the request was paid and the server sent one.
    pub receipt: Option<SettleResponse>,
    /// The payment sent, when the request was paid.
    pub payment: Option<PaymentPayload>,
    /// The payment's spend in the record (`None`: nothing paid, or a voucher of a channel already funded).
    pub spend: Option<i64>,
    /// Where that spend stands after this answer: settled, or in doubt (or charged) when the answer does not
    /// say it was served.
    pub state: Option<SpendState>,
    /// The headers of the request that got this answer, with the payment's header when it was paid.
    pub sent: reqwest::header::HeaderMap,
}

/// Seconds a payment sent again must still be valid for.
const REUSE_MARGIN: u64 = 10;

/// The longest wait between two looks at a payment in flight, whatever `Retry-After` says.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How long the default HTTP client waits for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the default HTTP client waits for a whole answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How many times a payment whose answer was lost (a transport error, a timeout, a 5xx) is sent again at
/// once, before it is left in doubt for the next request.
pub const RESENDS: u32 = 2;

/// Balances by network and token, as far as the agent knows them.
type Balances = BTreeMap<(String, Address), U256>;

/// What the agent knows, per network and token of an `exact` over Permit2 option, of its allowance to
/// Permit2 and its EIP-2612 nonce.
type Permit2States = BTreeMap<(String, Address), (Option<U256>, Option<U256>)>;

/// The HTTP client an agent uses unless told otherwise: at most [`CONNECT_TIMEOUT`] to connect and
/// `timeout` for a whole answer (the default agent: [`REQUEST_TIMEOUT`]).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, AgentError> {
    Ok(reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT.min(timeout)).timeout(timeout).build()?)
}

/// An agent that pays for HTTP resources on its own, within its policy.
#[derive(Debug, Clone)]
pub struct Agent {
    signer: PaymentSigner,
    policy: Policy,
    record: Arc<SpendRecord>,
    http: reqwest::Client,
    ambient: Ambient,
    funds: Option<Arc<dyn Funds>>,
    pending_timeout: Duration,
    resend_delay: Duration,
    /// One request at a time per purchase, so that none signs while another's payment is unresolved.
    purchases: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Channels checked against their chain in this process.
    checked_channels: Arc<Mutex<HashSet<String>>>,
    /// Networks whose chain this process checked the spend record against.
    bound_networks: Arc<Mutex<HashSet<String>>>,
}

impl Agent {
    /// An agent paying with `signer` (a local key, or any alloy signer as a [`PaymentSigner`]),
    /// within `policy`, remembering payments in `record`.
    pub fn new(signer: impl Into<PaymentSigner>, policy: Policy, record: Arc<SpendRecord>) -> Self {
        Self {
            signer: signer.into(),
            policy,
            record,
            http: http_client(REQUEST_TIMEOUT).unwrap_or_default(),
            ambient: Ambient::system(),
            funds: None,
            pending_timeout: Duration::from_secs(120),
            resend_delay: Duration::from_millis(250),
            purchases: Arc::default(),
            checked_channels: Arc::default(),
            bound_networks: Arc::default(),
        }
    }

    /// The same agent knowing what the chains say: it skips options on networks where it holds too little
    /// of the token (and so pays across chains, `cross-chain-invoice`, when only another network funds it),
    /// reads whether a payment in doubt was taken, and checks its voucher channels. Without it, every option
    /// the policy allows is tried in order, and a payment in doubt is resolved by the servers alone.
    pub fn with_funds(self, funds: Arc<dyn Funds>) -> Self {
        Self { funds: Some(funds), ..self }
    }

    /// The same agent waiting at most `timeout` for a payment in flight (`settlement_pending`, e.g. a
    /// cross-chain message on its way) before giving up on this request; the payment stays in doubt, and the
    /// next request for the same resource sends it again rather than paying twice. Default: two minutes.
    pub fn with_pending_timeout(self, timeout: Duration) -> Self {
        Self { pending_timeout: timeout, ..self }
    }

    /// The same agent reading the time and drawing nonces (and payment ids) from `ambient` (a simulation's
    /// clock and seed).
    pub fn with_ambient(self, ambient: Ambient) -> Self {
        Self { ambient, ..self }
    }

    /// The same agent sending its requests through `http` (timeouts, proxies, name resolution). The default
    /// client is [`http_client`]`(`[`REQUEST_TIMEOUT`]`)`; a client without timeouts can wait forever for a
    /// lost answer.
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

    /// Sends `request`, paying if asked. A purchase is the request's method and URL. First, a payment of
    /// the purchase still unresolved (signed, in doubt or charged) is resolved: sent again while it is still
    /// valid, and looked up on chain where the agent has one; nothing new is signed until it is settled or
    /// refused (else [`AgentError::InDoubt`]). Then, on `402`, the agent picks the best option the policy
    /// allows (a channel, Quittance's invoice, `exact`, then across chains), signs it, records it, and sends
    /// it, sending it again when its answer is lost.
    #[tracing::instrument(skip_all, fields(url = %request.url()))]
    pub async fn send(&self, request: reqwest::Request) -> Result<Paid, AgentError> {
        let key = purchase(request.method(), request.url());
        self.send_keyed(request, key, false).await
    }

    /// Sends `request` as the purchase named `id` (an idempotency key of the caller's: the same id is the
    /// same purchase, whatever the request). Besides what [`Agent::send`] does, a purchase already settled
    /// is not bought again: its payment is sent again, and the server answers from its store what it
    /// bought. A caller that crashed before it saw its answer runs the same purchase again and pays once.
    #[tracing::instrument(skip_all, fields(url = %request.url(), purchase = id))]
    pub async fn send_purchase(&self, request: reqwest::Request, id: &str) -> Result<Paid, AgentError> {
        self.send_keyed(request, named_purchase(id), true).await
    }

    /// Sends `request` as `purchase`: a purchase carried over another transport than HTTP (an MCP tool call,
    /// bridged to the agent as an HTTP request), keyed, counted against a host and paid for the resource its
    /// offer names, whatever the bridge's own URL. Otherwise as [`Agent::send`].
    #[tracing::instrument(skip_all, fields(purchase = %purchase.key))]
    pub async fn send_for(&self, request: reqwest::Request, purchase: &Purchase) -> Result<Paid, AgentError> {
        self.send_keyed_as(request, purchase.key.clone(), false, Some(purchase)).await
    }

    async fn send_keyed(&self, request: reqwest::Request, key: String, once: bool) -> Result<Paid, AgentError> {
        self.send_keyed_as(request, key, once, None).await
    }

    async fn send_keyed_as(
        &self,
        request: reqwest::Request,
        key: String,
        once: bool,
        purchase: Option<&Purchase>,
    ) -> Result<Paid, AgentError> {
        let retry = request.try_clone().ok_or(AgentError::NotRetryable)?;
        let _purchase = self.lock_purchase(&key).await;
        if let Some(paid) = self.resume(&key, &retry).await? {
            return Ok(paid);
        }
        if once && let Some(spend) = self.record.last_settled(&key)? {
            tracing::info!(spend = spend.id, "this purchase was settled: asking for its answer again");
            return match self.deliver(&key, Some(spend.id), spend.payment, &retry, false).await? {
                doubt::Delivered::Paid(paid) => Ok(*paid),
                doubt::Delivered::Refused(reason) => Err(AgentError::Refused(reason)),
                doubt::Delivered::Void(code) => Err(AgentError::Refused(ErrorReason::Other(code.into()))),
            };
        }

        let sent = request.headers().clone();
        let response = answer::from_v1(self.http.execute(request).await?).await?;
        if response.status() != reqwest::StatusCode::PAYMENT_REQUIRED {
            return Ok(Paid { response, receipt: None, payment: None, spend: None, state: None, sent });
        }
        let mut offer: PaymentRequired = response
            .headers()
            .get(PAYMENT_REQUIRED)
            .ok_or_else(|| AgentError::NoOffer("no PAYMENT-REQUIRED header".into()))
            .and_then(|v| v.to_str().map_err(|e| AgentError::NoOffer(e.to_string())))
            .and_then(|v| decode_header(v).map_err(|e| AgentError::NoOffer(e.to_string())))?;
        if offer.x402_version == X402_V1 {
            // x402 v1 has `exact` over EIP-3009 only.
            offer.accepts.retain(|o| o.scheme == "exact" && !exact_permit2::applies(o));
        }

        let (url, host) = match purchase {
            Some(purchase) => (offer.resource.url.clone(), purchase.host.clone()),
            None => (retry.url().to_string(), retry.url().host_str().unwrap_or_default().to_owned()),
        };
        let now = self.ambient.now();
        for option in &offer.accepts {
            self.bind_network(&option.network).await?;
        }
        self.check_channels(&offer).await?;
        let balances = self.balances(&offer).await;
        let permit2 = self.permit2_states(&offer).await;
        let (id, payment) = self.pay(&offer, &url, &host, &key, now, &balances, &permit2)?;
        let mut delivered = self.deliver(&key, id, payment, &retry, true).await?;
        // The server's corrective 402 for a `batch-settlement` voucher: the record now follows the server's
        // count (when it could), so pay once more from it.
        if matches!(&delivered, doubt::Delivered::Refused(ErrorReason::BatchCumulativeAmountMismatch)) {
            let (id, payment) = self.pay(&offer, &url, &host, &key, self.ambient.now(), &balances, &permit2)?;
            delivered = self.deliver(&key, id, payment, &retry, true).await?;
        }
        match delivered {
            doubt::Delivered::Paid(paid) => Ok(*paid),
            doubt::Delivered::Refused(reason) => Err(AgentError::Refused(reason)),
            doubt::Delivered::Void(code) => Err(AgentError::Refused(ErrorReason::Other(code.into()))),
        }
    }

    /// Checks, once per process, that the spend record's payments on `network` were made on the chain the
    /// agent reaches for it (where it reaches one): a reset chain with the same id is refused
    /// ([`RecordError::OtherChain`]), as its record would count and resolve payments that chain never saw.
    pub(crate) async fn bind_network(&self, network: &str) -> Result<(), AgentError> {
        let Some(funds) = &self.funds else { return Ok(()) };
        if self.bound_networks.lock().unwrap_or_else(PoisonError::into_inner).contains(network) {
            return Ok(());
        }
        let Some(genesis) = funds.genesis(network).await else { return Ok(()) };
        self.record.bind_network(network, genesis)?;
        self.bound_networks.lock().unwrap_or_else(PoisonError::into_inner).insert(network.to_owned());
        Ok(())
    }

    /// Waits for the purchase's turn: one request at a time per purchase.
    async fn lock_purchase(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut purchases = self.purchases.lock().unwrap_or_else(PoisonError::into_inner);
            purchases.retain(|_, lock| Arc::strong_count(lock) > 1);
            purchases.entry(key.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
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

    /// What the agent's chains say of its allowance to Permit2 and EIP-2612 nonce, for each Permit2 option's
    /// token (`exact` over Permit2, `upto`).
    async fn permit2_states(&self, offer: &PaymentRequired) -> Permit2States {
        let mut states = Permit2States::new();
        let Some(funds) = &self.funds else { return states };
        for option in offer.accepts.iter().filter(|o| exact_permit2::applies(o) || Scheme::of(o) == Ok(Scheme::Upto)) {
            let Ok(asset) = option.asset.parse::<Address>() else { continue };
            let key = (option.network.clone(), asset);
            if states.contains_key(&key) {
                continue;
            }
            let (allowance, nonce) = tokio::join!(
                funds.permit2_allowance(&option.network, asset, self.address()),
                funds.permit_nonce(&option.network, asset, self.address()),
            );
            states.insert(key, (allowance, nonce));
        }
        states
    }

    /// Signs an `exact` over Permit2 payment, with what approving Permit2 needs ([`Agent::approved`]).
    fn pay_exact_permit2(
        &self,
        offer: &PaymentRequired,
        option: &PaymentRequirements,
        now: u64,
        states: &Permit2States,
    ) -> Result<Option<PaymentPayload>, AgentError> {
        let sign = |e: &dyn std::fmt::Display| AgentError::Sign(e.to_string());
        let terms = exact_permit2::ExactPermit2Terms::from_requirements(option).map_err(|e| sign(&e))?;
        let payment = exact_permit2::pay(
            option,
            Some(offer.resource.clone()),
            &self.signer,
            self.address(),
            now,
            quittance_x402::permit2::nonce_from(self.ambient.random().0),
        )
        .map_err(|e| sign(&e))?;
        self.approved(offer, option, now, states, (terms.asset, terms.chain_id, terms.amount), payment)
    }

    /// Signs an `upto` payment of the maximum, with what approving Permit2 needs ([`Agent::approved`]).
    fn pay_upto(
        &self,
        offer: &PaymentRequired,
        option: &PaymentRequirements,
        now: u64,
        states: &Permit2States,
    ) -> Result<Option<PaymentPayload>, AgentError> {
        let sign = |e: &dyn std::fmt::Display| AgentError::Sign(e.to_string());
        let terms = upto::UptoTerms::from_requirements(option).map_err(|e| sign(&e))?;
        let nonce = U256::from_be_bytes(self.ambient.random().0);
        let payment = upto::pay(option, Some(offer.resource.clone()), &self.signer, self.address(), now, nonce)
            .map_err(|e| sign(&e))?;
        self.approved(offer, option, now, states, (terms.asset, terms.chain_id, terms.amount), payment)
    }

    /// A signed Permit2 payment of `amount` of `asset` as it can be sent: alone when the wallet approved
    /// Permit2 for enough (or when no chain tells: the facilitator then says), with an EIP-2612 permit to
    /// Permit2 along when it did not and the server offers `eip2612GasSponsoring`. `None` when it can do
    /// neither.
    fn approved(
        &self,
        offer: &PaymentRequired,
        option: &PaymentRequirements,
        now: u64,
        states: &Permit2States,
        (asset, chain_id, amount): (Address, u64, U256),
        mut payment: PaymentPayload,
    ) -> Result<Option<PaymentPayload>, AgentError> {
        let (allowance, nonce) = states.get(&(option.network.clone(), asset)).copied().unwrap_or_default();
        match allowance {
            None => return Ok(Some(payment)),
            Some(allowance) if allowance >= amount => return Ok(Some(payment)),
            Some(_) => {}
        }
        let (Some(nonce), Some(name), Some(version), true) = (
            nonce,
            option.extra_str("name"),
            option.extra_str("version"),
            eip2612_gas_sponsoring::declared(offer.extensions.as_ref()),
        ) else {
            return Ok(None);
        };
        let deadline = U256::from(now.saturating_add(option.max_timeout_seconds));
        let info = eip2612_gas_sponsoring::sign(
            &self.signer,
            self.address(),
            asset,
            name,
            version,
            chain_id,
            nonce,
            deadline,
            amount,
        )
        .map_err(|e| AgentError::Sign(e.to_string()))?;
        eip2612_gas_sponsoring::attach(&mut payment, &info);
        Ok(Some(payment))
    }

    /// Adds a payment identifier to `payment` when the server declared the extension (x402
    /// `payment-identifier`): recorded with the payment and sent with it every time, so that a server keeping
    /// answers by id answers a retry from its store.
    fn identify(&self, offer: &PaymentRequired, payment: &mut PaymentPayload) -> Result<(), AgentError> {
        if !payment_identifier::declared(offer.extensions.as_ref()) {
            return Ok(());
        }
        let random = self.ambient.random();
        let id = format!("pay_{}", alloy::hex::encode(&random[..16]));
        payment_identifier::append(offer.extensions.as_ref(), &mut payment.extensions, &id)
            .map_err(|e| AgentError::Sign(e.to_string()))
    }

    /// Chooses, checks against the policy and the balances known, signs and records a payment for `offer`.
    #[allow(clippy::too_many_arguments)]
    fn pay(
        &self,
        offer: &PaymentRequired,
        url: &str,
        host: &str,
        key: &str,
        now: u64,
        balances: &Balances,
        permit2: &Permit2States,
    ) -> Result<(Option<i64>, PaymentPayload), AgentError> {
        let mut refusals = Vec::new();
        let mut unapproved = None;
        // Why the last option the policy allowed could not be signed.
        let mut unsigned = None;
        let mut options: Vec<&PaymentRequirements> = offer.accepts.iter().collect();
        // Prefer a channel when the policy opens them (no chain round trip per request), then the invoice
        // (its payment leaves a proof in the registry), then `exact`, then an invoice paid from another
        // network (slower: a CCIP message).
        options.sort_by_key(|o| match Scheme::of(o) {
            Ok(Scheme::Channel | Scheme::BatchSettlement) => 0,
            Ok(Scheme::Invoice) => 1,
            Ok(Scheme::CrossChainInvoice) => 3,
            _ => 2,
        });
        for option in options {
            if let Err(refusal) = funded(option, balances) {
                refusals.push(refusal);
                continue;
            }
            match self.allowed(option, host, now) {
                Ok((_, amount, spent))
                    if matches!(Scheme::of(option), Ok(Scheme::Channel | Scheme::BatchSettlement)) =>
                {
                    let resource = quittance_x402::ResourceInfo { url: url.into(), ..offer.resource.clone() };
                    let paid = if Scheme::of(option) == Ok(Scheme::BatchSettlement) {
                        self.pay_batch(offer, option, &resource, host, key, amount, spent, now)
                    } else {
                        self.pay_channel(offer, option, &resource, host, key, amount, spent, now)
                    };
                    match paid {
                        Ok(paid) => return Ok(paid),
                        Err(channels::Decline::Policy(refusal)) => refusals.push(refusal),
                        Err(channels::Decline::Failed(err)) => return Err(err),
                    }
                }
                Ok((asset, amount, _)) => {
                    let resource = quittance_x402::ResourceInfo { url: url.into(), ..offer.resource.clone() };
                    let payment = match Scheme::of(option) {
                        Ok(Scheme::Exact) if exact_permit2::applies(option) => {
                            match self.pay_exact_permit2(offer, option, now, permit2) {
                                Ok(Some(payment)) => Ok(payment),
                                Ok(None) => {
                                    unapproved = Some((option.network.clone(), option.asset.clone()));
                                    continue;
                                }
                                Err(err) => Err(err),
                            }
                        }
                        Ok(Scheme::Invoice) => invoice::pay(option, &resource, &self.signer, self.address(), now)
                            .map_err(|e| AgentError::Sign(e.to_string())),
                        Ok(Scheme::CrossChainInvoice) => {
                            crosschain::pay(option, &resource, &self.signer, self.address(), now)
                                .map_err(|e| AgentError::Sign(e.to_string()))
                        }
                        // The permit is for the maximum; the policy counted it, the receipt says what was used.
                        Ok(Scheme::Upto) => match self.pay_upto(offer, option, now, permit2) {
                            Ok(Some(payment)) => Ok(payment),
                            Ok(None) => {
                                unapproved = Some((option.network.clone(), option.asset.clone()));
                                continue;
                            }
                            Err(err) => Err(err),
                        },
                        // The maximum is authorized into escrow; the policy counted it, whatever is captured.
                        Ok(Scheme::AuthCapture) => {
                            auth_capture::pay(option, &self.signer, self.address(), now, self.ambient.random())
                                .map(|payload| PaymentPayload {
                                    x402_version: quittance_x402::X402_V2,
                                    resource: Some(offer.resource.clone()),
                                    accepted: option.clone(),
                                    payload,
                                    extensions: None,
                                })
                                .map_err(|e| AgentError::Sign(e.to_string()))
                        }
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
                    let mut payment = match payment {
                        Ok(payment) => payment,
                        Err(err) => {
                            tracing::warn!(%err, scheme = %option.scheme, "option not payable");
                            unsigned = Some(err);
                            continue;
                        }
                    };
                    self.identify(offer, &mut payment)?;
                    // Sent back in the version of the offer (a v1 server gets it in `X-PAYMENT`).
                    payment.x402_version = offer.x402_version;
                    let valid_before = valid_before(&payment).unwrap_or(now);
                    let id = self.record.signed(key, host, asset, amount, &payment, valid_before, now)?;
                    return Ok((Some(id), payment));
                }
                Err(refusal) => refusals.push(refusal),
            }
        }
        if let Some((network, asset)) = unapproved {
            return Err(AgentError::Permit2Approval {
                network,
                asset,
                permit2: quittance_x402::permit2::PERMIT2_ADDRESS,
            });
        }
        match unsigned {
            Some(err) if refusals.is_empty() => Err(err),
            _ => Err(AgentError::Policy(refusals)),
        }
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
        let scheme = Scheme::of(option);
        let through_channel =
            matches!(scheme, Ok(Scheme::Channel | Scheme::BatchSettlement)) && self.policy.channel_requests > 0;
        let one_payment =
            matches!(scheme, Ok(Scheme::Exact | Scheme::Invoice | Scheme::CrossChainInvoice | Scheme::Upto));
        let one_payment = one_payment || scheme == Ok(Scheme::AuthCapture);
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

/// A purchase made over another transport than HTTP ([`Agent::send_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    /// The spend record's key of the purchase (the same key is the same purchase, as a method and URL are).
    pub key: String,
    /// The host the policy counts it against (its `hosts` and per-host budget).
    pub host: String,
}

/// The purchase a request makes, as the spend record keys it: its method and URL (`GET https://…`).
pub fn purchase(method: &reqwest::Method, url: &reqwest::Url) -> String {
    format!("{method} {url}")
}

/// The record's key of a purchase the caller names ([`Agent::send_purchase`]).
pub fn named_purchase(id: &str) -> String {
    format!("purchase:{id}")
}

/// Until when a payment can still settle: its authorization's `validBefore`, or for a cross-chain payment
/// (which may still be in flight after the authorization was used) its invoice's deadline.
fn valid_before(payment: &PaymentPayload) -> Option<u64> {
    if Scheme::of(&payment.accepted) == Ok(Scheme::CrossChainInvoice) {
        let terms = crosschain::CrossChainTerms::from_requirements(&payment.accepted).ok()?;
        return terms.invoice.invoice.deadline.try_into().ok();
    }
    if Scheme::of(&payment.accepted) == Ok(Scheme::Upto) {
        let permit: upto::UptoPayload = serde_json::from_value(payment.payload.clone()).ok()?;
        return permit.permit2_authorization.deadline.try_into().ok();
    }
    if Scheme::of(&payment.accepted) == Ok(Scheme::AuthCapture) {
        let held: auth_capture::Payload = serde_json::from_value(payment.payload.clone()).ok()?;
        return held.authorization.valid_before.try_into().ok();
    }
    if exact_permit2::applies(&payment.accepted) {
        let permit: exact_permit2::ExactPermit2Payload = serde_json::from_value(payment.payload.clone()).ok()?;
        return permit.permit2_authorization.deadline.try_into().ok();
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
