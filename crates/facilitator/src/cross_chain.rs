//! Cross-chain invoice payments (`cross-chain-invoice`): verified and sent on the source chain (the
//! facilitator's), confirmed on the destination by the registry's record.
//!
//! The facilitator submits the payer's authorization to `CrossChainInvoicePayer.payWithAuthorization` and
//! pays the CCIP fee in native currency. Settling then means: the message left the source (the sending
//! transaction, once, through the ledger like any settlement), and the destination's receiver settled the
//! invoice with it (read on the destination chain, which the facilitator must watch). Until then the answer
//! is `settlement_pending` with the message id; asking again for the same payment looks again, and sends
//! nothing more.

use crate::{
    Facilitator, FacilitatorError,
    engine::{Backoff, Expected, Recheck, Settlement},
    scheme::SchemeRules,
    verify::{Refusal, Simulation, unexpected},
};
use alloy::{
    primitives::{Address, B256, U256},
    sol_types::{SolCall, SolInterface},
};
use quittance_bindings::{
    CrossChainInvoicePayer::{self, CrossChainInvoicePayerErrors},
    CrossChainInvoiceReceiver, InvoiceRegistry,
    cross_chain_invoice_payer::ICrossChainInvoice::CrossChainPayment,
    relayout,
};
use quittance_chain::{Call, Chain, ChainError, read};
use quittance_x402::{
    ErrorReason, Network, PaymentPayload, PaymentRequirements, SettleResponse, VerifyRequest, crosschain,
};
use serde_json::{Map, json};
use std::sync::Arc;

/// `IInvoiceRegistry.Status.Paid`.
const STATUS_PAID: u8 = 1;
/// `IInvoiceRegistry.Status.Cancelled`.
const STATUS_CANCELLED: u8 = 2;
/// `ICrossChainInvoiceReceiver.Outcome.Paid`.
const OUTCOME_PAID: u8 = 1;
/// `ICrossChainInvoiceReceiver.Outcome.Refundable` (and `Refunded`, 3, after it).
const OUTCOME_REFUNDABLE: u8 = 2;

/// Where a sent cross-chain payment stands on its destination.
enum Delivery {
    /// The receiver settled the invoice with it, and the registry records the payer.
    Settled,
    /// It arrived but could not settle the invoice; its tokens await a refund.
    Refundable,
    /// Not arrived yet.
    InFlight,
}

/// The `cross-chain-invoice` scheme: sent on this chain, settled on the destination's registry.
pub(crate) struct CrossChain;

impl SchemeRules for CrossChain {
    async fn check<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
        simulation: Simulation,
    ) -> Result<Address, Refusal> {
        facilitator.check_cross_chain(&request.payment_payload, &request.payment_requirements, simulation).await
    }

    async fn identify<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> Result<Option<(B256, Settlement)>, Refusal> {
        let checked = crosschain::check_terms(&request.payment_payload, &request.payment_requirements)?;
        facilitator
            .check_signature(checked.payer(), checked.signing_hash(), &checked.signature, || {
                checked.check_eoa_signature()
            })
            .await?;
        let settlement = facilitator.cross_chain_settlement(&checked).await?;
        let a = &checked.authorization;
        Ok(Some((facilitator.payment_key(checked.terms.token.asset, a.from, a.nonce), settlement)))
    }

    async fn settle<C: Chain + 'static>(facilitator: &Facilitator<C>, request: &VerifyRequest) -> SettleResponse {
        let (key, settlement) = match Self::identify(facilitator, request).await {
            Ok(Some(found)) => found,
            Ok(None) => return facilitator.failure(ErrorReason::UnsupportedScheme, None, None),
            Err(refusal) => return facilitator.failure(refusal.reason, refusal.payer, None),
        };
        let response = facilitator.settle_cross_chain(key, settlement, request).await;
        facilitator.answer_once(key, request, response)
    }
}

