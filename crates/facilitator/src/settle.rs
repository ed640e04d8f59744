//! Settlement: idempotent, durable, with the facilitator's own nonces.
//!
//! A payment is identified by its token, payer and authorization nonce. The first request to settle it
//! claims it in the ledger; every later request (a retry, a second server, a restart) gets the first
//! outcome, or waits for it, and never sends a second transaction. The signed transaction is recorded
//! before it is broadcast, so that a crash at any point is resumed from the ledger.

use crate::{
    Entry, Facilitator, FacilitatorError, exact_settlement, invoice_settlement,
    verify::{Refusal, Simulation},
    x402_invoice,
};
use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, Log, TxKind, U256, keccak256},
    sol_types::{SolCall, SolEvent, SolValue},
};
use quittance_bindings::{CrossChainInvoicePayer, IERC3009, InvoiceRegistry, TestStablecoin, VoucherChannels};
use quittance_chain::{Call, Chain, ChainError, Fees, Receipt};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, SettleResponse, VerifyRequest, channel, crosschain, exact,
    invoice,
    receipt::{NO_INVOICE, PaymentReceipt, SignedReceipt},
};
use serde_json::{Map, Value, json};
use std::{future::Future, time::Duration};

/// How settlement waits for the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettleConfig {
    /// How long to wait for a receipt before answering `settlement_pending` (the settlement goes on, and a
    /// later request for the same payment gets its outcome).
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
    /// The contract called: the token (`exact`), the registry (`invoice`) or the channels contract.
    pub(crate) to: Address,
    pub(crate) data: Bytes,
    /// The ether sent with it (a cross-chain payment's CCIP fee).
    pub(crate) value: U256,
    pub(crate) expected: Expected,
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
}

impl<C: Chain> Facilitator<C> {
    /// Settles a payment, at most once: verifies it fully, sends the settlement from the facilitator's
    /// account, waits for the receipt (up to [`SettleConfig::receipt_timeout`]) and checks that the money
    /// moved as signed. A second request for the same payment returns the first outcome.
    #[tracing::instrument(skip_all, fields(scheme = %request.payment_requirements.scheme))]
    pub async fn settle(&self, request: &VerifyRequest) -> SettleResponse {
        if request.payment_requirements.scheme == channel::SCHEME {
            return self.settle_voucher(request).await;
        }
        if request.payment_requirements.scheme == crosschain::SCHEME {
            return self.settle_cross_chain(request).await;
        }
        let (key, settlement) = match self.identify(request).await {
            Ok(found) => found,
            Err(refusal) => return self.failure(refusal.reason, refusal.payer, None),
        };
        self.execute(
            key,
            &settlement,
            // Verify everything again, now; the gas estimate is the simulation.
            async { self.check(request, Simulation::LeaveToEstimate).await.map(|_| ()) },
            async { self.check(request, Simulation::Run).await.err() },
        )
        .await
    }

    /// Sends `settlement` at most once under ledger key `key`: a key already concluded returns its outcome,
    /// one in flight elsewhere is awaited; otherwise `check` runs while the chain estimates the transaction's
    /// gas and fees (used only if it passes), then the transaction is signed, recorded, broadcast and its
    /// receipt awaited. When the estimate reverts, `explain` says why (`None`: a simulation failure).
    pub(crate) async fn execute(
        &self,
        key: B256,
        settlement: &Settlement,
        check: impl Future<Output = Result<(), Refusal>>,
        explain: impl Future<Output = Option<Refusal>>,
    ) -> SettleResponse {
        match self.ledger.claim(key) {
            Ok(None) => {}
            Ok(Some(Entry::Final(response))) => {
                tracing::debug!(%key, "settled before: returning the first outcome");
                return response;
            }
            Ok(Some(_)) => return self.await_outcome(key, settlement).await,
            Err(err) => {
                tracing::error!(%err, "ledger failed");
                return self.failure(ErrorReason::UnexpectedSettleError, Some(settlement.payer), None);
            }
        }

        // This request owns the settlement.
        let call =
            Call { from: self.address, to: settlement.to, data: settlement.data.clone(), value: settlement.value };
        let (checked, gas, fees) = tokio::join!(check, self.chain.estimate_gas(call), self.chain.fees());
        if let Err(refusal) = checked {
            self.release(key);
            return self.failure(refusal.reason, Some(settlement.payer), None);
        }
        let gas = match gas {
            Ok(gas) => gas,
            Err(err) => {
                self.release(key);
                let explained = match err {
                    ChainError::Reverted { .. } => explain.await.map(|refusal| refusal.reason),
                    _ => None,
                };
                let reason = explained.unwrap_or(ErrorReason::ExactEvmSimulationFailed);
                tracing::warn!(%err, %reason, "the settlement would fail");
                return self.failure(reason, Some(settlement.payer), None);
            }
        };
        let fees = match fees {
            Ok(fees) => fees,
            Err(err) => return self.failure(self.abandon(key, err), Some(settlement.payer), None),
        };
        let tx_hash = match self.send(key, settlement, gas, fees).await {
            Ok(hash) => hash,
            Err(reason) => return self.failure(reason, Some(settlement.payer), None),
        };
        tracing::info!(%key, %tx_hash, "settlement sent");
        match self.wait_receipt(tx_hash).await {
            Ok(Some(receipt)) => self.conclude(key, settlement, &receipt),
            Ok(None) => self.pending(settlement, tx_hash),
            Err(err) => {
                tracing::warn!(%err, "receipt unavailable");
                self.pending(settlement, tx_hash)
            }
        }
    }

