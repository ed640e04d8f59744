#![doc = include_str!("../README.md")]

pub mod proxy;

use alloy::{
    network::EthereumWallet,
    node_bindings::AnvilInstance,
    primitives::{Address, B256, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use quittance_bindings::{InvoiceRegistry, TestStablecoin};
use quittance_chain::RpcChain;
use quittance_chain::anvil::spawn_anvil_with_chain_id;
use quittance_facilitator::{Facilitator, Ledger, SettleConfig, SqliteLedger};
use quittance_x402::{PaymentPayload, PaymentRequirements, ResourceInfo, VerifyRequest, X402_V2, exact, invoice};
use std::{sync::Arc, time::Duration};

/// How long tests wait for a receipt.
pub const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));
/// The price of the test resource: one cent of a 6-decimal token.
pub const PRICE: u64 = 10_000;
/// The URL of the test resource.
pub const URL: &str = "http://127.0.0.1/report";

/// A fresh anvil with Permit2 and x402's Permit2 proxies installed, the token and the registry deployed, a
/// funded agent, a seller, and a facilitator.
#[allow(missing_docs)] // fields are the actors and contracts named in the struct docs
pub struct World {
    pub _anvil: AnvilInstance,
    /// Signs as the deployer (anvil account 0).
    pub rpc: DynProvider,
    /// Signs as the seller (anvil account 2), who issues invoices.
    pub seller_rpc: DynProvider,
    pub token: TestStablecoin::TestStablecoinInstance<DynProvider>,
    pub registry: InvoiceRegistry::InvoiceRegistryInstance<DynProvider>,
    pub seller: PrivateKeySigner,
    pub payee: Address,
    pub agent: PrivateKeySigner,
    pub facilitator: Arc<Facilitator<RpcChain>>,
    /// The facilitator's account (anvil account 1).
    pub facilitator_key: PrivateKeySigner,
    pub endpoint: alloy::transports::http::reqwest::Url,
}

impl World {
    /// Starts the world on chain 31337.
    pub async fn new() -> eyre::Result<Self> {
        Self::on_chain(31337).await
    }

    /// Starts the world on a chain with this id.
    pub async fn on_chain(chain_id: u64) -> eyre::Result<Self> {
        let anvil = spawn_anvil_with_chain_id(chain_id)?;
        let signer = |i: usize| PrivateKeySigner::from(anvil.keys()[i].clone());
        let connect = |s: PrivateKeySigner| {
            ProviderBuilder::new().wallet(EthereumWallet::from(s)).connect_http(anvil.endpoint_url()).erased()
        };
        // Permit2 and x402's Permit2 proxies at their canonical addresses, as on public chains.
        quittance_deploy::install_permit2(&RpcChain::http(anvil.endpoint_url())).await?;
        let deployer = signer(0);
        let rpc = connect(deployer.clone());
        let token =
            TestStablecoin::deploy(rpc.clone(), "USD Coin".into(), "USDC".into(), "2".into(), deployer.address())
                .await?;
        let registry = InvoiceRegistry::deploy(rpc.clone(), deployer.address()).await?;
        let agent = PrivateKeySigner::from_bytes(&keccak256("agent"))?;
        token.mint(agent.address(), U256::from(1_000_000u64)).send().await?.with_timeout(TIMEOUT).get_receipt().await?;
        let facilitator_key = signer(1);
        let facilitator = Facilitator::new(
            RpcChain::http(anvil.endpoint_url()),
            facilitator_key.clone(),
            Arc::new(SqliteLedger::in_memory()?),
            fast(),
        )
        .await
        .map(Arc::new)?;
        let seller = signer(2);
        Ok(Self {
            seller_rpc: connect(seller.clone()),
            facilitator_key,
            endpoint: anvil.endpoint_url(),
            _anvil: anvil,
            rpc,
            token,
            registry,
            seller,
            payee: PrivateKeySigner::from_bytes(&keccak256("payee"))?.address(),
            agent,
            facilitator,
        })
    }

    /// Another facilitator process on the same chain and account, with its own ledger.
    pub async fn facilitator_with(
        &self,
        ledger: Arc<dyn Ledger>,
        config: SettleConfig,
    ) -> eyre::Result<Facilitator<RpcChain>> {
        Ok(Facilitator::new(RpcChain::http(self.endpoint.clone()), self.facilitator_key.clone(), ledger, config)
            .await?)
    }

    /// The latest block's timestamp.
    pub async fn now(&self) -> eyre::Result<u64> {
        Ok(self.rpc.get_block_by_number(Default::default()).await?.expect("a latest block").header.timestamp)
    }

    /// The seller's `exact` option for the token (or for `asset`, with `name` as the token's EIP-712 name).
    pub fn exact_option(&self, asset: Address, name: &str) -> PaymentRequirements {
        serde_json::from_value(serde_json::json!({
            "scheme": "exact", "network": self.facilitator.network(), "amount": PRICE.to_string(),
            "asset": asset, "payTo": self.payee, "maxTimeoutSeconds": 120,
            "extra": {"name": name, "version": "2"}
        }))
        .expect("valid option")
    }

    /// `payer` pays `option` (`exact`) with a random nonce.
    pub async fn pay_exact(
        &self,
        option: &PaymentRequirements,
        payer: &PrivateKeySigner,
    ) -> eyre::Result<PaymentPayload> {
        let nonce = B256::random();
        Ok(exact::pay(option, None, payer, payer.address(), self.now().await?, nonce)?)
    }

    /// The seller's `invoice` option for [`URL`].
    pub async fn invoice_option(&self, salt: &str) -> eyre::Result<(invoice::Invoice, PaymentRequirements)> {
        let the_invoice = invoice::Invoice {
            issuer: self.seller.address(),
            payee: self.payee,
            token: *self.token.address(),
            amount: U256::from(PRICE),
            deadline: U256::from(self.now().await? + 600),
            resource: invoice::resource_hash(URL),
            network: self.facilitator.network().into(),
            salt: keccak256(salt),
        };
        let option = invoice::offer(the_invoice.clone(), *self.registry.address(), "USD Coin", "2", 120, &self.seller)?;
        Ok((the_invoice, option))
    }

    /// `payer` pays `option` (`invoice`) for [`URL`].
    pub async fn pay_invoice(
        &self,
        option: &PaymentRequirements,
        payer: &PrivateKeySigner,
    ) -> eyre::Result<PaymentPayload> {
        let resource = ResourceInfo { url: URL.into(), description: None, mime_type: None };
        Ok(invoice::pay(option, &resource, payer, payer.address(), self.now().await?)?)
    }
}

/// Receipts polled every 10 ms: anvil mines at once.
pub fn fast() -> SettleConfig {
    SettleConfig {
        receipt_timeout: Duration::from_secs(10),
        poll_interval: Duration::from_millis(10),
        delivery_timeout: Duration::from_secs(10),
    }
}

/// The verify/settle request for a payment and the requirements it is matched to.
pub fn request(payment: PaymentPayload, requirements: PaymentRequirements) -> VerifyRequest {
    VerifyRequest { x402_version: X402_V2, payment_payload: payment, payment_requirements: requirements }
}
