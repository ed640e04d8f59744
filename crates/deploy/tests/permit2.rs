//! Permit2 and the x402 proxies installed on both local chains: the SDK's Permit2 domain, and the proxies
//! pointing at Permit2.

use alloy::{primitives::keccak256, sol_types::SolValue};
use quittance_bindings::{ISignatureTransfer, IX402Permit2Proxy};
use quittance_chain::{DevChain, RpcChain, anvil::spawn_anvil, read, revm::RevmChain};
use quittance_deploy::{EXACT_PERMIT2_PROXY, PERMIT2, UPTO_PERMIT2_PROXY, install_permit2};

/// The SDK's Permit2 domain `{name: "Permit2", chainId, verifyingContract: PERMIT2}`, hashed by EIP-712.
fn sdk_domain(chain_id: u64) -> alloy::primitives::B256 {
    let type_hash = keccak256("EIP712Domain(string name,uint256 chainId,address verifyingContract)");
    keccak256((type_hash, keccak256("Permit2"), alloy::primitives::U256::from(chain_id), PERMIT2).abi_encode())
}

async fn installed<C: DevChain>(chain: &C) -> eyre::Result<()> {
    install_permit2(chain).await?;
    let chain_id = chain.chain_id().await?;
    let domain = read(chain, PERMIT2, ISignatureTransfer::DOMAIN_SEPARATORCall {}).await?;
    assert_eq!(domain, sdk_domain(chain_id), "Permit2's domain on chain {chain_id}");
    for proxy in [EXACT_PERMIT2_PROXY, UPTO_PERMIT2_PROXY] {
        assert_eq!(read(chain, proxy, IX402Permit2Proxy::PERMIT2Call {}).await?, PERMIT2);
    }
    // Installing again changes nothing.
    let code = chain.code(EXACT_PERMIT2_PROXY).await?;
    install_permit2(chain).await?;
    assert_eq!(chain.code(EXACT_PERMIT2_PROXY).await?, code);
    Ok(())
}

#[tokio::test]
async fn permit2_and_the_proxies_install_on_the_in_process_chain() -> eyre::Result<()> {
    installed(&RevmChain::new(31337, 1_750_000_000)).await?;
    installed(&RevmChain::new(8453, 1_750_000_000)).await
}

#[tokio::test]
async fn permit2_and_the_proxies_install_on_anvil() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    installed(&RpcChain::http(anvil.endpoint_url())).await
}
