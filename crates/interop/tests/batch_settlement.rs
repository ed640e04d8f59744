//! The official SDK's batch-settlement client and facilitator run unchanged against Quittance's BatchSettlement
//! contract at the canonical address on anvil: a deposit, a claim and a settlement move exactly the amounts, and
//! a replayed deposit is refused with the SDK's reason code.

use alloy::primitives::{B256, U256};
use quittance_chain::RpcChain;
use quittance_deploy::{BATCH_SETTLEMENT, install_batch_settlement};
use quittance_testkit::World;
use serde_json::Value;
use std::{path::PathBuf, process::Stdio, time::Duration};
use tokio::{io::AsyncBufReadExt, process::Command};

/// How long the script may take in all.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);
const DEPOSIT: u64 = 1_000_000;
const VOUCHER: u64 = 10_000;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `interop/<name>` to completion and returns the lines of JSON it reported.
async fn run(name: &str, env: &[(&str, String)]) -> eyre::Result<Vec<Value>> {
    let mut command = Command::new("node");
    command
        .arg(repository().join("interop").join(name))
        .current_dir(repository())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, command.output()).await??;
    if !output.status.success() {
        eyre::bail!("{name} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let mut reports = Vec::new();
    let mut lines = output.stdout.lines();
    while let Some(line) = lines.next_line().await? {
        reports.push(serde_json::from_str(&line)?);
    }
    Ok(reports)
}

#[tokio::test]
async fn official_client_and_facilitator_deposit_claim_and_settle_on_our_contract() -> eyre::Result<()> {
    let world = World::new().await?;
    install_batch_settlement(&RpcChain::http(world.endpoint.clone())).await?;
    run("multicall3.mjs", &[("QUITTANCE_RPC_URL", world.endpoint.to_string())]).await?;
    let payer = world.agent.address();
    let before = (world.token.balanceOf(payer).call().await?, world.token.balanceOf(world.payee).call().await?);

    let reports = run(
        "batch-contract.mjs",
        &[
            ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
            ("QUITTANCE_PAYER_KEY", B256::from(world.agent.to_bytes()).to_string()),
            ("QUITTANCE_FACILITATOR_KEY", B256::from(world.facilitator_key.to_bytes()).to_string()),
            ("QUITTANCE_TOKEN", world.token.address().to_checksum(None)),
            ("QUITTANCE_RECEIVER", world.payee.to_checksum(None)),
            ("QUITTANCE_DEPOSIT", DEPOSIT.to_string()),
            ("QUITTANCE_VOUCHER", VOUCHER.to_string()),
        ],
    )
    .await?;
    let step = |name: &str| reports.iter().find(|r| r["step"] == name).cloned().unwrap_or_default();
    assert_eq!(step("verify")["isValid"], true, "{reports:?}");
    assert_eq!(step("deposit")["success"], true, "{reports:?}");
    assert_eq!(step("claim")["success"], true, "{reports:?}");
    assert_eq!(step("settle")["success"], true, "{reports:?}");
    assert_eq!(step("replay")["isValid"], false, "{reports:?}");
    assert!(
        step("replay")["invalidReason"].as_str().is_some_and(|r| r.starts_with("invalid_batch_settlement_evm_")),
        "{reports:?}"
    );

    let after = (world.token.balanceOf(payer).call().await?, world.token.balanceOf(world.payee).call().await?);
    assert_eq!(before.0 - after.0, U256::from(DEPOSIT), "the payer deposited exactly once");
    assert_eq!(after.1 - before.1, U256::from(VOUCHER), "the receiver got exactly the voucher");
    assert_eq!(
        world.token.balanceOf(BATCH_SETTLEMENT).call().await?,
        U256::from(DEPOSIT - VOUCHER),
        "the rest stays escrowed"
    );
    Ok(())
}
