//! Quittance's `cross-chain-invoice` scheme: a seller's invoice on one network, paid from funds on another
//! through Chainlink CCIP.
//!
//! The option is an ordinary x402 option of the network the agent pays on (the *source*): `network`,
//! `asset` (the source's Cross-Chain Token) and `extra.name`/`extra.version` (its EIP-712 domain) say what
//! the agent signs; `amount` and `payTo` are the invoice's. `extra` adds the seller's invoice, signed as for
//! the `invoice` scheme but for the *destination* network (`invoice.network`) and its registry, and the
//! lane: the `CrossChainInvoicePayer` on the source (`sender`), the destination's CCIP chain selector and
//! the `CrossChainInvoiceReceiver` there (`receiver`), and the gas the receiver needs (`gasLimit`).
//!
//! The agent signs an EIP-3009 `ReceiveWithAuthorization` of the invoice amount to the sender contract
//! whose nonce is `keccak256(abi.encode(destinationChainSelector, receiver, gasLimit, payment))`, `payment`
//! being the invoice, the seller's signature, the payer and the refund address: whoever submits it cannot
//! change where the money goes or for what, nor give the receiver less gas than the option asked for. A
//! facilitator on the source submits it and pays the CCIP fee; the receiver settles the invoice in the
//! destination's registry when the message arrives, or keeps the tokens for the refund address if it
//! cannot. The proof is the destination registry's record.

use crate::{
    ErrorReason, PaymentPayload, PaymentRequirements, ResourceInfo, X402_V2,
    exact::{Authorization, ExactTerms, VALID_BEFORE_MARGIN},
    invoice::{Invoice, InvoiceTerms, receive_message},
};
use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::SignerSync,
    sol,
    sol_types::{SolStruct, SolValue},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

sol! {
    /// What travels with the tokens (`ICrossChainInvoice.CrossChainPayment`).
    #[derive(Debug, PartialEq, Eq)]
    struct CrossChainPayment {
        Invoice invoice;
        bytes issuerSignature;
        address payer;
        address refundTo;
    }
}

/// The scheme's name on the wire.
pub const SCHEME: &str = "cross-chain-invoice";

/// The most gas an option may ask for the receiver's execution (CCIP's own ceiling on most lanes): the
/// CCIP fee grows with it, and the facilitator pays the fee.
pub const MAX_GAS_LIMIT: u64 = 3_000_000;

/// What a `cross-chain-invoice` option carries in `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossChainExtra {
    /// The source token's EIP-712 name.
    pub name: String,
    /// The source token's EIP-712 version.
    pub version: String,
    /// The `CrossChainInvoicePayer` on the source network.
    #[serde(with = "crate::exact::checksummed")]
    pub sender: Address,
    /// The destination's CCIP chain selector, as a decimal string (it does not fit a JSON number).
    pub destination_chain_selector: String,
    /// The `CrossChainInvoiceReceiver` on the destination network.
    #[serde(with = "crate::exact::checksummed")]
    pub receiver: Address,
    /// The gas the receiver's execution may use on the destination.
    pub gas_limit: u64,
    /// The invoice registry on the destination network.
    #[serde(with = "crate::exact::checksummed")]
    pub registry: Address,
    /// The seller's invoice (its `network` is the destination).
    pub invoice: Invoice,
    /// The seller's signature of the invoice id.
    pub signature: Bytes,
}

/// The payload: the payer's authorization to the sender contract, and where a failed payment is refunded on
/// the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossChainPayload {
    /// The payer's signature of the authorization.
    pub signature: Bytes,
    /// The authorization (to the sender contract; its nonce binds the whole payment).
    pub authorization: Authorization,
    /// Who gets the tokens on the destination if the invoice cannot be settled there.
    #[serde(with = "crate::exact::checksummed")]
    pub refund_to: Address,
}

/// A lane's end points, as the option names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane {
    /// The `CrossChainInvoicePayer` on the source network.
    pub sender: Address,
    /// The destination's CCIP chain selector.
    pub destination_chain_selector: u64,
    /// The `CrossChainInvoiceReceiver` on the destination network.
    pub receiver: Address,
    /// The gas the receiver's execution may use.
    pub gas_limit: u64,
}

impl Lane {
    /// The EIP-3009 nonce of `payment` through this lane:
    /// `keccak256(abi.encode(destinationChainSelector, receiver, gasLimit, payment))`, as
    /// `CrossChainInvoicePayer.paymentNonce` computes it.
    pub fn payment_nonce(&self, payment: &CrossChainPayment) -> B256 {
        keccak256(
            (self.destination_chain_selector, self.receiver, U256::from(self.gas_limit), payment.clone())
                .abi_encode_params(),
        )
    }
}

/// The option's terms, parsed and checked against each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossChainTerms {
    /// The source token, amount, payee and the source token's domain.
    pub token: ExactTerms,
    /// The lane.
    pub lane: Lane,
    /// The invoice's terms on the destination (its registry, id and the seller's signature).
    pub invoice: InvoiceTerms,
    /// The destination's chain id.
    pub destination_chain_id: u64,
}

