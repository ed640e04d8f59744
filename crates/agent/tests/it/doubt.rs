//! Payments whose outcome the agent does not know, on the in-process chain: they are sent again, read on
//! chain, counted, resumed after a restart, and never paid twice.

use crate::local::{Fate, Local, PRICE, Proxy};
use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use quittance_agent::{
    AgentError, Answer, ChainFunds, ChainWord, ChannelSeen, Declared, Funds, Mark, SpendRecord, SpendState, http_client,
};
use quittance_x402::{ErrorReason, channel::ChannelPayload, payment_identifier};
use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

#[tokio::test]
async fn a_lost_answer_is_sent_again_and_a_payment_the_chain_says_was_taken_is_never_paid_again() -> eyre::Result<()> {
    let local = Local::new().await?;
    // A server without a payment store: a payment it settled, sent again, is "already used".
    let used = Fate::Refuse("invalid_exact_evm_nonce_already_used");
    let proxy = Proxy::with_plan([Fate::LoseAnswer, used, used]);
    let (base, served) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let agent = local.agent_with_chain(&local.agent, &record, local.policy(10 * PRICE));
    let before = local.balance(agent.address()).await?;
    let url = format!("{base}/exact");

    // Served and settled, its answer lost; sent again, the server calls its nonce used; the chain says it
    // was taken.
    let spend = match agent.get(&url).await {
        Err(AgentError::InDoubt { state: SpendState::Charged, spend, .. }) => spend,
        other => panic!("expected a charged payment, got {other:?}"),
    };
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert_eq!((proxy.seen().len(), proxy.distinct()), (2, 1), "the same payment, sent again");
    assert_eq!(local.transfers_from(agent.address()).await?, 1);
    assert_eq!(before - local.balance(agent.address()).await?, U256::from(PRICE));
    assert_eq!(record.settled_total(local.token)?, U256::from(PRICE), "counted as settled");
    assert_eq!(record.spent_total(local.token, u64::MAX - 1)?, U256::from(PRICE));

    // Asked again, even past its expiry, the agent sends the same payment to be served; never a new one.
    local.advance(600).await?;
    match agent.get(&url).await {
        Err(AgentError::InDoubt { state: SpendState::Charged, spend: again, .. }) => assert_eq!(again, spend),
        other => panic!("expected the charged payment again, got {other:?}"),
    }
    assert_eq!((proxy.seen().len(), proxy.distinct()), (3, 1));
    assert_eq!(local.transfers_from(agent.address()).await?, 1, "charged once");

    // The operator's way out: declared charged, the purchase may be paid anew.
    record.declare(spend, Declared::Charged)?;
    let paid = agent.get(&url).await?;
    assert_eq!(paid.response.status(), 200);
    assert_eq!(paid.state, Some(SpendState::Settled));
    assert_eq!(local.transfers_from(agent.address()).await?, 2);
    assert_eq!(record.settled_total(local.token)?, U256::from(2 * PRICE));
    Ok(())
}

#[tokio::test]
async fn a_lost_answer_from_the_paywall_is_sent_again_and_charged_once() -> eyre::Result<()> {
    let local = Local::new().await?;
    let proxy = Proxy::with_plan([Fate::LoseAnswer]);
    let (base, served) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let agent = local.agent_with_chain(&local.agent, &record, local.policy(10 * PRICE));

    // The paywall answers the same payment again from its store (served); one without a store calls it
    // used, and the chain says it was taken (charged). Either way: one charge, one execution, one payment.
    let state = match agent.get(&format!("{base}/report")).await {
        Ok(paid) => {
            assert_eq!(paid.response.status(), 200);
            paid.state.expect("a spend")
        }
        Err(AgentError::InDoubt { state, .. }) => state,
        Err(err) => return Err(err.into()),
    };
    assert!([SpendState::Settled, SpendState::Charged].contains(&state), "{state}");
    assert_eq!((proxy.seen().len(), proxy.distinct()), (2, 1), "the same payment, sent again");
    assert_eq!(served.load(Ordering::SeqCst), 1, "served once");
    assert_eq!(local.transfers_from(agent.address()).await?, 1, "charged once");
    assert_eq!(record.spent_total(local.token, 0)?, U256::from(PRICE));
    Ok(())
}

