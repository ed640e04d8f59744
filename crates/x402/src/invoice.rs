//! Quittance's `invoice` scheme: the seller's cryptographic invoice on the wire.
//!
//! Besides `exact`, a Quittance paywall offers an `invoice` option whose `extra` carries an invoice of the
//! `InvoiceRegistry`, signed by the seller (EIP-712, in the registry's domain), with the token's EIP-712
//! domain and the registry's address. The agent checks the seller's signature and that the invoice says
//! what the option says (payee, token, amount, network, the resource it asked for, a deadline it can meet)
//! before it signs anything; then it signs an EIP-3009 `ReceiveWithAuthorization` to the registry whose
//! nonce is the invoice id, so the token's own record ties the payment to the invoice. A facilitator pays
//! the invoice with `InvoiceRegistry.payWithAuthorization`; the registry's `InvoicePaid` event and
//! `recordOf(invoiceId)` are the proof. Official clients, which do not know this scheme, pay `exact`.

use crate::{
    ErrorReason, PaymentPayload, PaymentRequirements, ResourceInfo, X402_V2,
    exact::{Authorization, ExactEvmPayload, ExactTerms, VALID_BEFORE_MARGIN},
};
use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::SignerSync,
    sol,
    sol_types::{Eip712Domain, SolStruct},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

sol! {
    /// The registry's invoice, as the seller signs it (`IInvoiceRegistry.Invoice`).
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Invoice {
        address issuer;
        address payee;
        address token;
        uint256 amount;
        uint256 deadline;
        bytes32 resource;
        string network;
        bytes32 salt;
    }

    /// EIP-3009's `ReceiveWithAuthorization`: only its `to` (here, the registry) may submit it.
    #[derive(Debug, PartialEq, Eq)]
    struct ReceiveWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// The scheme's name on the wire.
pub const SCHEME: &str = "invoice";
/// The EIP-712 domain name of the invoice registry.
pub const REGISTRY_DOMAIN_NAME: &str = "Quittance Invoice Registry";
/// The EIP-712 domain version of the invoice registry.
pub const REGISTRY_DOMAIN_VERSION: &str = "1";

/// The hash an invoice's `resource` field holds for an HTTP resource: keccak-256 of its URL.
pub fn resource_hash(url: &str) -> B256 {
    keccak256(url.as_bytes())
}

/// The registry's EIP-712 domain on `chain_id` at `registry`.
pub fn registry_domain(chain_id: u64, registry: Address) -> Eip712Domain {
    crate::signature::contract_domain(REGISTRY_DOMAIN_NAME, REGISTRY_DOMAIN_VERSION, chain_id, registry)
}

impl Invoice {
    /// The invoice id: its EIP-712 digest in the registry's domain (what `InvoiceRegistry.invoiceId` returns).
    pub fn id(&self, chain_id: u64, registry: Address) -> B256 {
        self.eip712_signing_hash(&registry_domain(chain_id, registry))
    }

    /// The chain id of the invoice's network, if it is an EVM network.
    pub fn chain_id(&self) -> Option<u64> {
        self.network.parse::<crate::Network>().ok().and_then(|n| n.chain_id().ok())
    }

    /// The seller's signature of the invoice id in `registry`'s domain on the invoice's network.
    pub fn sign(&self, registry: Address, issuer: &impl SignerSync) -> Result<Bytes, alloy::signers::Error> {
        let chain_id = self
            .chain_id()
            .ok_or_else(|| alloy::signers::Error::message("the invoice's network is not an EVM network"))?;
        Ok(issuer.sign_hash_sync(&self.id(chain_id, registry))?.as_bytes().into())
    }
}

/// What an `invoice` option carries in `extra`, besides the token's `name` and `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceExtra {
    /// The token's EIP-712 name.
    pub name: String,
    /// The token's EIP-712 version.
    pub version: String,
    /// The invoice registry.
    #[serde(with = "crate::exact::checksummed")]
    pub registry: Address,
    /// The seller's invoice.
    pub invoice: Invoice,
    /// The seller's signature of the invoice id.
    pub signature: Bytes,
}

