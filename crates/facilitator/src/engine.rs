//! The settlement engine, the same for every scheme: claim → check → sign → record → broadcast → conclude,
//! and a reconciler that concludes whatever is left unfinished.
//!
//! A settlement belongs to the engine from the moment it is claimed in the ledger, not to the request that
//! asked for it: it runs in a task of its own, so a client that disconnects, or a caller that stops waiting,
//! changes nothing. The caller waits a bounded time and otherwise gets `settlement_pending`.
//!
//! Once a transaction is signed it is written to the ledger before it is broadcast, and from then on the
//! settlement is never dropped: it is concluded from the transaction's receipt; broadcast again, byte for
//! byte, while the payer's authorization is still valid; and once it has expired, its nonce is taken by a
//! zero-value transaction to the facilitator itself (a filler), so that later settlements never wait behind
//! a gap and nothing that can only revert is ever sent again. The nonce lock is held only while a
//! transaction is signed and recorded, never across a network round trip.

use crate::{
    Entry, Facilitator, FacilitatorError, Submission,
    ledger::SignedTx,
    verify::{Refusal, Simulation},
    x402_invoice,
};
use alloy::{
    consensus::{SignableTransaction, Transaction, TxEip1559, TxEnvelope},
    eips::{Decodable2718, Encodable2718},
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, Log, TxKind, U256},
    sol_types::{SolCall, SolEvent},
};
use quittance_bindings::{CrossChainInvoicePayer, IERC3009, InvoiceRegistry, TestStablecoin, VoucherChannels};
use quittance_chain::{Call, Chain, ChainError, Fees, Receipt};
use quittance_x402::{
    ErrorReason, SettleResponse, VerifyRequest,
    receipt::{NO_INVOICE, PaymentReceipt, SignedReceipt},
    upto::UPTO_PROXY_ADDRESS,
};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// How settlement waits for the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettleConfig {
    /// How long a request waits for its settlement's receipt before answering `settlement_pending` (the
    /// settlement goes on, and a later request for the same payment gets its outcome).
    pub receipt_timeout: Duration,
    /// The longest wait between two requests for the receipt. Polling starts at a millisecond and doubles
    /// up to this, so a receipt that is ready at once (a local chain) costs a millisecond, not an interval.
    pub poll_interval: Duration,
    /// How long a cross-chain settlement waits for its message to settle the invoice on the destination
    /// before answering `settlement_pending` (the message goes on, and a later request for the same payment
    /// looks again).
    pub delivery_timeout: Duration,
}

impl Default for SettleConfig {
    fn default() -> Self {
        Self {
            receipt_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(100),
            delivery_timeout: Duration::from_secs(10),
        }
    }
}

/// A settlement is broadcast again only while its authorization stays valid this many seconds more: sent
/// closer to its expiry, it could be mined after it and revert.
const REBROADCAST_MARGIN: u64 = 5;

/// What a caller is told to wait before asking again about a settlement in flight, in seconds.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// Delays between polls: 1 ms, doubling up to a ceiling.
pub(crate) struct Backoff {
    next: Duration,
    ceiling: Duration,
}

impl Backoff {
    pub(crate) fn new(ceiling: Duration) -> Self {
        Self { next: Duration::from_millis(1).min(ceiling), ceiling }
    }

    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(self.ceiling);
    }
}

/// What a settlement transaction is and what its receipt must show.
#[derive(Debug, Clone)]
pub(crate) struct Settlement {
    pub(crate) payer: Address,
    /// The contract called: the token (`exact`), the registry (`invoice`), the channels contract or the
    /// `upto` proxy.
    pub(crate) to: Address,
    pub(crate) data: Bytes,
    /// The ether sent with it (a cross-chain payment's CCIP fee).
    pub(crate) value: U256,
    pub(crate) expected: Expected,
    /// Until when it can succeed: the payer's authorization's `validBefore` (`None`: no expiry).
    pub(crate) valid_before: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) enum Expected {
    /// An ERC-20 `Transfer(from, to, value)` from the token.
    Transfer { token: Address, from: Address, to: Address, value: U256 },
    /// The registry's `InvoicePaid(invoiceId, …)`.
    InvoicePaid { registry: Address, invoice_id: B256, payee: Address, token: Address, amount: U256 },
    /// The channels contract's `Deposited(channelId, …)`.
    Deposited { contract: Address, channel_id: B256 },
    /// A successful call of the channels contract (claims and their settlement).
    Call,
    /// The cross-chain sender's `PaymentSent(messageId, …, payer, …)`: the payment left the source chain.
    PaymentSent { contract: Address, payer: Address },
    /// An `auth-capture` operation: the collector's `PaymentCollected` of the authorization's nonce (`id`),
    /// or the escrow's event of the operation on the payment `id`, for `amount`.
    AuthCapture { contract: Address, operation: quittance_x402::auth_capture::Operation, id: B256, amount: U256 },
    /// Nothing moves and nothing is sent (an `upto` payment settled for 0): once the payment is checked
    /// again, simulation included, the settlement is concluded as a success without a transaction.
    Nothing,
}