#[tokio::test]
async fn a_server_saying_the_payment_was_settled_before_makes_it_charged_without_a_chain() -> eyre::Result<()> {
    let local = Local::new().await?;
    let paid = Fate::SettledBefore("invalid_invoice_already_paid");
    let proxy = Proxy::with_plan([Fate::LoseAnswer, paid, paid]);
    let (base, _) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let agent = local.agent_without_chain(&local.agent, &record, local.policy(10 * PRICE));
    let url = format!("{base}/report");

    match agent.get(&url).await {
        Err(AgentError::InDoubt { state: SpendState::Charged, reason, .. }) => {
            assert!(reason.contains("settled before"), "{reason}")
        }
        other => panic!("expected a charged payment, got {other:?}"),
    }
    assert_eq!(record.settled_total(local.token)?, U256::from(PRICE), "what the chain took, counted as settled");
    assert!(matches!(agent.get(&url).await, Err(AgentError::InDoubt { state: SpendState::Charged, .. })));
    assert_eq!((proxy.seen().len(), proxy.distinct()), (3, 1), "only that payment, sent again");
    assert_eq!(local.transfers_from(agent.address()).await?, 1);
    Ok(())
}

#[tokio::test]
async fn with_a_payment_identifier_a_lost_answer_is_answered_from_the_server_store() -> eyre::Result<()> {
    let local = Local::new().await?;
    let proxy = Proxy::with_store([Fate::LoseAnswer]);
    let (base, served) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let agent = local.agent_without_chain(&local.agent, &record, local.policy(10 * PRICE));

    let paid = agent.get(&format!("{base}/report")).await?;
    assert_eq!(paid.response.status(), 200);
    assert!(paid.receipt.as_ref().expect("the stored receipt").success);
    assert_eq!(paid.state, Some(SpendState::Settled));
    let payment = paid.payment.clone().expect("a payment");
    let id = payment_identifier::payment_id(&payment, true)?.expect("a payment id");
    let echoed = &payment.extensions.as_ref().expect("extensions")[payment_identifier::PAYMENT_IDENTIFIER];
    assert_eq!(echoed["info"]["required"], false, "the server's declaration, echoed");
    assert_eq!(echoed["info"]["id"], id.as_str());
    assert_eq!(record.spend(paid.spend.expect("a spend"))?.expect("recorded").payment, payment, "the id is recorded");
    assert_eq!((proxy.seen().len(), proxy.distinct()), (2, 1), "sent again with the same bytes");
    assert_eq!(served.load(Ordering::SeqCst), 1, "served once");
    assert_eq!(local.transfers_from(agent.address()).await?, 1);
    assert_eq!(paid.response.json::<serde_json::Value>().await?, serde_json::json!({"report": 42}));

    // A 409 for a payment id is the agent's bug: said plainly, and the payment stays in doubt.
    proxy.plan.lock().expect("the lock").push_back(Fate::Conflict);
    match agent.get(&format!("{base}/exact")).await {
        Err(AgentError::PaymentIdConflict { spend: Some(spend), id: Some(_), .. }) => {
            assert_eq!(record.spend(spend)?.expect("recorded").state, SpendState::InDoubt)
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(record.spent_total(local.token, 0)?, U256::from(2 * PRICE), "in doubt: counted");
    Ok(())
}

#[tokio::test]
async fn a_restarted_agent_resumes_what_is_in_doubt_and_pays_nothing_new() -> eyre::Result<()> {
    let local = Local::new().await?;
    let dir = tempfile::tempdir()?;
    let policy = local.policy(10 * PRICE);
    let key = local.agent_key();

    // Killed while it waited for the answer: the payment reached the paywall, which settled it; sent again,
    // a server without a payment store calls the invoice paid.
    let proxy = Proxy::with_plan([
        Fate::Hang,
        Fate::Refuse("invalid_invoice_already_paid"),
        Fate::Refuse("invalid_invoice_already_paid"),
    ]);
    let (base, served) = local.serve(proxy.clone()).await?;
    let path = dir.path().join("killed.sqlite");
    {
        let agent = local.agent_with_chain(&key, &Arc::new(SpendRecord::open(&path)?), policy.clone());
        let killed = tokio::time::timeout(Duration::from_secs(3), agent.get(&format!("{base}/report"))).await;
        assert!(killed.is_err(), "still waiting when killed");
    }
    assert_eq!((served.load(Ordering::SeqCst), local.transfers_from(key.address()).await?), (1, 1));
    let record = Arc::new(SpendRecord::open(&path)?);
    let unresolved = record.all_unresolved()?;
    assert_eq!(unresolved.iter().map(|s| s.state).collect::<Vec<_>>(), vec![SpendState::Signed]);

    let restarted = local.agent_with_chain(&key, &record, policy.clone());
    let resolutions = restarted.resolve_in_doubt().await?;
    assert_eq!(resolutions.len(), 1);
    assert_eq!((resolutions[0].spend, resolutions[0].state), (unresolved[0].id, SpendState::Charged));
    assert!(matches!(
        restarted.get(&format!("{base}/report")).await,
        Err(AgentError::InDoubt { state: SpendState::Charged, .. })
    ));
    assert_eq!(proxy.distinct(), 1, "nothing new signed");
    assert_eq!(local.transfers_from(key.address()).await?, 1);

    // Its own timeouts: no answer at all, the payment never reached the paywall; without a chain it stays
    // in doubt, and a restarted agent sends it again and is served.
    let proxy = Proxy::with_plan([Fate::Stall; 3]);
    let (base, served) = local.serve(proxy.clone()).await?;
    let path = dir.path().join("timed-out.sqlite");
    {
        let record = Arc::new(SpendRecord::open(&path)?);
        let agent =
            local.agent_without_chain(&key, &record, policy.clone()).with_http(http_client(Duration::from_secs(1))?);
        match agent.get(&format!("{base}/exact")).await {
            Err(AgentError::InDoubt { state: SpendState::InDoubt, reason, .. }) => {
                assert!(reason.starts_with("timed out"), "{reason}")
            }
            other => panic!("expected a payment in doubt, got {other:?}"),
        }
        assert_eq!((proxy.seen().len(), proxy.distinct()), (3, 1), "sent three times, the same payment");
        assert_eq!(record.spent_total(local.token, 0)?, U256::from(PRICE));
    }
    assert_eq!(served.load(Ordering::SeqCst), 0);
    let record = Arc::new(SpendRecord::open(&path)?);
    let restarted = local.agent_without_chain(&key, &record, policy);
    let mut resolutions = restarted.resolve_in_doubt().await?;
    assert_eq!(resolutions.len(), 1);
    let resolution = resolutions.remove(0);
    assert_eq!(resolution.state, SpendState::Settled);
    assert_eq!(resolution.paid.expect("the answer").response.status(), 200);
    assert_eq!((proxy.distinct(), served.load(Ordering::SeqCst)), (1, 1));
    assert_eq!(local.transfers_from(key.address()).await?, 2, "one charge per purchase");
    Ok(())
}

#[tokio::test]
async fn a_pending_payment_is_in_doubt_and_counted_until_the_chain_shows_it_expired_unused() -> eyre::Result<()> {
    let local = Local::new().await?;
    let proxy = Proxy::with_plan([Fate::Pending, Fate::Pending]);
    let (base, _) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let url = format!("{base}/exact");
    let agent = local
        .agent_without_chain(&local.agent, &record, local.policy(10 * PRICE))
        .with_pending_timeout(Duration::from_millis(1500));

    match agent.get(&url).await {
        Err(AgentError::Refused(ErrorReason::SettlementPending)) => {}
        other => panic!("expected the payment in flight, got {other:?}"),
    }
    let pending = record.all_unresolved()?.remove(0);
    assert_eq!((pending.state, pending.note.as_deref()), (SpendState::InDoubt, Some("settlement_pending")));
    assert_eq!((proxy.seen().len(), proxy.distinct()), (2, 1), "sent again after Retry-After");
    local.advance(600).await?;
    let now = local.now.load(Ordering::SeqCst);
    assert!(pending.valid_before < now);
    assert_eq!(record.spent_total(local.token, now)?, U256::from(PRICE), "counted past its expiry");

    // Expired, and no chain to ask: the purchase is blocked, and nothing new is signed.
    match agent.get(&url).await {
        Err(AgentError::InDoubt { state: SpendState::InDoubt, spend, advice, .. }) => {
            assert_eq!(spend, pending.id);
            assert!(advice.contains("--funds-rpc") && advice.contains("--resolve"), "{advice}");
        }
        other => panic!("expected the purchase blocked, got {other:?}"),
    }
    assert_eq!(proxy.seen().len(), 2, "an expired payment is not sent again");

    // With the chain: unused past its expiry, so refused, and a new payment is signed and served.
    let agent = local.agent_with_chain(&local.agent, &record, local.policy(10 * PRICE));
    let paid = agent.get(&url).await?;
    assert_eq!(paid.response.status(), 200);
    let expired = record.spend(pending.id)?.expect("recorded");
    assert_eq!((expired.state, expired.note.as_deref()), (SpendState::Refused, Some("expired_unused")));
    assert_eq!(proxy.distinct(), 2);
    assert_eq!(local.transfers_from(agent.address()).await?, 1);
    assert_eq!(record.spent_total(local.token, now)?, U256::from(PRICE));
    Ok(())
}

#[tokio::test]
async fn a_refusal_that_proves_nothing_was_taken_lets_a_new_payment_be_signed() -> eyre::Result<()> {
    let local = Local::new().await?;
    let proxy = Proxy::with_plan([]);
    let (base, _) = local.serve(proxy.clone()).await?;
    let pauper = PrivateKeySigner::random();
    let record = Arc::new(SpendRecord::in_memory()?);
    let agent = local.agent_without_chain(&pauper, &record, local.policy(10 * PRICE));
    let url = format!("{base}/exact");

    match agent.get(&url).await {
        Err(AgentError::Refused(reason)) => assert_eq!(reason, ErrorReason::ExactEvmInsufficientBalance),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Reading the chain for its payments but not its balances, it still tries, and is told the same.
    let funds = ChainFunds::new().with(local.network.clone(), local.chain.clone()).without_balances();
    let reading = local.agent_without_chain(&pauper, &record, local.policy(10 * PRICE)).with_funds(Arc::new(funds));
    match reading.get(&url).await {
        Err(AgentError::Refused(reason)) => assert_eq!(reason, ErrorReason::ExactEvmInsufficientBalance),
        other => panic!("expected a refusal, got {other:?}"),
    }
    local.mint(pauper.address(), PRICE).await?;
    let paid = agent.get(&url).await?;
    assert_eq!(paid.response.status(), 200);
    let states: Vec<SpendState> = [1, 2, 3]
        .into_iter()
        .map(|id| record.spend(id).map(|s| s.expect("recorded").state))
        .collect::<Result<_, _>>()?;
    assert_eq!(states, vec![SpendState::Refused, SpendState::Refused, SpendState::Settled]);
    assert_eq!(proxy.distinct(), 3);
    assert_eq!(local.transfers_from(pauper.address()).await?, 1);
    assert_eq!(local.balance(pauper.address()).await?, U256::ZERO);
    Ok(())
}

/// Chains that say everything but their block 0.
#[derive(Debug)]
struct NoGenesis<F>(F);

impl<F: Funds> Funds for NoGenesis<F> {
    fn balance<'a>(&'a self, network: &'a str, asset: Address, owner: Address) -> Answer<'a, U256> {
        self.0.balance(network, asset, owner)
    }

    fn trace<'a>(&'a self, network: &'a str, mark: &'a Mark) -> Answer<'a, ChainWord> {
        self.0.trace(network, mark)
    }

    fn channel<'a>(&'a self, network: &'a str, contract: Address, id: B256) -> Answer<'a, ChannelSeen> {
        self.0.channel(network, contract, id)
    }
}

#[tokio::test]
async fn a_recorded_channel_the_chain_does_not_know_is_forgotten_before_paying_through_it() -> eyre::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("spend.sqlite");
    let first = Local::new().await?;
    let mut policy = first.policy(100 * PRICE);
    policy.channel_requests = 10;
    let (base, _) = first.serve(Proxy::with_plan([])).await?;
    let agent = first.agent_with_chain(&first.agent, &Arc::new(SpendRecord::open(&path)?), policy.clone());
    let opened = agent.get(&format!("{base}/tick")).await?;
    assert_eq!(opened.response.status(), 200);
    let opened: ChannelPayload = serde_json::from_value(opened.payment.expect("a payment").payload)?;
    assert!(opened.deposit.is_some(), "the first voucher opens the channel");
    drop(agent);

    // The chain is reset: the same contracts at the same addresses, and no trace of the channel. Reading
    // block 0, the agent refuses the whole record (it belongs to the old chain) and signs nothing.
    let reset = Local::new().await?;
    assert_eq!((reset.channels, reset.token), (first.channels, first.token));
    let proxy = Proxy::with_plan([]);
    let (base, _) = reset.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::open(&path)?);
    let agent = reset.agent_with_chain(&reset.agent, &record, policy.clone());
    assert!(matches!(
        agent.get(&format!("{base}/tick")).await,
        Err(AgentError::Record(quittance_agent::RecordError::OtherChain { .. }))
    ));
    assert_eq!(proxy.distinct(), 0, "nothing signed");
    // With chains that do not tell their block 0, the recorded channel itself is checked: the chain does
    // not know it, so it is forgotten and the next payment opens another.
    let funds = NoGenesis(ChainFunds::new().with(reset.network.clone(), reset.chain.clone()));
    let agent = reset.agent_without_chain(&reset.agent, &record, policy).with_funds(Arc::new(funds));
    let paid = agent.get(&format!("{base}/tick")).await?;
    assert_eq!(paid.response.status(), 200);
    let paid: ChannelPayload = serde_json::from_value(paid.payment.expect("a payment").payload)?;
    let deposit = paid.deposit.expect("a new channel, opened with a deposit");
    assert_ne!(paid.config.salt, opened.config.salt);
    assert_eq!(reset.balance(reset.channels).await?, U256::from_str_radix(&deposit.amount, 10)?);
    Ok(())
}

