//! The demo: an agent pays a seller with a signed x402 `exact` payment (EIP-3009) on a fresh local chain.
//!
//! The agent holds tokens but no ether: it only signs. A facilitator submits the authorization and pays
//! the gas; the token moves the funds and records the authorization's nonce as used, so the same
//! signature can never pay twice.

use alloy::{
    contract,
    network::EthereumWallet,
    primitives::{Address, B256, U256, keccak256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use quittance_bindings::TestStablecoin::{self, AuthorizationUsed, TestStablecoinErrors};
use quittance_chain::anvil::{AnvilError, spawn_anvil};
use quittance_x402::{Network, PaymentRequirements, exact};
use std::time::Duration;

/// How long the demo waits for a transaction receipt before giving up.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The price the agent pays: one cent, in the token's 6-decimal units.
const PRICE: u64 = 10_000;
/// What the agent is funded with: five dollars.
const AGENT_FUNDS: u64 = 5_000_000;

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The local chain could not be started.
    #[error(transparent)]
    Anvil(#[from] AnvilError),
    /// A contract call or transaction failed.
    #[error("{step}: {source}")]
    Contract {
        /// What the demo was doing.
        step: &'static str,
        /// The underlying error.
        source: contract::Error,
    },
    /// A JSON-RPC call failed.
    #[error("{step}: {source}")]
    Rpc {
        /// What the demo was doing.
        step: &'static str,
        /// The underlying error.
        source: alloy::transports::TransportError,
    },
    /// Waiting for a transaction failed or timed out.
    #[error("{step}: {source}")]
    Pending {
        /// What the demo was doing.
        step: &'static str,
        /// The underlying error.
        source: alloy::providers::PendingTransactionError,
    },
    /// Signing the payment failed.
    #[error("signing the payment: {0}")]
    Sign(#[from] exact::SignError),
    /// The chain did something the demo did not expect.
    #[error("unexpected outcome: {0}")]
    Unexpected(String),
}

/// What happened in the demo, for printing and for tests.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The chain id of the local chain.
    pub chain_id: u64,
    /// The stable-coin's address.
    pub token: Address,
    /// The paying agent.
    pub agent: Address,
    /// The seller being paid.
    pub seller: Address,
    /// The facilitator who submitted the authorization and paid its gas.
    pub facilitator: Address,
    /// The amount paid, in the token's smallest unit.
    pub amount: U256,
    /// The authorization's nonce.
    pub nonce: B256,
    /// The settlement transaction.
    pub tx_hash: B256,
    /// Gas used by the settlement transaction.
    pub gas_used: u64,
    /// The `AuthorizationUsed` event of the settlement, as (authorizer, nonce).
    pub authorization_used: (Address, B256),
    /// Token balances of (agent, seller) before the payment.
    pub balances_before: (U256, U256),
    /// Token balances of (agent, seller) after the payment.
    pub balances_after: (U256, U256),
    /// The agent's ether balance after the payment (it never pays gas).
    pub agent_ether: U256,
    /// The token's answer to a replay of the same signed authorization.
    pub replay_error: TestStablecoinErrors,
}

/// A deterministic demo key, so the demo prints the same addresses every time.
fn demo_signer(role: &str) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256(format!("quittance demo {role}")))
        .expect("a keccak digest of a fixed string is a valid secp256k1 key")
}

/// Formats a 6-decimal token amount as dollars.
pub fn format_usd(amount: U256) -> String {
    let units = U256::from(1_000_000u64);
    format!("{}.{:06}", amount / units, (amount % units).to::<u64>())
}

