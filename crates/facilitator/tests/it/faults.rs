//! The settlement engine under faults, on the in-memory chain behind a chain that misbehaves on purpose:
//! answers lost after the node took a transaction, a node that takes nothing, a client that stops waiting,
//! authorizations that expire while their settlement is unsent. Every test ends by reconciling what the
//! chain did with what the ledger holds.

use crate::{PRICE, fast, request};
use alloy::{
    primitives::{Address, B256, Bytes, Log, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use quittance_bindings::TestStablecoin;
use quittance_chain::{Call, Chain, ChainError, DevChain, Fees, Receipt, revm::RevmChain};
use quittance_facilitator::{Entry, Facilitator, Ledger, LedgerError, SqliteLedger};
use quittance_x402::{ErrorReason, PaymentPayload, PaymentRequirements, exact};
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

/// The in-memory chain, with faults on broadcast.
#[derive(Clone, Debug)]
pub(crate) struct Faulty {
    pub(crate) chain: RevmChain,
    /// The next broadcasts reach the chain but their answer is lost (an error is returned).
    pub(crate) lose_answers: Arc<AtomicU32>,
    /// Broadcasts never reach the chain (the node is unreachable).
    pub(crate) unreachable: Arc<AtomicBool>,
    /// Every transaction that reached the chain.
    reached: Arc<Mutex<Vec<B256>>>,
}

impl Faulty {
    pub(crate) fn new(chain: RevmChain) -> Self {
        Self { chain, lose_answers: Default::default(), unreachable: Default::default(), reached: Default::default() }
    }

    /// How many transactions reached the chain, and how many of them reverted.
    pub(crate) async fn mined(&self) -> eyre::Result<(usize, usize)> {
        let reached = self.reached.lock().map_err(|_| eyre::eyre!("poisoned"))?.clone();
        let mut reverted = 0;
        for hash in &reached {
            if !self.chain.receipt(*hash).await?.ok_or_else(|| eyre::eyre!("not mined"))?.success {
                reverted += 1;
            }
        }
        Ok((reached.len(), reverted))
    }
}

impl Chain for Faulty {
    async fn chain_id(&self) -> Result<u64, ChainError> {
        self.chain.chain_id().await
    }
    async fn genesis_hash(&self) -> Result<B256, ChainError> {
        self.chain.genesis_hash().await
    }
    async fn timestamp(&self) -> Result<u64, ChainError> {
        self.chain.timestamp().await
    }
    async fn code(&self, address: Address) -> Result<Bytes, ChainError> {
        self.chain.code(address).await
    }
    async fn call(&self, call: Call) -> Result<Bytes, ChainError> {
        self.chain.call(call).await
    }
    async fn estimate_gas(&self, call: Call) -> Result<u64, ChainError> {
        self.chain.estimate_gas(call).await
    }
    async fn fees(&self) -> Result<Fees, ChainError> {
        self.chain.fees().await
    }
    async fn pending_nonce(&self, address: Address) -> Result<u64, ChainError> {
        self.chain.pending_nonce(address).await
    }
    async fn send_raw(&self, raw: Bytes) -> Result<B256, ChainError> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(ChainError::Transport("connection refused".into()));
        }
        let hash = self.chain.send_raw(raw).await?;
        if let Ok(mut reached) = self.reached.lock()
            && !reached.contains(&hash)
        {
            reached.push(hash);
        }
        if self.lose_answers.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(ChainError::Transport("connection reset before the answer".into()));
        }
        Ok(hash)
    }
    async fn receipt(&self, hash: B256) -> Result<Option<Receipt>, ChainError> {
        self.chain.receipt(hash).await
    }
    async fn block_number(&self) -> Result<u64, ChainError> {
        self.chain.block_number().await
    }
    async fn logs(&self, address: Address, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        self.chain.logs(address, from, to).await
    }
}

struct Setup {
    chain: Faulty,
    key: PrivateKeySigner,
    agent: PrivateKeySigner,
    token: Address,
    payee: Address,
    option: PaymentRequirements,
}

