//! The facilitator's signed receipt: what was settled, where, and by which transaction, signed with the
//! facilitator's key (EIP-712). A third party checks it offline (who signed it, for which payment) and,
//! when it has a node, against the chain (the transaction succeeded and moved exactly that).

use crate::SettleResponse;
use alloy::{
    primitives::{Address, B256, Bytes, U256},
    signers::SignerSync,
    sol,
    sol_types::{Eip712Domain, SolStruct},
};
use serde::{Deserialize, Serialize};

sol! {
    /// A settled payment, as the facilitator attests it.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PaymentReceipt {
        string network;
        bytes32 transaction;
        uint64 blockNumber;
        address payer;
        address payee;
        address token;
        uint256 amount;
        bytes32 invoiceId;
    }
}

/// The EIP-712 domain name of receipts.
pub const RECEIPT_DOMAIN_NAME: &str = "Quittance Payment Receipt";
/// The EIP-712 domain version of receipts.
pub const RECEIPT_DOMAIN_VERSION: &str = "1";

/// A receipt with the facilitator's signature, as it travels in `SettleResponse.extra.receipt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedReceipt {
    /// What was settled.
    pub receipt: PaymentReceipt,
    /// The facilitator that signed it.
    #[serde(with = "crate::exact::checksummed")]
    pub facilitator: Address,
    /// Its EIP-712 signature.
    pub signature: Bytes,
}

/// Why a receipt does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The receipt's network is not an EVM network.
    #[error("the receipt's network {0:?} is not an EVM network")]
    Network(String),
    /// The signature is not the named facilitator's.
    #[error("the receipt is not signed by {0}")]
    Signature(Address),
    /// The signer is not the facilitator expected.
    #[error("the receipt is signed by {found}, not by {expected}")]
    Facilitator {
        /// Who signed.
        found: Address,
        /// Who was expected.
        expected: Address,
    },
    /// The settlement response carries no receipt.
    #[error("the settlement response carries no receipt")]
    Missing,
}

fn domain(network: &str) -> Result<Eip712Domain, ReceiptError> {
    let chain_id = network
        .parse::<crate::Network>()
        .ok()
        .and_then(|n| n.chain_id().ok())
        .ok_or_else(|| ReceiptError::Network(network.into()))?;
    Ok(Eip712Domain::new(
        Some(RECEIPT_DOMAIN_NAME.into()),
        Some(RECEIPT_DOMAIN_VERSION.into()),
        Some(U256::from(chain_id)),
        None,
        None,
    ))
}

impl SignedReceipt {
    /// Signs `receipt` with the facilitator's key.
    pub fn sign(receipt: PaymentReceipt, facilitator: &impl SignerSync) -> Result<Self, alloy::signers::Error> {
        let domain = domain(&receipt.network).map_err(alloy::signers::Error::other)?;
        let signature = facilitator.sign_typed_data_sync(&receipt, &domain)?;
        let signer = signature
            .recover_address_from_prehash(&receipt.eip712_signing_hash(&domain))
            .map_err(alloy::signers::Error::other)?;
        Ok(Self { receipt, facilitator: signer, signature: signature.as_bytes().into() })
    }

    /// Checks offline that the named facilitator signed exactly this receipt, and, with `expected`, that it is
    /// the facilitator the caller trusts.
    pub fn verify(&self, expected: Option<Address>) -> Result<(), ReceiptError> {
        let digest = self.receipt.eip712_signing_hash(&domain(&self.receipt.network)?);
        crate::signature::recover_eoa(&self.signature, digest, self.facilitator)
            .map_err(|_| ReceiptError::Signature(self.facilitator))?;
        match expected {
            Some(expected) if expected != self.facilitator => {
                Err(ReceiptError::Facilitator { found: self.facilitator, expected })
            }
            _ => Ok(()),
        }
    }

    /// The receipt of a settlement response (`extra.receipt`).
    pub fn from_response(response: &SettleResponse) -> Result<Self, ReceiptError> {
        let value = response.extra.as_ref().and_then(|e| e.get("receipt")).ok_or(ReceiptError::Missing)?;
        serde_json::from_value(value.clone()).map_err(|_| ReceiptError::Missing)
    }
}

/// The invoice id of a receipt for an `exact` payment (which pays no invoice).
pub const NO_INVOICE: B256 = B256::ZERO;
