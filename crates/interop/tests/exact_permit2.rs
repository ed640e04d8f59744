//! `exact` over Permit2 against the official SDK, on anvil with Permit2 and x402's Permit2 proxies that
//! Quittance installs at their canonical addresses (the testkit's `World`), paid in a plain ERC-20 with
//! EIP-2612 and no EIP-3009 (`TestPermitToken`): the proxies' ABIs are the SDK's, and the SDK's client and
//! facilitator pay through our Permit2 and proxy with exact balance changes, a replay and a tampered
//! witness refused with the SDK's codes.

use alloy::{
    primitives::{B256, U256},
    providers::ProviderBuilder,
    signers::local::PrivateKeySigner,
};
use quittance_bindings::TestPermitToken;
use quittance_testkit::{TIMEOUT, World};
use serde_json::Value;
use std::{path::PathBuf, process::Stdio, time::Duration};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `interop/<name>` to completion (at most a minute) and returns the JSON of its last stdout line.
async fn run(name: &str, env: &[(&str, String)]) -> eyre::Result<Value> {
    let mut command = tokio::process::Command::new("node");
    command.arg(repository().join("interop").join(name)).current_dir(repository()).stdin(Stdio::null());
    command.kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output()).await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    eyre::ensure!(output.status.success(), "{name} failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let last = stdout.lines().last().ok_or_else(|| eyre::eyre!("{name} printed nothing"))?;
    Ok(serde_json::from_str(last)?)
}

fn key_hex(key: &PrivateKeySigner) -> String {
    B256::from(key.to_bytes()).to_string()
}

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
    run("multicall3.mjs", &[("QUITTANCE_RPC_URL", world.endpoint.to_string())]).await?;
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

    let report = run(
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
