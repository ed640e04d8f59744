//! The `channel` scheme's wire against the `VoucherChannels` contract: the ids, voucher digests and deposit
//! nonces the protocol crate computes are the contract's, and a deposit and a voucher an agent signs are
//! what the contract takes.

use crate::{TIMEOUT, World};
use alloy::{
    primitives::{B256, U256, aliases::U40, keccak256},
    signers::local::PrivateKeySigner,
};
use quittance_bindings::{
    VoucherChannels,
    voucher_channels::IVoucherChannels::{ChannelConfig, VoucherClaim},
};
use quittance_x402::{PaymentRequirements, channel};

#[tokio::test]
async fn agent_signed_deposits_and_vouchers_are_what_the_contract_takes() -> eyre::Result<()> {
    let world = World::new().await?;
    let channels = VoucherChannels::deploy(world.rpc.clone()).await?;
    let session = PrivateKeySigner::from_bytes(&keccak256("session"))?;
    let config = channel::ChannelConfig {
        payer: world.agent.address(),
        payerAuthorizer: session.address(),
        receiver: world.payee,
        token: *world.token.address(),
        withdrawDelay: U40::from(3600),
        salt: B256::repeat_byte(7),
    };
    let on_chain = ChannelConfig {
        payer: config.payer,
        payerAuthorizer: config.payerAuthorizer,
        receiver: config.receiver,
        token: config.token,
        withdrawDelay: config.withdrawDelay,
        salt: config.salt,
    };
    let chain_id = 31337;
    let id = config.id(chain_id, *channels.address());
    assert_eq!(channels.channelId(on_chain.clone()).call().await?, id);
    assert_eq!(
        channels.voucherDigest(id, 1234).call().await?,
        channel::voucher_digest(id, 1234, chain_id, *channels.address())
    );
    let salt = B256::repeat_byte(3);
    assert_eq!(channels.depositNonce(id, salt).call().await?, channel::deposit_nonce(id, salt));

    let option: PaymentRequirements = serde_json::from_value(serde_json::json!({
        "scheme": "channel", "network": "eip155:31337", "amount": "1000", "asset": world.token.address(),
        "payTo": world.payee, "maxTimeoutSeconds": 60,
        "extra": {"name": "USD Coin", "version": "2", "contract": channels.address(), "minWithdrawDelay": 3600}
    }))?;
    let deposit =
        channel::sign_deposit(&option, &config, U256::from(50_000), world.now().await? + 600, salt, &world.agent)?;
    let data = (U256::ZERO, U256::from(deposit.valid_before.parse::<u64>()?), salt, deposit.signature.clone());
    channels
        .deposit(on_chain.clone(), 50_000, 0, alloy::sol_types::SolValue::abi_encode_params(&data).into())
        .send()
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;

    let payment = channel::pay(&option, None, &config, 3_000, &session, None)?;
    let payload: channel::ChannelPayload = serde_json::from_value(payment.payload)?;
    let claim = VoucherClaim { config: on_chain, maxClaimableAmount: 3_000, signature: payload.signature };
    channels.claim(vec![claim]).send().await?.with_timeout(TIMEOUT).get_receipt().await?;
    channels.settle(world.payee, *world.token.address()).send().await?.with_timeout(TIMEOUT).get_receipt().await?;
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(3_000));
    Ok(())
}