/// The invoice option's terms, parsed and checked against each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceTerms {
    /// The token, amount, payee and token domain, as for `exact`.
    pub token: ExactTerms,
    /// The registry.
    pub registry: Address,
    /// The invoice.
    pub invoice: Invoice,
    /// The invoice id.
    pub invoice_id: B256,
    /// The seller's signature.
    pub issuer_signature: Bytes,
}

impl InvoiceTerms {
    /// Parses an `invoice` option and checks that the invoice says what the option says: same payee, token,
    /// amount and network. It does not check the seller's signature (see [`InvoiceTerms::check_issuer`]).
    pub fn from_requirements(requirements: &PaymentRequirements) -> Result<Self, ErrorReason> {
        if requirements.scheme != SCHEME {
            return Err(ErrorReason::UnsupportedScheme);
        }
        let extra: InvoiceExtra =
            serde_json::from_value(Value::Object(requirements.extra.clone())).map_err(|_| ErrorReason::InvoiceTerms)?;
        let token = ExactTerms::of_token(requirements)?;
        let invoice = extra.invoice;
        if invoice.payee != token.pay_to
            || invoice.token != token.asset
            || invoice.amount != token.amount
            || invoice.network != requirements.network
        {
            return Err(ErrorReason::InvoiceTerms);
        }
        let invoice_id = invoice.id(token.chain_id, extra.registry);
        Ok(Self { token, registry: extra.registry, invoice, invoice_id, issuer_signature: extra.signature })
    }

    /// Checks the seller's signature as an EOA's (65 bytes, low `s`, `v` 27 or 28). A seller whose issuer is
    /// a contract wallet is checked on chain (ERC-1271) by the registry itself.
    pub fn check_issuer(&self) -> Result<(), ErrorReason> {
        crate::signature::recover_eoa(&self.issuer_signature, self.invoice_id, self.invoice.issuer)
            .map_err(|_| ErrorReason::InvoiceIssuerSignature)
    }

    /// Checks that the invoice is for `resource_url` and can still be paid `margin` seconds from `now`.
    pub fn check_for(&self, resource_url: &str, now: u64) -> Result<(), ErrorReason> {
        if self.invoice.resource != resource_hash(resource_url) {
            return Err(ErrorReason::InvoiceResourceMismatch);
        }
        if self.invoice.deadline < U256::from(now.saturating_add(VALID_BEFORE_MARGIN)) {
            return Err(ErrorReason::InvoiceExpired);
        }
        Ok(())
    }
}

/// A seller's side: the `invoice` option for `invoice`, signed by `issuer` (whose address must be the
/// invoice's issuer).
pub fn offer(
    invoice: Invoice,
    registry: Address,
    token_name: &str,
    token_version: &str,
    max_timeout_seconds: u64,
    issuer: &impl SignerSync,
) -> Result<PaymentRequirements, alloy::signers::Error> {
    let signature = invoice.sign(registry, issuer)?;
    let requirements = PaymentRequirements {
        scheme: SCHEME.into(),
        network: invoice.network.clone(),
        amount: invoice.amount.to_string(),
        asset: invoice.token.to_checksum(None),
        pay_to: invoice.payee.to_checksum(None),
        max_timeout_seconds,
        extra: Map::new(),
    };
    let extra = InvoiceExtra { name: token_name.into(), version: token_version.into(), registry, invoice, signature };
    let Value::Object(extra) = serde_json::to_value(extra).expect("the invoice extra always serializes") else {
        unreachable!("a struct serializes to a JSON object")
    };
    Ok(PaymentRequirements { extra, ..requirements })
}

/// Why an agent would not pay an invoice option.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    /// The option or its invoice is not acceptable (bad signature, other terms, other resource, too late).
    #[error("the invoice option is not acceptable: {0}")]
    Refused(ErrorReason),
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signer(#[from] alloy::signers::Error),
}

