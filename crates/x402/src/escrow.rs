//! The payer's side of Quittance's payment escrow: a payment's id, and the EIP-3009 authorization that
//! brings funds into escrow for it, computed offline (`PaymentEscrow.paymentId`, `authorizationNonce`).

use crate::{channel::ReceiveWithAuthorization, signature::contract_domain};
use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::SignerSync,
    sol,
    sol_types::{Eip712Domain, SolStruct, SolValue},
};

sol! {
    /// `IPaymentEscrow.PaymentTerms`: what the payer consents to.
    #[derive(Debug, PartialEq, Eq)]
    struct PaymentTerms {
        address operator;
        address payer;
        address payee;
        address token;
        uint256 maxAmount;
        uint48 preApprovalExpiry;
        uint48 authorizationExpiry;
        uint48 refundExpiry;
        uint16 maxFeeBps;
        address feeReceiver;
        bytes32 salt;
        bytes32 invoiceId;
    }
}

/// The escrow's EIP-712 domain name.
pub const DOMAIN_NAME: &str = "Quittance Payment Escrow";
/// The escrow's EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";

/// The escrow's EIP-712 domain on `chain_id` at `escrow`.
pub fn domain(chain_id: u64, escrow: Address) -> Eip712Domain {
    contract_domain(DOMAIN_NAME, DOMAIN_VERSION, chain_id, escrow)
}

impl PaymentTerms {
    /// The payment id: the terms' EIP-712 digest in the escrow's domain.
    pub fn id(&self, chain_id: u64, escrow: Address) -> B256 {
        self.eip712_signing_hash(&domain(chain_id, escrow))
    }
}

/// The EIP-3009 nonce of a payment's authorization number `index` (0 for the first, then top-ups).
pub fn authorization_nonce(payment_id: B256, index: u64) -> B256 {
    if index == 0 { payment_id } else { keccak256((payment_id, U256::from(index)).abi_encode()) }
}

/// The payer signs the EIP-3009 `ReceiveWithAuthorization` that brings `amount` into `escrow` for
/// `terms` as authorization number `index`, valid until `valid_before`, in the token's EIP-712 domain
/// (`token_name`, `token_version`); returns the `data` of `authorize(terms, amount, Authorization, data)`.
#[allow(clippy::too_many_arguments)]
pub fn sign_authorization(
    terms: &PaymentTerms,
    amount: U256,
    index: u64,
    valid_before: u64,
    chain_id: u64,
    escrow: Address,
    token_name: &str,
    token_version: &str,
    signer: &impl SignerSync,
) -> alloy::signers::Result<Bytes> {
    let message = ReceiveWithAuthorization {
        from: terms.payer,
        to: escrow,
        value: amount,
        validAfter: U256::ZERO,
        validBefore: U256::from(valid_before),
        nonce: authorization_nonce(terms.id(chain_id, escrow), index),
    };
    let token = contract_domain(token_name, token_version, chain_id, terms.token);
    let signature = signer.sign_typed_data_sync(&message, &token)?;
    Ok((U256::ZERO, U256::from(valid_before), Bytes::from(signature.as_bytes().to_vec())).abi_encode_params().into())
}
