//! The same facilitator on the in-memory revm chain: deployed with `quittance-deploy`, verifying and settling
//! `exact` and `invoice` payments, and refusing an expired one once the clock moves.

use crate::{PRICE, fast, request};
use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use quittance_bindings::TestStablecoin;
use quittance_chain::{Chain, DevChain, revm::RevmChain};
use quittance_facilitator::{Facilitator, SqliteLedger};
use quittance_x402::{ErrorReason, PaymentRequirements, exact, invoice};
use std::sync::Arc;

async fn balance(chain: &impl Chain, token: Address, account: Address) -> eyre::Result<U256> {
    Ok(quittance_chain::read(chain, token, TestStablecoin::balanceOfCall { account }).await?)
}

#[tokio::test]
async fn payments_verify_and_settle_on_the_in_memory_chain() -> eyre::Result<()> {
    let chain = RevmChain::new(31337, 1_750_000_000);
    let owner = PrivateKeySigner::from_bytes(&keccak256("revm owner"))?;
    let facilitator_key = PrivateKeySigner::from_bytes(&keccak256("revm facilitator"))?;
    let agent = PrivateKeySigner::from_bytes(&keccak256("revm agent"))?;
    let seller = PrivateKeySigner::from_bytes(&keccak256("revm seller"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("revm payee"))?.address();
    for account in [owner.address(), facilitator_key.address()] {
        chain.set_balance(account, U256::from(10u64).pow(U256::from(20))).await?;
    }
    let manifest = quittance_deploy::deploy(&chain, &owner, owner.address(), &[agent.address()], |_| {}).await?;
    let token = manifest.address("TestStablecoin").expect("a test token");
    let registry = manifest.address("InvoiceRegistry").expect("a registry");
    assert_eq!(balance(&chain, token, agent.address()).await?, U256::from(quittance_deploy::FUNDING));

    let facilitator =
        Facilitator::new(chain.clone(), facilitator_key, Arc::new(SqliteLedger::in_memory()?), fast()).await?;
    let option: PaymentRequirements = serde_json::from_value(serde_json::json!({
        "scheme": "exact", "network": "eip155:31337", "amount": PRICE.to_string(), "asset": token,
        "payTo": payee, "maxTimeoutSeconds": 120, "extra": {"name": "USD Coin", "version": "2"}
    }))?;
    let now = chain.timestamp().await?;
    let payment = exact::pay(&option, None, &agent, agent.address(), now, B256::random())?;
    assert!(facilitator.verify(&request(payment.clone(), option.clone())).await.is_valid);
    let settled = facilitator.settle(&request(payment.clone(), option.clone())).await;
    assert!(settled.success, "{settled:?}");
    assert_eq!(balance(&chain, token, payee).await?, U256::from(PRICE));
    // The same payment again: the first outcome, and nothing moves.
    assert_eq!(facilitator.settle(&request(payment, option.clone())).await.transaction, settled.transaction);
    assert_eq!(balance(&chain, token, payee).await?, U256::from(PRICE));

    // A seller-signed invoice, paid through the registry.
    let the_invoice = invoice::Invoice {
        issuer: seller.address(),
        payee,
        token,
        amount: U256::from(PRICE),
        deadline: U256::from(now + 600),
        resource: invoice::resource_hash("http://127.0.0.1/report"),
        network: "eip155:31337".into(),
        salt: keccak256("revm order"),
    };
    let offer = invoice::offer(the_invoice, registry, "USD Coin", "2", 120, &seller)?;
    let resource =
        quittance_x402::ResourceInfo { url: "http://127.0.0.1/report".into(), description: None, mime_type: None };
    let paid = invoice::pay(&offer, &resource, &agent, agent.address(), now)?;
    assert!(facilitator.settle(&request(paid, offer)).await.success);
    assert_eq!(balance(&chain, token, payee).await?, U256::from(2 * PRICE));

    // Time moves: a payment signed now is expired two minutes later.
    let late = exact::pay(&option, None, &agent, agent.address(), now, B256::random())?;
    chain.advance(3600).await?;
    let verdict = facilitator.verify(&request(late, option)).await;
    assert_eq!(verdict.invalid_reason, Some(ErrorReason::ExactEvmValidBefore));
    Ok(())
}

/// Deploys, funds and settles the same signed payments on anvil and on revm: the same addresses, code,
/// balances, logs and gas used per transaction. A difference is a bug in one of them.
#[tokio::test]
async fn revm_and_anvil_agree_on_every_transaction() -> eyre::Result<()> {
    let anvil = quittance_chain::anvil::spawn_anvil()?;
    let rpc = quittance_chain::RpcChain::http(anvil.endpoint_url());
    let owner = PrivateKeySigner::from(anvil.keys()[0].clone());
    let facilitator_key = PrivateKeySigner::from(anvil.keys()[1].clone());
    let agent = PrivateKeySigner::from_bytes(&keccak256("differential agent"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("differential payee"))?.address();
    let revm = RevmChain::new(31337, rpc.timestamp().await?);
    for account in [owner.address(), facilitator_key.address()] {
        revm.set_balance(account, U256::from(10u64).pow(U256::from(22))).await?;
    }

    let on_anvil = quittance_deploy::deploy(&rpc, &owner, owner.address(), &[agent.address()], |_| {}).await?;
    let on_revm = quittance_deploy::deploy(&revm, &owner, owner.address(), &[agent.address()], |_| {}).await?;
    for (name, deployed) in &on_anvil.contracts {
        let other = &on_revm.contracts[name];
        assert_eq!((deployed.address, deployed.code_hash), (other.address, other.code_hash), "{name}");
        let (a, r) = (
            rpc.receipt(deployed.transaction.expect("deployed")).await?.expect("mined"),
            revm.receipt(other.transaction.expect("deployed")).await?.expect("mined"),
        );
        assert_eq!((a.success, a.gas_used, a.logs.len()), (r.success, r.gas_used, r.logs.len()), "{name}");
    }
    let token = on_anvil.address("TestStablecoin").expect("a test token");

    let option: PaymentRequirements = serde_json::from_value(serde_json::json!({
        "scheme": "exact", "network": "eip155:31337", "amount": PRICE.to_string(), "asset": token,
        "payTo": payee, "maxTimeoutSeconds": 3600, "extra": {"name": "USD Coin", "version": "2"}
    }))?;
    let now = rpc.timestamp().await?;
    let payments: Vec<_> = (0..3)
        .map(|_| exact::pay(&option, None, &agent, agent.address(), now, B256::random()))
        .collect::<Result<_, _>>()?;
    // The second is sent twice; the third is for more than the agent holds.
    let mut too_much = option.clone();
    too_much.amount = (u128::from(quittance_deploy::FUNDING) + 1).to_string();
    let overdraft = exact::pay(&too_much, None, &agent, agent.address(), now, B256::random())?;

    let outcomes = [
        settle_all(rpc.clone(), &facilitator_key, &option, &payments, &too_much, &overdraft).await?,
        settle_all(revm.clone(), &facilitator_key, &option, &payments, &too_much, &overdraft).await?,
    ];
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[1][4].0, Some(ErrorReason::ExactEvmInsufficientBalance));
    assert_eq!(outcomes[1][5], (Some(ErrorReason::ExactEvmInsufficientBalance), 0, 0), "refused, nothing sent");
    for account in [agent.address(), payee, owner.address()] {
        assert_eq!(balance(&rpc, token, account).await?, balance(&revm, token, account).await?);
    }
    assert_eq!(balance(&revm, token, payee).await?, U256::from(3 * PRICE));
    Ok(())
}

/// Settles the first payment, the second twice, the third, verifies the overdraft and tries to settle it,
/// as a facilitator on `chain`; returns what each did.
async fn settle_all<C: Chain + Clone + 'static>(
    chain: C,
    key: &PrivateKeySigner,
    option: &PaymentRequirements,
    payments: &[quittance_x402::PaymentPayload],
    too_much: &PaymentRequirements,
    overdraft: &quittance_x402::PaymentPayload,
) -> eyre::Result<Vec<(Option<ErrorReason>, u64, usize)>> {
    let facilitator =
        Facilitator::new(chain.clone(), key.clone(), Arc::new(SqliteLedger::in_memory()?), fast()).await?;
    let mut seen = Vec::new();
    for payment in [&payments[0], &payments[1], &payments[1], &payments[2]] {
        seen.push(receipt_of(&chain, facilitator.settle(&request(payment.clone(), option.clone())).await).await?);
    }
    seen.push((facilitator.verify(&request(overdraft.clone(), too_much.clone())).await.invalid_reason, 0, 0));
    // Settled without a verification first: the gas estimate reverts and the reason is the same.
    let settled = facilitator.settle(&request(overdraft.clone(), too_much.clone())).await;
    seen.push((settled.error_reason, u64::from(settled.success), settled.transaction.len()));
    Ok(seen)
}

