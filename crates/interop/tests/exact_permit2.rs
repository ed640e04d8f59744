//! `exact` over Permit2 against the official SDK, on anvil with Permit2 and x402's Permit2 proxies that
//! Quittance installs at their canonical addresses (the testkit's `World`), paid in a plain ERC-20 with
//! EIP-2612 and no EIP-3009 (`TestPermitToken`): the proxies' ABIs are the SDK's, and the SDK's client and
//! facilitator pay through our Permit2 and proxy with exact balance changes, a replay and a tampered
//! witness refused with the SDK's codes; and Quittance's paywall, facilitator and agent with the SDK's client,
//! server and facilitator in three directions, one of them a payer without an allowance paying through
//! `eip2612GasSponsoring`.

use alloy::{
    primitives::{Address, B256, U256},
    providers::{DynProvider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use axum::{Json, Router, routing::get};
use quittance_agent::{Agent, Budget, ChainFunds, Policy, SpendRecord};
use quittance_bindings::TestPermitToken;
use quittance_interop::{Script, key_hex, repository};
use quittance_paywall::{Paywall, Price};
use quittance_testkit::{TIMEOUT, World, request};
use quittance_x402::{ErrorReason, PaymentPayload, PaymentRequirements};
use serde_json::{Value, json};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

#[tokio::test]
async fn the_proxies_abis_are_the_sdks() -> eyre::Result<()> {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new("node")
            .arg(repository().join("interop/permit2-abi.mjs"))
            .current_dir(repository())
            .output(),
    )
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.trim(), "same");
    Ok(())
}

#[tokio::test]
async fn the_sdks_client_and_facilitator_pay_through_our_permit2_and_proxy() -> eyre::Result<()> {
    let world = World::new().await?;
    Script::run("multicall3.mjs", &[("QUITTANCE_RPC_URL", world.endpoint.to_string())]).await?;
    let owner = PrivateKeySigner::from(world._anvil.keys()[0].clone());
    let token = TestPermitToken::deploy(world.rpc.clone(), "Dollar".into(), "USD".into(), owner.address()).await?;
    // A payer with ether of its own (anvil account 3), who approved Permit2 once.
    let payer = PrivateKeySigner::from(world._anvil.keys()[3].clone());
    let amount = U256::from(10u64).pow(U256::from(16));
    token.mint(payer.address(), amount * U256::from(10)).send().await?.with_timeout(TIMEOUT).get_receipt().await?;
    let payer_rpc = ProviderBuilder::new()
        .wallet(alloy::network::EthereumWallet::from(payer.clone()))
        .connect_http(world.endpoint.clone());
    TestPermitToken::new(*token.address(), payer_rpc)
        .approve(quittance_deploy::PERMIT2, U256::MAX)
        .send()
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    let (payer_before, payee_before) =
        (token.balanceOf(payer.address()).call().await?, token.balanceOf(world.payee).call().await?);

    let report = Script::run(
        "exact-permit2-sdk.mjs",
        &[
            ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
            ("QUITTANCE_PAYER_KEY", key_hex(&payer)),
            ("QUITTANCE_FACILITATOR_KEY", key_hex(&world.facilitator_key)),
            ("QUITTANCE_TOKEN", token.address().to_string()),
            ("QUITTANCE_PAY_TO", world.payee.to_string()),
            ("QUITTANCE_AMOUNT", amount.to_string()),
        ],
    )
    .await?;
    let authorization = &report["payload"]["payload"]["permit2Authorization"];
    assert_eq!(authorization["spender"], quittance_deploy::EXACT_PERMIT2_PROXY.to_string(), "{report}");
    assert_eq!(report["verify"]["isValid"], true, "{report}");
    assert_eq!(report["settle"]["success"], true, "{report}");
    assert_eq!(report["replay"]["success"], false, "{report}");
    // The SDK's facilitator re-simulates nothing before settling a replay: the proxy's call reverts with
    // Permit2's `InvalidNonce()` (0x756688fe), which it reports as a failed transaction.
    let replay = report["replay"]["errorReason"].as_str().unwrap_or_default();
    assert!(replay.starts_with("invalid_exact_evm_transaction_failed") && replay.contains("0x756688fe"), "{report}");
    assert_eq!(report["tampered"]["isValid"], false, "{report}");
    assert_eq!(report["tampered"]["invalidReason"], "invalid_permit2_recipient_mismatch", "{report}");
    assert_eq!(token.balanceOf(payer.address()).call().await?, payer_before - amount);
    assert_eq!(token.balanceOf(world.payee).call().await?, payee_before + amount);
    Ok(())
}