#[tokio::test]
async fn a_named_purchase_run_again_after_it_was_served_gets_its_answer_again_and_pays_once() -> eyre::Result<()> {
    let local = Local::new().await?;
    let proxy = Proxy::with_plan([]);
    let (base, served) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let agent = local.agent_without_chain(&local.agent, &record, local.policy(10 * PRICE));
    let request = || reqwest::Client::new().get(format!("{base}/report")).build();

    let first = agent.send_purchase(request()?, "order 7").await?;
    assert_eq!(first.response.status(), 200);
    let body = first.response.text().await?;
    // The caller crashed before it saw the answer and runs the same purchase again: the same payment is
    // sent, and the paywall answers from its store what it bought.
    let again = agent.send_purchase(request()?, "order 7").await?;
    assert_eq!(again.response.status(), 200);
    assert_eq!(again.response.text().await?, body);
    assert_eq!((proxy.distinct(), served.load(Ordering::SeqCst)), (1, 1), "one payment, served once");
    assert_eq!(local.transfers_from(agent.address()).await?, 1, "charged once");

    // Another name is another purchase; without a name, every request buys anew.
    assert_eq!(agent.send_purchase(request()?, "order 8").await?.response.status(), 200);
    assert_eq!(agent.get(&format!("{base}/report")).await?.response.status(), 200);
    assert_eq!(local.transfers_from(agent.address()).await?, 3);
    Ok(())
}

