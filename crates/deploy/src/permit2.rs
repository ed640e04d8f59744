//! Permit2 and x402's two Permit2 proxies on local chains, at the addresses they have on public chains
//! and that the official SDK hard-codes.
//!
//! Permit2's runtime code comes from `contracts/permit2/Permit2.json` (built by `tools/permit2` from
//! Uniswap's sources with their compiler and settings). Its EIP-712 immutables stay as the compiler leaves
//! them (zero), so Permit2 builds its domain separator from the chain's id and its own address. The
//! proxies' runtime code is their creation code run once on a scratch chain with Permit2's canonical
//! address as constructor argument, which bakes it into the immutable `PERMIT2`.

use crate::DeployError;
use alloy::{
    primitives::{Address, Bytes, address},
    sol_types::SolConstructor,
};
use quittance_bindings::{X402ExactPermit2Proxy, X402UptoPermit2Proxy};
use quittance_chain::{DevChain, revm::deployed_code};

/// Permit2's canonical address.
pub const PERMIT2: Address = address!("0x000000000022D473030F116dDEE9F6B43aC78BA3");
/// The canonical `x402ExactPermit2Proxy`.
pub const EXACT_PERMIT2_PROXY: Address = address!("0x402085c248EeA27D92E8b30b2C58ed07f9E20001");
/// The canonical `x402UptoPermit2Proxy`.
pub const UPTO_PERMIT2_PROXY: Address = address!("0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002");

/// The committed Permit2 artifact.
const PERMIT2_ARTIFACT: &str = include_str!("../../../contracts/permit2/Permit2.json");

/// Permit2's runtime code, from the committed artifact.
pub fn permit2_code() -> Result<Bytes, DeployError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Artifact {
        runtime_code: Bytes,
    }
    serde_json::from_str::<Artifact>(PERMIT2_ARTIFACT)
        .map(|a| a.runtime_code)
        .map_err(|e| DeployError::Manifest(format!("contracts/permit2/Permit2.json: {e}")))
}

/// The proxies' runtime code with Permit2's canonical address baked in: (exact, upto).
pub fn proxy_codes() -> Result<(Bytes, Bytes), DeployError> {
    let init = |code: &Bytes, args: Vec<u8>| -> Bytes { [code.as_ref(), &args].concat().into() };
    let exact = init(
        &X402ExactPermit2Proxy::BYTECODE,
        X402ExactPermit2Proxy::constructorCall { permit2: PERMIT2 }.abi_encode(),
    );
    let upto =
        init(&X402UptoPermit2Proxy::BYTECODE, X402UptoPermit2Proxy::constructorCall { permit2: PERMIT2 }.abi_encode());
    Ok((deployed_code(1, exact)?, deployed_code(1, upto)?))
}

/// Installs Permit2 and both x402 Permit2 proxies at their canonical addresses on a development chain
/// (anvil through `anvil_setCode`, the in-process chain through its state). Installing again is harmless.
pub async fn install_permit2<C: DevChain>(chain: &C) -> Result<(), DeployError> {
    let (exact, upto) = proxy_codes()?;
    chain.set_code(PERMIT2, permit2_code()?).await?;
    chain.set_code(EXACT_PERMIT2_PROXY, exact).await?;
    chain.set_code(UPTO_PERMIT2_PROXY, upto).await?;
    Ok(())
}
