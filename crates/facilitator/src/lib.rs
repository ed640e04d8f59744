#![doc = include_str!("../README.md")]

mod channels;
mod cross_chain;
pub mod http;
mod ledger;
mod settle;
mod verify;

pub use channels::ClaimReport;
pub use ledger::{ChannelRecord, Entry, Ledger, LedgerError, SqliteLedger};
pub use settle::{ConfirmError, SettleConfig, confirm_on_chain};

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use quittance_bindings::{IERC3009, InvoiceRegistry, invoice_registry::IInvoiceRegistry};
use quittance_chain::{Chain, ChainError};
use quittance_x402::{Network, SupportedKind, SupportedResponse, X402_V2, channel, crosschain, exact, invoice};
use std::{collections::BTreeMap, sync::Arc};

/// Why a facilitator could not start.
#[derive(Debug, thiserror::Error)]
pub enum FacilitatorError {
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A facilitator for one chain: verifies and settles x402 payments of the `exact`, `invoice` and `channel`
/// schemes, and `cross-chain-invoice` payments from its chain to the chains it watches
/// ([`Facilitator::with_destination`]), recording every settlement in a durable [`Ledger`] so that none is
/// lost or made twice.
#[derive(Debug)]
pub struct Facilitator<C> {
    chain: C,
    signer: PrivateKeySigner,
    address: Address,
    chain_id: u64,
    network: String,
    ledger: Arc<dyn Ledger>,
    config: SettleConfig,
    /// The next nonce of the facilitator's account; `None` until read from the chain (or after a rejected
    /// broadcast). Held while a transaction is signed, recorded and broadcast, so nonces never collide.
    next_nonce: tokio::sync::Mutex<Option<u64>>,
    /// Assets and registries seen with code (code does not go away).
    deployed: std::sync::Mutex<std::collections::HashSet<Address>>,
    /// Chains it watches (sends nothing to) by CAIP-2 network: the destinations of cross-chain payments.
    destinations: BTreeMap<String, C>,
}

impl<C: Chain> Facilitator<C> {
    /// A facilitator on `chain` that sends its transactions with `signer` and records them in `ledger`.
    /// Settlements a previous run left unfinished are resumed first (re-broadcast exactly as signed, or
    /// concluded from their receipts).
    pub async fn new(
        chain: C,
        signer: PrivateKeySigner,
        ledger: Arc<dyn Ledger>,
        config: SettleConfig,
    ) -> Result<Self, FacilitatorError> {
        let chain_id = chain.chain_id().await?;
        let facilitator = Self {
            address: signer.address(),
            network: Network::eip155(chain_id).to_string(),
            chain,
            signer,
            chain_id,
            ledger,
            config,
            next_nonce: tokio::sync::Mutex::new(None),
            deployed: Default::default(),
            destinations: BTreeMap::new(),
        };
        facilitator.resume().await?;
        Ok(facilitator)
    }

    /// The CAIP-2 network it serves.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The account its transactions come from.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The chain it uses.
    pub fn chain(&self) -> &C {
        &self.chain
    }

    /// What it serves, as `/supported` answers.
    pub fn supported(&self) -> SupportedResponse {
        let kind = |scheme: &str| SupportedKind {
            x402_version: X402_V2,
            scheme: scheme.into(),
            network: self.network.clone(),
            extra: None,
        };
        let mut kinds = vec![kind(exact::SCHEME), kind(invoice::SCHEME), kind(channel::SCHEME)];
        if !self.destinations.is_empty() {
            // Paid here, settled on one of the watched networks.
            let destinations = self.destinations.keys().cloned().collect::<Vec<_>>();
            let extra = serde_json::Map::from_iter([("destinations".to_owned(), serde_json::json!(destinations))]);
            kinds.push(SupportedKind { extra: Some(extra), ..kind(crosschain::SCHEME) });
        }
        SupportedResponse {
            kinds,
            extensions: vec![],
            signers: BTreeMap::from([("eip155:*".to_owned(), vec![self.address.to_checksum(None)])]),
        }
    }
}

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

/// The token call that settles an `exact` payment (the `bytes signature` overload, valid for EOAs and
/// ERC-1271 wallets alike).
pub(crate) fn exact_settlement(checked: &exact::Checked) -> IERC3009::transferWithAuthorization_0Call {
    let a = &checked.authorization;
    IERC3009::transferWithAuthorization_0Call {
        from: a.from,
        to: a.to,
        value: a.value,
        validAfter: a.valid_after,
        validBefore: a.valid_before,
        nonce: a.nonce,
        signature: checked.signature.clone(),
    }
}

/// The registry call that settles an `invoice` payment.
pub(crate) fn invoice_settlement(checked: &invoice::Checked) -> InvoiceRegistry::payWithAuthorizationCall {
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
