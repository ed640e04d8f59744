//! Payments whose outcome the agent does not know: sending a payment and reading its answer, sending it
//! again when the answer is lost, asking the chain, and resolving what a purchase (or a restart) left
//! unresolved before anything new is signed.

use crate::{
    Agent, AgentError, MAX_RETRY_AFTER, Paid, RESENDS, REUSE_MARGIN,
    answer::{self, Verdict},
    channels,
    funds::{ChannelSeen, Mark, Seen},
    record::{OpenChannel, Spend, SpendState},
};
use alloy::primitives::{Address, U256};
use quittance_x402::{
    ErrorReason, PAYMENT_SIGNATURE, PaymentPayload, PaymentPayloadV1, Scheme, X_PAYMENT, X402_V1, batch_settlement,
    channel, crosschain, encode_header, exact, exact_permit2, invoice, payment_identifier, upto,
};
use std::time::Duration;

/// What became of a payment sent.
#[derive(Debug)]
pub(crate) enum Delivered {
    /// The server answered it with something else than a 402: served (settled), or an answer that leaves it
    /// in doubt (a failed handler, an unexpected status), as [`Paid::state`] says.
    Paid(Box<Paid>),
    /// The server refused it, proving nothing was taken: a new payment may be signed for the purchase.
    Refused(ErrorReason),
    /// The chain says it was never taken and can no longer be (why, as a code): a new payment may be signed.
    Void(&'static str),
}

/// What the chain said of a spend, once recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChainVerdict {
    /// Taken: the spend is charged.
    Charged,
    /// Never taken, and it can no longer be (why, as a code): the spend is refused.
    Refused(&'static str),
    /// Not taken yet, and it still could be.
    Open,
    /// The agent has no chain for its network, or could not read it.
    Silent,
}

/// What an unresolved payment of the record became when the agent resolved it.
#[derive(Debug)]
pub struct Resolution {
    /// The spend.
    pub spend: i64,
    /// Its purchase (method and URL).
    pub request: String,
    /// Where it stands now.
    pub state: SpendState,
    /// What happened, in a few words.
    pub detail: String,
    /// The server's answer, when the payment was sent again and answered (for a settled one: the purchase,
    /// served).
    pub paid: Option<Paid>,
}

/// Codes recorded for payments the chain resolved.
const EXPIRED_UNUSED: &str = "expired_unused";
const VOID_ON_CHAIN: &str = "void_on_chain";

impl Agent {
    /// Resolves every unresolved payment of the record, oldest first: one still valid (or charged) is sent
    /// again when its purchase is a `GET` or `HEAD` (as a bare request: the original headers are not
    /// recorded), and the chain is read where the agent has one. What stays unresolved is reported, not
    /// failed: its purchase stays blocked until it is resolved (see [`AgentError::InDoubt`]).
    pub async fn resolve_in_doubt(&self) -> Result<Vec<Resolution>, AgentError> {
        let mut resolutions = Vec::new();
        for spend in self.record.all_unresolved()? {
            let _purchase = self.lock_purchase(&spend.request).await;
            // Another request for the purchase may have resolved it meanwhile.
            let Some(spend) = self.record.spend(spend.id)?.filter(|s| !s.state.is_resolved()) else { continue };
            let (id, request) = (spend.id, spend.request.clone());
            let resend = self.bare_request(&request);
            let (detail, paid) = match self.resolve(spend, resend.as_ref()).await {
                Ok(Resolved::Answered(paid)) => {
                    (format!("sent again: answered {}", paid.response.status()), Some(*paid))
                }
                Ok(Resolved::Refused(reason)) => (format!("refused, nothing was taken ({reason})"), None),
                Ok(Resolved::Void(code)) => (format!("the chain says nothing was taken ({code})"), None),
                Err(AgentError::Record(err)) => return Err(err.into()),
                Err(err) => (err.to_string(), None),
            };
            let state = self.record.spend(id)?.map(|s| s.state).unwrap_or(SpendState::InDoubt);
            tracing::info!(spend = id, %state, %detail, "resolved what the record held unresolved");
            resolutions.push(Resolution { spend: id, request, state, detail, paid });
        }
        Ok(resolutions)
    }

