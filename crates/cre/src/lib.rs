#![doc = include_str!("../README.md")]

use alloy::{
    primitives::{Address, B256, Bytes, FixedBytes, Log, U256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol,
    sol_types::{SolCall, SolEvent, SolValue},
};
use quittance_bindings::{KeystoneForwarder, WorkflowOperator};
use quittance_chain::{Chain, ChainError, Receipt, Sender};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

sol! {
    /// `IPaymentEscrow.PaymentTerms`.
    #[derive(Debug, PartialEq, Eq)]
    struct PaymentTerms {
        address operator;
        address payer;
        address payee;
        address token;
        uint256 maxAmount;
        uint48 preApprovalExpiry;
        uint48 authorizationExpiry;
        uint48 refundExpiry;
        uint16 maxFeeBps;
        address feeReceiver;
        bytes32 salt;
        bytes32 invoiceId;
    }

    /// `IWorkflowOperator.Instruction`: a report's body (its ABI is not in any function's, so it is
    /// declared here; the end-to-end tests hold it to the contract).
    #[derive(Debug, PartialEq, Eq)]
    struct Instruction {
        uint8 version;
        uint256 chainId;
        address operator;
        uint8 action;
        PaymentTerms terms;
        uint64 deadline;
        bytes data;
    }

    /// `IWorkflowOperator.DeliveryReported`: the trigger.
    #[derive(Debug, PartialEq, Eq)]
    event DeliveryReported(bytes32 indexed paymentId, address indexed reporter, bool delivered, PaymentTerms terms);
}

/// `IWorkflowOperator.Action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Action {
    /// Capture everything held to the payee.
    Capture = 1,
    /// Return everything held to the payer.
    Void = 2,
    /// Pay an invoice from the held funds.
    PayInvoice = 3,
}

/// Why the stand-in could not do something.
#[derive(Debug, thiserror::Error)]
pub enum CreError {
    /// The chain failed or refused a transaction.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A DON needs 0 < f and 3f + 1 <= 31 signers.
    #[error("a DON needs 0 < f <= 10 (3f + 1 signers, at most 31), not f = {0}")]
    FaultTolerance(u8),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// An operator needs a non-zero escrow, forwarder and workflow owner (its constructor refuses zero).
    #[error("a workflow operator needs a non-zero {0}")]
    ZeroAddress(&'static str),
}

/// The report version the forwarder understands.
pub const REPORT_VERSION: u8 = 1;
/// The report id this workflow uses.
pub const REPORT_ID: [u8; 2] = [0, 1];
/// How long a report stays valid after the event that caused it, in seconds.
pub const REPORT_VALIDITY: u64 = 3600;
/// Gas for deploying the forwarder or an operator (creations are not estimated).
const DEPLOY_GAS: u64 = 3_000_000;

/// The workflow a report comes from, as the forwarder passes it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    /// The workflow owner's address.
    pub owner: Address,
    /// The workflow's name.
    pub name: String,
    /// The workflow id (on a real DON, derived from the compiled workflow and its config).
    pub id: B256,
}

impl Workflow {
    /// The name as the forwarder carries it: the first 10 hex characters of its SHA-256, as ASCII bytes.
    pub fn encoded_name(&self) -> FixedBytes<10> {
        let hex = alloy::hex::encode(Sha256::digest(self.name.as_bytes()));
        FixedBytes::from_slice(&hex.as_bytes()[..10])
    }
}

/// What the workflow decides for a delivery report: capture to the payee when the payer confirms delivery,
/// void to the payer when the payee gives up; valid for [`REPORT_VALIDITY`] seconds after the event's
/// block. The TypeScript workflow decides the same (shared test vectors).
pub fn decide(event: &DeliveryReported, chain_id: u64, operator: Address, event_time: u64) -> Instruction {
    Instruction {
        version: REPORT_VERSION,
        chainId: U256::from(chain_id),
        operator,
        action: if event.delivered { Action::Capture as u8 } else { Action::Void as u8 },
        terms: event.terms.clone(),
        deadline: event_time.saturating_add(REPORT_VALIDITY),
        data: Bytes::new(),
    }
}

/// The report body: `abi.encode(Instruction)`.
pub fn report_body(instruction: &Instruction) -> Bytes {
    instruction.abi_encode().into()
}

/// The execution id a trigger gets: one per workflow and event, so the forwarder delivers each once.
pub fn execution_id(workflow: &Workflow, transaction: B256, log_index: u64) -> B256 {
    keccak256((workflow.id, transaction, U256::from(log_index)).abi_encode())
}