/// A settlement's outcome as comparable figures: (refusal, gas used, number of logs).
async fn receipt_of(
    chain: &impl Chain,
    response: quittance_x402::SettleResponse,
) -> eyre::Result<(Option<ErrorReason>, u64, usize)> {
    if !response.success {
        return Ok((response.error_reason, 0, 0));
    }
    let receipt = chain.receipt(response.transaction.parse()?).await?.expect("mined");
    Ok((None, receipt.gas_used, receipt.logs.len()))
}

/// Vouchers on the in-memory chain: a deposit with the first, vouchers after, one batch claim.
#[tokio::test]
async fn vouchers_are_accepted_and_claimed_on_the_in_memory_chain() -> eyre::Result<()> {
    let chain = RevmChain::new(31337, 1_750_000_000);
    let owner = PrivateKeySigner::from_bytes(&keccak256("revm owner"))?;
    let facilitator_key = PrivateKeySigner::from_bytes(&keccak256("revm facilitator"))?;
    let agent = PrivateKeySigner::from_bytes(&keccak256("revm agent"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("revm payee"))?.address();
    for account in [owner.address(), facilitator_key.address()] {
        chain.set_balance(account, U256::from(10u64).pow(U256::from(20))).await?;
    }
    let manifest = quittance_deploy::deploy(&chain, &owner, owner.address(), &[agent.address()], |_| {}).await?;
    let token = manifest.address("TestStablecoin").expect("a test token");
    let contract = manifest.address("VoucherChannels").expect("the channels contract");
    let facilitator =
        Facilitator::new(chain.clone(), facilitator_key, Arc::new(SqliteLedger::in_memory()?), fast()).await?;
    let option: PaymentRequirements = serde_json::from_value(serde_json::json!({
        "scheme": "channel", "network": "eip155:31337", "amount": PRICE.to_string(), "asset": token,
        "payTo": payee, "maxTimeoutSeconds": 60,
        "extra": {"name": "USD Coin", "version": "2", "contract": contract, "minWithdrawDelay": 3600}
    }))?;
    let config = quittance_x402::channel::ChannelConfig {
        payer: agent.address(),
        payerAuthorizer: Address::ZERO,
        receiver: payee,
        token,
        withdrawDelay: alloy::primitives::aliases::U40::from(3600),
        salt: B256::repeat_byte(1),
    };
    let now = chain.timestamp().await?;
    let deposit =
        quittance_x402::channel::sign_deposit(&option, &config, U256::from(10 * PRICE), now + 600, B256::ZERO, &agent)?;
    for requests in 1..=5u64 {
        let amount = u128::from(requests * PRICE);
        let with = (requests == 1).then(|| deposit.clone());
        let voucher = quittance_x402::channel::pay(&option, None, &config, amount, &agent, with)?;
        let settled = facilitator.settle(&request(voucher.clone(), option.clone())).await;
        assert!(settled.success, "{settled:?}");
        // The same voucher again is refused.
        let again = facilitator.settle(&request(voucher, option.clone())).await;
        assert_eq!(again.error_reason, Some(ErrorReason::ChannelVoucherNotIncreasing));
    }
    assert_eq!(balance(&chain, token, agent.address()).await?, U256::from(quittance_deploy::FUNDING - 10 * PRICE));
    let report = facilitator.claim_channels().await?;
    assert_eq!(report.claimed, u128::from(5 * PRICE));
    assert_eq!(balance(&chain, token, payee).await?, U256::from(5 * PRICE));
    Ok(())
}