impl CrossChainTerms {
    /// Parses a `cross-chain-invoice` option and checks that the invoice says what the option says (same
    /// payee and amount; a destination other than the source). The seller's signature is
    /// [`InvoiceTerms::check_issuer`] on [`CrossChainTerms::invoice`].
    pub fn from_requirements(requirements: &PaymentRequirements) -> Result<Self, ErrorReason> {
        if requirements.scheme != SCHEME {
            return Err(ErrorReason::UnsupportedScheme);
        }
        let extra: CrossChainExtra =
            serde_json::from_value(Value::Object(requirements.extra.clone())).map_err(|_| ErrorReason::InvoiceTerms)?;
        let token = ExactTerms::of_token(requirements)?;
        let destination_chain_id = extra.invoice.chain_id().ok_or(ErrorReason::InvoiceTerms)?;
        let destination_chain_selector =
            extra.destination_chain_selector.parse::<u64>().map_err(|_| ErrorReason::InvoiceTerms)?;
        let invoice = extra.invoice;
        if invoice.payee != token.pay_to
            || invoice.amount != token.amount
            || destination_chain_id == token.chain_id
            || extra.gas_limit == 0
            || extra.gas_limit > MAX_GAS_LIMIT
            || extra.sender == Address::ZERO
            || extra.receiver == Address::ZERO
        {
            return Err(ErrorReason::InvoiceTerms);
        }
        let invoice_id = invoice.id(destination_chain_id, extra.registry);
        let mut invoice_token = token.clone();
        invoice_token.asset = invoice.token;
        invoice_token.chain_id = destination_chain_id;
        Ok(Self {
            token,
            lane: Lane {
                sender: extra.sender,
                destination_chain_selector,
                receiver: extra.receiver,
                gas_limit: extra.gas_limit,
            },
            invoice: InvoiceTerms {
                token: invoice_token,
                registry: extra.registry,
                invoice,
                invoice_id,
                issuer_signature: extra.signature,
            },
            destination_chain_id,
        })
    }

    /// What travels with the tokens when `payer` pays, refunded to `refund_to` on failure.
    pub fn payment(&self, payer: Address, refund_to: Address) -> CrossChainPayment {
        CrossChainPayment {
            invoice: self.invoice.invoice.clone(),
            issuerSignature: self.invoice.issuer_signature.clone(),
            payer,
            refundTo: refund_to,
        }
    }

    /// The EIP-3009 nonce of `payment` sent through the lane (what `CrossChainInvoicePayer.paymentNonce`
    /// returns): it binds the destination, the receiver, the gas limit of the receiver's execution and the
    /// payment, so a submitter can neither redirect the payment nor starve its execution on the destination.
    pub fn payment_nonce(&self, payment: &CrossChainPayment) -> B256 {
        self.lane.payment_nonce(payment)
    }
}

/// A seller's side: the `cross-chain-invoice` option paying `invoice` (on its destination network, in
/// `registry`'s domain, signed by `issuer`) from `source_network` in `source_asset` (EIP-712 domain
/// `token_name`, `token_version`) through `lane`.
#[allow(clippy::too_many_arguments)]
pub fn offer(
    invoice: Invoice,
    registry: Address,
    source_network: &str,
    source_asset: Address,
    token_name: &str,
    token_version: &str,
    lane: Lane,
    max_timeout_seconds: u64,
    issuer: &impl SignerSync,
) -> Result<PaymentRequirements, alloy::signers::Error> {
    let signature = invoice.sign(registry, issuer)?;
    let requirements = PaymentRequirements {
        scheme: SCHEME.into(),
        network: source_network.into(),
        amount: invoice.amount.to_string(),
        asset: source_asset.to_checksum(None),
        pay_to: invoice.payee.to_checksum(None),
        max_timeout_seconds,
        extra: Map::new(),
    };
    let extra = CrossChainExtra {
        name: token_name.into(),
        version: token_version.into(),
        sender: lane.sender,
        destination_chain_selector: lane.destination_chain_selector.to_string(),
        receiver: lane.receiver,
        gas_limit: lane.gas_limit,
        registry,
        invoice,
        signature,
    };
    let Value::Object(extra) = serde_json::to_value(extra).expect("the cross-chain extra always serializes") else {
        unreachable!("a struct serializes to a JSON object")
    };
    Ok(PaymentRequirements { extra, ..requirements })
}

