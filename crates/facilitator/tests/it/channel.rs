//! The `channel` scheme's wire against the `VoucherChannels` contract: the ids, voucher digests and deposit
//! nonces the protocol crate computes are the contract's, and a deposit and a voucher an agent signs are
//! what the contract takes.

use crate::{TIMEOUT, World};
use alloy::{
    network::EthereumWallet,
    primitives::{B256, U256, aliases::U40, keccak256},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use quittance_bindings::{
    VoucherChannels,
    voucher_channels::IVoucherChannels::{ChannelConfig, VoucherClaim},
};
use quittance_facilitator::SqliteLedger;
use quittance_x402::{ErrorReason, PaymentRequirements, channel};
use std::sync::Arc;

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

/// A channel between the world's agent (vouchers signed by a session key) and its payee, with the option
/// that sells requests through it at `PRICE` each.
struct Channel {
    channels: VoucherChannels::VoucherChannelsInstance<alloy::providers::DynProvider>,
    session: PrivateKeySigner,
    config: channel::ChannelConfig,
    option: PaymentRequirements,
}

impl Channel {
    async fn open(world: &World) -> eyre::Result<Self> {
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
        let option = serde_json::from_value(serde_json::json!({
            "scheme": "channel", "network": "eip155:31337", "amount": crate::PRICE.to_string(),
            "asset": world.token.address(), "payTo": world.payee, "maxTimeoutSeconds": 60,
            "extra": {"name": "USD Coin", "version": "2", "contract": channels.address(), "minWithdrawDelay": 3600}
        }))?;
        Ok(Self { channels, session, config, option })
    }

    /// The voucher for `requests` requests in all, with a deposit of `deposit` if any.
    async fn voucher(
        &self,
        world: &World,
        requests: u64,
        deposit: Option<u64>,
    ) -> eyre::Result<quittance_x402::VerifyRequest> {
        let deposit = match deposit {
            Some(amount) => Some(channel::sign_deposit(
                &self.option,
                &self.config,
                U256::from(amount),
                world.now().await? + 600,
                keccak256(amount.to_be_bytes()),
                &world.agent,
            )?),
            None => None,
        };
        let amount = u128::from(requests * crate::PRICE);
        let payment = channel::pay(&self.option, None, &self.config, amount, &self.session, deposit)?;
        Ok(crate::request(payment, self.option.clone()))
    }
}

#[tokio::test]
async fn vouchers_are_accepted_once_each_in_order_and_claimed_in_one_batch_after_a_restart() -> eyre::Result<()> {
    let world = World::new().await?;
    let channel = Channel::open(&world).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ledger.sqlite");
    let facilitator = world.facilitator_with(Arc::new(SqliteLedger::open(&path)?), crate::fast()).await?;
    let agent_before = world.token.balanceOf(world.agent.address()).call().await?;
    let deposit = 100 * crate::PRICE;

    // The first request opens the channel: the facilitator submits the deposit, paying the gas.
    let first = channel.voucher(&world, 1, Some(deposit)).await?;
    assert!(facilitator.verify(&first).await.is_valid);
    let opened = facilitator.settle(&first).await;
    assert!(opened.success, "{opened:?}");
    assert!(!opened.transaction.is_empty(), "the deposit's transaction");
    assert_eq!(opened.amount.as_deref(), Some(crate::PRICE.to_string().as_str()));
    assert_eq!(world.token.balanceOf(world.agent.address()).call().await?, agent_before - U256::from(deposit));
    // The same opening again is not accepted twice, and deposits nothing more.
    let again = facilitator.settle(&first).await;
    assert_eq!(again.error_reason, Some(ErrorReason::ChannelVoucherNotIncreasing));
    assert!(again.settled_before(), "the accepted voucher again is told it was accepted before: {again:?}");
    assert_eq!(world.token.balanceOf(world.agent.address()).call().await?, agent_before - U256::from(deposit));

    // Later requests touch no chain: a voucher each.
    for requests in 2..=3 {
        let next = channel.voucher(&world, requests, None).await?;
        let settled = facilitator.settle(&next).await;
        assert!(settled.success && settled.transaction.is_empty(), "{settled:?}");
    }
    // Reused, out of order, and beyond the deposit: refused.
    for (requests, reason) in [
        (3, ErrorReason::ChannelVoucherNotIncreasing),
        (2, ErrorReason::ChannelVoucherNotIncreasing),
        (101, ErrorReason::ChannelInsufficientDeposit),
    ] {
        let voucher = channel.voucher(&world, requests, None).await?;
        assert_eq!(facilitator.verify(&voucher).await.invalid_reason, Some(reason.clone()));
        assert_eq!(facilitator.settle(&voucher).await.error_reason, Some(reason));
    }

    // A restart between the vouchers and the claim loses nothing the payee is owed.
    drop(facilitator);
    let restarted = world.facilitator_with(Arc::new(SqliteLedger::open(&path)?), crate::fast()).await?;
    let report = restarted.claim_channels().await?;
    assert_eq!((report.channels, report.claimed), (1, u128::from(3 * crate::PRICE)));
    assert_eq!(report.transactions.len(), 2, "one claim, one payment to the payee");
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(3 * crate::PRICE));
    assert_eq!(restarted.claim_channels().await?, quittance_facilitator::ClaimReport::default(), "nothing twice");
    // A second round owing the same amount as the first is paid too.
    for requests in 4..=6 {
        assert!(restarted.settle(&channel.voucher(&world, requests, None).await?).await.success);
    }
    assert_eq!(restarted.claim_channels().await?.claimed, u128::from(3 * crate::PRICE));
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(6 * crate::PRICE));

    // The payer asks to withdraw and tries to withdraw at once: refused by the contract. A voucher the server
    // accepted before it noticed is still claimed within the delay; after the next round, none is accepted.
    world
        .rpc
        .send_transaction(
            TransactionRequest::default().to(world.agent.address()).value(U256::from(10u64).pow(U256::from(18))),
        )
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    let payer_rpc = ProviderBuilder::new()
        .wallet(EthereumWallet::from(world.agent.clone()))
        .connect_http(world.endpoint.clone())
        .erased();
    let as_payer = VoucherChannels::new(*channel.channels.address(), payer_rpc);
    let config = contract_config(&channel.config);
    as_payer.requestWithdrawal(config.clone()).send().await?.with_timeout(TIMEOUT).get_receipt().await?;
    assert!(as_payer.withdraw(config.clone()).call().await.is_err(), "no withdrawal before the delay");
    assert!(restarted.settle(&channel.voucher(&world, 7, None).await?).await.success);
    let report = restarted.claim_channels().await?;
    assert_eq!(report.claimed, u128::from(crate::PRICE));
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(7 * crate::PRICE));
    let after = restarted.settle(&channel.voucher(&world, 8, None).await?).await;
    assert_eq!(after.error_reason, Some(ErrorReason::ChannelClosing));
    Ok(())
}

