#![doc = include_str!("../README.md")]

mod verify;

use alloy::primitives::Address;
use quittance_bindings::invoice_registry::IInvoiceRegistry;
use quittance_chain::{Chain, ChainError};
use quittance_x402::{Network, SupportedKind, SupportedResponse, X402_V2, exact, invoice};
use std::collections::BTreeMap;

/// A facilitator for one chain: verifies (and, to come, settles) x402 payments of the `exact` and
/// `invoice` schemes on it.
#[derive(Debug, Clone)]
pub struct Facilitator<C> {
    chain: C,
    address: Address,
    network: String,
}

impl<C: Chain> Facilitator<C> {
    /// A facilitator on `chain` whose transactions come from `address` (simulations run from it too).
    pub async fn new(chain: C, address: Address) -> Result<Self, ChainError> {
        let network = Network::eip155(chain.chain_id().await?).to_string();
        Ok(Self {
            chain,
            address,
            network,
        })
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
        SupportedResponse {
            kinds: vec![kind(exact::SCHEME), kind(invoice::SCHEME)],
            extensions: vec![],
            signers: BTreeMap::from([(
                "eip155:*".to_owned(),
                vec![self.address.to_checksum(None)],
            )]),
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
