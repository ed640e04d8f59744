//! The agent pays with a signer that signs only asynchronously, as remote and hardware signers do (alloy's
//! `Signer` trait alone): on tokio's multi-thread runtime it pays as with a local key; elsewhere it refuses
//! to sign, and nothing is paid.

use super::local::{Local, PRICE, Proxy};
use alloy::{
    primitives::{Address, B256, ChainId, Signature, U256},
    signers::{Signer, SignerSync, local::PrivateKeySigner},
};
use quittance_agent::{Agent, AgentError, PaymentSigner, SpendRecord};
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// A signer reached over the network: it answers after a wait, and only asynchronously.
#[derive(Debug)]
struct Remote {
    key: PrivateKeySigner,
    signed: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Signer for Remote {
    async fn sign_hash(&self, hash: &B256) -> alloy::signers::Result<Signature> {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        self.signed.fetch_add(1, Ordering::SeqCst);
        self.key.sign_hash_sync(hash)
    }

    fn address(&self) -> Address {
        self.key.address()
    }

    fn chain_id(&self) -> Option<ChainId> {
        None
    }

    fn set_chain_id(&mut self, _chain_id: Option<ChainId>) {}
}

fn remote_agent(local: &Local, signed: &Arc<AtomicUsize>) -> eyre::Result<Agent> {
    let signer = PaymentSigner::remote(Remote { key: local.agent_key(), signed: signed.clone() });
    assert!(!format!("{signer:?}").contains(&local.agent_key().to_bytes().to_string()), "the key is never shown");
    let record = Arc::new(SpendRecord::in_memory()?);
    Ok(Agent::new(signer, local.policy(10 * PRICE), record).with_ambient(local.ambient()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_signer_pays_on_the_multi_thread_runtime() -> eyre::Result<()> {
    let local = Local::new().await?;
    let (base, served) = local.serve(Proxy::with_plan([])).await?;
    let signed = Arc::new(AtomicUsize::new(0));
    let agent = remote_agent(&local, &signed)?;
    assert_eq!(agent.address(), local.agent.address());

    let paid = agent.get(&format!("{base}/exact")).await?;
    assert_eq!(paid.response.status(), 200);
    assert!(paid.receipt.expect("a receipt").success);
    assert_eq!(signed.load(Ordering::SeqCst), 1, "one signature, by the remote signer");
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert_eq!(local.balance(local.payee).await?, U256::from(PRICE));
    Ok(())
}

#[tokio::test]
async fn a_remote_signer_on_a_current_thread_runtime_signs_nothing_and_pays_nothing() -> eyre::Result<()> {
    let local = Local::new().await?;
    let (base, served) = local.serve(Proxy::with_plan([])).await?;
    let signed = Arc::new(AtomicUsize::new(0));
    let agent = remote_agent(&local, &signed)?;

    let err = agent.get(&format!("{base}/exact")).await.expect_err("cannot sign here");
    assert!(matches!(&err, AgentError::Sign(why) if why.contains("multi-thread runtime")), "{err:?}");
    assert_eq!(signed.load(Ordering::SeqCst), 0);
    assert_eq!(served.load(Ordering::SeqCst), 0);
    assert_eq!(local.balance(local.payee).await?, U256::ZERO);
    assert!(agent.record().recent(10)?.is_empty(), "nothing recorded: nothing was signed");
    Ok(())
}
