//! What every x402 scheme paid through Permit2 shares (`exact` with `assetTransferMethod: "permit2"`,
//! `upto`): Permit2's canonical address and EIP-712 domain, its `TokenPermissions`, the permitted token and
//! amount as they travel, the deadline margin, where a nonce sits in Permit2's nonce bitmap, and the
//! EIP-2612 permit a payer signs to approve Permit2 without gas.

use crate::exact::decimal;
use alloy::{
    primitives::{Address, U256, address},
    sol,
    sol_types::Eip712Domain,
};
use serde::{Deserialize, Serialize};

sol! {
    /// Permit2's token and amount.
    #[derive(Debug, PartialEq, Eq)]
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    /// EIP-2612's `Permit`, the message a payer signs in the token's domain to approve a spender.
    #[derive(Debug, PartialEq, Eq)]
    struct Permit {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
    }
}

/// Permit2, at its canonical address on every chain.
pub const PERMIT2_ADDRESS: Address = address!("0x000000000022D473030F116dDEE9F6B43aC78BA3");

/// A permit must stay valid at least this many seconds past now (the official facilitator's margin).
pub const DEADLINE_MARGIN: u64 = 6;

/// Permit2's EIP-712 domain on `chain_id`: named `Permit2`, no version.
pub fn permit2_domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(Some("Permit2".into()), None, Some(U256::from(chain_id)), Some(PERMIT2_ADDRESS), None)
}

/// The permitted token and amount, as they travel in a `permit2Authorization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permitted {
    /// The token.
    #[serde(with = "crate::exact::checksummed")]
    pub token: Address,
    /// The amount (for `upto`: the maximum).
    #[serde(with = "decimal")]
    pub amount: U256,
}

impl From<&Permitted> for TokenPermissions {
    fn from(p: &Permitted) -> Self {
        Self { token: p.token, amount: p.amount }
    }
}

/// Where Permit2 keeps an unordered nonce: the word of `nonceBitmap(owner, word)` and the bit in it.
/// A nonce is used once its bit is set.
pub fn nonce_position(nonce: U256) -> (U256, U256) {
    let word = nonce >> 8;
    let bit = U256::from(1) << (nonce.as_limbs()[0] & 0xff) as usize;
    (word, bit)
}

/// A fresh Permit2 nonce from 32 random bytes (Permit2's nonces are unordered: any unused value will do).
pub fn nonce_from(random: [u8; 32]) -> U256 {
    U256::from_be_bytes(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_sits_in_its_word_at_its_low_byte() {
        assert_eq!(nonce_position(U256::from(0)), (U256::ZERO, U256::from(1)));
        assert_eq!(nonce_position(U256::from(257)), (U256::from(1), U256::from(2)));
        assert_eq!(nonce_position(U256::MAX), (U256::MAX >> 8, U256::from(1) << 255));
    }
}