const PRICE: u64 = 10_000;

/// A world with Multicall3 and a plain EIP-2612 token, held by `approved` (who approved Permit2 once) and
/// `newcomer` (who approved nothing and holds no ether).
struct Permit2World {
    world: World,
    token: TestPermitToken::TestPermitTokenInstance<DynProvider>,
    approved: PrivateKeySigner,
    newcomer: PrivateKeySigner,
}

impl Permit2World {
    async fn new() -> eyre::Result<Self> {
        let world = World::new().await?;
        Script::run("multicall3.mjs", &[("QUITTANCE_RPC_URL", world.endpoint.to_string())]).await?;
        let owner = PrivateKeySigner::from(world._anvil.keys()[0].clone());
        let token = TestPermitToken::deploy(world.rpc.clone(), "Dollar".into(), "USD".into(), owner.address()).await?;
        let approved = PrivateKeySigner::from(world._anvil.keys()[4].clone());
        let newcomer = PrivateKeySigner::random();
        for holder in [approved.address(), newcomer.address()] {
            token.mint(holder, U256::from(100 * PRICE)).send().await?.with_timeout(TIMEOUT).get_receipt().await?;
        }
        let approved_rpc = ProviderBuilder::new()
            .wallet(alloy::network::EthereumWallet::from(approved.clone()))
            .connect_http(world.endpoint.clone());
        TestPermitToken::new(*token.address(), approved_rpc)
            .approve(quittance_deploy::PERMIT2, U256::MAX)
            .send()
            .await?
            .with_timeout(TIMEOUT)
            .get_receipt()
            .await?;
        Ok(Self { world, token, approved, newcomer })
    }

    async fn balances(&self, payer: Address) -> eyre::Result<(U256, U256)> {
        Ok((self.token.balanceOf(payer).call().await?, self.token.balanceOf(self.world.payee).call().await?))
    }

    /// `payer` paid exactly the price to the payee, once.
    async fn assert_paid_once(&self, payer: Address, before: (U256, U256)) -> eyre::Result<()> {
        let after = self.balances(payer).await?;
        assert_eq!(before.0 - after.0, U256::from(PRICE), "the payer paid the price once");
        assert_eq!(after.1 - before.1, U256::from(PRICE), "the payee received the price once");
        Ok(())
    }

    fn price(&self) -> Price {
        Price {
            network: self.world.facilitator.network().into(),
            asset: *self.token.address(),
            asset_name: "Dollar".into(),
            asset_version: "1".into(),
            amount: U256::from(PRICE),
            pay_to: self.world.payee,
            max_timeout_seconds: 120,
            description: "Today's market report".into(),
            mime_type: "application/json".into(),
            invoices: None,
            settle_before_serving: false,
            channels: None,
            cross_chain: Vec::new(),
        }
    }

    fn client_env(&self, payer: &PrivateKeySigner, url: String) -> Vec<(&'static str, String)> {
        vec![
            ("QUITTANCE_RPC_URL", self.world.endpoint.to_string()),
            ("QUITTANCE_URL", url),
            ("QUITTANCE_AGENT_KEY", key_hex(payer)),
            ("QUITTANCE_TOKEN", self.token.address().to_checksum(None)),
        ]
    }

