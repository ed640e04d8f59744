//! `quittance serve`: an example paid API behind the paywall, settled by a facilitator over HTTP.

use crate::keys::KeySource;
use alloy::{
    primitives::{Address, U256},
    providers::ProviderBuilder,
};
use axum::{Json, Router, routing::get};
use quittance_bindings::TestStablecoin;
use quittance_chain::{Chain, RpcChain};
use quittance_paywall::{ChannelOffer, HttpFacilitator, InvoiceIssuer, Paywall, Price};
use std::{net::SocketAddr, path::PathBuf, sync::Arc};

/// Arguments of `quittance serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// JSON-RPC endpoint of the chain payments settle on.
    #[arg(long, env = "QUITTANCE_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: reqwest::Url,
    /// The facilitator that verifies and settles (e.g. one started with `quittance facilitator`).
    #[arg(long, env = "QUITTANCE_FACILITATOR_URL", default_value = "http://127.0.0.1:4021/")]
    pub facilitator_url: reqwest::Url,
    /// A deployment manifest (`quittance deploy`, `deployments/<chain-id>.json`): the token, the registry and
    /// the channels contract default to its `TestStablecoin`, `InvoiceRegistry` and `VoucherChannels`.
    #[arg(long)]
    pub deployment: Option<PathBuf>,
    /// The token prices are in (an EIP-3009 token such as USDC).
    #[arg(long, required_unless_present = "deployment")]
    pub token: Option<Address>,
    /// The price of `/report`, in the token's smallest unit (10000 = one cent of USDC).
    #[arg(long, default_value = "10000")]
    pub amount: U256,
    /// Who is paid.
    #[arg(long)]
    pub pay_to: Address,
    /// Offer Quittance invoices of this registry too (needs the issuer's key).
    #[arg(long)]
    pub registry: Option<Address>,
    /// File holding the invoice issuer's hex private key.
    #[arg(long, conflicts_with = "issuer_key_env")]
    pub issuer_key_file: Option<PathBuf>,
    /// Environment variable holding the invoice issuer's hex private key.
    #[arg(long, default_value = "QUITTANCE_ISSUER_KEY")]
    pub issuer_key_env: String,
    /// Offer payment through voucher channels of this `VoucherChannels` contract too (the facilitator claims
    /// them; see `quittance facilitator --claim-every`).
    #[arg(long)]
    pub channels: Option<Address>,
    /// The shortest withdrawal delay a channel may have, in seconds: longer than the facilitator's claim
    /// interval.
    #[arg(long, default_value = "3600")]
    pub min_withdraw_delay: u64,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The public origin clients reach this server at (default: `http://<listen>`).
    #[arg(long)]
    pub public_url: Option<String>,
}

/// Serves `GET /report` (paid) and `GET /` (free) until stopped.
pub async fn run(args: ServeArgs) -> eyre::Result<()> {
    let manifest = args.deployment.as_ref().map(quittance_deploy::Manifest::read).transpose()?;
    let from_manifest = |name: &str| manifest.as_ref().and_then(|m| m.address(name));
    let token = args
        .token
        .or_else(|| from_manifest("TestStablecoin"))
        .ok_or_else(|| eyre::eyre!("no --token, and the deployment has no TestStablecoin"))?;
    let issuer_key = match &args.issuer_key_file {
        Some(path) => KeySource::File(path.clone()),
        None => KeySource::Env(args.issuer_key_env.clone()),
    };
    // Invoices: an explicit --registry needs the issuer's key; the deployment's registry is used when the
    // key is there.
    let invoices = match (args.registry, from_manifest("InvoiceRegistry")) {
        (Some(registry), _) => Some(InvoiceIssuer { registry, signer: issuer_key.load()?, validity_seconds: 600 }),
        (None, Some(registry)) => {
            issuer_key.load().ok().map(|signer| InvoiceIssuer { registry, signer, validity_seconds: 600 })
        }
        (None, None) => None,
    };
    let channels = args.channels.or_else(|| from_manifest("VoucherChannels"));
    let chain = RpcChain::http(args.rpc_url.clone());
    let network = quittance_x402::Network::eip155(chain.chain_id().await?).to_string();
    // The token's EIP-712 domain, as the token declares it (ERC-5267).
    let provider = ProviderBuilder::new().connect_http(args.rpc_url);
    let domain = TestStablecoin::new(token, provider)
        .eip712Domain()
        .call()
        .await
        .map_err(|e| eyre::eyre!("could not read the token's EIP-712 domain (ERC-5267 eip712Domain()): {e}"))?;
    let price = Price {
        network,
        asset: token,
        asset_name: domain.name,
        asset_version: domain.version,
        amount: args.amount,
        pay_to: args.pay_to,
        max_timeout_seconds: 120,
        description: "A market report".into(),
        mime_type: "application/json".into(),
        invoices,
        settle_before_serving: false,
        channels: channels.map(|contract| ChannelOffer { contract, min_withdraw_delay: args.min_withdraw_delay }),
        cross_chain: Vec::new(),
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let public_url = args.public_url.unwrap_or_else(|| format!("http://{}", args.listen));
    let paywall = Paywall::new(Arc::new(HttpFacilitator::new(args.facilitator_url)), public_url.clone());
    let app = Router::new().route("/", get(|| async { Json(serde_json::json!({"paid": ["/report"]})) })).route(
        "/report",
        get(|| async { Json(serde_json::json!({"report": "markets are up"})) }).layer(paywall.price(price)),
    );
    println!("serving {public_url}/report (paid) on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
