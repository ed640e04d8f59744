//! The batch-settlement contracts installed at their canonical addresses answer with the x402 domain there.

use alloy::{
    primitives::{Address, B256, keccak256},
    sol_types::{SolStruct, eip712_domain},
};
use quittance_bindings::IBatchSettlement;
use quittance_chain::{Chain, RpcChain, anvil::spawn_anvil_with_chain_id, read, revm::RevmChain};
use quittance_deploy::{BATCH_SETTLEMENT, ERC3009_DEPOSIT_COLLECTOR, install_batch_settlement};

fn config() -> IBatchSettlement::ChannelConfig {
    IBatchSettlement::ChannelConfig {
        payer: Address::repeat_byte(1),
        payerAuthorizer: Address::ZERO,
        receiver: Address::repeat_byte(2),
        receiverAuthorizer: Address::repeat_byte(3),
        token: Address::repeat_byte(4),
        withdrawDelay: alloy::primitives::aliases::U40::from(900u64),
        salt: B256::ZERO,
    }
}

async fn check<C: Chain>(chain: &C, chain_id: u64) -> eyre::Result<()> {
    assert!(!chain.code(BATCH_SETTLEMENT).await?.is_empty());
    assert!(!chain.code(ERC3009_DEPOSIT_COLLECTOR).await?.is_empty());
    let typehash = read(chain, BATCH_SETTLEMENT, IBatchSettlement::CHANNEL_CONFIG_TYPEHASHCall {}).await?;
    assert_eq!(
        typehash,
        keccak256(
            "ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)"
        )
    );
    // The channel id is the EIP-712 hash under the x402 domain at the canonical address.
    let domain = eip712_domain! {
        name: "x402 Batch Settlement",
        version: "1",
        chain_id: chain_id,
        verifying_contract: BATCH_SETTLEMENT,
    };
    let id = read(chain, BATCH_SETTLEMENT, IBatchSettlement::getChannelIdCall { config: config() }).await?;
    assert_eq!(id, config().eip712_signing_hash(&domain));
    let state = read(chain, BATCH_SETTLEMENT, IBatchSettlement::channelsCall { channelId: id }).await?;
    assert_eq!((state.balance, state.totalClaimed), (0, 0));
    Ok(())
}

#[tokio::test]
async fn installs_on_the_in_process_chain() -> eyre::Result<()> {
    let chain = RevmChain::new(1337, 1_750_000_000);
    install_batch_settlement(&chain).await?;
    install_batch_settlement(&chain).await?; // again: harmless
    check(&chain, 1337).await
}

#[tokio::test]
async fn installs_on_anvil() -> eyre::Result<()> {
    let anvil = spawn_anvil_with_chain_id(31337)?;
    let chain = RpcChain::http(anvil.endpoint_url());
    install_batch_settlement(&chain).await?;
    check(&chain, 31337).await
}
