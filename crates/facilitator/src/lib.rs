#![doc = include_str!("../README.md")]

mod auth_capture;
mod batch_settlement;
mod channel;
mod cross_chain;
mod engine;
mod exact;
mod exact_permit2;
pub mod http;
mod invoice;
mod ledger;
mod networks;
mod scheme;
mod settle;
mod upto;
mod verify;

pub use channel::ClaimReport;
pub use engine::{RETRY_AFTER_SECONDS, Reconciled, SettleConfig};
pub use invoice::{registry_invoice, x402_invoice};
pub use ledger::{ChannelRecord, Entry, Ledger, LedgerError, SignedTx, SqliteLedger, Submission};
pub use networks::{Networks, NetworksError, Served};
pub use settle::{ConfirmError, confirm_on_chain};

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use quittance_chain::{Chain, ChainError};
use quittance_x402::{Network, Scheme, SupportedKind, SupportedResponse, X402_V2};
use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

/// Why a facilitator could not start.
#[derive(Debug, thiserror::Error)]
pub enum FacilitatorError {
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The ledger failed, cannot be written, or belongs to another chain.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A transaction could not be signed.
    #[error("could not sign a transaction: {0}")]
    Sign(String),
    /// The facilitator is shared already (a builder method was called after it was cloned).
    #[error("the facilitator is in use: configure it before sharing it")]
    Shared,
}

/// A facilitator for one chain: verifies and settles x402 payments of the `exact`, `invoice` and `channel`
/// schemes, `upto` (through x402's Permit2 proxy, where the chain has it), `batch-settlement` deposits and
/// vouchers (against x402's batch-settlement contract, where the chain has it), and `cross-chain-invoice` payments from its chain to the chains it watches
/// ([`Facilitator::with_destination`]), recording every settlement in a durable [`Ledger`] so that none is
/// lost or made twice. Clones share one facilitator (its settlements run in tasks of their own).
#[derive(Debug)]
pub struct Facilitator<C> {
    core: Arc<Core<C>>,
}

impl<C> Clone for Facilitator<C> {
    fn clone(&self) -> Self {
        Self { core: self.core.clone() }
    }
}

#[derive(Debug)]
struct Core<C> {
    chain: C,
    signer: PrivateKeySigner,
    address: Address,
    chain_id: u64,
    network: String,
    ledger: Arc<dyn Ledger>,
    config: SettleConfig,
    /// The next nonce of the facilitator's account, held only while a transaction is signed and recorded.
    nonce: std::sync::Mutex<u64>,
    /// Settlements this process is driving now (the reconciler leaves them alone).
    driven: std::sync::Mutex<HashSet<alloy::primitives::B256>>,
    /// Assets and registries seen with code (code does not go away).
    deployed: std::sync::Mutex<HashSet<Address>>,
    /// Chains it watches (sends nothing to) by CAIP-2 network: the destinations of cross-chain payments.
    destinations: BTreeMap<String, C>,
    /// Whether Permit2 and x402's `upto` proxy had code when it started: only then is `upto` offered.
    upto: bool,
    /// Whether x402's batch-settlement contract had code when it started: only then is it offered.
    batch_settlement: bool,
    /// The `PaymentEscrow` behind Quittance's `AuthCaptureCollector`, where the collector had code at the
    /// canonical EIP-3009 token collector's address when it started: only then is `auth-capture` offered.
    auth_capture: Option<Address>,
}

impl<C: Chain + 'static> Facilitator<C> {
    /// A facilitator on `chain` that sends its transactions with `signer` and records them in `ledger`. The
    /// ledger is bound to the chain (its id and genesis hash) and must be writable; settlements a previous
    /// run left unfinished are reconciled first (concluded from the chain, broadcast again exactly as
    /// signed, or their nonce filled).
    pub async fn new(
        chain: C,
        signer: PrivateKeySigner,
        ledger: Arc<dyn Ledger>,
        config: SettleConfig,
    ) -> Result<Self, FacilitatorError> {
        let (chain_id, genesis) = tokio::try_join!(chain.chain_id(), chain.genesis_hash())?;
        ledger.bind(chain_id, genesis)?;
        let address = signer.address();
        let pending = chain.pending_nonce(address).await?;
        let nonce = ledger.highest_nonce()?.map_or(pending, |recorded| pending.max(recorded + 1));
        let (permit2, proxy, batch) = tokio::try_join!(
            chain.code(quittance_x402::upto::PERMIT2_ADDRESS),
            chain.code(quittance_x402::upto::UPTO_PROXY_ADDRESS),
            chain.code(quittance_x402::batch_settlement::BATCH_SETTLEMENT_ADDRESS)
        )?;
        let auth_capture = auth_capture_escrow(&chain).await?;
        let facilitator = Self {
            core: Arc::new(Core {
                address,
                network: Network::eip155(chain_id).to_string(),
                chain,
                signer,
                chain_id,
                ledger,
                config,
                nonce: std::sync::Mutex::new(nonce),
                driven: Default::default(),
                deployed: Default::default(),
                destinations: BTreeMap::new(),
                upto: !permit2.is_empty() && !proxy.is_empty(),
                batch_settlement: !batch.is_empty(),
                auth_capture,
            }),
        };
        facilitator.reconcile_pass(true).await?;
        Ok(facilitator)
    }
}

