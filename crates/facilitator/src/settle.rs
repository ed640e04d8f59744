//! Settling a payment: the payment is identified (its terms and the payer's signature, whatever the time),
//! the ledger is read first, and only a payment it does not hold is handed to the engine.
//!
//! A payment is identified by its chain, token, payer and authorization nonce. Every request for the same
//! payment (a retry, a second server, a restart) gets the one settlement's outcome and never sends a second
//! transaction. A successful outcome is answered as a success once: a replay of the same payment is told
//! it was settled before (the scheme's "already used" reason, with the transaction), so that no server
//! serves a replayed payment.

use crate::{
    Entry, Facilitator,
    engine::{Expected, Recheck, Settlement},
    exact_settlement, invoice_settlement,
    verify::Refusal,
};
use alloy::{
    primitives::{B256, U256, keccak256},
    sol_types::{SolCall, SolEvent, SolValue},
};
use quittance_bindings::{InvoiceRegistry, TestStablecoin};
use quittance_chain::{Chain, ChainError};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, SETTLED_BEFORE, SettleResponse, VerifyRequest, channel,
    crosschain, exact, invoice,
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
        if let Err(refusal) = self.preflight(request) {
            return self.failure(refusal.reason, None, None);
        }
        if request.payment_requirements.scheme == channel::SCHEME {
            return self.settle_voucher(request).await;
        }
        let (key, settlement) = match self.identify(request).await {
            Ok(found) => found,
            Err(refusal) => return self.failure(refusal.reason, refusal.payer, None),
        };
        let response = if request.payment_requirements.scheme == crosschain::SCHEME {
            self.settle_cross_chain(key, settlement, request).await
        } else {
            self.execute(key, settlement, Recheck::Payment(Box::new(request.clone()))).await
        };
        self.answer_once(key, &request.payment_requirements.scheme, response)
    }

    /// A success is answered as such once; afterwards the same payment is told it was settled before.
    fn answer_once(&self, key: B256, scheme: &str, response: SettleResponse) -> SettleResponse {
        if !response.success {
            return response;
        }
        match self.core.ledger.deliver(key) {
            Ok(true) => response,
            Ok(false) => {
                tracing::info!(%key, "a settled payment came again");
                let mut extra = response.extra.clone().unwrap_or_default();
                extra.insert(SETTLED_BEFORE.to_owned(), Value::Bool(true));
                SettleResponse {
                    success: false,
                    error_reason: Some(used(scheme)),
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
    /// when the ledger does not hold it.
    pub(crate) async fn held(&self, request: &VerifyRequest) -> Result<Option<Refusal>, Refusal> {
        let (key, settlement) = self.identify(request).await?;
        let payer = Some(settlement.payer);
        let reason = match self.core.ledger.get(key) {
            Ok(None) => return Ok(None),
            Ok(Some(Entry::Final(response))) if response.success => used(&request.payment_requirements.scheme),
            Ok(Some(Entry::Final(response))) => response.error_reason.unwrap_or(ErrorReason::UnexpectedVerifyError),
            Ok(Some(_)) => ErrorReason::SettlementPending,
            Err(err) => {
                tracing::error!(%err, "ledger failed");
                ErrorReason::UnexpectedVerifyError
            }
        };
        Ok(Some(Refusal { reason, payer }))
    }

    /// The payment's ledger key and its settlement transaction, after the checks that identify it whatever
    /// the time: the terms, and the payer's signature. A stored outcome is only ever returned to a request
    /// that carries the payer's own signature of the same payment.
    pub(crate) async fn identify(&self, request: &VerifyRequest) -> Result<(B256, Settlement), Refusal> {
        let payment: &PaymentPayload = &request.payment_payload;
        let requirements: &PaymentRequirements = &request.payment_requirements;
        if requirements.network != self.core.network {
            return Err(ErrorReason::InvalidNetwork.into());
        }
        let seconds = |v: U256| Some(u64::try_from(v).unwrap_or(u64::MAX));
        let (token, settlement, nonce) = match requirements.scheme.as_str() {
            exact::SCHEME => {
                let checked = exact::check_terms(payment, requirements)?;
                self.check_signature(checked.payer(), checked.signing_hash(), &checked.signature, || {
                    checked.check_eoa_signature()
                })
                .await?;
                let a = &checked.authorization;
                let token = checked.terms.asset;
                let settlement = Settlement {
                    payer: a.from,
                    to: token,
                    data: exact_settlement(&checked).abi_encode().into(),
                    value: U256::ZERO,
                    expected: Expected::Transfer { token, from: a.from, to: a.to, value: a.value },
                    valid_before: seconds(a.valid_before),
                };
                (token, settlement, a.nonce)
            }
            invoice::SCHEME => {
                let checked = invoice::check_terms(payment, requirements)?;
                self.check_signature(checked.payer(), checked.signing_hash(), &checked.signature, || {
                    checked.check_eoa_signature()
                })
                .await?;
                let terms = &checked.terms;
                let a = &checked.authorization;
                let settlement = Settlement {
                    payer: a.from,
                    to: terms.registry,
                    data: invoice_settlement(&checked).abi_encode().into(),
                    value: U256::ZERO,
                    expected: Expected::InvoicePaid {
                        registry: terms.registry,
                        invoice_id: terms.invoice_id,
                        payee: terms.invoice.payee,
                        token: terms.invoice.token,
                        amount: terms.invoice.amount,
                    },
                    valid_before: seconds(a.valid_before),
                };
                (terms.token.asset, settlement, a.nonce)
            }
            crosschain::SCHEME => {
                let checked = crosschain::check_terms(payment, requirements)?;
                self.check_signature(checked.payer(), checked.signing_hash(), &checked.signature, || {
                    checked.check_eoa_signature()
                })
                .await?;
                let mut settlement = self.cross_chain_settlement(&checked).await?;
                settlement.valid_before = seconds(checked.authorization.valid_before);
                (checked.terms.token.asset, settlement, checked.authorization.nonce)
            }
            _ => return Err(ErrorReason::UnsupportedScheme.into()),
        };
        let key = keccak256((U256::from(self.core.chain_id), token, settlement.payer, nonce).abi_encode());
        Ok((key, settlement))
    }
}

/// The reason a payment that was settled already is refused with, in its scheme's words.
pub(crate) fn used(scheme: &str) -> ErrorReason {
    match scheme {
        exact::SCHEME => ErrorReason::ExactEvmNonceAlreadyUsed,
        _ => ErrorReason::InvoiceAlreadyPaid,
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
