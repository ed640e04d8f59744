//! Settling a payment: the payment is identified (its terms and the payer's signature, whatever the time),
//! the ledger is read first, and only a payment it does not hold is handed to the engine.
//!
//! A payment is identified by its chain, token, payer and authorization nonce. Every request for the same
//! payment (a retry, a second server, a restart) gets the one settlement's outcome and never sends a second
//! transaction. A successful outcome is answered as a success once: a replay of the same payment is told
//! it was settled before (the scheme's "already used" reason, with the transaction), so that no server
//! serves a replayed payment.

use crate::{
    Entry, Facilitator, auth_capture::AuthCapture, batch_settlement::BatchSettlement, channel::Channel,
    cross_chain::CrossChain, engine::Settlement, exact::Exact, exact_permit2::ExactPermit2, invoice::Invoice,
    scheme::SchemeRules, upto::Upto, verify::Refusal,
};
use alloy::{
    primitives::{Address, B256, U256, keccak256},
    sol_types::{SolEvent, SolValue},
};
use quittance_bindings::{InvoiceRegistry, TestStablecoin};
use quittance_chain::{Chain, ChainError};
use quittance_x402::{
    ErrorReason, SETTLED_BEFORE, Scheme, SettleResponse, VerifyRequest, exact_permit2,
    receipt::{NO_INVOICE, PaymentReceipt},
};
use serde_json::Value;

impl<C: Chain + 'static> Facilitator<C> {
    /// Settles a payment, at most once: verifies it fully, sends the settlement from the facilitator's
    /// account, waits for the receipt (up to [`crate::SettleConfig::receipt_timeout`], then
    /// `settlement_pending`: the settlement goes on) and checks that the money moved as signed. A payment the
    /// ledger holds is answered from it: in flight, `settlement_pending`; settled, its outcome — a success
    /// once, then a replay's answer.
    #[tracing::instrument(skip_all, fields(scheme = %request.payment_requirements.scheme))]
    pub async fn settle(&self, request: &VerifyRequest) -> SettleResponse {
        let scheme = match self.preflight(request) {
            Ok(scheme) => scheme,
            Err(refusal) => return self.failure(refusal.reason, None, None),
        };
        match scheme {
            Scheme::BatchSettlement => BatchSettlement::settle(self, request).await,
            Scheme::Exact if exact_permit2::applies(&request.payment_requirements) => {
                ExactPermit2::settle(self, request).await
            }
            Scheme::Exact => Exact::settle(self, request).await,
            Scheme::Invoice => Invoice::settle(self, request).await,
            Scheme::Channel => Channel::settle(self, request).await,
            Scheme::CrossChainInvoice => CrossChain::settle(self, request).await,
            Scheme::Upto => Upto::settle(self, request).await,
            Scheme::AuthCapture => AuthCapture::settle(self, request).await,
        }
    }

    /// The payment's ledger key and settlement, by its scheme (`None`: not settled one by one).
    pub(crate) async fn identify(
        &self,
        scheme: Scheme,
        request: &VerifyRequest,
    ) -> Result<Option<(B256, Settlement)>, Refusal> {
        match scheme {
            Scheme::BatchSettlement => BatchSettlement::identify(self, request).await,
            Scheme::Exact if exact_permit2::applies(&request.payment_requirements) => {
                ExactPermit2::identify(self, request).await
            }
            Scheme::Exact => Exact::identify(self, request).await,
            Scheme::Invoice => Invoice::identify(self, request).await,
            Scheme::Channel => Channel::identify(self, request).await,
            Scheme::CrossChainInvoice => CrossChain::identify(self, request).await,
            Scheme::Upto => Upto::identify(self, request).await,
            Scheme::AuthCapture => AuthCapture::identify(self, request).await,
        }
    }

    /// A payment's ledger key: its chain, token, payer and authorization nonce.
    pub(crate) fn payment_key(&self, token: Address, payer: Address, nonce: B256) -> B256 {
        keccak256((U256::from(self.core.chain_id), token, payer, nonce).abi_encode())
    }

    /// A success is answered as such once; afterwards the same payment is told it was settled before.
    pub(crate) fn answer_once(&self, key: B256, request: &VerifyRequest, response: SettleResponse) -> SettleResponse {
        if !response.success {
            return response;
        }
        match self.core.ledger.deliver(key) {
            Ok(true) => response,
            Ok(false) => {
                tracing::info!(%key, "a settled payment came again");
                let mut extra = response.extra.clone().unwrap_or_default();
                extra.insert(SETTLED_BEFORE.to_owned(), Value::Bool(true));
                let requirements = &request.payment_requirements;
                let reason = Scheme::of(requirements)
                    .map_or(ErrorReason::InvoiceAlreadyPaid, |scheme| scheme.used_reason_for(requirements));
                SettleResponse {
                    success: false,
                    error_reason: Some(reason),
                    error_message: Some(format!(
                        "this payment was settled before, in transaction {}; a payment is answered as settled once",
                        response.transaction
                    )),
                    extra: Some(extra),
                    ..response
                }
            }
            Err(err) => {
                tracing::error!(%err, "ledger failed");
                self.pending(response.payer.as_deref().and_then(|p| p.parse().ok()).unwrap_or_default(), None)
            }
        }
    }

    /// What the ledger says of a payment it holds, as a refusal to verify it again: settled (its scheme's
    /// "already used" reason, or the failure it ended with), or in flight (`settlement_pending`). `None`
    /// when the ledger does not hold it, or the scheme's payments are not settled one by one.
    pub(crate) async fn held(&self, scheme: Scheme, request: &VerifyRequest) -> Result<Option<Refusal>, Refusal> {
        let Some((key, settlement)) = self.identify(scheme, request).await? else { return Ok(None) };
        let payer = Some(settlement.payer);
        let reason = match self.core.ledger.get(key) {
            Ok(None) => return Ok(None),
            Ok(Some(Entry::Final(response))) if response.success => {
                scheme.used_reason_for(&request.payment_requirements)
            }
            Ok(Some(Entry::Final(response))) => response.error_reason.unwrap_or(ErrorReason::UnexpectedVerifyError),
            Ok(Some(_)) => ErrorReason::SettlementPending,
            Err(err) => {
                tracing::error!(%err, "ledger failed");
                ErrorReason::UnexpectedVerifyError
            }
        };
        Ok(Some(Refusal { reason, payer }))
    }
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
