#![doc = include_str!("../README.md")]

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    transports::{RpcError, TransportErrorKind},
};
use std::future::Future;

/// Why a chain request failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The call reverted; `data` is the revert data (a custom error, `Error(string)`, or empty).
    #[error("the call reverted (data {data})")]
    Reverted {
        /// The revert data.
        data: Bytes,
    },
    /// The chain could not be reached or answered something unexpected.
    #[error("chain request failed: {0}")]
    Transport(String),
}

impl ChainError {
    /// The revert data, if the call reverted.
    pub fn revert_data(&self) -> Option<&Bytes> {
        match self {
            Self::Reverted { data } => Some(data),
            Self::Transport(_) => None,
        }
    }
}

/// A call to simulate: `from` calls `to` with `data`, against the latest state, committing nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The caller.
    pub from: Address,
    /// The contract.
    pub to: Address,
    /// The calldata.
    pub data: Bytes,
}

/// What Quittance needs from a chain.
pub trait Chain: Send + Sync {
    /// The chain id.
    fn chain_id(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// The timestamp of the latest block, in unix seconds.
    fn timestamp(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// The code at `address` (empty for accounts without code).
    fn code(&self, address: Address) -> impl Future<Output = Result<Bytes, ChainError>> + Send;

    /// Simulates `call` against the latest state and returns its output, or [`ChainError::Reverted`].
    fn call(&self, call: Call) -> impl Future<Output = Result<Bytes, ChainError>> + Send;
}

/// A chain reached over JSON-RPC (anvil, or any node).
#[derive(Debug, Clone)]
pub struct RpcChain {
    provider: DynProvider,
}

impl RpcChain {
    /// Connects to the HTTP JSON-RPC endpoint at `url`.
    pub fn http(url: alloy::transports::http::reqwest::Url) -> Self {
        Self {
            provider: ProviderBuilder::new().connect_http(url).erased(),
        }
    }

    /// The provider underneath.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }
}

fn transport(err: RpcError<TransportErrorKind>) -> ChainError {
    match err
        .as_error_resp()
        .and_then(|payload| payload.as_revert_data())
    {
        Some(data) => ChainError::Reverted { data },
        None => ChainError::Transport(err.to_string()),
    }
}

impl Chain for RpcChain {
    async fn chain_id(&self) -> Result<u64, ChainError> {
        self.provider.get_chain_id().await.map_err(transport)
    }

    async fn timestamp(&self) -> Result<u64, ChainError> {
        let block = self
            .provider
            .get_block_by_number(Default::default())
            .await
            .map_err(transport)?;
        block
            .map(|b| b.header.timestamp)
            .ok_or_else(|| ChainError::Transport("the chain has no latest block".into()))
    }

    async fn code(&self, address: Address) -> Result<Bytes, ChainError> {
        self.provider.get_code_at(address).await.map_err(transport)
    }

    async fn call(&self, call: Call) -> Result<Bytes, ChainError> {
        let request = TransactionRequest::default()
            .with_from(call.from)
            .with_to(call.to)
            .with_input(call.data);
        self.provider.call(request).await.map_err(transport)
    }
}