/// An agent's side: checks the seller's signature and the invoice against the option and the resource it
/// asked for, then signs the authorization that sends the invoice amount from the source network, with
/// failed payments refunded to `from` on the destination.
pub fn pay(
    requirements: &PaymentRequirements,
    resource: &ResourceInfo,
    signer: &impl SignerSync,
    from: Address,
    now: u64,
) -> Result<PaymentPayload, crate::invoice::PayError> {
    use crate::invoice::PayError;
    let terms = CrossChainTerms::from_requirements(requirements).map_err(PayError::Refused)?;
    terms.invoice.check_issuer().map_err(PayError::Refused)?;
    terms.invoice.check_for(&resource.url, now).map_err(PayError::Refused)?;
    let payment = terms.payment(from, from);
    let valid_before =
        U256::from(now.saturating_add(requirements.max_timeout_seconds)).min(terms.invoice.invoice.deadline);
    let authorization = Authorization {
        from,
        to: terms.lane.sender,
        value: terms.token.amount,
        valid_after: U256::ZERO,
        valid_before,
        nonce: terms.payment_nonce(&payment),
    };
    let signature = signer.sign_typed_data_sync(&receive_message(&authorization), &terms.token.domain)?;
    let payload = CrossChainPayload { signature: signature.as_bytes().into(), authorization, refund_to: from };
    Ok(PaymentPayload {
        x402_version: X402_V2,
        resource: Some(resource.clone()),
        accepted: requirements.clone(),
        payload: serde_json::to_value(payload).expect("the payload always serializes"),
        extensions: None,
    })
}

/// A cross-chain payment that passed every check that needs no chain. What remains for a facilitator: on
/// the source, the payer's balance and a simulation of the send (with its fee); on the destination, that
/// the invoice is still unpaid and not cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The option's terms.
    pub terms: CrossChainTerms,
    /// The payer's authorization to the sender contract.
    pub authorization: Authorization,
    /// The payer's signature.
    pub signature: Bytes,
    /// What travels with the tokens.
    pub payment: CrossChainPayment,
}

impl Checked {
    /// The payer.
    pub fn payer(&self) -> Address {
        self.authorization.from
    }

    /// Checks, at `now` (the source's time), that the invoice can still be paid and the authorization's time
    /// window.
    pub fn check_time(&self, now: u64) -> Result<(), ErrorReason> {
        if self.terms.invoice.invoice.deadline < U256::from(now.saturating_add(VALID_BEFORE_MARGIN)) {
            return Err(ErrorReason::InvoiceExpired);
        }
        self.authorization.check_time(now)
    }

    /// The EIP-712 digest the payer signed (a `ReceiveWithAuthorization` in the source token's domain).
    pub fn signing_hash(&self) -> B256 {
        receive_message(&self.authorization).eip712_signing_hash(&self.terms.token.domain)
    }

    /// Checks the payer's signature as an EOA's.
    pub fn check_eoa_signature(&self) -> Result<(), ErrorReason> {
        crate::signature::recover_eoa(&self.signature, self.signing_hash(), self.payer())
    }

    /// The `authorization` argument of `CrossChainInvoicePayer.payWithAuthorization`:
    /// `abi.encode(validAfter, validBefore, signature)`.
    pub fn encoded_authorization(&self) -> Bytes {
        (self.authorization.valid_after, self.authorization.valid_before, self.signature.clone())
            .abi_encode_params()
            .into()
    }
}

/// The checks of a cross-chain payment that depend neither on a chain nor on the time: the option is well
/// formed and consistent, the seller signed the invoice (as an EOA), and the authorization pays exactly the
/// invoice amount to the sender contract with the nonce of exactly this payment and refund address.
pub fn check_terms(payment: &PaymentPayload, requirements: &PaymentRequirements) -> Result<Checked, ErrorReason> {
    if payment.accepted.scheme != SCHEME {
        return Err(ErrorReason::UnsupportedScheme);
    }
    if payment.accepted.network != requirements.network {
        return Err(ErrorReason::ExactEvmNetworkMismatch);
    }
    let terms = CrossChainTerms::from_requirements(requirements)?;
    terms.invoice.check_issuer()?;
    let payload: CrossChainPayload =
        serde_json::from_value(payment.payload.clone()).map_err(|_| ErrorReason::InvalidPayload)?;
    let authorization = payload.authorization;
    if authorization.to != terms.lane.sender {
        return Err(ErrorReason::ExactEvmRecipientMismatch);
    }
    if authorization.value != terms.token.amount {
        return Err(ErrorReason::ExactEvmValueMismatch);
    }
    if payload.refund_to == Address::ZERO || authorization.from == Address::ZERO {
        return Err(ErrorReason::InvalidPayload);
    }
    let sent = terms.payment(authorization.from, payload.refund_to);
    if authorization.nonce != terms.payment_nonce(&sent) {
        return Err(ErrorReason::InvoiceNonceMismatch);
    }
    Ok(Checked { terms, authorization, signature: payload.signature, payment: sent })
}

/// Every check of a cross-chain payment that needs no chain: [`check_terms`], then the time at `now`.
pub fn check(payment: &PaymentPayload, requirements: &PaymentRequirements, now: u64) -> Result<Checked, ErrorReason> {
    let checked = check_terms(payment, requirements)?;
    checked.check_time(now)?;
    Ok(checked)
}