fn contract_config(config: &channel::ChannelConfig) -> ChannelConfig {
    ChannelConfig {
        payer: config.payer,
        payerAuthorizer: config.payerAuthorizer,
        receiver: config.receiver,
        token: config.token,
        withdrawDelay: config.withdrawDelay,
        salt: config.salt,
    }
}

#[tokio::test]
async fn a_deposit_the_payer_cannot_fund_is_refused_before_anything_is_sent() -> eyre::Result<()> {
    let world = World::new().await?;
    let channel = Channel::open(&world).await?;
    let balance = world.token.balanceOf(world.agent.address()).call().await?;
    let too_much = channel.voucher(&world, 1, Some(balance.to::<u64>() + 1)).await?;
    let verdict = world.facilitator.verify(&too_much).await;
    assert_eq!(verdict.invalid_reason, Some(ErrorReason::ExactEvmInsufficientBalance));
    assert!(!world.facilitator.settle(&too_much).await.success);
    // No channel and no deposit.
    let first_without_deposit = channel.voucher(&world, 1, None).await?;
    assert_eq!(
        world.facilitator.verify(&first_without_deposit).await.invalid_reason,
        Some(ErrorReason::ChannelInsufficientDeposit)
    );
    assert_eq!(world.token.balanceOf(world.agent.address()).call().await?, balance);
    Ok(())
}

#[tokio::test]
async fn a_voucher_for_another_network_or_version_is_refused_at_settle_and_nothing_is_sent() -> eyre::Result<()> {
    let world = World::new().await?;
    let channel = Channel::open(&world).await?;
    let nonce_before = world.rpc.get_transaction_count(world.facilitator.address()).await?;
    let balance = world.token.balanceOf(world.agent.address()).call().await?;

    // Terms of another network: the deposit would be for a channel that is not on this chain.
    let mut other_network = channel.voucher(&world, 1, Some(10 * crate::PRICE)).await?;
    other_network.payment_requirements.network = "eip155:1".into();
    other_network.payment_payload.accepted.network = "eip155:1".into();
    let mut old_version = channel.voucher(&world, 1, Some(10 * crate::PRICE)).await?;
    old_version.payment_payload.x402_version = 1;
    for (request, reason) in
        [(other_network, ErrorReason::InvalidNetwork), (old_version, ErrorReason::InvalidX402Version)]
    {
        assert_eq!(world.facilitator.verify(&request).await.invalid_reason, Some(reason.clone()));
        let settled = world.facilitator.settle(&request).await;
        assert_eq!(settled.error_reason, Some(reason), "{settled:?}");
    }
    assert_eq!(world.rpc.get_transaction_count(world.facilitator.address()).await?, nonce_before, "nothing sent");
    assert_eq!(world.token.balanceOf(world.agent.address()).call().await?, balance);
    Ok(())
}

