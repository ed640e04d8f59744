#![doc = include_str!("../README.md")]

pub mod anvil;
pub mod revm;
mod send;

pub use send::{RECEIPT_TIMEOUT, Sender};

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes, Log, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    sol_types::SolCall,
    transports::{RpcError, TransportErrorKind},
};
use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Why a chain request failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The call reverted; `data` is the revert data (a custom error, `Error(string)`, or empty).
    #[error("the call reverted (data {data})")]
    Reverted {
        /// The revert data.
        data: Bytes,
    },
    /// A transaction was mined but reverted (its nonce and gas are spent).
    #[error("transaction {transaction} reverted")]
    Failed {
        /// The transaction.
        transaction: B256,
    },
    /// The chain could not be reached or answered something unexpected.
    #[error("chain request failed: {0}")]
    Transport(String),
}

/// A call to simulate: `from` calls `to` with `data` and `value` wei, against the latest state, committing
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The caller.
    pub from: Address,
    /// The contract.
    pub to: Address,
    /// The calldata.
    pub data: Bytes,
    /// The ether sent with it, in wei.
    pub value: U256,
}

/// Reads a view function: `call` on `to` from the zero address, its answer decoded (an answer that does not
/// decode is [`ChainError::Transport`]).
pub async fn read<C: Chain, T: SolCall>(chain: &C, to: Address, call: T) -> Result<T::Return, ChainError> {
    let data = call.abi_encode().into();
    let out = chain.call(Call { from: Address::ZERO, to, data, value: U256::ZERO }).await?;
    T::abi_decode_returns(&out).map_err(|err| ChainError::Transport(format!("unexpected answer from {to}: {err}")))
}

