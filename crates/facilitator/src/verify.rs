//! Verification: every check of a payment, offline first, then against the chain, ending with a
//! simulation of the settlement transaction. Nothing is sent.

use crate::{
    Facilitator, auth_capture::AuthCapture, batch_settlement::BatchSettlement, channel::Channel,
    cross_chain::CrossChain, exact::Exact, exact_permit2::ExactPermit2, invoice::Invoice, scheme::SchemeRules,
    upto::Upto,
};
use alloy::{
    primitives::{Address, B256, Bytes, U256},
    sol,
    sol_types::SolCall,
};
use quittance_bindings::IERC3009;
use quittance_chain::{Call, Chain, ChainError};
use quittance_x402::{ErrorReason, PaymentRequirements, Scheme, VerifyRequest, VerifyResponse, X402_V2, exact_permit2};

sol! {
    /// What the facilitator reads from any ERC-20 / EIP-3009 token to explain a failed simulation.
    interface IToken {
        function balanceOf(address account) external view returns (uint256);
        function name() external view returns (string);
        function version() external view returns (string);
    }

    /// ERC-1271 contract wallets.
    interface IERC1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4);
    }
}

/// How many contract addresses verification remembers as deployed.
const MAX_REMEMBERED_CONTRACTS: usize = 1024;

/// ERC-1271's magic value for a valid signature.
const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// Why a payment was refused, with the payer when it is known.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) reason: ErrorReason,
    pub(crate) payer: Option<Address>,
}

impl From<ErrorReason> for Refusal {
    fn from(reason: ErrorReason) -> Self {
        Self { reason, payer: None }
    }
}

/// Whether a check ends by simulating the settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simulation {
    /// Simulate it (verification).
    Run,
    /// Leave it to the gas estimate that precedes sending (settlement): the estimate executes the same
    /// call, and when it reverts a full check explains why.
    LeaveToEstimate,
}

/// A chain failure that is not the payment's fault.
pub(crate) fn unexpected(err: ChainError) -> Refusal {
    tracing::warn!(%err, "chain request failed during verification");
    ErrorReason::UnexpectedVerifyError.into()
}

