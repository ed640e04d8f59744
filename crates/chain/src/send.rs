//! Sending transactions from one key with nonces kept here, for deployments, operators and simulations.

use crate::{Call, Chain, ChainError, Receipt};
use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, Bytes, TxKind, U256},
    signers::local::PrivateKeySigner,
};
use std::time::Duration;

/// How long [`Sender::send`] waits for a receipt.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends transactions from one key, keeping its nonce: a transaction that would revert is refused before
/// it is signed, so no nonce is ever skipped.
#[derive(Debug)]
pub struct Sender<'a, C> {
    chain: &'a C,
    signer: &'a PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
}

impl<'a, C: Chain> Sender<'a, C> {
    /// A sender for `signer` on `chain`, starting at its pending nonce.
    pub async fn new(chain: &'a C, signer: &'a PrivateKeySigner) -> Result<Self, ChainError> {
        let chain_id = chain.chain_id().await?;
        let nonce = chain.pending_nonce(signer.address()).await?;
        Ok(Self { chain, signer, chain_id, nonce })
    }

    /// The sending account.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The chain's id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The chain it sends to.
    pub fn chain(&self) -> &'a C {
        self.chain
    }

    /// Sends `data` to `to` and waits for the successful receipt. A call that reverts in gas estimation is
    /// [`ChainError::Reverted`] and sends nothing; one that was mined and reverted all the same (the state
    /// changed in between) is [`ChainError::Failed`].
    pub async fn send(&mut self, to: Address, data: Bytes) -> Result<Receipt, ChainError> {
        let call = Call { from: self.signer.address(), to, data: data.clone(), value: U256::ZERO };
        let gas = self.chain.estimate_gas(call).await?;
        self.submit(TxKind::Call(to), data, gas.saturating_mul(6) / 5 + 10_000).await
    }

    /// Deploys `init_code` with `CREATE` and a gas limit of `gas_limit` (a creation is not estimated);
    /// returns the new contract's address and the successful receipt ([`ChainError::Failed`] if it reverted).
    pub async fn create(&mut self, init_code: Bytes, gas_limit: u64) -> Result<(Address, Receipt), ChainError> {
        let address = self.signer.address().create(self.nonce);
        Ok((address, self.submit(TxKind::Create, init_code, gas_limit).await?))
    }

    async fn submit(&mut self, kind: TxKind, data: Bytes, gas_limit: u64) -> Result<Receipt, ChainError> {
        let fees = self.chain.fees().await?;
        let mut tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            to: kind,
            value: U256::ZERO,
            access_list: Default::default(),
            input: data,
        };
        let signature = self
            .signer
            .sign_transaction_sync(&mut tx)
            .map_err(|e| ChainError::Transport(format!("could not sign a transaction: {e}")))?;
        let envelope = TxEnvelope::from(tx.into_signed(signature));
        let hash = self.chain.send_raw(envelope.encoded_2718().into()).await?;
        self.nonce += 1;
        let deadline = tokio::time::Instant::now() + RECEIPT_TIMEOUT;
        let mut wait = Duration::from_millis(1);
        loop {
            if let Some(receipt) = self.chain.receipt(hash).await? {
                if !receipt.success {
                    return Err(ChainError::Failed { transaction: hash });
                }
                return Ok(receipt);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ChainError::Transport(format!("transaction {hash} was not mined in time")));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(500));
        }
    }
}
