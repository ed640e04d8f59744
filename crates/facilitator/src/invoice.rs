//! Quittance's `invoice` scheme: a seller-signed invoice paid through the registry's
//! `payWithAuthorization`, whose EIP-3009 nonce is the invoice id.

use crate::{
    Facilitator,
    engine::{Expected, Settlement},
    scheme::SchemeRules,
    verify::{Refusal, Simulation, unexpected},
};
use alloy::{
    primitives::{Address, B256, U256},
    sol_types::{SolCall, SolInterface},
};
use quittance_bindings::{
    InvoiceRegistry::{self, InvoiceRegistryErrors},
    invoice_registry::IInvoiceRegistry,
};
use quittance_chain::{Chain, ChainError};
use quittance_x402::{ErrorReason, VerifyRequest, invoice};

/// The `invoice` scheme.
pub(crate) struct Invoice;

/// The registry's form of an x402 invoice.
pub fn registry_invoice(invoice: &invoice::Invoice) -> IInvoiceRegistry::Invoice {
    IInvoiceRegistry::Invoice {
        issuer: invoice.issuer,
        payee: invoice.payee,
        token: invoice.token,
        amount: invoice.amount,
        deadline: invoice.deadline,
        resource: invoice.resource,
        network: invoice.network.clone(),
        salt: invoice.salt,
    }
}

/// The x402 form of a registry invoice.
pub fn x402_invoice(invoice: &IInvoiceRegistry::Invoice) -> invoice::Invoice {
    invoice::Invoice {
        issuer: invoice.issuer,
        payee: invoice.payee,
        token: invoice.token,
        amount: invoice.amount,
        deadline: invoice.deadline,
        resource: invoice.resource,
        network: invoice.network.clone(),
        salt: invoice.salt,
    }
}

/// The registry call that settles an `invoice` payment.
pub(crate) fn settlement_call(checked: &invoice::Checked) -> InvoiceRegistry::payWithAuthorizationCall {
    let a = &checked.authorization;
    InvoiceRegistry::payWithAuthorizationCall {
        invoice: registry_invoice(&checked.terms.invoice),
        issuerSignature: checked.terms.issuer_signature.clone(),
        payer: a.from,
        validAfter: a.valid_after,
        validBefore: a.valid_before,
        authorization: checked.signature.clone(),
    }
}

impl SchemeRules for Invoice {
    async fn check<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
        simulation: Simulation,
    ) -> Result<Address, Refusal> {
        let requirements = &request.payment_requirements;
        let checked = invoice::check_terms(&request.payment_payload, requirements)?;
        let payer = checked.payer();
        let with_payer = |reason: ErrorReason| Refusal { reason, payer: Some(payer) };
        let terms = &checked.terms;
        let (now, token_code, registry_code) = tokio::join!(
            facilitator.core.chain.timestamp(),
            facilitator.require_code(terms.token.asset),
            facilitator.require_code(terms.registry)
        );
        checked.check_time(now.map_err(unexpected)?)?;
        token_code.map_err(|r| with_payer(r.reason))?;
        registry_code.map_err(|r| with_payer(r.reason))?;
        // An EOA issuer's signature is checked here; a contract issuer's (ERC-1271) by the registry in the
        // simulation.
        if let Err(reason) = terms.check_issuer()
            && facilitator.core.chain.code(terms.invoice.issuer).await.map_err(unexpected)?.is_empty()
        {
            return Err(with_payer(reason));
        }
        facilitator
            .check_signature(payer, checked.signing_hash(), &checked.signature, || checked.check_eoa_signature())
            .await
            .map_err(|r| with_payer(r.reason))?;
        if simulation == Simulation::LeaveToEstimate {
            return Ok(payer);
        }

        let a = &checked.authorization;
        match facilitator.simulate(terms.registry, settlement_call(&checked).abi_encode()).await {
            Ok(_) => Ok(payer),
            Err(ChainError::Reverted { data }) => Err(with_payer(match InvoiceRegistryErrors::abi_decode(&data) {
                Ok(InvoiceRegistryErrors::InvoiceAlreadyPaid(_)) => ErrorReason::InvoiceAlreadyPaid,
                Ok(InvoiceRegistryErrors::InvoiceIsCancelled(_)) => ErrorReason::InvoiceCancelled,
                Ok(InvoiceRegistryErrors::InvoiceExpired(_)) => ErrorReason::InvoiceExpired,
                Ok(InvoiceRegistryErrors::InvalidIssuerSignature(_)) => ErrorReason::InvoiceIssuerSignature,
                Ok(
                    InvoiceRegistryErrors::WrongNetwork(_)
                    | InvoiceRegistryErrors::InvalidInvoice(_)
                    | InvoiceRegistryErrors::PayerIsPayee(_),
                ) => ErrorReason::InvoiceTerms,
                _ => facilitator.explain_token_failure(terms.token.asset, payer, a.nonce, a.value, requirements).await,
            })),
            Err(err) => Err(unexpected(err)),
        }
    }

    async fn identify<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> Result<Option<(B256, Settlement)>, Refusal> {
        let checked = invoice::check_terms(&request.payment_payload, &request.payment_requirements)?;
        facilitator
            .check_signature(checked.payer(), checked.signing_hash(), &checked.signature, || {
                checked.check_eoa_signature()
            })
            .await?;
        let terms = &checked.terms;
        let a = &checked.authorization;
        let settlement = Settlement {
            payer: a.from,
            to: terms.registry,
            data: settlement_call(&checked).abi_encode().into(),
            value: U256::ZERO,
            expected: Expected::InvoicePaid {
                registry: terms.registry,
                invoice_id: terms.invoice_id,
                payee: terms.invoice.payee,
                token: terms.invoice.token,
                amount: terms.invoice.amount,
            },
            valid_before: Some(a.valid_before.saturating_to()),
        };
        Ok(Some((facilitator.payment_key(terms.token.asset, a.from, a.nonce), settlement)))
    }
}