/// What the engine checks again, now, before it signs.
pub(crate) enum Recheck {
    /// The payment, in full but for the simulation (the gas estimate is the simulation).
    Payment(Box<VerifyRequest>),
    /// Nothing more: the caller checked it (a voucher's deposit) or it is the facilitator's own (claims).
    Nothing,
}

/// Removes a key from the set of settlements this process is driving, however its task ends.
struct Driving<C: Chain + 'static> {
    facilitator: Facilitator<C>,
    key: B256,
}

impl<C: Chain + 'static> Drop for Driving<C> {
    fn drop(&mut self) {
        if let Ok(mut driven) = self.facilitator.core.driven.lock() {
            driven.remove(&self.key);
        }
    }
}

/// What one pass of the reconciler did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Settlements concluded from the chain.
    pub concluded: usize,
    /// Transactions broadcast again, byte for byte.
    pub rebroadcast: usize,
    /// Expired settlements whose nonce was given to a filler.
    pub filled: usize,
    /// Claims a stopped process left without a transaction, dropped.
    pub released: usize,
    /// Settlements still in flight.
    pub in_flight: usize,
}

impl<C: Chain + 'static> Facilitator<C> {
    /// Settles `settlement` at most once under ledger key `key`: a key already concluded returns its outcome,
    /// one in flight is awaited (up to [`SettleConfig::receipt_timeout`], then `settlement_pending`);
    /// otherwise this call claims it and hands it to a task of its own that checks it again, signs, records,
    /// broadcasts and concludes it, whatever happens to this call.
    pub(crate) async fn execute(&self, key: B256, settlement: Settlement, recheck: Recheck) -> SettleResponse {
        // A claim its owner dropped (it refused the payment) may be claimed again, once.
        for _ in 0..2 {
            match self.core.ledger.claim(key) {
                Ok(None) => return self.own(key, settlement, recheck).await,
                Ok(Some(Entry::Final(response))) => {
                    tracing::debug!(%key, "settled before: the first outcome");
                    return response;
                }
                Ok(Some(_)) => match self.await_outcome(key, &settlement).await {
                    Some(response) => return response,
                    None => continue,
                },
                Err(err) => {
                    tracing::error!(%err, "ledger failed");
                    return self.failure(ErrorReason::UnexpectedSettleError, Some(settlement.payer), None);
                }
            }
        }
        self.pending(settlement.payer, None)
    }

    /// Runs an owned claim in its own task and waits for it a bounded time.
    async fn own(&self, key: B256, settlement: Settlement, recheck: Recheck) -> SettleResponse {
        if let Ok(mut driven) = self.core.driven.lock() {
            driven.insert(key);
        }
        let payer = settlement.payer;
        let driving = Driving { facilitator: self.clone(), key };
        let task = tokio::spawn(async move {
            let outcome = driving.facilitator.drive(key, settlement, recheck).await;
            drop(driving);
            outcome
        });
        let patience = self.core.config.receipt_timeout + Duration::from_secs(5);
        match tokio::time::timeout(patience, task).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                tracing::error!(%err, %key, "a settlement task failed; the reconciler concludes it");
                self.pending(payer, self.submitted_hash(key))
            }
            Err(_) => self.pending(payer, self.submitted_hash(key)),
        }
    }

    /// The settlement's life, from claimed to concluded (or left to the reconciler, in flight).
    async fn drive(&self, key: B256, settlement: Settlement, recheck: Recheck) -> SettleResponse {
        let payer = Some(settlement.payer);
        if let Expected::Nothing = settlement.expected {
            return self.conclude_unsent(key, &settlement, &recheck).await;
        }
        let call =
            Call { from: self.core.address, to: settlement.to, data: settlement.data.clone(), value: settlement.value };
        let check = async {
            match &recheck {
                Recheck::Payment(request) => self.check(request, Simulation::LeaveToEstimate).await.map(|_| ()),
                Recheck::Nothing => Ok(()),
            }
        };
        let (checked, gas, fees) = tokio::join!(check, self.core.chain.estimate_gas(call), self.core.chain.fees());
        if let Err(refusal) = checked {
            self.release(key);
            return self.failure(refusal.reason, payer, None);
        }
        let (gas, fees) = match (gas, fees) {
            (Ok(gas), Ok(fees)) => (gas, fees),
            (Err(ChainError::Reverted { .. }), _) => {
                self.release(key);
                let explained = match &recheck {
                    Recheck::Payment(request) => self.check(request, Simulation::Run).await.err(),
                    Recheck::Nothing => None,
                };
                let reason = explained.map_or(ErrorReason::ExactEvmSimulationFailed, |r: Refusal| r.reason);
                tracing::warn!(%reason, "the settlement would fail");
                return self.failure(reason, payer, None);
            }
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(%err, "chain failed before the settlement was signed");
                self.release(key);
                return self.failure(ErrorReason::UnexpectedSettleError, payer, None);
            }
        };
        let tx = match self.sign_and_record(key, &settlement, gas, fees) {
            Ok(tx) => tx,
            Err(reason) => {
                self.release(key);
                return self.failure(reason, payer, None);
            }
        };
        // From here on the settlement is never dropped.
        if let Err(err) = self.core.chain.send_raw(tx.raw.clone()).await {
            tracing::warn!(%err, %key, tx = %tx.hash, "broadcast failed; the reconciler sends it again");
            return self.pending(settlement.payer, Some(tx.hash));
        }
        tracing::info!(%key, tx = %tx.hash, nonce = tx.nonce, "settlement sent");
        match self.wait_receipt(tx.hash).await {
            Some(receipt) => self.conclude(key, &settlement, &receipt),
            None => self.pending(settlement.payer, Some(tx.hash)),
        }
    }

    /// Signs the settlement with the next nonce and records it in the ledger, under the nonce lock (no
    /// network round trip inside).
    fn sign_and_record(
        &self,
        key: B256,
        settlement: &Settlement,
        gas: u64,
        fees: Fees,
    ) -> Result<SignedTx, ErrorReason> {
        let mut next = self.core.nonce.lock().map_err(|_| ErrorReason::UnexpectedSettleError)?;
        let tx = TxEip1559 {
            chain_id: self.core.chain_id,
            nonce: *next,
            gas_limit: gas.saturating_mul(6) / 5 + 10_000,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            to: TxKind::Call(settlement.to),
            value: settlement.value,
            access_list: Default::default(),
            input: settlement.data.clone(),
        };
        let signed = self.sign(tx)?;
        let submission = Submission { tx: signed.clone(), valid_before: settlement.valid_before, filler: None };
        if let Err(err) = self.core.ledger.submit(key, &submission) {
            tracing::error!(%err, "ledger failed; the transaction is not sent");
            return Err(ErrorReason::UnexpectedSettleError);
        }
        *next += 1;
        Ok(signed)
    }

    fn sign(&self, mut tx: TxEip1559) -> Result<SignedTx, ErrorReason> {
        let signature = self.core.signer.sign_transaction_sync(&mut tx).map_err(|err| {
            tracing::error!(%err, "signing failed");
            ErrorReason::UnexpectedSettleError
        })?;
        let nonce = tx.nonce;
        let envelope = TxEnvelope::from(tx.into_signed(signature));
        Ok(SignedTx { hash: *envelope.tx_hash(), raw: envelope.encoded_2718().into(), nonce })
    }

    /// A zero-value transaction to the facilitator itself at `original`'s nonce, paying enough more to
    /// replace it in a node's pool.
    async fn filler(&self, original: &SignedTx) -> Result<SignedTx, FacilitatorError> {
        let fees = self.core.chain.fees().await?;
        let (max_fee, priority) = TxEnvelope::decode_2718(&mut original.raw.as_ref())
            .map(|e| (e.max_fee_per_gas(), e.max_priority_fee_per_gas().unwrap_or_default()))
            .unwrap_or_default();
        let bump = |old: u128| old.saturating_mul(113) / 100 + 1;
        let tx = TxEip1559 {
            chain_id: self.core.chain_id,
            nonce: original.nonce,
            gas_limit: 21_000,
            max_fee_per_gas: fees.max_fee_per_gas.max(bump(max_fee)),
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas.max(bump(priority)),
            to: TxKind::Call(self.core.address),
            value: U256::ZERO,
            access_list: Default::default(),
            input: Bytes::new(),
        };
        self.sign(tx).map_err(|reason| FacilitatorError::Sign(reason.to_string()))
    }

    /// Concludes a settlement that sends nothing ([`Expected::Nothing`]): checked in full now, then recorded
    /// as settled with no transaction, so that the same payment is never settled again for another amount.
    async fn conclude_unsent(&self, key: B256, settlement: &Settlement, recheck: &Recheck) -> SettleResponse {
        let payer = Some(settlement.payer);
        if let Recheck::Payment(request) = recheck
            && let Err(refusal) = self.check(request, Simulation::Run).await
        {
            self.release(key);
            return self.failure(refusal.reason, payer, None);
        }
        let response = SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: payer.map(|p| p.to_checksum(None)),
            transaction: String::new(),
            network: self.core.network.clone(),
            amount: Some("0".into()),
            extra: None,
        };
        self.finish(key, response)
    }

    /// Polls for a receipt until the configured timeout; a chain that fails is asked again.
    async fn wait_receipt(&self, tx_hash: B256) -> Option<Receipt> {
        let deadline = tokio::time::Instant::now() + self.core.config.receipt_timeout;
        let mut backoff = Backoff::new(self.core.config.poll_interval);
        loop {
            match self.core.chain.receipt(tx_hash).await {
                Ok(Some(receipt)) => return Some(receipt),
                Ok(None) => {}
                Err(err) => tracing::debug!(%err, "receipt unavailable"),
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            backoff.wait().await;
        }
    }

    /// Waits for the outcome of a settlement another task (or process) owns: `None` if its owner dropped
    /// the claim (it refused the payment) and it may be claimed again.
    async fn await_outcome(&self, key: B256, settlement: &Settlement) -> Option<SettleResponse> {
        let deadline = tokio::time::Instant::now() + self.core.config.receipt_timeout;
        let mut backoff = Backoff::new(self.core.config.poll_interval);
        loop {
            let tx = match self.core.ledger.get(key) {
                Ok(Some(Entry::Final(response))) => return Some(response),
                Ok(Some(Entry::Submitted(submission))) => {
                    if let Ok(Some(receipt)) = self.core.chain.receipt(submission.tx.hash).await {
                        // What the recorded transaction must show: another request for the same payment
                        // may ask for another amount (`upto`), but only the recorded one was sent.
                        let sent = settlement_of_raw(&submission.tx.raw);
                        return Some(self.conclude(key, sent.as_ref().unwrap_or(settlement), &receipt));
                    }
                    Some(submission.tx.hash)
                }
                Ok(Some(Entry::Claimed)) => None,
                Ok(None) => return None,
                Err(err) => {
                    tracing::error!(%err, "ledger failed");
                    return Some(self.pending(settlement.payer, None));
                }
            };
            if tokio::time::Instant::now() >= deadline {
                return Some(self.pending(settlement.payer, tx));
            }
            backoff.wait().await;
        }
    }

    /// The recorded transaction of a settlement in flight.
    fn submitted_hash(&self, key: B256) -> Option<B256> {
        match self.core.ledger.get(key) {
            Ok(Some(Entry::Submitted(submission))) => Some(submission.tx.hash),
            _ => None,
        }
    }

    /// Concludes every unfinished settlement this process is not driving: from its receipt (or its filler's),
    /// else by broadcasting it again while it can still succeed, else by giving its nonce to a filler. Runs
    /// at start (where claims a stopped process left without a transaction are dropped: nothing was signed)
    /// and then periodically ([`Facilitator::spawn_reconciler`]).
    pub async fn reconcile(&self) -> Result<Reconciled, FacilitatorError> {
        self.reconcile_pass(false).await
    }

    /// One pass of the reconciler; `at_start`: nothing can be driving a claim yet, so claims without a
    /// transaction were left by a stopped process and are dropped (while running, a claim is its owner's
    /// until its task ends).
    pub(crate) async fn reconcile_pass(&self, at_start: bool) -> Result<Reconciled, FacilitatorError> {
        let mut done = Reconciled::default();
        let unfinished = self.core.ledger.unfinished()?;
        if unfinished.is_empty() {
            return Ok(done);
        }
        let now = self.core.chain.timestamp().await?;
        for (key, entry) in unfinished {
            if self.core.driven.lock().is_ok_and(|driven| driven.contains(&key)) {
                done.in_flight += 1;
                continue;
            }
            match entry {
                Entry::Claimed if at_start => {
                    self.core.ledger.release(key)?;
                    done.released += 1;
                }
                Entry::Claimed => done.in_flight += 1,
                Entry::Submitted(submission) => self.reconcile_one(key, submission, now, &mut done).await?,
                Entry::Final(_) => {}
            }
        }
        if done != Reconciled::default() {
            tracing::info!(?done, "reconciled unfinished settlements");
        }
        Ok(done)
    }

    async fn reconcile_one(
        &self,
        key: B256,
        submission: Submission,
        now: u64,
        done: &mut Reconciled,
    ) -> Result<(), FacilitatorError> {
        let Some(settlement) = settlement_of_raw(&submission.tx.raw) else {
            tracing::error!(%key, "an unfinished settlement holds a transaction this facilitator cannot read");
            done.in_flight += 1;
            return Ok(());
        };
        if let Some(receipt) = self.core.chain.receipt(submission.tx.hash).await? {
            self.conclude(key, &settlement, &receipt);
            done.concluded += 1;
            return Ok(());
        }
        if let Some(filler) = &submission.filler {
            if self.core.chain.receipt(filler.hash).await?.is_some() {
                self.finish(key, self.expired(settlement.payer));
                done.concluded += 1;
            } else {
                self.broadcast_again(key, &filler.raw).await;
                done.in_flight += 1;
            }
            return Ok(());
        }
        match submission.valid_before {
            // It can no longer succeed: never send it again, take its nonce.
            Some(valid_before) if now >= valid_before => {
                let filler = self.filler(&submission.tx).await?;
                self.core.ledger.fill(key, &filler)?;
                tracing::warn!(%key, tx = %submission.tx.hash, filler = %filler.hash, "settlement expired unsent; filling its nonce");
                self.broadcast_again(key, &filler.raw).await;
                done.filled += 1;
            }
            // Too close to its expiry to send again safely: wait for the receipt or the expiry.
            Some(valid_before) if now.saturating_add(REBROADCAST_MARGIN) >= valid_before => done.in_flight += 1,
            _ => {
                self.broadcast_again(key, &submission.tx.raw).await;
                done.rebroadcast += 1;
            }
        }
        Ok(())
    }

    async fn broadcast_again(&self, key: B256, raw: &Bytes) {
        if let Err(err) = self.core.chain.send_raw(raw.clone()).await {
            tracing::warn!(%key, %err, "could not broadcast an unfinished settlement again");
        }
    }

    /// Reconciles now and then every `every`, in a task of its own, for as long as the process runs.
    pub fn spawn_reconciler(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let facilitator = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(err) = facilitator.reconcile().await {
                    tracing::warn!(%err, "reconciling failed; trying again later");
                }
            }
        })
    }

    /// Turns a receipt into the final outcome and records it.
    pub(crate) fn conclude(&self, key: B256, settlement: &Settlement, receipt: &Receipt) -> SettleResponse {
        let tx = Some(receipt.transaction_hash);
        let response = if !receipt.success {
            self.failure(ErrorReason::ExactEvmTransactionFailed, Some(settlement.payer), tx)
        } else if !expected_log(&settlement.expected, &receipt.logs) {
            self.failure(ErrorReason::ExactEvmTransferEventMismatch, Some(settlement.payer), tx)
        } else {
            self.succeeded(settlement, receipt)
        };
        self.finish(key, response)
    }

    fn finish(&self, key: B256, response: SettleResponse) -> SettleResponse {
        if let Err(err) = self.core.ledger.finish(key, &response) {
            tracing::error!(%err, "could not record the outcome; it is concluded from the chain again");
        }
        tracing::info!(%key, success = response.success, "settlement concluded");
        response
    }

    /// A successful settlement's answer: for a payment, with the facilitator's signed receipt.
    fn succeeded(&self, settlement: &Settlement, receipt: &Receipt) -> SettleResponse {
        let mut extra = Map::new();
        let attested = match settlement.expected {
            Expected::PaymentSent { contract, payer } => {
                // A cross-chain payment left the source chain: its message id, to follow it to the destination.
                let message_id = receipt.logs.iter().find_map(|log| {
                    (log.address == contract)
                        .then(|| CrossChainInvoicePayer::PaymentSent::decode_log_data(&log.data).ok())
                        .flatten()
                        .filter(|sent| sent.payer == payer)
                        .map(|sent| sent.messageId)
                });
                extra.insert("messageId".to_owned(), json!(message_id));
                None
            }
            // A channel's deposit, claims or their settlement: no payment to attest yet.
            Expected::Deposited { .. } | Expected::Call | Expected::Nothing | Expected::AuthCapture { .. } => None,
            Expected::InvoicePaid { invoice_id, payee, token, amount, .. } => {
                extra.insert("invoiceId".to_owned(), json!(invoice_id));
                Some((payee, token, amount, invoice_id))
            }
            Expected::Transfer { token, to, value, .. } => Some((to, token, value, NO_INVOICE)),
        };
        if let Some((payee, token, amount, invoice_id)) = attested {
            let attested = PaymentReceipt {
                network: self.core.network.clone(),
                transaction: receipt.transaction_hash,
                blockNumber: receipt.block_number,
                payer: settlement.payer,
                payee,
                token,
                amount,
                invoiceId: invoice_id,
            };
            match SignedReceipt::sign(attested, &self.core.signer) {
                Ok(signed) => {
                    extra.insert("receipt".to_owned(), json!(signed));
                }
                Err(err) => tracing::error!(%err, "could not sign the receipt"),
            }
        }
        SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: Some(settlement.payer.to_checksum(None)),
            transaction: receipt.transaction_hash.to_string(),
            network: self.core.network.clone(),
            amount: settled_amount(settlement),
            extra: (!extra.is_empty()).then_some(extra),
        }
    }

    /// The outcome of a settlement whose nonce went to a filler: it was never mined, nothing was taken.
    fn expired(&self, payer: Address) -> SettleResponse {
        let mut response = self.failure(ErrorReason::ExactEvmValidBefore, Some(payer), None);
        response.error_message =
            Some("the authorization expired before its settlement was mined; nothing was taken".into());
        response
    }

    /// The answer for a settlement whose outcome is not known yet.
    pub(crate) fn pending(&self, payer: Address, tx: Option<B256>) -> SettleResponse {
        let mut response = self.failure(ErrorReason::SettlementPending, Some(payer), tx);
        response.error_message = Some(match tx {
            Some(_) => "the settlement is sent and not yet concluded; ask again for its outcome".into(),
            None => "the settlement is being prepared; ask again for its outcome".into(),
        });
        let mut extra = Map::new();
        extra.insert("retryAfter".to_owned(), Value::from(RETRY_AFTER_SECONDS));
        response.extra = Some(extra);
        response
    }

    pub(crate) fn failure(&self, reason: ErrorReason, payer: Option<Address>, tx: Option<B256>) -> SettleResponse {
        SettleResponse {
            success: false,
            error_reason: Some(reason),
            error_message: None,
            payer: payer.map(|p| p.to_checksum(None)),
            transaction: tx.map(|t| t.to_string()).unwrap_or_default(),
            network: self.core.network.clone(),
            amount: None,
            extra: None,
        }
    }

    fn release(&self, key: B256) {
        if let Err(err) = self.core.ledger.release(key) {
            tracing::error!(%key, %err, "could not release a settlement claim");
        }
    }
}

