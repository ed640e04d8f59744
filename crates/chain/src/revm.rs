//! An in-memory chain on revm: the same [`Chain`] as a node, with no process to start. Every transaction is
//! mined at once in a block of its own; the clock moves only when told to, so time-dependent paths are
//! tested by moving it.

use crate::{Call, Chain, ChainError, DevChain, Fees, Receipt};
use alloy::{
    consensus::{Transaction, TxEnvelope, transaction::SignerRecoverable},
    eips::Decodable2718,
    primitives::{Address, B256, Bytes, Log, TxKind, U256, keccak256},
};
use revm::{
    Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext,
    context::{BlockEnv, CfgEnv, TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    database_interface::WrapDatabaseRef,
    primitives::hardfork::SpecId,
    state::{AccountInfo, Bytecode},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

/// The deterministic deployment proxy's runtime code (at `0x4e59b448…4956C` on nearly every chain and on
/// anvil): `calldata[..32]` is the salt, the rest the creation code.
const CREATE2_DEPLOYER_CODE: &str = "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";
/// Where it lives.
const CREATE2_DEPLOYER: Address = alloy::primitives::address!("0x4e59b44847b379578588920cA78FbF26c0B4956C");
/// The base fee of every block (anvil's first block's).
const BASE_FEE: u64 = 1_000_000_000;
/// The block gas limit (anvil's).
const GAS_LIMIT: u64 = 30_000_000;

struct State {
    db: CacheDB<EmptyDB>,
    number: u64,
    timestamp: u64,
    receipts: HashMap<B256, Receipt>,
}

/// A chain in memory on revm, with the project's EVM version (Prague). Clones share the same chain.
#[derive(Clone)]
pub struct RevmChain {
    chain_id: u64,
    /// Stands for block 0's hash: drawn anew for every chain made, so two chains never share it.
    genesis: B256,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for RevmChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevmChain").field("chain_id", &self.chain_id).finish_non_exhaustive()
    }
}

fn poisoned() -> ChainError {
    ChainError::Transport("the in-memory chain's state lock is poisoned".into())
}

impl RevmChain {
    /// An empty chain with id `chain_id` whose clock reads `timestamp`, with the CREATE2 deployment proxy.
    pub fn new(chain_id: u64, timestamp: u64) -> Self {
        let mut db = CacheDB::new(EmptyDB::default());
        let code = Bytes::from(alloy::hex::decode(CREATE2_DEPLOYER_CODE).unwrap_or_default());
        db.insert_account_info(
            CREATE2_DEPLOYER,
            AccountInfo { code_hash: keccak256(&code), code: Some(Bytecode::new_raw(code)), ..Default::default() },
        );
        static CHAINS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let made = CHAINS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let genesis = keccak256(format!("{chain_id} {timestamp} {} {made} {nanos}", std::process::id()));
        Self {
            chain_id,
            genesis,
            state: Arc::new(Mutex::new(State { db, number: 0, timestamp, receipts: HashMap::new() })),
        }
    }

    fn cfg(&self) -> CfgEnv {
        let mut cfg = CfgEnv::new_with_spec(SpecId::PRAGUE);
        cfg.chain_id = self.chain_id;
        cfg
    }

    fn block(state: &State) -> BlockEnv {
        BlockEnv {
            number: U256::from(state.number + 1),
            timestamp: U256::from(state.timestamp),
            gas_limit: GAS_LIMIT,
            basefee: BASE_FEE,
            ..Default::default()
        }
    }

    /// Runs `call` against the state without committing: (success, gas spent before refunds, output).
    fn simulate(&self, call: &Call, gas_limit: u64) -> Result<(bool, u64, Bytes), ChainError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        let nonce = state.db.cache.accounts.get(&call.from).map(|a| a.info.nonce).unwrap_or_default();
        let tx = TxEnv::builder()
            .caller(call.from)
            .kind(TxKind::Call(call.to))
            .data(call.data.clone())
            .value(call.value)
            .gas_limit(gas_limit)
            .gas_price(0)
            .nonce(nonce)
            .chain_id(Some(self.chain_id))
            .build()
            .map_err(|e| ChainError::Transport(format!("bad call: {e:?}")))?;
        // A call pays no gas (price zero, base fee zero), as `eth_call` does not.
        let block = BlockEnv { basefee: 0, ..Self::block(&state) };
        let mut evm = Context::mainnet()
            .with_db(WrapDatabaseRef(&state.db))
            .with_cfg(self.cfg())
            .with_block(block)
            .build_mainnet();
        let outcome = evm.transact(tx).map_err(|e| ChainError::Transport(format!("call failed: {e:?}")))?;
        Ok(match outcome.result {
            ExecutionResult::Success { gas, output, .. } => (true, gas.total_gas_spent(), output.into_data()),
            ExecutionResult::Revert { gas, output, .. } => (false, gas.total_gas_spent(), output),
            ExecutionResult::Halt { gas, .. } => (false, gas.total_gas_spent(), Bytes::new()),
        })
    }
}

impl DevChain for RevmChain {
    async fn hold_clock(&self) -> Result<(), ChainError> {
        Ok(())
    }

    async fn advance(&self, seconds: u64) -> Result<(), ChainError> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        state.timestamp = state.timestamp.saturating_add(seconds);
        Ok(())
    }

    async fn set_balance(&self, address: Address, wei: U256) -> Result<(), ChainError> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        let mut info = state.db.cache.accounts.get(&address).map(|a| a.info.clone()).unwrap_or_default();
        info.balance = wei;
        state.db.insert_account_info(address, info);
        Ok(())
    }

    async fn set_code(&self, address: Address, code: Bytes) -> Result<(), ChainError> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        let mut info = state.db.cache.accounts.get(&address).map(|a| a.info.clone()).unwrap_or_default();
        info.code_hash = keccak256(&code);
        info.code = Some(Bytecode::new_raw(code));
        state.db.insert_account_info(address, info);
        Ok(())
    }
}