async fn setup() -> eyre::Result<Setup> {
    let chain = RevmChain::new(31337, 1_750_000_000);
    let owner = PrivateKeySigner::from_bytes(&keccak256("faults owner"))?;
    let key = PrivateKeySigner::from_bytes(&keccak256("faults facilitator"))?;
    let agent = PrivateKeySigner::from_bytes(&keccak256("faults agent"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("faults payee"))?.address();
    for account in [owner.address(), key.address()] {
        chain.set_balance(account, U256::from(10u64).pow(U256::from(20))).await?;
    }
    let manifest = quittance_deploy::deploy(&chain, &owner, owner.address(), &[agent.address()], |_| {}).await?;
    let token = manifest.address("TestStablecoin").ok_or_else(|| eyre::eyre!("no token"))?;
    let option = serde_json::from_value(serde_json::json!({
        "scheme": "exact", "network": "eip155:31337", "amount": PRICE.to_string(), "asset": token,
        "payTo": payee, "maxTimeoutSeconds": 120, "extra": {"name": "USD Coin", "version": "2"}
    }))?;
    Ok(Setup { chain: Faulty::new(chain), key, agent, token, payee, option })
}

impl Setup {
    async fn facilitator(&self, ledger: Arc<dyn Ledger>) -> eyre::Result<Facilitator<Faulty>> {
        Ok(Facilitator::new(self.chain.clone(), self.key.clone(), ledger, fast()).await?)
    }

    async fn pay(&self) -> eyre::Result<PaymentPayload> {
        let now = self.chain.timestamp().await?;
        Ok(exact::pay(&self.option, None, &self.agent, self.agent.address(), now, B256::random())?)
    }

    async fn paid(&self) -> eyre::Result<U256> {
        let call = TestStablecoin::balanceOfCall { account: self.payee };
        Ok(quittance_chain::read(&self.chain.chain, self.token, call).await?)
    }
}

/// The ledger holds nothing unfinished, every transaction that reached the chain succeeded, and the payee
/// received exactly `payments` prices.
async fn reconciled(setup: &Setup, ledger: &dyn Ledger, payments: u64) -> eyre::Result<()> {
    assert_eq!(ledger.unfinished()?, vec![], "nothing is left unfinished");
    let (_, reverted) = setup.chain.mined().await?;
    assert_eq!(reverted, 0, "no facilitator transaction reverted");
    assert_eq!(setup.paid().await?, U256::from(payments * PRICE), "charged exactly once per payment");
    Ok(())
}

#[tokio::test]
async fn a_lost_answer_to_a_broadcast_is_pending_and_concluded_from_the_chain_never_released() -> eyre::Result<()> {
    let setup = setup().await?;
    let ledger = Arc::new(SqliteLedger::in_memory()?);
    let facilitator = setup.facilitator(ledger.clone()).await?;
    let payment = setup.pay().await?;
    let req = request(payment, setup.option.clone());

    setup.chain.lose_answers.store(1, Ordering::SeqCst);
    let first = facilitator.settle(&req).await;
    assert_eq!(first.error_reason, Some(ErrorReason::SettlementPending), "{first:?}");
    assert!(!first.transaction.is_empty(), "pending names its transaction");
    assert!(matches!(ledger.unfinished()?.as_slice(), [(_, Entry::Submitted(_))]), "kept, not released");
    assert_eq!(setup.paid().await?, U256::from(PRICE), "the node took it");

    // The retry is answered from the ledger and the chain: the same transaction, a success, once.
    let retry = facilitator.settle(&req).await;
    assert!(retry.success, "{retry:?}");
    assert_eq!(retry.transaction, first.transaction);
    let replay = facilitator.settle(&req).await;
    assert_eq!(replay.error_reason, Some(ErrorReason::ExactEvmNonceAlreadyUsed));
    assert!(!facilitator.verify(&req).await.is_valid);
    reconciled(&setup, ledger.as_ref(), 1).await
}

#[tokio::test]
async fn an_unreachable_node_leaves_the_settlement_to_the_reconciler_which_sends_it_once_reachable() -> eyre::Result<()>
{
    let setup = setup().await?;
    let ledger = Arc::new(SqliteLedger::in_memory()?);
    let facilitator = setup.facilitator(ledger.clone()).await?;
    let req = request(setup.pay().await?, setup.option.clone());

    setup.chain.unreachable.store(true, Ordering::SeqCst);
    let first = facilitator.settle(&req).await;
    assert_eq!(first.error_reason, Some(ErrorReason::SettlementPending), "{first:?}");
    // While it is in flight, verify and settle answer from the ledger: pending, nothing new is sent.
    let verified = facilitator.verify(&req).await;
    assert_eq!(verified.invalid_reason, Some(ErrorReason::SettlementPending));
    // Later payments take the next nonces and wait behind it.
    let second = request(setup.pay().await?, setup.option.clone());
    assert_eq!(facilitator.settle(&second).await.error_reason, Some(ErrorReason::SettlementPending));
    assert_eq!(setup.paid().await?, U256::ZERO);

    setup.chain.unreachable.store(false, Ordering::SeqCst);
    let done = facilitator.reconcile().await?;
    assert_eq!((done.rebroadcast, done.filled), (2, 0), "{done:?}");
    facilitator.reconcile().await?;
    assert!(facilitator.settle(&req).await.success);
    assert!(facilitator.settle(&second).await.success);
    reconciled(&setup, ledger.as_ref(), 2).await
}

#[tokio::test]
async fn an_expired_unsent_settlement_is_never_sent_its_nonce_is_filled_and_later_ones_go_through() -> eyre::Result<()>
{
    let setup = setup().await?;
    let ledger = Arc::new(SqliteLedger::in_memory()?);
    let facilitator = setup.facilitator(ledger.clone()).await?;
    let req = request(setup.pay().await?, setup.option.clone());

    setup.chain.unreachable.store(true, Ordering::SeqCst);
    assert_eq!(facilitator.settle(&req).await.error_reason, Some(ErrorReason::SettlementPending));
    setup.chain.chain.advance(3600).await?; // the authorization (valid two minutes) expires
    setup.chain.unreachable.store(false, Ordering::SeqCst);

    let done = facilitator.reconcile().await?;
    assert_eq!((done.rebroadcast, done.filled), (0, 1), "{done:?}");
    facilitator.reconcile().await?;
    let outcome = facilitator.settle(&req).await;
    assert_eq!(outcome.error_reason, Some(ErrorReason::ExactEvmValidBefore), "{outcome:?}");
    assert_eq!(outcome.transaction, "", "nothing was taken");

    // The next settlement is not stuck behind the gap.
    let next = request(setup.pay().await?, setup.option.clone());
    assert!(facilitator.settle(&next).await.success);
    let (reached, _) = setup.chain.mined().await?;
    assert_eq!(reached, 2, "the filler and the next settlement; the expired one never reached the chain");
    reconciled(&setup, ledger.as_ref(), 1).await
}

#[tokio::test]
async fn a_caller_that_stops_waiting_does_not_stop_the_settlement() -> eyre::Result<()> {
    let setup = setup().await?;
    let ledger = Arc::new(SqliteLedger::in_memory()?);
    let facilitator = setup.facilitator(ledger.clone()).await?;
    let req = request(setup.pay().await?, setup.option.clone());

    // The caller gives up after the settlement is claimed (a client disconnecting mid-settle drops the
    // request's future).
    let mut asked = Box::pin(facilitator.settle(&req));
    assert!(futures::poll!(&mut asked).is_pending());
    assert!(matches!(ledger.unfinished()?.as_slice(), [(_, Entry::Claimed)]));
    drop(asked);
    let started = tokio::time::Instant::now();
    while !ledger.unfinished()?.is_empty() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let outcome = facilitator.settle(&req).await;
    assert!(outcome.success, "concluded by its own task, answered once: {outcome:?}");
    let next = request(setup.pay().await?, setup.option.clone());
    assert!(facilitator.settle(&next).await.success, "no gap left behind");
    reconciled(&setup, ledger.as_ref(), 2).await
}

#[tokio::test]
async fn a_restart_on_the_same_ledger_concludes_and_resends_what_the_crash_left() -> eyre::Result<()> {
    let setup = setup().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ledger.sqlite");
    let req = request(setup.pay().await?, setup.option.clone());
    let lost = request(setup.pay().await?, setup.option.clone());
    {
        let facilitator = setup.facilitator(Arc::new(SqliteLedger::open(&path)?)).await?;
        setup.chain.lose_answers.store(1, Ordering::SeqCst);
        assert_eq!(facilitator.settle(&lost).await.error_reason, Some(ErrorReason::SettlementPending));
        setup.chain.unreachable.store(true, Ordering::SeqCst);
        assert_eq!(facilitator.settle(&req).await.error_reason, Some(ErrorReason::SettlementPending));
    }
    setup.chain.unreachable.store(false, Ordering::SeqCst);
    let ledger = Arc::new(SqliteLedger::open(&path)?);
    let restarted = setup.facilitator(ledger.clone()).await?;
    assert!(restarted.settle(&lost).await.success);
    assert!(restarted.settle(&req).await.success);
    reconciled(&setup, ledger.as_ref(), 2).await
}

#[tokio::test]
async fn a_ledger_of_another_chain_or_one_that_cannot_be_written_is_refused_at_start() -> eyre::Result<()> {
    let setup = setup().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ledger.sqlite");
    setup.facilitator(Arc::new(SqliteLedger::open(&path)?)).await?;

    // A reset chain with the same id: another genesis.
    let reset = RevmChain::new(31337, 1_750_000_000);
    reset.set_balance(setup.key.address(), U256::from(10u64).pow(U256::from(20))).await?;
    let refused = Facilitator::new(reset, setup.key.clone(), Arc::new(SqliteLedger::open(&path)?), fast()).await;
    assert!(
        matches!(refused, Err(quittance_facilitator::FacilitatorError::Ledger(LedgerError::OtherChain { .. }))),
        "{refused:?}"
    );

    // A ledger the process cannot write (opened read-only, as a file without write permission is for any
    // user but root): refused at start, with the storage's reason.
    let read_only = SqliteLedger::open(format!("file:{}?mode=ro", path.display())).map(Arc::new);
    let refused = match read_only {
        Ok(ledger) => Facilitator::new(setup.chain.clone(), setup.key.clone(), ledger, fast()).await.err(),
        Err(err) => Some(quittance_facilitator::FacilitatorError::Ledger(err)),
    };
    assert!(
        matches!(&refused, Some(quittance_facilitator::FacilitatorError::Ledger(LedgerError::Storage(reason))) if reason.contains("readonly")),
        "{refused:?}"
    );
    Ok(())
}
