#![doc = include_str!("../README.md")]

pub mod auth_capture;
pub mod batch_settlement;
pub mod permit2;

pub use auth_capture::{
    AUTH_CAPTURE_EIP3009_COLLECTOR, AUTH_CAPTURE_ESCROW, AUTH_CAPTURE_PERMIT2_COLLECTOR, AUTH_CAPTURE_REFUND_COLLECTOR,
    install_auth_capture,
};
pub use batch_settlement::{BATCH_SETTLEMENT, ERC3009_DEPOSIT_COLLECTOR, install_batch_settlement};
pub use permit2::{EXACT_PERMIT2_PROXY, PERMIT2, UPTO_PERMIT2_PROXY, install_permit2};

use alloy::{
    primitives::{Address, B256, Bytes, U256, address, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolConstructor},
};
use quittance_bindings::{InvoiceRegistry, PaymentEscrow, TestStablecoin, VoucherChannels};
use quittance_chain::{Chain, ChainError, Sender, read};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path};

/// The deterministic deployment proxy every EVM chain has at this address (anvil too): it deploys
/// `calldata[32..]` with CREATE2 and salt `calldata[..32]`.
pub const CREATE2_DEPLOYER: Address = address!("0x4e59b44847b379578588920cA78FbF26c0B4956C");

/// The salt of Quittance's contracts: with the same owner, they get the same addresses on every chain.
pub fn salt() -> B256 {
    keccak256("quittance v1")
}

/// Chain ids treated as local (anvil, the in-process chain): the test stable-coin is deployed there, and
/// `deploy` needs no permission to send.
pub const LOCAL_CHAIN_IDS: [u64; 2] = [31337, 1337];

/// What each funded account gets on a local chain: 1,000 test dollars.
pub const FUNDING: u64 = 1_000_000_000;

/// The `InvoiceRegistry.Path` of an escrow settler.
const PATH_ESCROW: u8 = 4;

/// Why a deployment failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The chain failed or refused a transaction.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A transaction was mined but reverted, or was not mined in time.
    #[error("{0}")]
    Transaction(String),
    /// The code at an address is not what the artifacts deploy there.
    #[error("the code at {address} ({name}) is not Quittance's {name}")]
    CodeMismatch {
        /// The contract.
        name: String,
        /// Where.
        address: Address,
    },
    /// The chain has no CREATE2 deployer.
    #[error("the chain has no deterministic deployment proxy at {CREATE2_DEPLOYER}")]
    NoDeployer,
    /// The chain is not local and sending was not allowed.
    #[error("chain {0} is not a local chain: pass the explicit permission to deploy there")]
    Remote(u64),
    /// The manifest file could not be read or written.
    #[error("deployment manifest: {0}")]
    Manifest(String),
}

/// One contract of the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployed {
    /// Its address.
    pub address: Address,
    /// keccak-256 of its runtime code on chain.
    pub code_hash: B256,
    /// The transaction that deployed it (absent if it was there already).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<B256>,
    /// The block of that transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
}

/// What is deployed on a chain, as `deployments/<chain-id>.json` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The chain id.
    pub chain_id: u64,
    /// Its CAIP-2 name.
    pub network: String,
    /// The Quittance version that deployed it.
    pub version: String,
    /// The CREATE2 deployer used.
    pub deployer: Address,
    /// The CREATE2 salt.
    pub salt: B256,
    /// The registry's owner.
    pub owner: Address,
    /// The contracts by name: `InvoiceRegistry`, `PaymentEscrow`, `VoucherChannels`, and on local chains
    /// `TestStablecoin`.
    pub contracts: BTreeMap<String, Deployed>,
    /// The registry's settlers: address → path name.
    pub settlers: BTreeMap<Address, String>,
    /// The chain's end of cross-chain payments through CCIP (`quittance ccip deploy`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ccip: Option<CcipEnd>,
}

/// A chain's end of cross-chain invoice payments: its CCIP contracts, the Cross-Chain Token and its pool,
/// Quittance's sender and receiver, and the chains it has lanes with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CcipEnd {
    /// The chain's CCIP selector, as a decimal string (it does not fit a JSON number).
    pub chain_selector: String,
    /// The CCIP router (`local`: Quittance's local stand-in, which a relay must serve).
    pub router: Address,
    /// Whether the router is the local stand-in (local chains only).
    pub local: bool,
    /// Chainlink's token admin registry.
    pub token_admin_registry: Address,
    /// The Cross-Chain Token payments move in.
    pub token: Address,
    /// Its EIP-712 name.
    pub token_name: String,
    /// Its EIP-712 version.
    pub token_version: String,
    /// Its token pool.
    pub pool: Address,
    /// The `CrossChainInvoicePayer`: sends invoice payments from this chain.
    pub invoice_sender: Address,
    /// The `CrossChainInvoiceReceiver`: settles invoice payments arriving here in the registry.
    pub invoice_receiver: Address,
    /// The gas the receiver's execution needs, for senders on other chains.
    pub receiver_gas: u64,
    /// The chains with a lane to this one: CAIP-2 network → CCIP selector (decimal).
    pub lanes: BTreeMap<String, String>,
}

