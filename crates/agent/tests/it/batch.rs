//! The agent paying our paywall's `batch-settlement` route on the in-process chain: the deposit counts against
//! the budget when made and one past the policy's deposit limit is refused with a sentence; a deposit whose
//! answers are all lost is concluded from the chain, then sent again and answered from the paywall's store; an
//! agent that lost its record follows the paywall's corrective 402.

use crate::local::{Fate, Local, PRICE, Proxy};
use alloy::primitives::U256;
use quittance_agent::{AgentError, PolicyRefusal, SpendRecord, SpendState};
use std::sync::{Arc, atomic::Ordering};

/// What a request to `/batch` costs.
const BATCH_PRICE: u64 = PRICE / 10;

fn payload_type(paid: &quittance_agent::Paid) -> String {
    paid.payment.as_ref().map(|p| p.payload["type"].as_str().unwrap_or_default().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn a_deposit_counts_against_the_budget_when_made_and_one_past_the_limit_is_refused() -> eyre::Result<()> {
    let local = Local::new().await?;
    let (base, served) = local.serve(Proxy::with_plan([])).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    // Deposits of at most five requests; a budget of five and a half.
    let mut policy = local.policy(5 * BATCH_PRICE + BATCH_PRICE / 2);
    policy.channel_requests = 5;
    let agent = local.agent_with_chain(&local.agent, &record, policy);
    let before = local.balance(agent.address()).await?;
    let url = format!("{base}/batch");

    let first = agent.get(&url).await?;
    assert_eq!((first.response.status().as_u16(), payload_type(&first)), (200, "deposit".to_owned()));
    // The server announces ten prices; the policy allows five: five are deposited, and counted once.
    assert_eq!(before - local.balance(agent.address()).await?, U256::from(5 * BATCH_PRICE));
    assert_eq!(record.spent_total(local.token, 0)?, U256::from(5 * BATCH_PRICE));
    for n in 2..=5u64 {
        let paid = agent.get(&url).await?;
        assert_eq!((paid.response.status().as_u16(), payload_type(&paid)), (200, "voucher".to_owned()), "{n}");
        assert_eq!(paid.spend, None, "a voucher is no new spend");
    }
    assert_eq!(served.load(Ordering::SeqCst), 5);
    assert_eq!(record.spent_total(local.token, 0)?, U256::from(5 * BATCH_PRICE), "vouchers spend the deposit");

    // The sixth needs a top-up the budget no longer has room for: refused, said in a sentence, nothing signed.
    match agent.get(&url).await {
        Err(AgentError::Policy(refusals)) => {
            let refusal = refusals.iter().find(|r| matches!(r, PolicyRefusal::Deposit { .. })).expect("{refusals:?}");
            assert_eq!(
                refusal,
                &PolicyRefusal::Deposit { needed: U256::from(BATCH_PRICE), limit: U256::from(BATCH_PRICE / 2) }
            );
            assert!(refusal.to_string().contains("over the policy's deposit limit"), "{refusal}");
        }
        other => panic!("expected a policy refusal, got {other:?}"),
    }
    assert_eq!(served.load(Ordering::SeqCst), 5);
    assert_eq!(before - local.balance(agent.address()).await?, U256::from(5 * BATCH_PRICE));
    Ok(())
}

#[tokio::test]
async fn a_deposit_whose_answers_are_lost_is_concluded_from_the_chain_and_then_answered_from_the_store()
-> eyre::Result<()> {
    let local = Local::new().await?;
    let proxy = Proxy::with_plan([Fate::LoseAnswer, Fate::LoseAnswer, Fate::LoseAnswer]);
    let (base, served) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let mut policy = local.policy(100 * BATCH_PRICE);
    policy.channel_requests = 10;
    let agent = local.agent_with_chain(&local.agent, &record, policy);
    let before = local.balance(agent.address()).await?;
    let url = format!("{base}/batch");

    // Sent, then sent again twice: every answer lost. The chain says the deposit was taken.
    let state = match agent.get(&url).await {
        // The last answer (the proxy's 502) is the caller's, with where the deposit stands.
        Ok(paid) => {
            assert_eq!(paid.response.status().as_u16(), 502);
            paid.state.expect("a spend")
        }
        Err(AgentError::InDoubt { state, .. }) => state,
        Err(err) => return Err(err.into()),
    };
    assert_eq!(state, SpendState::Charged, "the chain says the deposit was taken");
    assert_eq!((proxy.seen().len(), proxy.distinct()), (3, 1), "the same deposit, sent three times");
    assert_eq!(served.load(Ordering::SeqCst), 1, "served once");
    // The next request sends that deposit again: the paywall answers it from its store.
    let paid = agent.get(&url).await?;
    assert_eq!((paid.response.status().as_u16(), paid.state), (200, Some(SpendState::Settled)));
    assert_eq!(payload_type(&paid), "deposit");
    assert_eq!(served.load(Ordering::SeqCst), 1, "not served twice");
    // Then a voucher on the channel.
    let next = agent.get(&url).await?;
    assert_eq!((next.response.status().as_u16(), payload_type(&next)), (200, "voucher".to_owned()));
    let voucher = &next.payment.as_ref().expect("a payment").payload["voucher"]["maxClaimableAmount"];
    assert_eq!(voucher, &serde_json::json!((2 * BATCH_PRICE).to_string()));
    assert_eq!(served.load(Ordering::SeqCst), 2);
    assert_eq!(before - local.balance(agent.address()).await?, U256::from(10 * BATCH_PRICE), "one deposit");
    Ok(())
}

#[tokio::test]
async fn an_agent_that_lost_its_record_follows_our_paywalls_corrective_402_and_pays_on_without_a_deposit()
-> eyre::Result<()> {
    let local = Local::new().await?;
    let (base, served) = local.serve(Proxy::with_plan([])).await?;
    let mut policy = local.policy(100 * BATCH_PRICE);
    policy.channel_requests = 10;
    let url = format!("{base}/batch");
    let first = local.agent_with_chain(&local.agent, &Arc::new(SpendRecord::in_memory()?), policy.clone());
    for _ in 0..3 {
        assert_eq!(first.get(&url).await?.response.status(), 200);
    }
    let before = local.balance(first.address()).await?;

    // The same key with an empty record: it signs a deposit with a voucher for one price, gets the corrective
    // 402 naming three prices and its own latest voucher, follows it and pays the fourth with a voucher.
    let record = Arc::new(SpendRecord::in_memory()?);
    let lost = local.agent_with_chain(&local.agent, &record, policy);
    let paid = lost.get(&url).await?;
    assert_eq!((paid.response.status().as_u16(), payload_type(&paid)), (200, "voucher".to_owned()));
    let voucher = &paid.payment.as_ref().expect("a payment").payload["voucher"]["maxClaimableAmount"];
    assert_eq!(voucher, &serde_json::json!((4 * BATCH_PRICE).to_string()));
    assert_eq!(served.load(Ordering::SeqCst), 4);
    assert_eq!(local.balance(lost.address()).await?, before, "no second deposit");
    // The deposit it signed first was refused, but the server holds its authorization: it counts against the
    // budget until it expires, then no more.
    let spends = record.recent(10)?;
    assert_eq!(spends.iter().map(|s| s.state).collect::<Vec<_>>(), [SpendState::Refused], "one deposit, refused");
    let now = local.now.load(Ordering::SeqCst);
    assert_eq!(record.spent_total(local.token, now)?, U256::from(10 * BATCH_PRICE));
    assert_eq!(record.spent_total(local.token, now + 3600)?, U256::ZERO);
    Ok(())
}
