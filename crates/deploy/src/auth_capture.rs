//! x402 `auth-capture` v1.1 on local chains: Quittance's `AuthCaptureCollector` at the address of the canonical
//! EIP-3009 token collector, the only `to` the official client signs `ReceiveWithAuthorization` to.
//!
//! The collector has two immutables: the `PaymentEscrow` payments land in (ours, wherever it is deployed), and
//! the escrow address payers' nonces are bound to (the canonical `AuthCaptureEscrow`, as the client computes
//! the nonce). Its runtime code is its creation code run once on a scratch chain with both as constructor
//! arguments, which bakes them in; the same code then works at the canonical address on any chain (the nonce
//! reads the chain id when it is used).

use crate::DeployError;
use alloy::{
    primitives::{Address, Bytes, address},
    sol_types::SolConstructor,
};
use quittance_bindings::AuthCaptureCollector;
use quittance_chain::{DevChain, revm::deployed_code};

/// The canonical v1.1 `AuthCaptureEscrow`: the escrow address the client binds each authorization's nonce to.
pub const AUTH_CAPTURE_ESCROW: Address = address!("0xf96815976523E00e65Be8f34cA5e64b4f41EB19c");
/// The canonical v1.1 EIP-3009 token collector: the `to` of the client's `ReceiveWithAuthorization`.
pub const AUTH_CAPTURE_EIP3009_COLLECTOR: Address = address!("0x8612dfdc421f80336cd14E8EF9cb1E765dB5ab88");
/// The canonical v1.1 Permit2 token collector: the spender of the client's Permit2 transfers (not served by
/// Quittance yet).
pub const AUTH_CAPTURE_PERMIT2_COLLECTOR: Address = address!("0xD69831Aed5bfe262067ec4c751f4F830EcdD446e");
/// The canonical v1.1 operator refund collector (not used by Quittance: refunds come from its escrow).
pub const AUTH_CAPTURE_REFUND_COLLECTOR: Address = address!("0x7a03443724d14798c4AB4622F1DAAcA761Fea486");

/// The runtime code of an `AuthCaptureCollector` sponsoring into the `PaymentEscrow` at `escrow`, with nonces
/// bound to [`AUTH_CAPTURE_ESCROW`].
pub fn auth_capture_collector_code(escrow: Address) -> Result<Bytes, DeployError> {
    let args = AuthCaptureCollector::constructorCall { escrow_: escrow, authCaptureEscrow_: AUTH_CAPTURE_ESCROW };
    let init: Bytes = [AuthCaptureCollector::BYTECODE.as_ref(), &args.abi_encode()].concat().into();
    Ok(deployed_code(1, init)?)
}

/// Installs Quittance's `AuthCaptureCollector`, sponsoring into the `PaymentEscrow` at `escrow`, at
/// [`AUTH_CAPTURE_EIP3009_COLLECTOR`] on a development chain (anvil through `anvil_setCode`, the in-process
/// chain through its state). Installing again is harmless; installing with another escrow rebinds it.
pub async fn install_auth_capture<C: DevChain>(chain: &C, escrow: Address) -> Result<(), DeployError> {
    chain.set_code(AUTH_CAPTURE_EIP3009_COLLECTOR, auth_capture_collector_code(escrow)?).await?;
    Ok(())
}