    /// The payment's ledger key and its settlement transaction, after the checks that identify it whatever
    /// the time: the terms, and the payer's signature. A stored outcome is only ever returned to a request
    /// that carries the payer's own signature of the same payment.
    pub(crate) async fn identify(&self, request: &VerifyRequest) -> Result<(B256, Settlement), Refusal> {
        let payment: &PaymentPayload = &request.payment_payload;
        let requirements: &PaymentRequirements = &request.payment_requirements;
        if requirements.network != self.network {
            return Err(ErrorReason::InvalidNetwork.into());
        }
        let (token, settlement, nonce) = match requirements.scheme.as_str() {
            exact::SCHEME => {
                let checked = exact::check_terms(payment, requirements)?;
                self.check_signature(checked.payer(), checked.signing_hash(), &checked.signature, || {
                    checked.check_eoa_signature()
                })
                .await?;
                let a = &checked.authorization;
                let call = exact_settlement(&checked);
                let token = checked.terms.asset;
                let expected = Expected::Transfer { token, from: a.from, to: a.to, value: a.value };
                let data = call.abi_encode().into();
                (token, Settlement { payer: a.from, to: token, data, value: U256::ZERO, expected }, a.nonce)
            }
            invoice::SCHEME => {
                let checked = invoice::check_terms(payment, requirements)?;
                self.check_signature(checked.payer(), checked.signing_hash(), &checked.signature, || {
                    checked.check_eoa_signature()
                })
                .await?;
                let terms = &checked.terms;
                let a = &checked.authorization;
                let call = invoice_settlement(&checked);
                let expected = Expected::InvoicePaid {
                    registry: terms.registry,
                    invoice_id: terms.invoice_id,
                    payee: terms.invoice.payee,
                    token: terms.invoice.token,
                    amount: terms.invoice.amount,
                };
                let data = call.abi_encode().into();
                let settlement = Settlement { payer: a.from, to: terms.registry, data, value: U256::ZERO, expected };
                (terms.token.asset, settlement, a.nonce)
            }
            crosschain::SCHEME => {
                let checked = crosschain::check_terms(payment, requirements)?;
                self.check_signature(checked.payer(), checked.signing_hash(), &checked.signature, || {
                    checked.check_eoa_signature()
                })
                .await?;
                let settlement = self.cross_chain_settlement(&checked).await?;
                (checked.terms.token.asset, settlement, checked.authorization.nonce)
            }
            _ => return Err(ErrorReason::UnsupportedScheme.into()),
        };
        let key = keccak256((U256::from(self.chain_id), token, settlement.payer, nonce).abi_encode());
        Ok((key, settlement))
    }

    /// Signs the settlement with the next nonce, records it in the ledger, then broadcasts it. The nonce
    /// lock is held throughout, so transactions reach the node in nonce order.
    async fn send(&self, key: B256, settlement: &Settlement, gas: u64, fees: Fees) -> Result<B256, ErrorReason> {
        let mut next_nonce = self.next_nonce.lock().await;
        let nonce = match *next_nonce {
            Some(nonce) => nonce,
            None => self.chain.pending_nonce(self.address).await.map_err(|err| self.abandon(key, err))?,
        };
        let mut tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: gas.saturating_mul(6) / 5 + 10_000,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            to: TxKind::Call(settlement.to),
            value: settlement.value,
            access_list: Default::default(),
            input: settlement.data.clone(),
        };
        let signature = self.signer.sign_transaction_sync(&mut tx).map_err(|err| {
            tracing::error!(%err, "signing failed");
            self.release(key);
            ErrorReason::UnexpectedSettleError
        })?;
        let envelope = TxEnvelope::from(tx.into_signed(signature));
        let tx_hash = *envelope.tx_hash();
        let raw: Bytes = envelope.encoded_2718().into();
        if let Err(err) = self.ledger.submit(key, tx_hash, &raw) {
            tracing::error!(%err, "ledger failed; the transaction is not sent");
            self.release(key);
            return Err(ErrorReason::UnexpectedSettleError);
        }
        *next_nonce = Some(nonce + 1);