/// A local DON: 3f + 1 signer keys, one configuration of the forwarder. For local chains only: it signs
/// what it decides, without consensus between nodes.
#[derive(Debug, Clone)]
pub struct LocalDon {
    signers: Vec<PrivateKeySigner>,
    f: u8,
    don_id: u32,
    config_version: u32,
}

/// What became of a trigger.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The report was transmitted.
    Sent(Transmission),
    /// The forwarder delivered this report before (or found the receiver invalid): it cannot be sent again.
    AlreadyDelivered,
}

/// The outcome of a transmission through the forwarder.
#[derive(Debug, Clone)]
pub struct Transmission {
    /// The forwarder transaction's receipt.
    pub receipt: Receipt,
    /// Whether the receiver accepted the report (the forwarder's `ReportProcessed.result`).
    pub accepted: bool,
}

impl LocalDon {
    /// A DON tolerating `f` faults, with 3f + 1 keys derived from `seed` (test keys: never for real money).
    pub fn new(seed: &str, f: u8) -> Result<Self, CreError> {
        if f == 0 || 3 * usize::from(f) + 1 > 31 {
            return Err(CreError::FaultTolerance(f));
        }
        let signers = (0..3 * usize::from(f) + 1)
            .map(|i| PrivateKeySigner::from_bytes(&keccak256(format!("{seed} {i}"))))
            .collect::<Result<_, _>>()
            .map_err(|e| CreError::Sign(e.to_string()))?;
        Ok(Self { signers, f, don_id: 1, config_version: 1 })
    }

    /// Its signers' addresses.
    pub fn signers(&self) -> Vec<Address> {
        self.signers.iter().map(|s| s.address()).collect()
    }

    /// Deploys Chainlink's KeystoneForwarder from `sender`'s account (its owner) and configures it with
    /// this DON's signers; returns its address.
    pub async fn deploy_forwarder<C: Chain>(&self, sender: &mut Sender<'_, C>) -> Result<Address, CreError> {
        let (forwarder, _) = sender.create(KeystoneForwarder::BYTECODE.clone(), DEPLOY_GAS).await?;
        self.configure(sender, forwarder).await?;
        Ok(forwarder)
    }

    /// Sets this DON's configuration on `forwarder` (`sender` must own it).
    pub async fn configure<C: Chain>(&self, sender: &mut Sender<'_, C>, forwarder: Address) -> Result<(), CreError> {
        let call = KeystoneForwarder::setConfigCall {
            donId: self.don_id,
            configVersion: self.config_version,
            f: self.f,
            signers: self.signers(),
        };
        sender.send(forwarder, call.abi_encode().into()).await?;
        Ok(())
    }