/// Runs the demo on a fresh anvil, telling `say` what happens in plain words.
pub async fn run(mut say: impl FnMut(&str)) -> Result<DemoReport, DemoError> {
    let anvil = spawn_anvil()?;
    let keys = anvil.keys();
    let issuer = PrivateKeySigner::from(keys[0].clone());
    let facilitator = PrivateKeySigner::from(keys[1].clone());
    let agent = demo_signer("agent");
    let seller = demo_signer("seller").address();
    say(&format!("Started a local chain (anvil, chain id {}) at {}.", anvil.chain_id(), anvil.endpoint()));

    let issuer_rpc =
        ProviderBuilder::new().wallet(EthereumWallet::from(issuer.clone())).connect_http(anvil.endpoint_url());
    let facilitator_rpc =
        ProviderBuilder::new().wallet(EthereumWallet::from(facilitator.clone())).connect_http(anvil.endpoint_url());

    let token = TestStablecoin::deploy(&issuer_rpc, "USD Coin".into(), "USDC".into(), "2".into(), issuer.address())
        .await
        .map_err(|source| DemoError::Contract { step: "deploying the stable-coin", source })?;
    let token_address = *token.address();
    say(&format!("Deployed a USDC look-alike (6 decimals, EIP-3009) at {token_address}."));

    let receipt = token
        .mint(agent.address(), U256::from(AGENT_FUNDS))
        .send()
        .await
        .map_err(|source| DemoError::Contract { step: "minting to the agent", source })?
        .with_timeout(Some(RECEIPT_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|source| DemoError::Pending { step: "minting to the agent", source })?;
    if !receipt.status() {
        return Err(DemoError::Unexpected("minting reverted".into()));
    }
    say(&format!(
        "Funded the agent {} with {} USDC and no ether: it will pay without paying gas.",
        agent.address(),
        format_usd(U256::from(AGENT_FUNDS))
    ));

    let token = TestStablecoin::new(token_address, &facilitator_rpc);
    let balance = |who: Address| {
        let token = token.clone();
        async move {
            token
                .balanceOf(who)
                .call()
                .await
                .map_err(|source| DemoError::Contract { step: "reading a balance", source })
        }
    };
    let balances_before = (balance(agent.address()).await?, balance(seller).await?);

    // The seller prices the resource as an x402 `exact` option, with the token's EIP-712 domain as the
    // token itself declares it (ERC-5267).
    let declared = token
        .eip712Domain()
        .call()
        .await
        .map_err(|source| DemoError::Contract { step: "reading the token's EIP-712 domain", source })?;
    let offered = PaymentRequirements {
        scheme: exact::SCHEME.into(),
        network: Network::eip155(anvil.chain_id()).to_string(),
        amount: PRICE.to_string(),
        asset: token_address.to_checksum(None),
        pay_to: seller.to_checksum(None),
        max_timeout_seconds: 300,
        extra: [("name", declared.name), ("version", declared.version)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect(),
    };
    let now = facilitator_rpc
        .get_block_by_number(Default::default())
        .await
        .map_err(|source| DemoError::Rpc { step: "reading the latest block", source })?
        .ok_or_else(|| DemoError::Unexpected("the chain has no latest block".into()))?
        .header
        .timestamp;

    // The agent signs the payment for that option.
    let payment = exact::pay(
        &offered,
        None,
        &agent,
        agent.address(),
        now,
        keccak256(format!("quittance demo payment at {now}")),
    )?;
    let checked = exact::check(&payment, &offered, now)
        .and_then(|checked| checked.check_eoa_signature().map(|()| checked))
        .map_err(|reason| DemoError::Unexpected(format!("the payment was refused: {reason}")))?;
    let authorization = &checked.authorization;
    say(&format!(
        "The agent signed an x402 `exact` payment (EIP-3009): pay {} USDC to the seller {seller}, valid for 5 minutes, nonce {}.",
        format_usd(authorization.value),
        authorization.nonce
    ));

    let settle = token.transferWithAuthorization_0(
        authorization.from,
        authorization.to,
        authorization.value,
        authorization.valid_after,
        authorization.valid_before,
        authorization.nonce,
        checked.signature.clone(),
    );
    // Simulate first: a transaction that would revert is never sent (it would waste a nonce and gas).
    settle.call().await.map_err(|source| DemoError::Contract { step: "simulating the settlement", source })?;
    let receipt = settle
        .send()
        .await
        .map_err(|source| DemoError::Contract { step: "submitting the settlement", source })?
        .with_timeout(Some(RECEIPT_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|source| DemoError::Pending { step: "waiting for the settlement", source })?;
    if !receipt.status() {
        return Err(DemoError::Unexpected(format!("settlement {} reverted", receipt.transaction_hash)));
    }
    let used = receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == token_address)
        .find_map(|log| log.log_decode::<AuthorizationUsed>().ok())
        .ok_or_else(|| DemoError::Unexpected("the settlement emitted no AuthorizationUsed event".into()))?;
    say(&format!(
        "The facilitator {} submitted it in transaction {} ({} gas, paid by the facilitator).",
        facilitator.address(),
        receipt.transaction_hash,
        receipt.gas_used
    ));

    let balances_after = (balance(agent.address()).await?, balance(seller).await?);
    say(&format!(
        "Balances: agent {} → {} USDC, seller {} → {} USDC. The token logged AuthorizationUsed({}, {}).",
        format_usd(balances_before.0),
        format_usd(balances_after.0),
        format_usd(balances_before.1),
        format_usd(balances_after.1),
        used.inner.authorizer,
        used.inner.nonce
    ));

    let replay_error = match settle.call().await {
        Ok(_) => {
            return Err(DemoError::Unexpected("a replayed authorization would have paid twice".into()));
        }
        Err(err) => err
            .as_decoded_interface_error::<TestStablecoinErrors>()
            .ok_or_else(|| DemoError::Unexpected(format!("a replay failed for an unexpected reason: {err}")))?,
    };
    say(&format!("Replaying the same signature is refused by the token: {}.", describe(&replay_error)));

    let agent_ether = facilitator_rpc
        .get_balance(agent.address())
        .await
        .map_err(|source| DemoError::Rpc { step: "reading the agent's ether", source })?;

    Ok(DemoReport {
        chain_id: anvil.chain_id(),
        token: token_address,
        agent: agent.address(),
        seller,
        facilitator: facilitator.address(),
        amount: authorization.value,
        nonce: authorization.nonce,
        tx_hash: receipt.transaction_hash,
        gas_used: receipt.gas_used,
        authorization_used: (used.inner.authorizer, used.inner.nonce),
        balances_before,
        balances_after,
        agent_ether,
        replay_error,
    })
}

/// A short human description of the token's errors.
pub fn describe(error: &TestStablecoinErrors) -> String {
    match error {
        TestStablecoinErrors::AuthorizationAlreadyUsed(e) => {
            format!("AuthorizationAlreadyUsed (nonce {} of {} is spent)", e.nonce, e.authorizer)
        }
        TestStablecoinErrors::AuthorizationExpired(e) => {
            format!("AuthorizationExpired (valid before {}, now {})", e.validBefore, e.timestamp)
        }
        TestStablecoinErrors::AuthorizationNotYetValid(e) => {
            format!("AuthorizationNotYetValid (valid after {}, now {})", e.validAfter, e.timestamp)
        }
        TestStablecoinErrors::InvalidAuthorizationSignature(e) => {
            format!("InvalidAuthorizationSignature (not signed by {})", e.authorizer)
        }
        other => format!("{other:?}"),
    }
}