        match self.chain.send_raw(raw).await {
            Ok(_) => Ok(tx_hash),
            Err(err) => {
                // Did the node take it anyway (a lost answer)? Then it is in flight; else undo.
                match self.chain.pending_nonce(self.address).await {
                    Ok(pending) if pending > nonce => Ok(tx_hash),
                    _ => {
                        tracing::warn!(%err, "the node refused the settlement transaction");
                        *next_nonce = None;
                        self.release(key);
                        Err(ErrorReason::UnexpectedSettleError)
                    }
                }
            }
        }
    }

    /// Polls for a receipt until the configured timeout.
    async fn wait_receipt(&self, tx_hash: B256) -> Result<Option<Receipt>, ChainError> {
        let deadline = tokio::time::Instant::now() + self.config.receipt_timeout;
        let mut backoff = Backoff::new(self.config.poll_interval);
        loop {
            if let Some(receipt) = self.chain.receipt(tx_hash).await? {
                return Ok(Some(receipt));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            backoff.wait().await;
        }
    }

    /// Turns a receipt into the final outcome and records it.
    fn conclude(&self, key: B256, settlement: &Settlement, receipt: &Receipt) -> SettleResponse {
        let tx = Some(receipt.transaction_hash);
        let response = if !receipt.success {
            self.failure(ErrorReason::ExactEvmTransactionFailed, Some(settlement.payer), tx)
        } else if !expected_log(&settlement.expected, &receipt.logs) {
            self.failure(ErrorReason::ExactEvmTransferEventMismatch, Some(settlement.payer), tx)
        } else if let Expected::PaymentSent { contract, payer } = settlement.expected {
            // A cross-chain payment left the source chain: its message id, to follow it to the destination.
            let message_id = receipt.logs.iter().find_map(|log| {
                (log.address == contract)
                    .then(|| CrossChainInvoicePayer::PaymentSent::decode_log_data(&log.data).ok())
                    .flatten()
                    .filter(|sent| sent.payer == payer)
                    .map(|sent| sent.messageId)
            });
            self.succeeded(settlement, receipt, Some(Map::from_iter([("messageId".to_owned(), json!(message_id))])))
        } else if let Expected::Deposited { .. } | Expected::Call = settlement.expected {
            // A channel's deposit, claims or their settlement: no payment to attest yet.
            self.succeeded(settlement, receipt, None)
        } else {
            let mut extra = Map::new();
            let (payee, token, amount, invoice_id) = match settlement.expected {
                Expected::InvoicePaid { invoice_id, payee, token, amount, .. } => {
                    extra.insert("invoiceId".to_owned(), json!(invoice_id));
                    (payee, token, amount, invoice_id)
                }
                Expected::Transfer { token, to, value, .. } => (to, token, value, NO_INVOICE),
                Expected::Deposited { .. } | Expected::Call | Expected::PaymentSent { .. } => {
                    unreachable!("handled above")
                }
            };
            let attested = PaymentReceipt {
                network: self.network.clone(),
                transaction: receipt.transaction_hash,
                blockNumber: receipt.block_number,
                payer: settlement.payer,
                payee,
                token,
                amount,
                invoiceId: invoice_id,
            };
            match SignedReceipt::sign(attested, &self.signer) {
                Ok(signed) => {
                    extra.insert("receipt".to_owned(), json!(signed));
                }
                Err(err) => tracing::error!(%err, "could not sign the receipt"),
            }
            self.succeeded(settlement, receipt, Some(extra))
        };
        if let Err(err) = self.ledger.finish(key, &response) {
            tracing::error!(%err, "could not record the outcome; it is recomputed from the receipt next time");
        }
        tracing::info!(%key, success = response.success, "settlement concluded");
        response
    }

    /// A successful settlement's answer.
    fn succeeded(
        &self,
        settlement: &Settlement,
        receipt: &Receipt,
        extra: Option<Map<String, Value>>,
    ) -> SettleResponse {
        SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: Some(settlement.payer.to_checksum(None)),
            transaction: receipt.transaction_hash.to_string(),
            network: self.network.clone(),
            amount: None,
            extra,
        }
    }

    /// Waits for the outcome of a settlement another request owns.
    async fn await_outcome(&self, key: B256, settlement: &Settlement) -> SettleResponse {
        let deadline = tokio::time::Instant::now() + self.config.receipt_timeout;
        let mut backoff = Backoff::new(self.config.poll_interval);
        loop {
            match self.ledger.get(key) {
                Ok(Some(Entry::Final(response))) => return response,
                Ok(Some(Entry::Submitted { tx_hash, .. })) => {
                    if let Ok(Some(receipt)) = self.chain.receipt(tx_hash).await {
                        return self.conclude(key, settlement, &receipt);
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return self.pending(settlement, tx_hash);
                    }
                }
                Ok(Some(Entry::Claimed)) if tokio::time::Instant::now() < deadline => {}
                // Released (refused or rejected) by its owner, or still claimed at the deadline: nothing
                // was sent for it; the client may try again.
                Ok(_) => return self.failure(ErrorReason::InvalidTransactionState, Some(settlement.payer), None),
                Err(err) => {
                    tracing::error!(%err, "ledger failed");
                    return self.failure(ErrorReason::UnexpectedSettleError, Some(settlement.payer), None);
                }
            }
            backoff.wait().await;
        }
    }

    /// Resumes what a previous run left unfinished: claims without a transaction are dropped (nothing was
    /// signed); signed transactions are concluded from their receipt or broadcast again, byte for byte.
    pub(crate) async fn resume(&self) -> Result<(), FacilitatorError> {
        for (key, entry) in self.ledger.unfinished()? {
            match entry {
                Entry::Claimed => self.ledger.release(key)?,
                Entry::Submitted { tx_hash, raw } => {
                    if let Some(receipt) = self.chain.receipt(tx_hash).await? {
                        self.finish_from_receipt(key, &raw, &receipt);
                    } else if let Err(err) = self.chain.send_raw(raw).await {
                        tracing::warn!(%key, %tx_hash, %err, "could not re-broadcast an unfinished settlement");
                    } else {
                        tracing::info!(%key, %tx_hash, "re-broadcast an unfinished settlement");
                    }
                }
                Entry::Final(_) => {}
            }
        }
        Ok(())
    }

    /// Concludes a settlement found mined after a restart, from its own signed transaction.
    fn finish_from_receipt(&self, key: B256, raw: &Bytes, receipt: &Receipt) {
        match settlement_of_raw(raw) {
            Some(settlement) => {
                self.conclude(key, &settlement, receipt);
            }
            None => tracing::error!(%key, "an unfinished settlement holds a transaction this facilitator cannot read"),
        }
    }

    fn pending(&self, settlement: &Settlement, tx_hash: B256) -> SettleResponse {
        let mut response = self.failure(ErrorReason::SettlementPending, Some(settlement.payer), Some(tx_hash));
        response.error_message = Some("the settlement is sent and not yet mined; ask again for its outcome".into());
        response
    }

    pub(crate) fn failure(&self, reason: ErrorReason, payer: Option<Address>, tx: Option<B256>) -> SettleResponse {
        SettleResponse {
            success: false,
            error_reason: Some(reason),
            error_message: None,
            payer: payer.map(|p| p.to_checksum(None)),
            transaction: tx.map(|t| t.to_string()).unwrap_or_default(),
            network: self.network.clone(),
            amount: None,
            extra: None,
        }
    }

    fn release(&self, key: B256) {
        if let Err(err) = self.ledger.release(key) {
            tracing::error!(%key, %err, "could not release a settlement claim");
        }
    }

    fn abandon(&self, key: B256, err: ChainError) -> ErrorReason {
        tracing::warn!(%err, "chain failed before the settlement was sent");
        self.release(key);
        ErrorReason::UnexpectedSettleError
    }
}