impl CcipEnd {
    /// The chain selector, parsed.
    pub fn selector(&self) -> Result<u64, DeployError> {
        self.chain_selector
            .parse()
            .map_err(|_| DeployError::Manifest(format!("chain selector {:?} is not a number", self.chain_selector)))
    }
}

impl Manifest {
    /// The address of contract `name`.
    pub fn address(&self, name: &str) -> Option<Address> {
        self.contracts.get(name).map(|d| d.address)
    }

    /// Reads a manifest file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, DeployError> {
        let text = std::fs::read_to_string(path.as_ref())
            .map_err(|e| DeployError::Manifest(format!("{}: {e}", path.as_ref().display())))?;
        serde_json::from_str(&text).map_err(|e| DeployError::Manifest(format!("{}: {e}", path.as_ref().display())))
    }

    /// Fills in the deploying transactions and blocks of contracts a forge script deployed, from its
    /// broadcast record (`broadcast/Deploy.s.sol/<chain-id>/run-latest.json`).
    pub fn record_forge_broadcast(&mut self, path: impl AsRef<Path>) -> Result<(), DeployError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Run {
            transactions: Vec<RunTransaction>,
            receipts: Vec<RunReceipt>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RunTransaction {
            hash: Option<B256>,
            contract_address: Option<Address>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RunReceipt {
            transaction_hash: B256,
            block_number: alloy::primitives::U64,
        }
        let text = std::fs::read_to_string(path.as_ref())
            .map_err(|e| DeployError::Manifest(format!("{}: {e}", path.as_ref().display())))?;
        let run: Run = serde_json::from_str(&text)
            .map_err(|e| DeployError::Manifest(format!("{}: {e}", path.as_ref().display())))?;
        for transaction in run.transactions {
            let (Some(hash), Some(address)) = (transaction.hash, transaction.contract_address) else { continue };
            let block = run.receipts.iter().find(|r| r.transaction_hash == hash).map(|r| r.block_number.to::<u64>());
            for deployed in self.contracts.values_mut().filter(|d| d.address == address) {
                deployed.transaction = Some(hash);
                deployed.block = block;
            }
        }
        Ok(())
    }

    /// Writes the manifest file (pretty JSON, one trailing newline), creating its directory.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), DeployError> {
        if let Some(dir) = path.as_ref().parent() {
            std::fs::create_dir_all(dir).map_err(|e| DeployError::Manifest(e.to_string()))?;
        }
        let mut text = serde_json::to_string_pretty(self).map_err(|e| DeployError::Manifest(e.to_string()))?;
        text.push('\n');
        std::fs::write(path.as_ref(), text).map_err(|e| DeployError::Manifest(e.to_string()))
    }
}

/// One contract to deploy: its name, creation code with constructor arguments, and CREATE2 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The contract's name.
    pub name: &'static str,
    /// Creation code followed by the ABI-encoded constructor arguments.
    pub init_code: Bytes,
    /// Where CREATE2 puts it.
    pub address: Address,
}

/// The contracts Quittance deploys for `owner` on `chain_id`, in order, with their addresses.
pub fn plan(owner: Address, chain_id: u64) -> Vec<Step> {
    let step = |name, code: &Bytes, args: Vec<u8>| {
        let init_code: Bytes = [code.as_ref(), &args].concat().into();
        let address = CREATE2_DEPLOYER.create2(salt(), keccak256(&init_code));
        Step { name, init_code, address }
    };
    let registry = step(
        "InvoiceRegistry",
        &InvoiceRegistry::BYTECODE,
        InvoiceRegistry::constructorCall { owner_: owner }.abi_encode(),
    );
    let escrow = step(
        "PaymentEscrow",
        &PaymentEscrow::BYTECODE,
        PaymentEscrow::constructorCall { registry_: registry.address }.abi_encode(),
    );
    let channels = step("VoucherChannels", &VoucherChannels::BYTECODE, Vec::new());
    let mut steps = vec![registry, escrow, channels];
    if LOCAL_CHAIN_IDS.contains(&chain_id) {
        steps.push(step(
            "TestStablecoin",
            &TestStablecoin::BYTECODE,
            TestStablecoin::constructorCall {
                name_: "USD Coin".into(),
                symbol_: "USDC".into(),
                version_: "2".into(),
                owner_: owner,
            }
            .abi_encode(),
        ));
    }
    steps
}