/// The `PaymentEscrow` behind the `AuthCaptureCollector` at the canonical EIP-3009 token collector's
/// address, if the chain has one there.
async fn auth_capture_escrow<C: Chain>(chain: &C) -> Result<Option<Address>, ChainError> {
    let collector = quittance_x402::auth_capture::EIP3009_TOKEN_COLLECTOR;
    if chain.code(collector).await?.is_empty() {
        return Ok(None);
    }
    let escrow =
        quittance_chain::read(chain, collector, quittance_bindings::IAuthCaptureCollector::escrowCall {}).await?;
    Ok(Some(escrow))
}

impl<C: Chain> Facilitator<C> {
    /// The CAIP-2 network it serves.
    pub fn network(&self) -> &str {
        &self.core.network
    }

    /// The account its transactions come from.
    pub fn address(&self) -> Address {
        self.core.address
    }

    /// How many settlements are not concluded yet (in flight, or waiting for the reconciler).
    pub fn in_flight(&self) -> Result<usize, LedgerError> {
        Ok(self.core.ledger.unfinished()?.len())
    }

    /// The chain it uses.
    pub fn chain(&self) -> &C {
        &self.core.chain
    }

    /// What it serves, as `/supported` answers: `upto` only where Permit2 and x402's upto proxy had code
    /// when it started, `batch-settlement` only where x402's batch-settlement contract had.
    pub fn supported(&self) -> SupportedResponse {
        let kind = |scheme: Scheme| SupportedKind {
            x402_version: X402_V2,
            scheme: scheme.name().into(),
            network: self.core.network.clone(),
            extra: None,
        };
        // `upto`, on a chain with Permit2 and x402's upto proxy, names the facilitator that may settle (the
        // permit's witness) as the official one does: an official server copies it into its requirements'
        // `extra.facilitatorAddress`.
        let facilitator_address = serde_json::Map::from_iter([(
            quittance_x402::upto::FACILITATOR_ADDRESS.to_owned(),
            self.core.address.to_checksum(None).into(),
        )]);
        let mut kinds = vec![kind(Scheme::Exact), kind(Scheme::Invoice), kind(Scheme::Channel)];
        if self.core.upto {
            kinds.push(SupportedKind { extra: Some(facilitator_address), ..kind(Scheme::Upto) });
        }
        if self.core.batch_settlement {
            // Names the facilitator as the receiver authorizer it can be (it signs claim batches for channels
            // naming it), where an official server reads `extra.receiverAuthorizer`.
            let authorizer = serde_json::Map::from_iter([(
                "receiverAuthorizer".to_owned(),
                self.core.address.to_checksum(None).into(),
            )]);
            kinds.push(SupportedKind { extra: Some(authorizer), ..kind(Scheme::BatchSettlement) });
        }
        if self.core.auth_capture.is_some() {
            // The facilitator is the `delegated` operator: servers copy it into `extra.captureAuthorizer`.
            let operator = serde_json::Map::from_iter([(
                "captureAuthorizer".to_owned(),
                self.core.address.to_checksum(None).into(),
            )]);
            kinds.push(SupportedKind { extra: Some(operator), ..kind(Scheme::AuthCapture) });
        }
        if !self.core.destinations.is_empty() {
            // Paid here, settled on one of the watched networks.
            let destinations = self.core.destinations.keys().cloned().collect::<Vec<_>>();
            let extra = serde_json::Map::from_iter([("destinations".to_owned(), serde_json::json!(destinations))]);
            kinds.push(SupportedKind { extra: Some(extra), ..kind(Scheme::CrossChainInvoice) });
        }
        SupportedResponse {
            kinds,
            // `exact` over Permit2 settles payments carrying an EIP-2612 permit to Permit2.
            extensions: vec![quittance_x402::eip2612_gas_sponsoring::EIP2612_GAS_SPONSORING.to_owned()],
            signers: BTreeMap::from([("eip155:*".to_owned(), vec![self.core.address.to_checksum(None)])]),
        }
    }
}
