//! Signature checks and EIP-712 domains shared by the schemes.

use crate::ErrorReason;
use alloy::{
    primitives::{Address, B256, U256},
    sol_types::Eip712Domain,
};

/// The EIP-712 domain of the contract at `contract` on `chain_id` named `name`, version `version` (a token,
/// the registry, the escrow, the channels contract).
pub(crate) fn contract_domain(name: &str, version: &str, chain_id: u64, contract: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(name.to_owned().into()),
        Some(version.to_owned().into()),
        Some(U256::from(chain_id)),
        Some(contract),
        None,
    )
}

/// Recovers a 65-byte ECDSA signature as the contracts' OpenZeppelin ECDSA does (`v` 27/28, low `s`).
pub(crate) fn recover_eoa(signature: &[u8], digest: B256, expected: Address) -> Result<(), ErrorReason> {
    let bytes: &[u8; 65] = signature.try_into().map_err(|_| ErrorReason::ExactEvmFailedToParseSignature)?;
    if !matches!(bytes[64], 27 | 28) {
        return Err(ErrorReason::ExactEvmSignature);
    }
    let signature =
        alloy::primitives::Signature::from_raw_array(bytes).map_err(|_| ErrorReason::ExactEvmFailedToParseSignature)?;
    if signature.normalize_s().is_some() {
        return Err(ErrorReason::ExactEvmSignature);
    }
    match signature.recover_address_from_prehash(&digest) {
        Ok(signer) if signer == expected => Ok(()),
        _ => Err(ErrorReason::ExactEvmSignature),
    }
}