impl<C: Chain + 'static> Facilitator<C> {
    /// Verifies a payment: every offline check of its scheme, then the chain's (code, signatures of
    /// contract wallets, invoice state), then a simulation of the settlement. Answers as `/verify` does:
    /// `isValid`, or the reason code.
    #[tracing::instrument(skip_all, fields(scheme = %request.payment_requirements.scheme))]
    pub async fn verify(&self, request: &VerifyRequest) -> VerifyResponse {
        let checked = match self.ledger_first(request).await {
            Ok(Some(held)) => Err(held),
            // Not held, or not even identifiable: the full check says why, with the payer where known.
            Ok(None) | Err(_) => self.check(request, Simulation::Run).await,
        };
        match checked {
            Ok(payer) => {
                tracing::debug!(%payer, "payment is valid");
                VerifyResponse {
                    is_valid: true,
                    invalid_reason: None,
                    invalid_message: None,
                    payer: Some(payer.to_checksum(None)),
                    extra: self.verify_extra(request).await,
                }
            }
            Err(refusal) => {
                tracing::debug!(reason = %refusal.reason, "payment refused");
                VerifyResponse {
                    is_valid: false,
                    invalid_reason: Some(refusal.reason),
                    invalid_message: None,
                    payer: refusal.payer.map(|p| p.to_checksum(None)),
                    extra: None,
                }
            }
        }
    }

    /// What a valid payment's answer carries besides its payer: for `batch-settlement`, the channel's state
    /// on chain, as the official facilitator answers.
    async fn verify_extra(&self, request: &VerifyRequest) -> Option<serde_json::Map<String, serde_json::Value>> {
        match Scheme::of(&request.payment_requirements) {
            Ok(Scheme::BatchSettlement) => crate::batch_settlement::verify_extra(self, request).await,
            _ => None,
        }
    }

    /// What the ledger says of a payment it holds (settled, or in flight), before anything is asked of the
    /// chain; `None` when it holds nothing of it.
    async fn ledger_first(&self, request: &VerifyRequest) -> Result<Option<Refusal>, Refusal> {
        let scheme = self.preflight(request)?;
        self.held(scheme, request).await
    }

    /// The checks of every request, whatever its scheme: the protocol version, the network, and a scheme
    /// this facilitator speaks.
    pub(crate) fn preflight(&self, request: &VerifyRequest) -> Result<Scheme, Refusal> {
        if request.x402_version != X402_V2 || request.payment_payload.x402_version != X402_V2 {
            return Err(ErrorReason::InvalidX402Version.into());
        }
        if request.payment_requirements.network != self.core.network {
            return Err(ErrorReason::InvalidNetwork.into());
        }
        Ok(Scheme::of(&request.payment_requirements)?)
    }

    /// Returns the payer of a valid payment. With [`Simulation::LeaveToEstimate`] every check but the
    /// simulation of the settlement runs.
    pub(crate) async fn check(&self, request: &VerifyRequest, simulation: Simulation) -> Result<Address, Refusal> {
        match self.preflight(request)? {
            Scheme::BatchSettlement => BatchSettlement::check(self, request, simulation).await,
            Scheme::Exact if exact_permit2::applies(&request.payment_requirements) => {
                ExactPermit2::check(self, request, simulation).await
            }
            Scheme::Exact => Exact::check(self, request, simulation).await,
            Scheme::Invoice => Invoice::check(self, request, simulation).await,
            Scheme::Channel => Channel::check(self, request, simulation).await,
            Scheme::CrossChainInvoice => CrossChain::check(self, request, simulation).await,
            Scheme::Upto => Upto::check(self, request, simulation).await,
            Scheme::AuthCapture => AuthCapture::check(self, request, simulation).await,
        }
    }

    /// Refuses assets (and registries) without code. Code, once deployed, stays (only a contract's creating
    /// transaction can remove it since Cancun), so addresses seen with code are remembered.
    pub(crate) async fn require_code(&self, address: Address) -> Result<(), Refusal> {
        if self.core.deployed.lock().is_ok_and(|deployed| deployed.contains(&address)) {
            return Ok(());
        }
        if self.core.chain.code(address).await.map_err(unexpected)?.is_empty() {
            return Err(ErrorReason::AssetNotDeployedContract.into());
        }
        if let Ok(mut deployed) = self.core.deployed.lock() {
            if deployed.len() >= MAX_REMEMBERED_CONTRACTS {
                deployed.clear();
            }
            deployed.insert(address);
        }
        Ok(())
    }

    /// Checks a payer's signature of `digest`: ERC-1271 if the payer has code, ECDSA (`eoa`) otherwise.
    pub(crate) async fn check_signature(
        &self,
        payer: Address,
        digest: B256,
        signature: &Bytes,
        eoa: impl FnOnce() -> Result<(), ErrorReason>,
    ) -> Result<(), Refusal> {
        // A valid ECDSA signature by the payer needs no chain; otherwise the payer may be a contract wallet.
        let ecdsa = eoa();
        if ecdsa.is_ok() {
            return Ok(());
        }
        if self.core.chain.code(payer).await.map_err(unexpected)?.is_empty() {
            return ecdsa.map_err(Refusal::from);
        }
        let call = IERC1271::isValidSignatureCall { hash: digest, signature: signature.clone() };
        match self.simulate(payer, call.abi_encode()).await {
            Ok(out)
                if IERC1271::isValidSignatureCall::abi_decode_returns(&out).ok().map(|m| m.0)
                    == Some(ERC1271_MAGIC) =>
            {
                Ok(())
            }
            Ok(_) | Err(ChainError::Reverted { .. }) => Err(ErrorReason::ExactEvmSignature.into()),
            Err(err) => Err(unexpected(err)),
        }
    }

    /// Explains why a token transfer would fail by reading the token's state, as the official facilitator
    /// does: a used nonce, a short balance, a token whose EIP-712 domain differs from the offer.
    pub(crate) async fn explain_token_failure(
        &self,
        token: Address,
        payer: Address,
        nonce: B256,
        value: U256,
        requirements: &PaymentRequirements,
    ) -> ErrorReason {
        match self.read(token, IERC3009::authorizationStateCall { authorizer: payer, nonce }).await {
            Ok(true) => return ErrorReason::ExactEvmNonceAlreadyUsed,
            Ok(false) => {}
            Err(_) => return ErrorReason::ExactEvmEip3009NotSupported,
        }
        if let Ok(balance) = self.read(token, IToken::balanceOfCall { account: payer }).await
            && balance < value
        {
            return ErrorReason::ExactEvmInsufficientBalance;
        }
        if let (Ok(name), Some(expected)) =
            (self.read(token, IToken::nameCall {}).await, requirements.extra_str("name"))
            && name != expected
        {
            return ErrorReason::ExactEvmTokenNameMismatch;
        }
        if let (Ok(version), Some(expected)) =
            (self.read(token, IToken::versionCall {}).await, requirements.extra_str("version"))
            && version != expected
        {
            return ErrorReason::ExactEvmTokenVersionMismatch;
        }
        ErrorReason::ExactEvmSimulationFailed
    }

    /// Simulates a call from the facilitator's own account.
    pub(crate) async fn simulate(&self, to: Address, data: Vec<u8>) -> Result<Bytes, ChainError> {
        self.core.chain.call(Call { from: self.core.address, to, data: data.into(), value: U256::ZERO }).await
    }

    /// Reads a view function.
    pub(crate) async fn read<T: SolCall>(&self, to: Address, call: T) -> Result<T::Return, Refusal> {
        quittance_chain::read(&self.core.chain, to, call).await.map_err(unexpected)
    }
}