/// Whether the receipt's logs show the money moving as signed.
fn expected_log(expected: &Expected, logs: &[Log]) -> bool {
    if let Expected::Call = expected {
        return true;
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
        Expected::Call => true,
    })
}

/// Rebuilds what a settlement transaction must show from the transaction itself (after a restart).
fn settlement_of_raw(raw: &Bytes) -> Option<Settlement> {
    use alloy::{
        consensus::{Transaction, transaction::SignerRecoverable},
        eips::Decodable2718,
    };
    let envelope = TxEnvelope::decode_2718(&mut raw.as_ref()).ok()?;
    let to = envelope.to()?;
    let input = envelope.input().clone();
    if let Ok(call) = IERC3009::transferWithAuthorization_0Call::abi_decode(&input) {
        let expected = Expected::Transfer { token: to, from: call.from, to: call.to, value: call.value };
        return Some(Settlement { payer: call.from, to, data: input, value: U256::ZERO, expected });
    }
    let chain_id = envelope.chain_id()?;
    if let Ok(call) = VoucherChannels::depositCall::abi_decode(&input) {
        let channel_id = crate::channels::x402_config(&call.config).id(chain_id, to);
        let expected = Expected::Deposited { contract: to, channel_id };
        return Some(Settlement { payer: call.config.payer, to, data: input, value: U256::ZERO, expected });
    }
    if VoucherChannels::claimCall::abi_decode(&input).is_ok() || VoucherChannels::settleCall::abi_decode(&input).is_ok()
    {
        let payer = envelope.recover_signer().ok()?;
        return Some(Settlement { payer, to, data: input, value: U256::ZERO, expected: Expected::Call });
    }
    if let Ok(call) = CrossChainInvoicePayer::payWithAuthorizationCall::abi_decode(&input) {
        let expected = Expected::PaymentSent { contract: to, payer: call.payment.payer };
        let value = envelope.value();
        return Some(Settlement { payer: call.payment.payer, to, data: input, value, expected });
    }
    let call = InvoiceRegistry::payWithAuthorizationCall::abi_decode(&input).ok()?;
    let expected = Expected::InvoicePaid {
        registry: to,
        invoice_id: x402_invoice(&call.invoice).id(chain_id, to),
        payee: call.invoice.payee,
        token: call.invoice.token,
        amount: call.invoice.amount,
    };
    Some(Settlement { payer: call.payer, to, data: input, value: U256::ZERO, expected })
}

