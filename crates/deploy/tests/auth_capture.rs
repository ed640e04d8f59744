//! Quittance's `AuthCaptureCollector` installed at the canonical v1.1 EIP-3009 token collector: bound to our
//! escrow, and computing the nonce exactly as the official client does (payer zeroed, bound to the chain id and
//! the canonical `AuthCaptureEscrow`).

use alloy::{
    primitives::{
        Address, B256, U256,
        aliases::{U48, U120},
        keccak256,
    },
    sol_types::SolValue,
};
use quittance_bindings::IAuthCaptureCollector;
use quittance_chain::{DevChain, RpcChain, anvil::spawn_anvil_with_chain_id, read, revm::RevmChain};
use quittance_deploy::{AUTH_CAPTURE_EIP3009_COLLECTOR, AUTH_CAPTURE_ESCROW, install_auth_capture};

fn info(payer: Address) -> IAuthCaptureCollector::PaymentInfo {
    IAuthCaptureCollector::PaymentInfo {
        operator: Address::repeat_byte(1),
        payer,
        receiver: Address::repeat_byte(2),
        token: Address::repeat_byte(3),
        maxAmount: U120::from(1_500_000u64),
        preApprovalExpiry: U48::from(1_750_000_300u64),
        authorizationExpiry: U48::from(1_750_003_600u64),
        refundExpiry: U48::from(1_750_086_400u64),
        minFeeBps: 0,
        maxFeeBps: 100,
        feeReceiver: Address::repeat_byte(4),
        salt: U256::from_be_bytes(keccak256("salt").0),
    }
}

/// The nonce as the x402 client computes it: the PaymentInfo hash with the payer zeroed, then
/// `keccak256(abi.encode(chainId, escrow, hash))`.
fn client_nonce(chain_id: u64, i: &IAuthCaptureCollector::PaymentInfo) -> B256 {
    let typehash = keccak256(
        "PaymentInfo(address operator,address payer,address receiver,address token,uint120 maxAmount,uint48 preApprovalExpiry,uint48 authorizationExpiry,uint48 refundExpiry,uint16 minFeeBps,uint16 maxFeeBps,address feeReceiver,uint256 salt)",
    );
    let hash = keccak256(
        (
            typehash,
            i.operator,
            Address::ZERO,
            i.receiver,
            i.token,
            U256::from(i.maxAmount),
            U256::from(i.preApprovalExpiry),
            U256::from(i.authorizationExpiry),
            U256::from(i.refundExpiry),
            U256::from(i.minFeeBps),
            U256::from(i.maxFeeBps),
            i.feeReceiver,
            i.salt,
        )
            .abi_encode(),
    );
    keccak256((U256::from(chain_id), AUTH_CAPTURE_ESCROW, hash).abi_encode())
}

async fn check<C: DevChain>(chain: &C) -> eyre::Result<()> {
    let escrow = Address::repeat_byte(0xee);
    install_auth_capture(chain, escrow).await?;
    install_auth_capture(chain, escrow).await?; // again: harmless
    let chain_id = chain.chain_id().await?;
    let at = AUTH_CAPTURE_EIP3009_COLLECTOR;
    assert_eq!(read(chain, at, IAuthCaptureCollector::escrowCall {}).await?, escrow);
    assert_eq!(read(chain, at, IAuthCaptureCollector::authCaptureEscrowCall {}).await?, AUTH_CAPTURE_ESCROW);
    let payer = Address::repeat_byte(9);
    let nonce = read(chain, at, IAuthCaptureCollector::signatureNonceCall { info: info(payer) }).await?;
    assert_eq!(nonce, client_nonce(chain_id, &info(payer)), "the client's nonce on chain {chain_id}");
    // Payer-agnostic: the same for any payer; anything else in the PaymentInfo changes it.
    assert_eq!(read(chain, at, IAuthCaptureCollector::signatureNonceCall { info: info(Address::ZERO) }).await?, nonce);
    let mut other = info(payer);
    other.maxAmount = U120::from(1_500_001u64);
    assert_ne!(read(chain, at, IAuthCaptureCollector::signatureNonceCall { info: other }).await?, nonce);
    Ok(())
}

#[tokio::test]
async fn installs_on_the_in_process_chain() -> eyre::Result<()> {
    check(&RevmChain::new(8453, 1_750_000_000)).await?;
    check(&RevmChain::new(1337, 1_750_000_000)).await
}

#[tokio::test]
async fn installs_on_anvil() -> eyre::Result<()> {
    let anvil = spawn_anvil_with_chain_id(31337)?;
    check(&RpcChain::http(anvil.endpoint_url())).await
}