    /// The purchase `key`'s request again, when it can be rebuilt from the key alone (`GET`, `HEAD`).
    fn bare_request(&self, key: &str) -> Option<reqwest::Request> {
        let (method, url) = key.split_once(' ')?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).ok()?;
        if method != reqwest::Method::GET && method != reqwest::Method::HEAD {
            return None;
        }
        self.http.request(method, url).build().ok()
    }

    /// Resolves the unresolved payments of purchase `key` with `request`, oldest first. Returns the server's
    /// answer to one sent again, or its refusal (as a first payment's refusal is returned: the next request
    /// pays anew); `None` when the chain says none was taken (a new payment may be signed now); an error
    /// while one stays unresolved.
    pub(crate) async fn resume(&self, key: &str, request: &reqwest::Request) -> Result<Option<Paid>, AgentError> {
        for spend in self.record.unresolved(key)? {
            match self.resolve(spend, Some(request)).await? {
                Resolved::Answered(paid) => return Ok(Some(*paid)),
                Resolved::Refused(reason) => return Err(AgentError::Refused(reason)),
                Resolved::Void(code) => tracing::info!(code, "an earlier payment of this purchase took nothing"),
            }
        }
        Ok(None)
    }

    /// Resolves one unresolved payment: sent again (with `request`) while it is valid or charged, and read on
    /// chain when it is not, or when there is nothing to send it with.
    async fn resolve(&self, mut spend: Spend, request: Option<&reqwest::Request>) -> Result<Resolved, AgentError> {
        let now = self.ambient.now();
        let sendable = |s: &Spend| s.state == SpendState::Charged || s.valid_before > now.saturating_add(REUSE_MARGIN);
        let mut chain = None;
        if !sendable(&spend) || request.is_none() {
            let verdict = self.ask_chain(spend.id, &spend.payment).await?;
            match verdict {
                ChainVerdict::Refused(code) => return Ok(Resolved::Void(code)),
                ChainVerdict::Charged => spend.state = SpendState::Charged,
                ChainVerdict::Open | ChainVerdict::Silent => {}
            }
            chain = Some(verdict);
        }
        match request {
            Some(request) if sendable(&spend) => {
                tracing::info!(spend = spend.id, state = %spend.state, "sending this purchase's unresolved payment again");
                Ok(match self.deliver(&spend.request, Some(spend.id), spend.payment, request, false).await? {
                    Delivered::Paid(paid) => Resolved::Answered(paid),
                    Delivered::Refused(reason) => Resolved::Refused(reason),
                    Delivered::Void(code) => Resolved::Void(code),
                })
            }
            _ => Err(self.unresolved(spend.id, chain == Some(ChainVerdict::Silent))?),
        }
    }