/// An agent's side: checks the seller's signature and the invoice's terms against the option and the
/// resource it asked for, then signs the `ReceiveWithAuthorization` that pays it through the registry.
pub fn pay(
    requirements: &PaymentRequirements,
    resource: &ResourceInfo,
    signer: &impl SignerSync,
    from: Address,
    now: u64,
) -> Result<PaymentPayload, PayError> {
    let terms = InvoiceTerms::from_requirements(requirements).map_err(PayError::Refused)?;
    terms.check_issuer().map_err(PayError::Refused)?;
    terms.check_for(&resource.url, now).map_err(PayError::Refused)?;
    let valid_before = U256::from(now.saturating_add(requirements.max_timeout_seconds)).min(terms.invoice.deadline);
    let authorization = Authorization {
        from,
        to: terms.registry,
        value: terms.invoice.amount,
        valid_after: U256::ZERO,
        valid_before,
        nonce: terms.invoice_id,
    };
    let signature = signer.sign_typed_data_sync(&receive_message(&authorization), &terms.token.domain)?;
    let payload = ExactEvmPayload { signature: signature.as_bytes().into(), authorization };
    Ok(PaymentPayload {
        x402_version: X402_V2,
        resource: Some(resource.clone()),
        accepted: requirements.clone(),
        payload: serde_json::to_value(payload).expect("the payload always serializes"),
        extensions: None,
    })
}

pub(crate) fn receive_message(a: &Authorization) -> ReceiveWithAuthorization {
    ReceiveWithAuthorization {
        from: a.from,
        to: a.to,
        value: a.value,
        validAfter: a.valid_after,
        validBefore: a.valid_before,
        nonce: a.nonce,
    }
}

/// An invoice payment that passed every check that needs no chain. What remains for a facilitator: the
/// invoice is unpaid and not cancelled, the payer's signature if the payer is a contract, the issuer's if
/// the issuer is a contract, balance, and a simulation of `payWithAuthorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The option's terms.
    pub terms: InvoiceTerms,
    /// The payer's authorization to the registry.
    pub authorization: Authorization,
    /// The payer's signature.
    pub signature: Bytes,
}

impl Checked {
    /// The payer.
    pub fn payer(&self) -> Address {
        self.authorization.from
    }

    /// Checks, at `now`, that the invoice's deadline has not passed and the authorization's time window.
    pub fn check_time(&self, now: u64) -> Result<(), ErrorReason> {
        if self.terms.invoice.deadline < U256::from(now) {
            return Err(ErrorReason::InvoiceExpired);
        }
        self.authorization.check_time(now)
    }

    /// The EIP-712 digest the payer signed (a `ReceiveWithAuthorization` in the token's domain).
    pub fn signing_hash(&self) -> B256 {
        receive_message(&self.authorization).eip712_signing_hash(&self.terms.token.domain)
    }

    /// Checks the payer's signature as an EOA's.
    pub fn check_eoa_signature(&self) -> Result<(), ErrorReason> {
        crate::signature::recover_eoa(&self.signature, self.signing_hash(), self.payer())
    }
}

/// Every check of an invoice payment that needs no chain: [`check_terms`], then the invoice's deadline and
/// the authorization's time window against `now`.
pub fn check(payment: &PaymentPayload, requirements: &PaymentRequirements, now: u64) -> Result<Checked, ErrorReason> {
    let checked = check_terms(payment, requirements)?;
    checked.check_time(now)?;
    Ok(checked)
}

/// The checks of an invoice payment that depend neither on the chain nor on the time: the option is well
/// formed and consistent, and the authorization pays exactly the invoice amount to the registry with the
/// invoice id as nonce. (The seller's signature is [`InvoiceTerms::check_issuer`].)
pub fn check_terms(payment: &PaymentPayload, requirements: &PaymentRequirements) -> Result<Checked, ErrorReason> {
    if payment.accepted.scheme != SCHEME {
        return Err(ErrorReason::UnsupportedScheme);
    }
    if payment.accepted.network != requirements.network {
        return Err(ErrorReason::ExactEvmNetworkMismatch);
    }
    let terms = InvoiceTerms::from_requirements(requirements)?;
    let payload: ExactEvmPayload =
        serde_json::from_value(payment.payload.clone()).map_err(|_| ErrorReason::InvalidPayload)?;
    let authorization = payload.authorization;
    if authorization.to != terms.registry {
        return Err(ErrorReason::ExactEvmRecipientMismatch);
    }
    if authorization.nonce != terms.invoice_id {
        return Err(ErrorReason::InvoiceNonceMismatch);
    }
    if authorization.value != terms.invoice.amount {
        return Err(ErrorReason::ExactEvmValueMismatch);
    }
    Ok(Checked { terms, authorization, signature: payload.signature })
}