    /// The raw report: `version | executionId | timestamp | donId | donConfigVersion | workflowId |
    /// workflowName | workflowOwner | reportId | body`, packed, big-endian.
    pub fn raw_report(&self, execution_id: B256, timestamp: u32, workflow: &Workflow, body: &[u8]) -> Bytes {
        let mut raw = Vec::with_capacity(109 + body.len());
        raw.push(REPORT_VERSION);
        raw.extend_from_slice(execution_id.as_slice());
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&self.don_id.to_be_bytes());
        raw.extend_from_slice(&self.config_version.to_be_bytes());
        raw.extend_from_slice(workflow.id.as_slice());
        raw.extend_from_slice(workflow.encoded_name().as_slice());
        raw.extend_from_slice(workflow.owner.as_slice());
        raw.extend_from_slice(&REPORT_ID);
        raw.extend_from_slice(body);
        raw.into()
    }

    /// The report context: a config digest, a sequence number and zeros (96 bytes; only hashed).
    pub fn report_context(&self, sequence: u64) -> Bytes {
        let digest = keccak256((self.don_id, self.config_version, self.signers()).abi_encode());
        [digest.as_slice(), &sequence.to_be_bytes(), &[0u8; 56]].concat().into()
    }

    /// Signatures by `count` of the DON's keys over `keccak256(keccak256(raw) | context)`: `r | s | v` with
    /// v 0 or 1, as the forwarder wants them. A DON sends f + 1.
    pub fn sign(&self, raw: &[u8], context: &[u8], count: usize) -> Result<Vec<Bytes>, CreError> {
        let digest = keccak256([keccak256(raw).as_slice(), context].concat());
        self.signers
            .iter()
            .take(count)
            .map(|signer| {
                let signature = signer.sign_hash_sync(&digest).map_err(|e| CreError::Sign(e.to_string()))?;
                let mut bytes = signature.as_bytes();
                bytes[64] -= 27;
                Ok(Bytes::from(bytes.to_vec()))
            })
            .collect()
    }

    /// The number of signatures a report needs: f + 1.
    pub fn quorum(&self) -> usize {
        usize::from(self.f) + 1
    }

    /// Sends `raw` with `signatures` through `forwarder` to `receiver` from `sender`'s account.
    pub async fn transmit<C: Chain>(
        &self,
        sender: &mut Sender<'_, C>,
        forwarder: Address,
        receiver: Address,
        raw: Bytes,
        context: Bytes,
        signatures: Vec<Bytes>,
    ) -> Result<Transmission, CreError> {
        let call = KeystoneForwarder::reportCall { receiver, rawReport: raw, reportContext: context, signatures };
        let receipt = sender.send(forwarder, call.abi_encode().into()).await?;
        let accepted = receipt
            .logs
            .iter()
            .filter(|log| log.address == forwarder)
            .find_map(|log| KeystoneForwarder::ReportProcessed::decode_log(log).ok())
            .is_some_and(|processed| processed.result);
        Ok(Transmission { receipt, accepted })
    }

    /// The whole path for one delivery report seen on chain: decide, build the raw report, sign it with
    /// f + 1 keys and transmit it, unless the forwarder delivered it before (a watcher that restarts sees
    /// old events again). `log` is the operator's `DeliveryReported` log, emitted at `event_time` in
    /// `transaction` at `log_index`. Returns `None` for a log that is not one.
    #[allow(clippy::too_many_arguments)]
    pub async fn on_delivery<C: Chain>(
        &self,
        sender: &mut Sender<'_, C>,
        workflow: &Workflow,
        forwarder: Address,
        log: &Log,
        transaction: B256,
        log_index: u64,
        event_time: u64,
    ) -> Result<Option<(Instruction, Delivery)>, CreError> {
        let Ok(event) = DeliveryReported::decode_log(log) else {
            return Ok(None);
        };
        let chain_id = sender.chain_id();
        let instruction = decide(&event, chain_id, log.address, event_time);
        let execution = execution_id(workflow, transaction, log_index);
        let info = KeystoneForwarder::getTransmissionInfoCall {
            receiver: log.address,
            workflowExecutionId: execution,
            reportId: REPORT_ID.into(),
        };
        let info = quittance_chain::read(sender.chain(), forwarder, info).await?;
        if info.success || info.invalidReceiver {
            return Ok(Some((instruction, Delivery::AlreadyDelivered)));
        }
        let timestamp = u32::try_from(event_time).unwrap_or(u32::MAX);
        let raw = self.raw_report(execution, timestamp, workflow, &report_body(&instruction));
        let context = self.report_context(log_index);
        let signatures = self.sign(&raw, &context, self.quorum())?;
        let transmission = self.transmit(sender, forwarder, log.address, raw, context, signatures).await?;
        Ok(Some((instruction, Delivery::Sent(transmission))))
    }
}

/// Deploys a `WorkflowOperator` on `escrow` that accepts reports of `workflow` from `forwarder` (its id
/// too when `pin_id`); returns its address. A zero escrow, forwarder or workflow owner is refused before anything
/// is sent, as the contract's constructor would refuse it.
pub async fn deploy_operator<C: Chain>(
    sender: &mut Sender<'_, C>,
    escrow: Address,
    forwarder: Address,
    workflow: &Workflow,
    pin_id: bool,
) -> Result<Address, CreError> {
    for (address, what) in [(escrow, "escrow"), (forwarder, "forwarder"), (workflow.owner, "workflow owner")] {
        if address.is_zero() {
            return Err(CreError::ZeroAddress(what));
        }
    }
    let constructor = WorkflowOperator::constructorCall {
        escrow_: escrow,
        forwarder_: forwarder,
        workflowOwner: workflow.owner,
        workflowName: workflow.encoded_name(),
        workflowId: if pin_id { workflow.id } else { B256::ZERO },
    };
    let init =
        [WorkflowOperator::BYTECODE.as_ref(), &alloy::sol_types::SolConstructor::abi_encode(&constructor)].concat();
    let (operator, _) = sender.create(init.into(), DEPLOY_GAS).await?;
    Ok(operator)
}

/// A local CRE setup, as `quittance cre deploy` writes it and `quittance cre run` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalSetup {
    /// The chain.
    pub chain_id: u64,
    /// The escrow the operator acts on.
    pub escrow: Address,
    /// Chainlink's KeystoneForwarder, configured with the local DON.
    pub forwarder: Address,
    /// The workflow operator.
    pub operator: Address,
    /// The workflow it accepts.
    pub workflow: Workflow,
    /// The DON's fault tolerance.
    pub f: u8,
    /// The seed of the DON's test keys.
    pub don_seed: String,
    /// The DON's signers.
    pub signers: Vec<Address>,
}
