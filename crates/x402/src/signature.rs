//! Signature checks shared by the schemes.

use crate::ErrorReason;
use alloy::primitives::{Address, B256};

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
