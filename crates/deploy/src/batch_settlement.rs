//! x402's batch-settlement contract and its ERC-3009 deposit collector on local chains, at the addresses the
//! official SDK hard-codes.
//!
//! Both contracts are Quittance's own implementations of the ABI and EIP-712 domain of the x402 specification
//! (`contracts/batch/`). Neither has a constructor nor immutables (the EIP-712 domain is computed from the
//! contract's own address and the chain id on each use), so their runtime code from the committed artifacts
//! works unchanged at the canonical addresses.

use crate::DeployError;
use alloy::primitives::{Address, Bytes, address};
use quittance_chain::DevChain;

/// The canonical x402 batch-settlement contract.
pub const BATCH_SETTLEMENT: Address = address!("0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003");
/// The canonical ERC-3009 deposit collector of batch-settlement.
pub const ERC3009_DEPOSIT_COLLECTOR: Address = address!("0x4020806089470a89826cB9fB1f4059150b550004");

/// The runtime code in a committed bindings artifact.
fn runtime_code(name: &str, artifact: &str) -> Result<Bytes, DeployError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Artifact {
        deployed_bytecode: Object,
    }
    #[derive(serde::Deserialize)]
    struct Object {
        object: Bytes,
    }
    serde_json::from_str::<Artifact>(artifact)
        .map(|a| a.deployed_bytecode.object)
        .map_err(|e| DeployError::Manifest(format!("crates/bindings/artifacts/{name}.json: {e}")))
}

/// The runtime codes of (the batch-settlement contract, the ERC-3009 deposit collector).
pub fn batch_settlement_codes() -> Result<(Bytes, Bytes), DeployError> {
    Ok((
        runtime_code("BatchSettlement", include_str!("../../bindings/artifacts/BatchSettlement.json"))?,
        runtime_code("Erc3009DepositCollector", include_str!("../../bindings/artifacts/Erc3009DepositCollector.json"))?,
    ))
}

/// Installs the batch-settlement contract and its ERC-3009 deposit collector at their canonical addresses on a
/// development chain (anvil through `anvil_setCode`, the in-process chain through its state). Installing again
/// is harmless: storage (channels, claims) is kept.
pub async fn install_batch_settlement<C: DevChain>(chain: &C) -> Result<(), DeployError> {
    let (settlement, collector) = batch_settlement_codes()?;
    chain.set_code(BATCH_SETTLEMENT, settlement).await?;
    chain.set_code(ERC3009_DEPOSIT_COLLECTOR, collector).await?;
    Ok(())
}