impl<C: Chain + 'static> Facilitator<C> {
    /// The same facilitator also watching `chain`, so that it can settle cross-chain payments whose invoices
    /// are on that chain (it sends nothing there).
    pub async fn with_destination(mut self, chain: C) -> Result<Self, FacilitatorError> {
        let network = Network::eip155(chain.chain_id().await?).to_string();
        Arc::get_mut(&mut self.core).ok_or(FacilitatorError::Shared)?.destinations.insert(network, chain);
        Ok(self)
    }

    /// The destination networks it watches.
    pub fn destinations(&self) -> impl Iterator<Item = &str> {
        self.core.destinations.keys().map(String::as_str)
    }

    fn destination(&self, checked: &crosschain::Checked) -> Result<&C, Refusal> {
        self.core
            .destinations
            .get(&checked.terms.invoice.invoice.network)
            .ok_or(Refusal { reason: ErrorReason::InvalidNetwork, payer: Some(checked.payer()) })
    }

    /// Every check of a cross-chain payment: offline, then the source (code, the payer's signature) and the
    /// destination (the invoice is neither paid nor cancelled), then a simulation of the send with its fee.
    pub(crate) async fn check_cross_chain(
        &self,
        payment: &PaymentPayload,
        requirements: &PaymentRequirements,
        simulation: Simulation,
    ) -> Result<Address, Refusal> {
        let checked = crosschain::check_terms(payment, requirements)?;
        let payer = checked.payer();
        let with_payer = |reason: ErrorReason| Refusal { reason, payer: Some(payer) };
        let destination = self.destination(&checked)?;
        let invoice = &checked.terms.invoice;
        let (now, token_code, sender_code, record) = tokio::join!(
            self.core.chain.timestamp(),
            self.require_code(checked.terms.token.asset),
            self.require_code(checked.terms.lane.sender),
            read(destination, invoice.registry, InvoiceRegistry::recordOfCall { id: invoice.invoice_id }),
        );
        checked.check_time(now.map_err(unexpected)?).map_err(with_payer)?;
        token_code.map_err(|r| with_payer(r.reason))?;
        sender_code.map_err(|r| with_payer(r.reason))?;
        match record.map_err(unexpected)?.status {
            STATUS_PAID => return Err(with_payer(ErrorReason::InvoiceAlreadyPaid)),
            STATUS_CANCELLED => return Err(with_payer(ErrorReason::InvoiceCancelled)),
            _ => {}
        }
        self.check_signature(payer, checked.signing_hash(), &checked.signature, || checked.check_eoa_signature())
            .await
            .map_err(|r| with_payer(r.reason))?;
        if simulation == Simulation::LeaveToEstimate {
            return Ok(payer);
        }

        let settlement = self.cross_chain_settlement(&checked).await?;
        let call = Call { from: self.core.address, to: settlement.to, data: settlement.data, value: settlement.value };
        match self.core.chain.call(call).await {
            Ok(_) => Ok(payer),
            Err(ChainError::Reverted { data }) => {
                Err(with_payer(match CrossChainInvoicePayerErrors::abi_decode(&data) {
                    Ok(CrossChainInvoicePayerErrors::UnsupportedChain(_)) => ErrorReason::InvalidNetwork,
                    Ok(
                        CrossChainInvoicePayerErrors::InvalidPayer(_)
                        | CrossChainInvoicePayerErrors::InvalidRefundTo(_),
                    ) => ErrorReason::InvalidPayload,
                    _ => {
                        let a = &checked.authorization;
                        self.explain_token_failure(checked.terms.token.asset, payer, a.nonce, a.value, requirements)
                            .await
                    }
                }))
            }
            Err(err) => Err(unexpected(err)),
        }
    }

    /// The sending transaction: `payWithAuthorization` with the CCIP fee the sender quotes now.
    pub(crate) async fn cross_chain_settlement(&self, checked: &crosschain::Checked) -> Result<Settlement, Refusal> {
        let lane = checked.terms.lane;
        let payment: CrossChainPayment = relayout(&checked.payment);
        let quote = CrossChainInvoicePayer::quoteCall {
            destinationChainSelector: lane.destination_chain_selector,
            receiver: lane.receiver,
            payment: payment.clone(),
            gasLimit: U256::from(lane.gas_limit),
        };
        let fee = match read(&self.core.chain, lane.sender, quote).await {
            Ok(fee) => fee,
            Err(ChainError::Reverted { .. }) => {
                return Err(Refusal { reason: ErrorReason::InvalidNetwork, payer: Some(checked.payer()) });
            }
            Err(err) => return Err(unexpected(err)),
        };
        let call = CrossChainInvoicePayer::payWithAuthorizationCall {
            destinationChainSelector: lane.destination_chain_selector,
            receiver: lane.receiver,
            payment,
            authorization: checked.encoded_authorization(),
            gasLimit: U256::from(lane.gas_limit),
        };
        Ok(Settlement {
            payer: checked.payer(),
            to: lane.sender,
            data: call.abi_encode().into(),
            value: fee,
            expected: Expected::PaymentSent { contract: lane.sender, payer: checked.payer() },
            valid_before: Some(checked.authorization.valid_before.saturating_to()),
        })
    }

    /// Settles a cross-chain payment: sends it from the source at most once, then waits (up to
    /// [`crate::SettleConfig::delivery_timeout`]) for the destination's registry to record the invoice as
    /// paid by the payer.
    pub(crate) async fn settle_cross_chain(
        &self,
        key: B256,
        settlement: Settlement,
        request: &VerifyRequest,
    ) -> SettleResponse {
        let checked = match crosschain::check_terms(&request.payment_payload, &request.payment_requirements) {
            Ok(checked) => checked,
            Err(reason) => return self.failure(reason, None, None),
        };
        let sent = self.execute(key, settlement, Recheck::Payment(Box::new(request.clone()))).await;
        if !sent.success {
            return sent;
        }
        let message_id = sent
            .extra
            .as_ref()
            .and_then(|extra| extra.get("messageId"))
            .and_then(|id| serde_json::from_value::<B256>(id.clone()).ok());
        let Some(message_id) = message_id else {
            tracing::error!("a cross-chain payment was sent without a message id");
            return self.failure(ErrorReason::UnexpectedSettleError, Some(checked.payer()), None);
        };
        let destination = match self.destination(&checked) {
            Ok(destination) => destination,
            Err(refusal) => return self.failure(refusal.reason, refusal.payer, None),
        };
        let deadline = tokio::time::Instant::now() + self.core.config.delivery_timeout;
        let mut backoff = Backoff::new(self.core.config.poll_interval);
        loop {
            match delivery(destination, &checked, message_id).await {
                Ok(Delivery::Settled) => {
                    tracing::info!(%message_id, "the cross-chain payment settled its invoice");
                    return self.delivered(sent, &checked, message_id, None);
                }
                Ok(Delivery::Refundable) => {
                    let mut response =
                        self.delivered(sent, &checked, message_id, Some(ErrorReason::CrossChainRefundable));
                    response.error_message = Some(format!(
                        "the payment reached {} but could not settle the invoice; its tokens await a refund to {}",
                        checked.terms.invoice.invoice.network, checked.payment.refundTo
                    ));
                    return response;
                }
                Ok(Delivery::InFlight) => {}
                Err(err) => tracing::warn!(%err, "could not read the destination"),
            }
            if tokio::time::Instant::now() >= deadline {
                let mut response = self.delivered(sent, &checked, message_id, Some(ErrorReason::SettlementPending));
                response.error_message = Some(format!(
                    "sent from {} as CCIP message {message_id}, not yet settled on {}; ask again for its outcome",
                    self.core.network, checked.terms.invoice.invoice.network
                ));
                return response;
            }
            backoff.wait().await;
        }
    }

    /// The answer about a sent payment: successful, or failed with `failure` (pending, refundable), carrying
    /// the message id, the invoice id and where to check it.
    fn delivered(
        &self,
        sent: SettleResponse,
        checked: &crosschain::Checked,
        message_id: B256,
        failure: Option<ErrorReason>,
    ) -> SettleResponse {
        let invoice = &checked.terms.invoice;
        let extra = Map::from_iter([
            ("messageId".to_owned(), json!(message_id)),
            ("invoiceId".to_owned(), json!(invoice.invoice_id)),
            ("destinationNetwork".to_owned(), json!(invoice.invoice.network)),
            ("registry".to_owned(), json!(invoice.registry)),
        ]);
        SettleResponse { success: failure.is_none(), error_reason: failure, extra: Some(extra), ..sent }
    }
}

/// Reads the receiver's outcome for the message and the registry's record of the invoice.
async fn delivery<C: Chain>(
    destination: &C,
    checked: &crosschain::Checked,
    message_id: B256,
) -> Result<Delivery, ChainError> {
    let invoice = &checked.terms.invoice;
    let (received, record) = tokio::join!(
        read(
            destination,
            checked.terms.lane.receiver,
            CrossChainInvoiceReceiver::receivedCall { messageId: message_id }
        ),
        read(destination, invoice.registry, InvoiceRegistry::recordOfCall { id: invoice.invoice_id }),
    );
    let (received, record) = (received?, record?);
    Ok(match received.outcome {
        OUTCOME_PAID if record.status == STATUS_PAID && record.payer == checked.payer() => Delivery::Settled,
        outcome if outcome >= OUTCOME_REFUNDABLE => Delivery::Refundable,
        _ => Delivery::InFlight,
    })
}