    /// An official server for `/report` in exact over Permit2, settled by the facilitator at `facilitator`.
    async fn official_server(&self, facilitator: &str) -> eyre::Result<(Script, String)> {
        let extra = json!({"assetTransferMethod": "permit2", "name": "Dollar", "version": "1"});
        let (child, port) = Script::serve(
            "server.mjs",
            &[
                ("QUITTANCE_RPC_URL", self.world.endpoint.to_string()),
                ("QUITTANCE_FACILITATOR_URL", facilitator.into()),
                ("QUITTANCE_PAY_TO", self.world.payee.to_checksum(None)),
                ("QUITTANCE_TOKEN", self.token.address().to_checksum(None)),
                ("QUITTANCE_PRICE", PRICE.to_string()),
                ("QUITTANCE_EXTRA", extra.to_string()),
            ],
        )
        .await?;
        Ok((child, format!("http://127.0.0.1:{port}/report")))
    }

    /// Our facilitator over HTTP on a loopback port.
    async fn our_facilitator(&self) -> eyre::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let router = quittance_facilitator::http::router(self.world.facilitator.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(url)
    }
}

/// The official client's report: 200, a successful settlement, the served body; and the payment it sent.
fn served(report: &Value) -> eyre::Result<PaymentPayload> {
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(report["paymentResponse"]["success"], true, "{report}");
    let body: Value = serde_json::from_str(report["body"].as_str().unwrap_or_default()).unwrap_or_default();
    assert_eq!(body["report"], "markets are up", "{report}");
    Ok(serde_json::from_value(report["payment"].clone())?)
}