/// The amount a successful settlement answers with, as the official facilitator does for `upto`: what
/// was taken of the permitted maximum.
fn settled_amount(settlement: &Settlement) -> Option<String> {
    match settlement.expected {
        // What was authorized, captured or refunded (a void returns whatever was held).
        Expected::AuthCapture { operation, amount, .. } => {
            (operation != quittance_x402::auth_capture::Operation::Void).then(|| amount.to_string())
        }
        Expected::Transfer { value, .. } if settlement.to == UPTO_PROXY_ADDRESS => Some(value.to_string()),
        _ => None,
    }
}

/// Whether the receipt's logs show the money moving as signed.
fn expected_log(expected: &Expected, logs: &[Log]) -> bool {
    match *expected {
        Expected::Call => return true,
        Expected::AuthCapture { contract, operation, id, amount } => {
            return crate::auth_capture::shown(contract, operation, id, amount, logs);
        }
        // Nothing is sent for it: no receipt can show it.
        Expected::Nothing => return false,
        _ => {}
    }
    logs.iter().any(|log| match *expected {
        Expected::Transfer { token, from, to, value } => {
            log.address == token
                && TestStablecoin::Transfer::decode_log_data(&log.data)
                    .is_ok_and(|t| t.from == from && t.to == to && t.value == value)
        }
        Expected::InvoicePaid { registry, invoice_id, .. } => {
            log.address == registry
                && InvoiceRegistry::InvoicePaid::decode_log_data(&log.data).is_ok_and(|e| e.invoiceId == invoice_id)
        }
        Expected::Deposited { contract, channel_id } => {
            log.address == contract
                && VoucherChannels::Deposited::decode_log_data(&log.data).is_ok_and(|e| e.channelId == channel_id)
        }
        Expected::PaymentSent { contract, payer } => {
            log.address == contract
                && CrossChainInvoicePayer::PaymentSent::decode_log_data(&log.data).is_ok_and(|e| e.payer == payer)
        }
        Expected::Call | Expected::Nothing | Expected::AuthCapture { .. } => false,
    })
}