#[tokio::test]
async fn a_spend_record_of_a_chain_that_was_reset_is_refused_before_anything_is_signed() -> eyre::Result<()> {
    let local = Local::new().await?;
    let proxy = Proxy::with_plan([]);
    let (base, _) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let agent = local.agent_with_chain(&local.agent, &record, local.policy(10 * PRICE));
    assert_eq!(agent.get(&format!("{base}/report")).await?.response.status(), 200);

    // The same network name, now a fresh chain (a local chain reset): the record's payments are not its.
    let reset = quittance_chain::revm::RevmChain::new(31337, 1_750_000_000);
    let funds = ChainFunds::new().with(local.network.clone(), reset);
    let confused =
        local.agent_without_chain(&local.agent, &record, local.policy(10 * PRICE)).with_funds(Arc::new(funds));
    match confused.get(&format!("{base}/report")).await {
        Err(AgentError::Record(quittance_agent::RecordError::OtherChain { network, .. })) => {
            assert_eq!(network, local.network)
        }
        other => panic!("expected the record to be refused for another chain, got {other:?}"),
    }
    assert_eq!(proxy.distinct(), 1, "nothing new signed");
    assert_eq!(local.transfers_from(local.agent.address()).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_permit2_payment_whose_answer_was_lost_is_read_as_taken_in_permit2s_nonce_bitmap() -> eyre::Result<()> {
    let local = Local::new().await?;
    local.approve_permit2(&local.agent).await?;
    // Settled and its answer lost; sent again, the facilitator calls its Permit2 nonce used.
    let used = Fate::Refuse("permit2_invalid_nonce");
    let proxy = Proxy::with_plan([Fate::LoseAnswer, used, used]);
    let (base, served) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let url = format!("{base}/permit2");
    let before = local.balance(local.agent.address()).await?;

    // Without a chain, the agent cannot tell: in doubt, and counted.
    let blind = local.agent_without_chain(&local.agent, &record, local.policy(10 * PRICE));
    let spend = match blind.get(&url).await {
        Err(AgentError::InDoubt { state: SpendState::InDoubt, spend, .. }) => spend,
        other => panic!("expected a payment in doubt, got {other:?}"),
    };
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert_eq!(record.spent_total(local.token, u64::MAX - 1)?, U256::from(PRICE), "counted while in doubt");

    // With the chain: the nonce's bit is set, so it was taken; sent again it is refused, and never paid anew.
    let agent = local.agent_with_chain(&local.agent, &record, local.policy(10 * PRICE));
    match agent.get(&url).await {
        Err(AgentError::InDoubt { state: SpendState::Charged, spend: again, .. }) => assert_eq!(again, spend),
        other => panic!("expected the payment charged, got {other:?}"),
    }
    assert_eq!(proxy.distinct(), 1, "the same payment, never a new one");
    assert_eq!(local.transfers_from(local.agent.address()).await?, 1);
    assert_eq!(before - local.balance(local.agent.address()).await?, U256::from(PRICE));
    assert_eq!(record.settled_total(local.token)?, U256::from(PRICE), "counted as settled");
    Ok(())
}

#[tokio::test]
async fn a_permit2_payment_never_delivered_is_read_unused_after_its_deadline_and_paid_anew() -> eyre::Result<()> {
    let local = Local::new().await?;
    local.approve_permit2(&local.agent).await?;
    let proxy = Proxy::with_plan([Fate::Pending, Fate::Pending]);
    let (base, _) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let url = format!("{base}/permit2");
    let agent = local
        .agent_with_chain(&local.agent, &record, local.policy(10 * PRICE))
        .with_pending_timeout(Duration::from_millis(1500));
    match agent.get(&url).await {
        Err(AgentError::Refused(ErrorReason::SettlementPending)) => {}
        other => panic!("expected the payment in flight, got {other:?}"),
    }
    let pending = record.all_unresolved()?.remove(0);
    assert_eq!(pending.state, SpendState::InDoubt);

    // Past its deadline, unused in Permit2: refused, and a new payment is signed and served once.
    local.advance(600).await?;
    let paid = agent.get(&url).await?;
    assert_eq!(paid.response.status(), 200);
    let expired = record.spend(pending.id)?.expect("recorded");
    assert_eq!((expired.state, expired.note.as_deref()), (SpendState::Refused, Some("expired_unused")));
    assert_eq!(local.transfers_from(local.agent.address()).await?, 1);
    Ok(())
}