/// Why a receipt is not borne out by the chain.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// The chain could not be asked.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// No such transaction was mined.
    #[error("transaction {0} is not mined on this chain")]
    NotMined(B256),
    /// The transaction reverted.
    #[error("transaction {0} reverted")]
    Reverted(B256),
    /// It was mined in another block than the receipt says.
    #[error("transaction {tx} is in block {found}, not {claimed}")]
    Block {
        /// The transaction.
        tx: B256,
        /// Where it is.
        found: u64,
        /// Where the receipt says.
        claimed: u64,
    },
    /// Its logs do not show the payment the receipt describes.
    #[error("transaction {0} does not move the receipt's amount from its payer to its payee")]
    Logs(B256),
}

/// Checks a receipt against the chain: its transaction is mined in its block, succeeded, and moved exactly
/// the amount from the payer to the payee (for an invoice, through a registry that logged the invoice as
/// paid by that payer).
pub async fn confirm_on_chain<C: Chain>(chain: &C, receipt: &PaymentReceipt) -> Result<(), ConfirmError> {
    let tx = receipt.transaction;
    let mined = chain.receipt(tx).await?.ok_or(ConfirmError::NotMined(tx))?;
    if !mined.success {
        return Err(ConfirmError::Reverted(tx));
    }
    if mined.block_number != receipt.blockNumber {
        return Err(ConfirmError::Block { tx, found: mined.block_number, claimed: receipt.blockNumber });
    }
    let transfers = mined.logs.iter().filter(|log| log.address == receipt.token).filter_map(|log| {
        TestStablecoin::Transfer::decode_log_data(&log.data)
            .ok()
            .filter(|t| t.to == receipt.payee && t.value == receipt.amount)
    });
    let shown = if receipt.invoiceId == NO_INVOICE {
        transfers.into_iter().any(|t| t.from == receipt.payer)
    } else {
        // The registry forwards the payment: the transfer to the payee comes from it, and it logs the invoice.
        transfers.into_iter().any(|t| {
            mined.logs.iter().any(|log| {
                log.address == t.from
                    && InvoiceRegistry::InvoicePaid::decode_log_data(&log.data).is_ok_and(|e| {
                        e.invoiceId == receipt.invoiceId
                            && e.payer == receipt.payer
                            && e.payee == receipt.payee
                            && e.amount == receipt.amount
                            && e.token == receipt.token
                    })
            })
        })
    };
    if shown { Ok(()) } else { Err(ConfirmError::Logs(tx)) }
}