/// Rebuilds what a settlement transaction must show from the transaction itself (after a restart).
fn settlement_of_raw(raw: &Bytes) -> Option<Settlement> {
    use alloy::consensus::transaction::SignerRecoverable;
    let envelope = TxEnvelope::decode_2718(&mut raw.as_ref()).ok()?;
    let to = envelope.to()?;
    let input = envelope.input().clone();
    let settlement =
        |payer, value, expected| Settlement { payer, to, data: input.clone(), value, expected, valid_before: None };
    if let Ok(call) = IERC3009::transferWithAuthorization_0Call::abi_decode(&input) {
        let expected = Expected::Transfer { token: to, from: call.from, to: call.to, value: call.value };
        return Some(settlement(call.from, U256::ZERO, expected));
    }
    if let Some((owner, expected)) = crate::upto::expected_of_call(&input) {
        return Some(settlement(owner, U256::ZERO, expected));
    }
    if let Some((owner, expected)) = crate::exact_permit2::expected_of_call(&input) {
        return Some(settlement(owner, U256::ZERO, expected));
    }
    if let Some((payer, expected)) = crate::batch_settlement::expected_of_call(&input) {
        return Some(settlement(payer, U256::ZERO, expected));
    }
    let chain_id = envelope.chain_id()?;
    if let Some((payer, expected)) = crate::auth_capture::expected_of_call(to, &input, chain_id) {
        return Some(settlement(payer, U256::ZERO, expected));
    }
    if let Ok(call) = VoucherChannels::depositCall::abi_decode(&input) {
        let channel_id = crate::channel::x402_config(&call.config).id(chain_id, to);
        return Some(settlement(call.config.payer, U256::ZERO, Expected::Deposited { contract: to, channel_id }));
    }
    if VoucherChannels::claimCall::abi_decode(&input).is_ok()
        || VoucherChannels::settleCall::abi_decode(&input).is_ok()
        || quittance_bindings::IBatchSettlement::claimWithSignatureCall::abi_decode(&input).is_ok()
        || quittance_bindings::IBatchSettlement::refundWithSignatureCall::abi_decode(&input).is_ok()
        || quittance_bindings::IBatchSettlement::multicallCall::abi_decode(&input).is_ok()
    {
        let payer = envelope.recover_signer().ok()?;
        return Some(settlement(payer, U256::ZERO, Expected::Call));
    }
    if let Ok(call) = CrossChainInvoicePayer::payWithAuthorizationCall::abi_decode(&input) {
        let expected = Expected::PaymentSent { contract: to, payer: call.payment.payer };
        return Some(settlement(call.payment.payer, envelope.value(), expected));
    }
    let call = InvoiceRegistry::payWithAuthorizationCall::abi_decode(&input).ok()?;
    let expected = Expected::InvoicePaid {
        registry: to,
        invoice_id: x402_invoice(&call.invoice).id(chain_id, to),
        payee: call.invoice.payee,
        token: call.invoice.token,
        amount: call.invoice.amount,
    };
    Some(settlement(call.payer, U256::ZERO, expected))
}