    /// Sends `payment` (spend `id`, if recorded) with `request` until its outcome is known or the agent's
    /// patience runs out; `first` when it was never sent before. Records what each answer says.
    pub(crate) async fn deliver(
        &self,
        key: &str,
        id: Option<i64>,
        payment: PaymentPayload,
        request: &reqwest::Request,
        first: bool,
    ) -> Result<Delivered, AgentError> {
        // A payment for a v1 server's offer goes in `X-PAYMENT`, in v1 form.
        let (name, header) = if payment.x402_version == X402_V1 {
            let v1 = PaymentPayloadV1::from_v2(&payment).map_err(|e| AgentError::Sign(e.to_string()))?;
            (X_PAYMENT, encode_header(&v1))
        } else {
            (PAYMENT_SIGNATURE, encode_header(&payment))
        };
        let header: reqwest::header::HeaderValue =
            header.parse().map_err(|_| AgentError::Sign("the payment header".into()))?;
        let started = tokio::time::Instant::now();
        let (mut first, mut resends) = (first, 0);
        loop {
            let mut attempt = request.try_clone().ok_or(AgentError::NotRetryable)?;
            attempt.headers_mut().insert(name, reqwest::header::HeaderValue::clone(&header));
            let sent = attempt.headers().clone();
            let answer = match self.http.execute(attempt).await {
                Ok(response) => answer::from_v1(response).await,
                Err(err) => Err(err),
            };
            let verdict = match &answer {
                Ok(response) => answer::classify(response, first),
                Err(err) => answer::classify_error(err),
            };
            first = false;
            let why = match verdict {
                Verdict::Settled(receipt) => {
                    if let Some(id) = id {
                        match &receipt {
                            Some(receipt) => self.record.settled(id, receipt)?,
                            None => self.record.served(id)?,
                        }
                    }
                    let response = answer?;
                    let state = id.map(|_| SpendState::Settled);
                    return Ok(Delivered::Paid(Box::new(Paid {
                        response,
                        receipt,
                        payment: Some(payment),
                        spend: id,
                        state,
                        sent,
                    })));
                }
                Verdict::Refused(reason) => {
                    if let Some(id) = id {
                        self.record.refused(id, reason.as_str())?;
                    }
                    self.refused_channel(&payment, &reason)?;
                    if reason == ErrorReason::BatchCumulativeAmountMismatch
                        && let Ok(response) = &answer
                    {
                        self.resync_batch(&payment, response.headers())?;
                    }
                    return Ok(Delivered::Refused(reason));
                }
                Verdict::Pending(wait) => {
                    if let Some(id) = id {
                        self.record.in_doubt(id, ErrorReason::SettlementPending.as_str())?;
                    }
                    let wait = wait.min(MAX_RETRY_AFTER);
                    if started.elapsed() + wait > self.pending_timeout {
                        tracing::warn!("the payment is still in flight; it stays in doubt for the next request");
                        return Err(AgentError::Refused(ErrorReason::SettlementPending));
                    }
                    tracing::info!(?wait, "the payment is in flight; asking again");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Verdict::Conflict => {
                    let payment_id = payment_identifier::payment_id(&payment, false).ok().flatten();
                    if let Some(id) = id {
                        self.record.in_doubt(id, "409 conflict: another payment under its payment id")?;
                    }
                    tracing::error!(?payment_id, "the server holds another payment under this payment id");
                    return Err(AgentError::PaymentIdConflict { spend: id, request: key.into(), id: payment_id });
                }
                Verdict::Charged(why) => {
                    if let Some(id) = id {
                        tracing::info!(spend = id, %why, "charged, and not served");
                        self.record.charged(id, &why)?;
                    }
                    (why, false)
                }
                Verdict::InDoubt { why, resend } => {
                    if let Some(id) = id {
                        self.record.in_doubt(id, &why)?;
                    }
                    if resend && resends < RESENDS {
                        resends += 1;
                        tracing::warn!(%why, resends, "the payment's answer was lost; sending the same payment again");
                        tokio::time::sleep(backoff(self.resend_delay, resends)).await;
                        continue;
                    }
                    (why, true)
                }
            };
            let (why, ask) = why;

            // In doubt, and sending it again did not tell: the chain may.
            let verdict = match id {
                Some(id) if ask => self.ask_chain(id, &payment).await?,
                Some(_) => ChainVerdict::Charged,
                None => ChainVerdict::Silent,
            };
            if let ChainVerdict::Refused(code) = verdict {
                return Ok(Delivered::Void(code));
            }
            return match (answer, id) {
                // An answer other than a 402 (a failed handler, a proxy's error): the caller gets it, with the
                // payment's state.
                (Ok(response), _) if response.status() != reqwest::StatusCode::PAYMENT_REQUIRED => {
                    let state = match id {
                        Some(id) => self.record.spend(id)?.map(|s| s.state),
                        None => None,
                    };
                    Ok(Delivered::Paid(Box::new(Paid {
                        response,
                        receipt: None,
                        payment: Some(payment),
                        spend: id,
                        state,
                        sent,
                    })))
                }
                (Ok(_), None) => Err(AgentError::Refused(ErrorReason::from_code(&why))),
                (Err(err), None) => Err(AgentError::Http(err)),
                (_, Some(id)) => Err(self.unresolved(id, verdict == ChainVerdict::Silent)?),
            };
        }
    }

    /// Asks the chain of the payment's network whether spend `id` was taken, and records its word: taken ⇒
    /// charged; never taken and no longer takeable (expired by the chain's clock, or a void invoice) ⇒
    /// refused.
    async fn ask_chain(&self, id: i64, payment: &PaymentPayload) -> Result<ChainVerdict, AgentError> {
        let (Some(funds), Some((network, mark, valid_before))) = (&self.funds, mark_of(payment)) else {
            return Ok(ChainVerdict::Silent);
        };
        self.bind_network(&network).await?;
        let Some(word) = funds.trace(&network, &mark).await else { return Ok(ChainVerdict::Silent) };
        Ok(match word.seen {
            Seen::Taken => {
                tracing::info!(spend = id, "the chain says the payment was taken");
                self.record.charged(id, "the chain says it was taken")?;
                ChainVerdict::Charged
            }
            Seen::Void => {
                self.record.refused(id, VOID_ON_CHAIN)?;
                self.refused_channel(payment, &ErrorReason::Other(VOID_ON_CHAIN.into()))?;
                ChainVerdict::Refused(VOID_ON_CHAIN)
            }
            Seen::Open if word.now >= valid_before => {
                tracing::info!(spend = id, "the chain says the payment expired unused");
                self.record.refused(id, EXPIRED_UNUSED)?;
                self.refused_channel(payment, &ErrorReason::Other(EXPIRED_UNUSED.into()))?;
                ChainVerdict::Refused(EXPIRED_UNUSED)
            }
            Seen::Open => ChainVerdict::Open,
        })
    }

    /// The error for spend `id`, still unresolved; `silent` when no chain could be asked.
    fn unresolved(&self, id: i64, silent: bool) -> Result<AgentError, AgentError> {
        let spend = self.record.spend(id)?.ok_or_else(|| {
            AgentError::Record(crate::RecordError::Storage(format!("spend {id} is not in the record")))
        })?;
        let network = &spend.payment.accepted.network;
        let now = self.ambient.now();
        let declare = format!("after checking, `quittance pay --resolve {id}=charged` (or `=refused`) settles it");
        let advice = match spend.state {
            SpendState::Charged => format!(
                "the chain says it was taken and no server has served it yet; the agent sends this same payment \
                 for the purchase, never a new one ({declare} so that the purchase may be paid anew)"
            ),
            _ if spend.valid_before > now => format!(
                "it is valid until {}: the next request for the purchase sends it again; nothing new is signed \
                 for it meanwhile{}",
                spend.valid_before,
                if silent {
                    format!(" (give the agent a chain for {network}, `--funds-rpc`, to read what became of it)")
                } else {
                    String::new()
                }
            ),
            _ if silent => format!(
                "it expired at {} and the agent has no chain for {network} to ask whether it was taken: give it \
                 one (`--funds-rpc {network}=<url>`), or, {declare}",
                spend.valid_before
            ),
            _ => format!(
                "it expired at {} by the agent's clock but not yet by the chain's; try again shortly",
                spend.valid_before
            ),
        };
        Ok(AgentError::InDoubt {
            spend: id,
            request: spend.request,
            state: spend.state,
            reason: spend.note.unwrap_or_else(|| "no answer".into()),
            advice,
        })
    }

    /// What a refused payment changes in its channel: a closing channel is forgotten; a deposit that did
    /// not arrive is taken off what the record says the channel holds, so the next payment tops it up.
    fn refused_channel(&self, payment: &PaymentPayload, reason: &ErrorReason) -> Result<(), AgentError> {
        if Scheme::of(&payment.accepted) == Ok(Scheme::BatchSettlement) {
            return self.refused_batch(payment);
        }
        let Some(key) = channels::channel_key(&payment.accepted) else { return Ok(()) };
        if *reason == ErrorReason::ChannelClosing {
            return Ok(self.record.forget_channel(&key)?);
        }
        let Some(open) = self.record.channel(&key)? else { return Ok(()) };
        let deposited = if *reason == ErrorReason::ChannelInsufficientDeposit {
            0
        } else {
            let payload: Option<channel::ChannelPayload> = serde_json::from_value(payment.payload.clone()).ok();
            let Some(deposit) = payload.and_then(|p| p.deposit) else { return Ok(()) };
            open.deposited.saturating_sub(deposit.amount.parse().unwrap_or_default())
        };
        Ok(self.record.save_channel(&key, &OpenChannel { deposited, ..open })?)
    }

    /// Checks the recorded channels of `offer`'s channel options against their chain, once per process: a
    /// channel the chain does not know (the chain was reset, the contract is not there), with no deposit of
    /// it still unresolved, or one closing, is forgotten, so the next payment opens another.
    pub(crate) async fn check_channels(&self, offer: &quittance_x402::PaymentRequired) -> Result<(), AgentError> {
        let Some(funds) = self.funds.as_ref().filter(|_| self.policy.channel_requests > 0) else { return Ok(()) };
        for option in offer.accepts.iter().filter(|o| Scheme::of(o) == Ok(Scheme::Channel)) {
            let (Some(key), Ok(terms)) =
                (channels::channel_key(option), channel::ChannelTerms::from_requirements(option))
            else {
                continue;
            };
            let first_use = self.checked_channels.lock().map(|mut checked| checked.insert(key.clone())).unwrap_or(true);
            if !first_use {
                continue;
            }
            let Some(open) = self.record.channel(&key)? else { continue };
            let id = open.config.id(terms.token.chain_id, terms.contract);
            match funds.channel(&option.network, terms.contract, id).await {
                Some(ChannelSeen::Unknown) if !self.deposit_unresolved(&key)? => {
                    tracing::warn!(%id, "the chain does not know the recorded channel; forgetting it");
                    self.record.forget_channel(&key)?;
                }
                Some(ChannelSeen::Closing) => {
                    tracing::info!(%id, "the recorded channel is closing; forgetting it");
                    self.record.forget_channel(&key)?;
                }
                Some(_) => {}
                None => {
                    // Cannot tell now: look again next time.
                    if let Ok(mut checked) = self.checked_channels.lock() {
                        checked.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a deposit into the channel under `key` is still unresolved (it may yet arrive).
    fn deposit_unresolved(&self, key: &str) -> Result<bool, AgentError> {
        Ok(self.record.all_unresolved()?.iter().any(|spend| {
            channels::channel_key(&spend.payment.accepted).as_deref() == Some(key)
                && serde_json::from_value::<channel::ChannelPayload>(spend.payment.payload.clone())
                    .is_ok_and(|p| p.deposit.is_some())
        }))
    }
}

/// How an unresolved payment was resolved.
#[derive(Debug)]
enum Resolved {
    /// Sent again and answered (settled, or an answer that leaves it in doubt).
    Answered(Box<Paid>),
    /// The server refused it: nothing was taken.
    Refused(ErrorReason),
    /// The chain says it was never taken and can no longer be.
    Void(&'static str),
}

/// Where `payment` leaves its mark on chain: its network, the mark, and until when the mark can be taken.
pub(crate) fn mark_of(payment: &PaymentPayload) -> Option<(String, Mark, u64)> {
    let accepted = &payment.accepted;
    let payload = payment.payload.clone();
    let (mark, valid_before): (Mark, U256) = match Scheme::of(accepted).ok()? {
        // A deposit's mark is its EIP-3009 nonce in the token (bound to the channel and its salt); a voucher
        // moves nothing.
        Scheme::BatchSettlement => {
            let terms = batch_settlement::BatchTerms::from_requirements(accepted).ok()?;
            let signed: batch_settlement::BatchSettlementPayload = serde_json::from_value(payload).ok()?;
            let deposit = signed.deposit()?;
            let batch_settlement::DepositAuthorization::Erc3009Authorization(a) = &deposit.authorization else {
                return None;
            };
            let channel_id = signed.channel_config().id(terms.chain_id);
            let nonce = batch_settlement::deposit_nonce(channel_id, a.salt);
            (
                Mark::Authorization { token: terms.asset, authorizer: signed.channel_config().payer, nonce },
                a.valid_before,
            )
        }
        // The collector redeems the EIP-3009 authorization: once used, the maximum left the payer (held in
        // escrow, captured or voided back later; the record keeps the maximum charged).
        Scheme::AuthCapture => {
            let signed: quittance_x402::auth_capture::Payload = serde_json::from_value(payload).ok()?;
            let a = signed.authorization;
            let token: Address = accepted.asset.parse().ok()?;
            (Mark::Authorization { token, authorizer: a.from, nonce: a.nonce }, a.valid_before)
        }
        Scheme::Exact if exact_permit2::applies(accepted) => {
            let signed: exact_permit2::ExactPermit2Payload = serde_json::from_value(payload).ok()?;
            let a = signed.permit2_authorization;
            (Mark::Permit2 { owner: a.from, nonce: a.nonce }, a.deadline)
        }
        Scheme::Exact => {
            let signed: exact::ExactEvmPayload = serde_json::from_value(payload).ok()?;
            let a = signed.authorization;
            let token: Address = accepted.asset.parse().ok()?;
            (Mark::Authorization { token, authorizer: a.from, nonce: a.nonce }, a.valid_before)
        }
        Scheme::Invoice => {
            let terms = invoice::InvoiceTerms::from_requirements(accepted).ok()?;
            let signed: exact::ExactEvmPayload = serde_json::from_value(payload).ok()?;
            let a = signed.authorization;
            (Mark::Invoice { registry: terms.registry, id: terms.invoice_id, payer: a.from }, a.valid_before)
        }
        Scheme::CrossChainInvoice => {
            let signed: crosschain::CrossChainPayload = serde_json::from_value(payload).ok()?;
            let a = signed.authorization;
            let token: Address = accepted.asset.parse().ok()?;
            (Mark::Authorization { token, authorizer: a.from, nonce: a.nonce }, a.valid_before)
        }
        Scheme::Channel => {
            let terms = channel::ChannelTerms::from_requirements(accepted).ok()?;
            let signed: channel::ChannelPayload = serde_json::from_value(payload).ok()?;
            let deposit = signed.deposit?;
            let id = signed.config.id(terms.token.chain_id, terms.contract);
            let nonce = channel::deposit_nonce(id, deposit.deposit_salt);
            let valid_before = U256::from_str_radix(&deposit.valid_before, 10).ok()?;
            (Mark::Authorization { token: terms.token.asset, authorizer: signed.config.payer, nonce }, valid_before)
        }
        // Settled for less than the maximum, an `upto` payment still reads as taken: the record keeps the
        // maximum charged, which is never less than what moved.
        Scheme::Upto => {
            let signed: upto::UptoPayload = serde_json::from_value(payload).ok()?;
            let a = signed.permit2_authorization;
            (Mark::Permit2 { owner: a.from, nonce: a.nonce }, a.deadline)
        }
    };
    Some((accepted.network.clone(), mark, valid_before.try_into().unwrap_or(u64::MAX)))
}

/// The delay before the `n`th immediate re-send (1-based), from the first delay.
fn backoff(first: Duration, n: u32) -> Duration {
    first.saturating_mul(2u32.saturating_pow(n.saturating_sub(1)))
}