impl Chain for RevmChain {
    async fn chain_id(&self) -> Result<u64, ChainError> {
        Ok(self.chain_id)
    }

    async fn genesis_hash(&self) -> Result<B256, ChainError> {
        Ok(self.genesis)
    }

    async fn timestamp(&self) -> Result<u64, ChainError> {
        Ok(self.state.lock().map_err(|_| poisoned())?.timestamp)
    }

    async fn code(&self, address: Address) -> Result<Bytes, ChainError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        Ok(state
            .db
            .cache
            .accounts
            .get(&address)
            .and_then(|a| a.info.code.as_ref())
            .map(|code| code.original_bytes())
            .unwrap_or_default())
    }

    async fn call(&self, call: Call) -> Result<Bytes, ChainError> {
        match self.simulate(&call, GAS_LIMIT)? {
            (true, _, output) => Ok(output),
            (false, _, data) => Err(ChainError::Reverted { data }),
        }
    }

    async fn estimate_gas(&self, call: Call) -> Result<u64, ChainError> {
        let (success, spent, data) = self.simulate(&call, GAS_LIMIT)?;
        if !success {
            return Err(ChainError::Reverted { data });
        }
        // The least limit that succeeds: at least what it spent before refunds; the 63/64 rule of calls may
        // need a little more (tried next), else search.
        if self.simulate(&call, spent)?.0 {
            return Ok(spent);
        }
        let (mut low, mut high) = (spent, spent.saturating_add(spent / 63).saturating_add(2_300).min(GAS_LIMIT));
        if !self.simulate(&call, high)?.0 {
            (low, high) = (high, GAS_LIMIT);
        }
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if self.simulate(&call, middle)?.0 { high = middle } else { low = middle }
        }
        Ok(high)
    }

    async fn fees(&self) -> Result<Fees, ChainError> {
        Ok(Fees { max_fee_per_gas: 2 * u128::from(BASE_FEE) + 1, max_priority_fee_per_gas: 1 })
    }

    async fn pending_nonce(&self, address: Address) -> Result<u64, ChainError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        Ok(state.db.cache.accounts.get(&address).map(|a| a.info.nonce).unwrap_or_default())
    }

    /// Executes the transaction at once in a block of its own.
    async fn send_raw(&self, raw: Bytes) -> Result<B256, ChainError> {
        let envelope = TxEnvelope::decode_2718(&mut raw.as_ref())
            .map_err(|e| ChainError::Transport(format!("not a signed transaction: {e}")))?;
        let hash = *envelope.tx_hash();
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        if state.receipts.contains_key(&hash) {
            return Ok(hash);
        }
        let caller = envelope.recover_signer().map_err(|e| ChainError::Transport(format!("bad signature: {e}")))?;
        let tx = TxEnv::builder()
            .tx_type(Some(envelope.tx_type() as u8))
            .caller(caller)
            .kind(envelope.kind())
            .data(envelope.input().clone())
            .value(envelope.value())
            .gas_limit(envelope.gas_limit())
            .gas_price(envelope.max_fee_per_gas())
            .gas_priority_fee(envelope.max_priority_fee_per_gas())
            .nonce(envelope.nonce())
            .chain_id(envelope.chain_id())
            .access_list(envelope.access_list().cloned().unwrap_or_default())
            .build()
            .map_err(|e| ChainError::Transport(format!("unsupported transaction: {e:?}")))?;
        let block = Self::block(&state);
        let cfg = self.cfg();
        let outcome = {
            let mut evm = Context::mainnet().with_db(&mut state.db).with_cfg(cfg).with_block(block).build_mainnet();
            evm.transact_commit(tx).map_err(|e| ChainError::Transport(format!("transaction rejected: {e:?}")))?
        };
        state.number += 1;
        let (success, gas_used, logs): (bool, u64, Vec<Log>) = match outcome {
            ExecutionResult::Success { gas, logs, .. } => (true, gas.tx_gas_used(), logs),
            ExecutionResult::Revert { gas, .. } | ExecutionResult::Halt { gas, .. } => {
                (false, gas.tx_gas_used(), Vec::new())
            }
        };
        let receipt = Receipt { transaction_hash: hash, success, block_number: state.number, gas_used, logs };
        state.receipts.insert(hash, receipt);
        Ok(hash)
    }

    async fn receipt(&self, hash: B256) -> Result<Option<Receipt>, ChainError> {
        Ok(self.state.lock().map_err(|_| poisoned())?.receipts.get(&hash).cloned())
    }

    async fn block_number(&self) -> Result<u64, ChainError> {
        Ok(self.state.lock().map_err(|_| poisoned())?.number)
    }

    /// One transaction a block, so chain order is block order.
    async fn logs(&self, address: Address, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        let mut receipts: Vec<&Receipt> =
            state.receipts.values().filter(|r| (from..=to).contains(&r.block_number)).collect();
        receipts.sort_by_key(|r| r.block_number);
        Ok(receipts.into_iter().flat_map(|r| r.logs.iter().filter(|log| log.address == address).cloned()).collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn it_runs_the_projects_evm_version() {
        // `RevmChain` runs `SpecId::PRAGUE`; a change of the project's EVM version must change it too.
        assert_eq!(quittance_bindings::EVM_VERSION, "prague");
    }
}