/// EIP-1559 fees for a new transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    /// `maxFeePerGas`.
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`.
    pub max_priority_fee_per_gas: u128,
}

/// A mined transaction's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction hash.
    pub transaction_hash: B256,
    /// Whether it succeeded (false: it reverted).
    pub success: bool,
    /// The block it was mined in.
    pub block_number: u64,
    /// The gas it used.
    pub gas_used: u64,
    /// Its logs, in order.
    pub logs: Vec<Log>,
}

/// What Quittance needs from a chain.
pub trait Chain: Send + Sync {
    /// The chain id.
    fn chain_id(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// The hash of block 0: what tells this chain from another one with the same id (a local chain reset,
    /// a fork). Stores bound to a chain (the facilitator's ledger, an agent's spend record) check it.
    fn genesis_hash(&self) -> impl Future<Output = Result<B256, ChainError>> + Send;

    /// The timestamp of the latest block, in unix seconds.
    fn timestamp(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// The code at `address` (empty for accounts without code).
    fn code(&self, address: Address) -> impl Future<Output = Result<Bytes, ChainError>> + Send;

    /// Simulates `call` against the latest state and returns its output, or [`ChainError::Reverted`].
    fn call(&self, call: Call) -> impl Future<Output = Result<Bytes, ChainError>> + Send;

    /// The gas `call` would use as a transaction, or [`ChainError::Reverted`].
    fn estimate_gas(&self, call: Call) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// Fees for a transaction sent now.
    fn fees(&self) -> impl Future<Output = Result<Fees, ChainError>> + Send;

    /// The next nonce of `address`, counting transactions waiting in the pool.
    fn pending_nonce(&self, address: Address) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// Broadcasts a signed transaction (EIP-2718 bytes). Broadcasting one the chain already knows is not
    /// an error: it returns the same hash.
    fn send_raw(&self, raw: Bytes) -> impl Future<Output = Result<B256, ChainError>> + Send;

    /// The receipt of a transaction, once it is mined.
    fn receipt(&self, hash: B256) -> impl Future<Output = Result<Option<Receipt>, ChainError>> + Send;

    /// The latest block's number.
    fn block_number(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// The logs `address` emitted in blocks `from..=to` by successful transactions, in chain order.
    fn logs(&self, address: Address, from: u64, to: u64) -> impl Future<Output = Result<Vec<Log>, ChainError>> + Send;
}

/// A development chain whose clock and balances a test or a simulation controls: the in-memory chain, or
/// anvil through [`RpcChain`].
pub trait DevChain: Chain {
    /// Holds the clock still: every block keeps the latest timestamp until [`DevChain::advance`] moves it
    /// (the in-memory chain always does).
    fn hold_clock(&self) -> impl Future<Output = Result<(), ChainError>> + Send;

    /// Moves the clock forward by `seconds`.
    fn advance(&self, seconds: u64) -> impl Future<Output = Result<(), ChainError>> + Send;

    /// Sets the ether balance of `address` to `wei`.
    fn set_balance(&self, address: Address, wei: U256) -> impl Future<Output = Result<(), ChainError>> + Send;

    /// Puts `code` at `address` as its runtime code, keeping its balance, nonce and storage (how local chains
    /// get contracts that live at fixed addresses elsewhere, such as Permit2).
    fn set_code(&self, address: Address, code: Bytes) -> impl Future<Output = Result<(), ChainError>> + Send;
}

/// How long [`RpcChain`] reuses the latest block's timestamp before asking again. Timestamps count
/// seconds, so a reading this fresh answers as the node would, without a round trip per verification.
pub const TIMESTAMP_REUSE: Duration = Duration::from_millis(200);

/// A chain reached over JSON-RPC (anvil, or any node).
#[derive(Debug, Clone)]
pub struct RpcChain {
    provider: DynProvider,
    /// The latest block's timestamp and when it was read.
    clock: Arc<Mutex<Option<(u64, Instant)>>>,
}

/// How long [`RpcChain::http`] waits for a JSON-RPC request, connecting included, before giving up with a
/// [`ChainError::Transport`] that says it timed out.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an [`RpcChain`] waits to connect to its node, at most (and never longer than its request timeout).
pub const RPC_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl RpcChain {
    /// Connects to the HTTP JSON-RPC endpoint at `url`; every request times out after [`RPC_TIMEOUT`].
    pub fn http(url: alloy::transports::http::reqwest::Url) -> Self {
        Self::http_with_timeout(url, RPC_TIMEOUT)
    }

    /// Connects to the HTTP JSON-RPC endpoint at `url`; every request (connecting, sending, reading the answer)
    /// gives up after `timeout` with a [`ChainError::Transport`] that says it timed out, so a node that never
    /// answers cannot hold a caller.
    pub fn http_with_timeout(url: alloy::transports::http::reqwest::Url, timeout: Duration) -> Self {
        use alloy::transports::http::{Http, reqwest::Client};
        // Building fails only where the TLS backend cannot start; `Client::new()` then fails the same way,
        // as alloy's own `connect_http` would.
        let client = Client::builder()
            .connect_timeout(RPC_CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()
            .unwrap_or_else(|_| Client::new());
        let transport = Http::with_client(client, url);
        let is_local = transport.guess_local();
        let client = alloy::rpc::client::RpcClient::new(transport, is_local);
        Self { provider: ProviderBuilder::new().connect_client(client).erased(), clock: Default::default() }
    }
}

fn transport(err: RpcError<TransportErrorKind>) -> ChainError {
    if let Some(data) = err.as_error_resp().and_then(|payload| payload.as_revert_data()) {
        return ChainError::Reverted { data };
    }
    if timed_out(&err) {
        return ChainError::Transport(format!("the node did not answer in time (timed out): {err}"));
    }
    ChainError::Transport(err.to_string())
}

/// Whether a request failed because the HTTP client's timeout ran out.
fn timed_out(err: &RpcError<TransportErrorKind>) -> bool {
    let RpcError::Transport(TransportErrorKind::Custom(source)) = err else { return false };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    while let Some(err) = source {
        if err.downcast_ref::<alloy::transports::http::reqwest::Error>().is_some_and(|e| e.is_timeout()) {
            return true;
        }
        source = err.source();
    }
    false
}

impl Chain for RpcChain {
    async fn chain_id(&self) -> Result<u64, ChainError> {
        self.provider.get_chain_id().await.map_err(transport)
    }

    async fn genesis_hash(&self) -> Result<B256, ChainError> {
        let block = self.provider.get_block_by_number(0.into()).await.map_err(transport)?;
        block.map(|b| b.header.hash).ok_or_else(|| ChainError::Transport("the chain has no block 0".into()))
    }

    /// Reuses a reading younger than [`TIMESTAMP_REUSE`].
    async fn timestamp(&self) -> Result<u64, ChainError> {
        if let Ok(clock) = self.clock.lock()
            && let Some((timestamp, read_at)) = *clock
            && read_at.elapsed() < TIMESTAMP_REUSE
        {
            return Ok(timestamp);
        }
        let read_at = Instant::now();
        let block = self.provider.get_block_by_number(Default::default()).await.map_err(transport)?;
        let timestamp = block
            .map(|b| b.header.timestamp)
            .ok_or_else(|| ChainError::Transport("the chain has no latest block".into()))?;
        if let Ok(mut clock) = self.clock.lock() {
            *clock = Some((timestamp, read_at));
        }
        Ok(timestamp)
    }

    async fn code(&self, address: Address) -> Result<Bytes, ChainError> {
        self.provider.get_code_at(address).await.map_err(transport)
    }

    async fn call(&self, call: Call) -> Result<Bytes, ChainError> {
        self.provider.call(request(call)).await.map_err(transport)
    }

    async fn estimate_gas(&self, call: Call) -> Result<u64, ChainError> {
        self.provider.estimate_gas(request(call)).await.map_err(transport)
    }

    async fn fees(&self) -> Result<Fees, ChainError> {
        let fees = self.provider.estimate_eip1559_fees().await.map_err(transport)?;
        Ok(Fees { max_fee_per_gas: fees.max_fee_per_gas, max_priority_fee_per_gas: fees.max_priority_fee_per_gas })
    }

    async fn pending_nonce(&self, address: Address) -> Result<u64, ChainError> {
        self.provider.get_transaction_count(address).pending().await.map_err(transport)
    }

    async fn send_raw(&self, raw: Bytes) -> Result<B256, ChainError> {
        let hash = alloy::primitives::keccak256(&raw);
        match self.provider.send_raw_transaction(&raw).await {
            Ok(pending) => Ok(*pending.tx_hash()),
            // A node that already has the transaction (pool or chain) says so; that is success.
            Err(err) if is_known_transaction(&err.to_string()) => Ok(hash),
            Err(err) => Err(transport(err)),
        }
    }

    async fn receipt(&self, hash: B256) -> Result<Option<Receipt>, ChainError> {
        let Some(receipt) = self.provider.get_transaction_receipt(hash).await.map_err(transport)? else {
            return Ok(None);
        };
        Ok(Some(Receipt {
            transaction_hash: receipt.transaction_hash,
            success: receipt.status(),
            block_number: receipt.block_number.unwrap_or_default(),
            gas_used: receipt.gas_used,
            logs: receipt.inner.logs().iter().map(|log| log.inner.clone()).collect(),
        }))
    }

    async fn block_number(&self) -> Result<u64, ChainError> {
        self.provider.get_block_number().await.map_err(transport)
    }

    async fn logs(&self, address: Address, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        let filter = alloy::rpc::types::Filter::new().address(address).from_block(from).to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(transport)?;
        Ok(logs.into_iter().map(|log| log.inner).collect())
    }
}

/// Anvil's development methods (other nodes refuse them).
impl DevChain for RpcChain {
    async fn hold_clock(&self) -> Result<(), ChainError> {
        self.provider
            .raw_request::<_, serde_json::Value>("anvil_setBlockTimestampInterval".into(), (0,))
            .await
            .map_err(transport)?;
        Ok(())
    }

    /// Mines an empty block `seconds` after the latest.
    async fn advance(&self, seconds: u64) -> Result<(), ChainError> {
        if let Ok(mut clock) = self.clock.lock() {
            *clock = None;
        }
        let next = self.timestamp().await?.saturating_add(seconds);
        self.provider
            .raw_request::<_, serde_json::Value>("evm_setNextBlockTimestamp".into(), (next,))
            .await
            .map_err(transport)?;
        self.provider.raw_request::<_, serde_json::Value>("evm_mine".into(), ()).await.map_err(transport)?;
        if let Ok(mut clock) = self.clock.lock() {
            *clock = None;
        }
        Ok(())
    }

    async fn set_balance(&self, address: Address, wei: U256) -> Result<(), ChainError> {
        self.provider
            .raw_request::<_, serde_json::Value>("anvil_setBalance".into(), (address, wei))
            .await
            .map_err(transport)?;
        Ok(())
    }

    async fn set_code(&self, address: Address, code: Bytes) -> Result<(), ChainError> {
        self.provider
            .raw_request::<_, serde_json::Value>("anvil_setCode".into(), (address, code))
            .await
            .map_err(transport)?;
        Ok(())
    }
}

fn request(call: Call) -> TransactionRequest {
    TransactionRequest::default().with_from(call.from).with_to(call.to).with_input(call.data).with_value(call.value)
}

/// How nodes (geth, reth, anvil) word "I already have this transaction".
fn is_known_transaction(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["already known", "known transaction", "already imported", "transaction already exists"]
        .iter()
        .any(|needle| message.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node that accepts connections and never answers: every request gives up after the timeout, with an
    /// error that says so.
    #[tokio::test]
    async fn a_node_that_never_answers_times_out() -> Result<(), Box<dyn std::error::Error>> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/", listener.local_addr()?).parse()?;
        // Holds what it accepts until the test process ends.
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept() {
                held.push(stream);
            }
        });
        let chain = RpcChain::http_with_timeout(url, Duration::from_millis(300));
        let started = Instant::now();
        let err = chain.chain_id().await.err().ok_or("a silent node answered")?;
        let elapsed = started.elapsed();
        assert!(matches!(&err, ChainError::Transport(message) if message.contains("timed out")), "{err}");
        assert!(elapsed >= Duration::from_millis(300), "gave up early: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
        Ok(())
    }
}