#[tokio::test]
async fn a_top_up_cancels_the_payers_withdrawal_request_and_the_channel_takes_vouchers_again() -> eyre::Result<()> {
    let world = World::new().await?;
    let channel = Channel::open(&world).await?;
    let facilitator = world.facilitator.clone();
    assert!(facilitator.settle(&channel.voucher(&world, 1, Some(50 * crate::PRICE)).await?).await.success);

    // The payer asks to withdraw; once a claim round has seen it, no more vouchers are accepted.
    world
        .rpc
        .send_transaction(
            TransactionRequest::default().to(world.agent.address()).value(U256::from(10u64).pow(U256::from(18))),
        )
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    let payer_rpc = ProviderBuilder::new()
        .wallet(EthereumWallet::from(world.agent.clone()))
        .connect_http(world.endpoint.clone())
        .erased();
    let as_payer = VoucherChannels::new(*channel.channels.address(), payer_rpc.clone());
    let config = contract_config(&channel.config);
    as_payer.requestWithdrawal(config.clone()).send().await?.with_timeout(TIMEOUT).get_receipt().await?;
    assert!(facilitator.settle(&channel.voucher(&world, 2, None).await?).await.success);
    assert_eq!(facilitator.claim_channels().await?.claimed, u128::from(2 * crate::PRICE));
    let closing = facilitator.settle(&channel.voucher(&world, 3, None).await?).await;
    assert_eq!(closing.error_reason, Some(ErrorReason::ChannelClosing));

    // The payer tops the channel up: its request is cancelled, and the channel takes vouchers again.
    let token = quittance_bindings::TestStablecoin::new(*world.token.address(), payer_rpc);
    let top_up = 10 * crate::PRICE;
    token
        .approve(*channel.channels.address(), U256::from(top_up))
        .send()
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    as_payer
        .deposit(config.clone(), top_up.into(), 2, Default::default())
        .send()
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    let id = channel.config.id(31337, *channel.channels.address());
    assert_eq!(channel.channels.channel(id).call().await?.withdrawableAt, U40::ZERO, "the request is cancelled");
    let reopened = facilitator.settle(&channel.voucher(&world, 55, None).await?).await;
    assert!(reopened.success, "{reopened:?}");

    // The first request's delay has passed, but the payer cannot withdraw without a fresh request and a full
    // delay, within which the voucher the facilitator accepted is claimed.
    let provider = &world.rpc;
    provider.raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (3601,)).await?;
    provider.raw_request::<_, serde_json::Value>("evm_mine".into(), ()).await?;
    assert!(as_payer.withdraw(config.clone()).call().await.is_err(), "no withdrawal without a fresh request");
    assert_eq!(facilitator.claim_channels().await?.claimed, u128::from(53 * crate::PRICE));
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(55 * crate::PRICE));
    Ok(())
}

#[tokio::test]
async fn vouchers_the_facilitator_accepted_are_claimed_after_their_signer_delegates_to_a_contract() -> eyre::Result<()>
{
    use alloy::{eips::eip7702::Authorization, signers::SignerSync};
    let world = World::new().await?;
    let channel = Channel::open(&world).await?;
    let facilitator = world.facilitator.clone();
    assert!(facilitator.settle(&channel.voucher(&world, 1, Some(50 * crate::PRICE)).await?).await.success);
    assert!(facilitator.settle(&channel.voucher(&world, 5, None).await?).await.success);

    // Before the claim round, the session key delegates (EIP-7702) to a contract without ERC-1271.
    let session = channel.session.address();
    let nonce = world.rpc.get_transaction_count(session).await?;
    let authorization = Authorization { chain_id: U256::from(31337), address: *world.registry.address(), nonce };
    let signature = channel.session.sign_hash_sync(&authorization.signature_hash())?;
    let delegation = TransactionRequest {
        authorization_list: Some(vec![authorization.into_signed(signature)]),
        // Sent to an EOA: the authorization applies whatever the transaction calls.
        ..TransactionRequest::default().to(world.payee)
    };
    world.rpc.send_transaction(delegation).await?.with_timeout(TIMEOUT).get_receipt().await?;
    let code = world.rpc.get_code_at(session).await?;
    assert_eq!(code[..3], [0xef, 0x01, 0x00], "the session key is delegated");

    let report = facilitator.claim_channels().await?;
    assert_eq!(report.claimed, u128::from(5 * crate::PRICE), "the accepted voucher is claimed");
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(5 * crate::PRICE));
    Ok(())
}