/// The artifact's runtime code of a step's contract.
fn artifact_code(name: &str) -> &'static Bytes {
    match name {
        "InvoiceRegistry" => &InvoiceRegistry::DEPLOYED_BYTECODE,
        "PaymentEscrow" => &PaymentEscrow::DEPLOYED_BYTECODE,
        "VoucherChannels" => &VoucherChannels::DEPLOYED_BYTECODE,
        _ => &TestStablecoin::DEPLOYED_BYTECODE,
    }
}

/// Whether `code` on chain is the artifact's runtime code: the same bytes, except where the artifact holds
/// zeros for immutables the constructor fills in (the EIP-712 domain cache, the escrow's registry).
pub fn matches_artifact(name: &str, code: &[u8]) -> bool {
    let artifact = artifact_code(name);
    artifact.len() == code.len() && artifact.iter().zip(code).all(|(a, c)| a == c || *a == 0)
}

/// What `deploy` does, step by step, for progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A contract is already at its address (checked against the artifacts).
    Present(&'static str, Address),
    /// A contract was deployed.
    Deployed(&'static str, Address, B256),
    /// The escrow was allowed as a settler of the registry.
    SettlerAllowed(Address),
    /// An account was given test tokens.
    Funded(Address),
}

/// Deploys what is missing of [`plan`]`(owner)` through the CREATE2 deployer, with `signer` paying the gas,
/// allows the escrow as the registry's settler if the signer is the owner and it is not yet, checks every
/// contract's code against the artifacts, and returns the manifest. Running it again deploys nothing. On a
/// local chain, when the signer is the owner, each account of `fund` holding less than [`FUNDING`] test
/// tokens is topped up to it.
pub async fn deploy<C: Chain>(
    chain: &C,
    signer: &PrivateKeySigner,
    owner: Address,
    fund: &[Address],
    mut progress: impl FnMut(Event),
) -> Result<Manifest, DeployError> {
    let chain_id = chain.chain_id().await?;
    if chain.code(CREATE2_DEPLOYER).await?.is_empty() {
        return Err(DeployError::NoDeployer);
    }
    let mut sender = Sender::new(chain, signer).await?;
    let mut contracts = BTreeMap::new();
    for step in plan(owner, chain_id) {
        let mut deployed = Deployed { address: step.address, code_hash: B256::ZERO, transaction: None, block: None };
        let mut code = chain.code(step.address).await?;
        if code.is_empty() {
            let data: Bytes = [salt().as_slice(), &step.init_code].concat().into();
            let receipt = sender.send(CREATE2_DEPLOYER, data).await?;
            let (transaction, block) = (receipt.transaction_hash, receipt.block_number);
            code = chain.code(step.address).await?;
            deployed.transaction = Some(transaction);
            deployed.block = Some(block);
            progress(Event::Deployed(step.name, step.address, transaction));
        } else {
            progress(Event::Present(step.name, step.address));
        }
        if !matches_artifact(step.name, &code) {
            return Err(DeployError::CodeMismatch { name: step.name.into(), address: step.address });
        }
        deployed.code_hash = keccak256(&code);
        contracts.insert(step.name.to_owned(), deployed);
    }

    let registry = contracts["InvoiceRegistry"].address;
    let escrow = contracts["PaymentEscrow"].address;
    let mut settlers = BTreeMap::new();
    let kind = read_settler(chain, registry, escrow).await?;
    if kind != PATH_ESCROW && signer.address() == owner {
        let call = InvoiceRegistry::setSettlerCall { settler: escrow, kind: PATH_ESCROW };
        sender.send(registry, call.abi_encode().into()).await?;
        progress(Event::SettlerAllowed(escrow));
    }
    if read_settler(chain, registry, escrow).await? == PATH_ESCROW {
        settlers.insert(escrow, "Escrow".to_owned());
    }
    if let Some(token) = contracts.get("TestStablecoin").map(|d| d.address)
        && signer.address() == owner
    {
        for &account in fund {
            let held = read(chain, token, TestStablecoin::balanceOfCall { account }).await?;
            if held < U256::from(FUNDING) {
                let call = TestStablecoin::mintCall { to: account, amount: U256::from(FUNDING) - held };
                sender.send(token, call.abi_encode().into()).await?;
                progress(Event::Funded(account));
            }
        }
    }
    Ok(Manifest {
        chain_id,
        network: format!("eip155:{chain_id}"),
        version: env!("CARGO_PKG_VERSION").into(),
        deployer: CREATE2_DEPLOYER,
        salt: salt(),
        owner,
        contracts,
        settlers,
        ccip: None,
    })
}

async fn read_settler<C: Chain>(chain: &C, registry: Address, escrow: Address) -> Result<u8, DeployError> {
    Ok(read(chain, registry, InvoiceRegistry::settlerKindCall { settler: escrow }).await?)
}