/// (a) The official client pays our paywall, settled by our facilitator, from a wallet that never approved
/// Permit2 and has no ether: our 402 offers `eip2612GasSponsoring`, the client signs an EIP-2612 permit,
/// our facilitator settles with `settleWithPermit`. A replay is refused with Permit2's used nonce.
#[tokio::test]
async fn the_official_client_without_an_allowance_pays_our_paywall_through_eip2612_gas_sponsoring() -> eyre::Result<()>
{
    let w = Permit2World::new().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let paywall = Paywall::new(w.world.facilitator.clone(), base.clone());
    let app = Router::new().route(
        "/report",
        get(|| async { Json(json!({"report": "markets are up"})) }).layer(paywall.price_exact_permit2(w.price(), true)),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let before = w.balances(w.newcomer.address()).await?;
    let report = Script::run("exact-permit2-client.mjs", &w.client_env(&w.newcomer, format!("{base}/report"))).await?;
    let payment = served(&report)?;
    let info = &payment.extensions.as_ref().expect("extensions")["eip2612GasSponsoring"]["info"];
    assert_eq!(info["spender"], quittance_deploy::PERMIT2.to_checksum(None), "{report}");
    w.assert_paid_once(w.newcomer.address(), before).await?;
    let settled: B256 = report["paymentResponse"]["transaction"].as_str().unwrap_or_default().parse()?;
    let receipt = alloy::providers::Provider::get_transaction_receipt(&w.world.rpc, settled)
        .await?
        .ok_or_else(|| eyre::eyre!("no receipt"))?;
    assert_eq!(receipt.to, Some(quittance_deploy::EXACT_PERMIT2_PROXY));
    // Replayed at our facilitator: refused as used, nothing moves.
    let requirements: PaymentRequirements = payment.accepted.clone();
    let replay = w.world.facilitator.settle(&request(payment, requirements)).await;
    assert_eq!(replay.error_reason, Some(ErrorReason::Permit2InvalidNonce), "{replay:?}");
    w.assert_paid_once(w.newcomer.address(), before).await
}

/// (b) Our agent pays an official server settled by the official facilitator, from a wallet that approved
/// Permit2. A replay is refused by the official facilitator.
#[tokio::test]
async fn our_agent_pays_an_official_permit2_server_settled_by_the_official_facilitator() -> eyre::Result<()> {
    let w = Permit2World::new().await?;
    let facilitator_key = PrivateKeySigner::from(w.world._anvil.keys()[3].clone());
    let (_facilitator, port) = Script::serve(
        "facilitator.mjs",
        &[
            ("QUITTANCE_RPC_URL", w.world.endpoint.to_string()),
            ("QUITTANCE_FACILITATOR_KEY", key_hex(&facilitator_key)),
        ],
    )
    .await?;
    let facilitator = format!("http://127.0.0.1:{port}");
    let (_server, url) = w.official_server(&facilitator).await?;
    let budget = Budget {
        per_request: U256::from(PRICE),
        per_host: U256::from(10 * PRICE),
        period: Duration::from_secs(3600),
        total: U256::from(10 * PRICE),
    };
    let policy = Policy {
        budgets: BTreeMap::from([(*w.token.address(), budget)]),
        networks: vec![w.world.facilitator.network().into()],
        hosts: None,
        channel_requests: 0,
    };
    let funds = ChainFunds::new()
        .with(w.world.facilitator.network(), quittance_chain::RpcChain::http(w.world.endpoint.clone()));
    let agent = Agent::new(w.approved.clone(), policy.clone(), Arc::new(SpendRecord::in_memory()?))
        .with_funds(Arc::new(funds.clone()));
    let before = w.balances(w.approved.address()).await?;
    let paid = agent.get(&url).await?;
    assert_eq!(paid.response.status(), 200);
    let receipt = paid.receipt.clone().ok_or_else(|| eyre::eyre!("no PAYMENT-RESPONSE"))?;
    assert!(receipt.success, "{receipt:?}");
    let payment = paid.payment.clone().ok_or_else(|| eyre::eyre!("no payment"))?;
    assert_eq!(
        payment.payload["permit2Authorization"]["spender"],
        json!(quittance_deploy::EXACT_PERMIT2_PROXY.to_checksum(None))
    );
    assert!(payment.extensions.as_ref().is_none_or(|e| !e.contains_key("eip2612GasSponsoring")), "approved already");
    let body: Value = paid.response.json().await?;
    assert_eq!(body["report"], "markets are up");
    w.assert_paid_once(w.approved.address(), before).await?;
    // The same payment again at the official facilitator: its simulation fails (the nonce is used).
    let http = reqwest::Client::new();
    let body = json!({"x402Version": 2, "paymentPayload": payment, "paymentRequirements": payment.accepted});
    let verdict: Value = http.post(format!("{facilitator}/verify")).json(&body).send().await?.json().await?;
    assert_eq!(verdict["isValid"], false, "{verdict}");
    assert_eq!(verdict["invalidReason"], "permit2_simulation_failed", "{verdict}");
    w.assert_paid_once(w.approved.address(), before).await?;

    // A wallet that never approved Permit2, at a server that offers no gas sponsoring: a clear refusal.
    let newcomer =
        Agent::new(w.newcomer.clone(), policy, Arc::new(SpendRecord::in_memory()?)).with_funds(Arc::new(funds));
    let refused = newcomer.get(&url).await.expect_err("no allowance, no sponsoring");
    assert!(matches!(refused, quittance_agent::AgentError::Permit2Approval { .. }), "{refused}");
    Ok(())
}

/// (c) The official client pays an official server settled by our facilitator over HTTP. A replay is
/// refused with Permit2's used nonce.
#[tokio::test]
async fn an_official_permit2_server_is_settled_by_our_facilitator() -> eyre::Result<()> {
    let w = Permit2World::new().await?;
    let facilitator = w.our_facilitator().await?;
    let (_server, url) = w.official_server(&facilitator).await?;
    let before = w.balances(w.approved.address()).await?;
    let report = Script::run("exact-permit2-client.mjs", &w.client_env(&w.approved, url)).await?;
    let payment = served(&report)?;
    w.assert_paid_once(w.approved.address(), before).await?;
    let settled: B256 = report["paymentResponse"]["transaction"].as_str().unwrap_or_default().parse()?;
    let receipt = alloy::providers::Provider::get_transaction_receipt(&w.world.rpc, settled)
        .await?
        .ok_or_else(|| eyre::eyre!("no receipt"))?;
    assert_eq!(receipt.from, w.world.facilitator.address());
    let http = reqwest::Client::new();
    let body = json!({"x402Version": 2, "paymentPayload": payment, "paymentRequirements": payment.accepted});
    let replay: Value = http.post(format!("{facilitator}/settle")).json(&body).send().await?.json().await?;
    assert_eq!(replay["success"], false, "{replay}");
    assert_eq!(replay["errorReason"], "permit2_invalid_nonce", "{replay}");
    w.assert_paid_once(w.approved.address(), before).await
}
