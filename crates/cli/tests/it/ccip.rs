//! Paying across two local chains from the shell: `deploy` on both, `ccip deploy` (the lane, recorded in
//! both manifests), `ccip relay`, a facilitator on each chain (A's watching B), `serve` on B accepting
//! payment from A, and `pay` by an agent whose funds are on A only.

use crate::commands::{Killed, free_port, hex_key, wait_for};
use alloy::{
    primitives::{B256, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use quittance_bindings::{CrossChainInvoiceReceiver, InvoiceRegistry, TestStablecoin};
use quittance_chain::{RpcChain, anvil::spawn_anvil_with_chain_id, read};
use quittance_deploy::Manifest;
use serde_json::Value;
use std::process::{Command, Stdio};

#[tokio::test]
async fn an_agent_funded_on_one_chain_buys_on_the_other_from_the_shell() -> eyre::Result<()> {
    let (anvil_a, anvil_b) = (spawn_anvil_with_chain_id(31337)?, spawn_anvil_with_chain_id(1337)?);
    let (rpc_a, rpc_b) = (anvil_a.endpoint(), anvil_b.endpoint());
    let owner = PrivateKeySigner::from(anvil_a.keys()[0].clone());
    let facilitator = PrivateKeySigner::from(anvil_a.keys()[1].clone());
    let seller = PrivateKeySigner::from(anvil_a.keys()[2].clone());
    let agent = PrivateKeySigner::from_bytes(&keccak256("shell cross-chain agent"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("shell cross-chain payee"))?.address();
    let dir = tempfile::tempdir()?;
    let (manifest_a, manifest_b) = (dir.path().join("31337.json"), dir.path().join("1337.json"));
    let quittance = env!("CARGO_BIN_EXE_quittance");
    let run = |command: &mut Command| -> eyre::Result<String> {
        let output = command.env("QUITTANCE_DEPLOYER_KEY", hex_key(&owner)).output()?;
        eyre::ensure!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };

    for (rpc, manifest) in [(&rpc_a, &manifest_a), (&rpc_b, &manifest_b)] {
        run(Command::new(quittance).args(["deploy", "--rpc-url", rpc.as_str(), "--out"]).arg(manifest))?;
    }
    let lane = [
        "--rpc-url",
        rpc_a.as_str(),
        "--remote-rpc-url",
        rpc_b.as_str(),
        "--deployment",
        manifest_a.to_str().expect("utf-8"),
        "--remote-deployment",
        manifest_b.to_str().expect("utf-8"),
    ];
    let deployed = run(Command::new(quittance)
        .args(["ccip", "deploy"])
        .args(lane)
        .args(["--fund", &agent.address().to_string()]))?;
    assert!(deployed.contains("recorded the lane"), "{deployed}");
    let (a, b) = (Manifest::read(&manifest_a)?, Manifest::read(&manifest_b)?);
    let (end_a, end_b) = (a.ccip.clone().expect("A's end"), b.ccip.clone().expect("B's end"));
    assert_eq!(end_a.lanes.get("eip155:1337"), Some(&end_b.chain_selector), "A knows its lane to B");
    assert_eq!(end_b.lanes.get("eip155:31337"), Some(&end_a.chain_selector));
    assert_eq!(b.settlers.get(&end_b.invoice_receiver).map(String::as_str), Some("CrossChain"));
    let again = Command::new(quittance)
        .args(["ccip", "deploy"])
        .args(lane)
        .env("QUITTANCE_DEPLOYER_KEY", hex_key(&owner))
        .output()?;
    assert!(!again.status.success(), "a second lane is refused");
    // Deploying Quittance again keeps the recorded lane.
    run(Command::new(quittance).args(["deploy", "--rpc-url", rpc_b.as_str(), "--out"]).arg(&manifest_b))?;
    assert_eq!(Manifest::read(&manifest_b)?.ccip, Some(end_b.clone()));

    let _relay = Killed(
        Command::new(quittance)
            .args(["ccip", "relay", "--poll-ms", "50"])
            .args(lane)
            .env("QUITTANCE_DEPLOYER_KEY", hex_key(&owner))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let (port_a, port_b, port_serve) = (free_port(), free_port(), free_port());
    let facilitator_on = |rpc: &str, port: u16, watch: Option<&str>| -> eyre::Result<Killed> {
        let mut command = Command::new(quittance);
        command.args(["facilitator", "--rpc-url", rpc, "--listen", &format!("127.0.0.1:{port}")]);
        command.arg("--ledger").arg(dir.path().join(format!("ledger-{port}.sqlite")));
        if let Some(watch) = watch {
            command.args(["--watch-rpc-url", watch]);
        }
        let child = command
            .env("QUITTANCE_FACILITATOR_KEY", hex_key(&facilitator))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Killed(child))
    };
    let _facilitator_a = facilitator_on(rpc_a.as_str(), port_a, Some(rpc_b.as_str()))?;
    let _facilitator_b = facilitator_on(rpc_b.as_str(), port_b, None)?;
    wait_for(&format!("http://127.0.0.1:{port_a}/health")).await?;
    let supported: Value = reqwest::get(format!("http://127.0.0.1:{port_a}/supported")).await?.json().await?;
    let cross = supported["kinds"].as_array().into_iter().flatten().find(|k| k["scheme"] == "cross-chain-invoice");
    assert_eq!(cross.expect("A's facilitator pays across chains")["extra"]["destinations"][0], "eip155:1337");

    // Without the seller's key there are no invoices to pay from another chain: refused at start.
    let keyless = Command::new(quittance)
        .args(["serve", "--rpc-url", rpc_b.as_str(), "--deployment"])
        .arg(&manifest_b)
        .arg("--cross-chain-from")
        .arg(&manifest_a)
        .args(["--facilitator-for", &format!("eip155:31337=http://127.0.0.1:{port_a}/")])
        .args(["--pay-to", &payee.to_string()])
        .env_remove("QUITTANCE_ISSUER_KEY")
        .output()?;
    assert!(!keyless.status.success());
    assert!(String::from_utf8_lossy(&keyless.stderr).contains("issuer's key"), "{keyless:?}");

    let _server = Killed(
        Command::new(quittance)
            .args(["serve", "--rpc-url", rpc_b.as_str(), "--deployment"])
            .arg(&manifest_b)
            .arg("--cross-chain-from")
            .arg(&manifest_a)
            .args(["--facilitator-url", &format!("http://127.0.0.1:{port_b}/")])
            .args(["--facilitator-for", &format!("eip155:31337=http://127.0.0.1:{port_a}/")])
            .args(["--pay-to", &payee.to_string(), "--amount", "$0.25", "--listen"])
            .arg(format!("127.0.0.1:{port_serve}"))
            .env("QUITTANCE_ISSUER_KEY", hex_key(&seller))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for(&format!("http://127.0.0.1:{port_serve}/")).await?;
    wait_for(&format!("http://127.0.0.1:{port_b}/health")).await?;

    let output = Command::new(quittance)
        .args(["pay", &format!("http://127.0.0.1:{port_serve}/report"), "--json", "--max-per-request", "0.25"])
        .arg("--record")
        .arg(dir.path().join("spend.sqlite"))
        .arg("--deployment")
        .arg(&manifest_a)
        .arg("--deployment")
        .arg(&manifest_b)
        .args(["--funds-rpc", &format!("eip155:31337={rpc_a}"), "--funds-rpc", &format!("eip155:1337={rpc_b}")])
        .env("QUITTANCE_AGENT_KEY", hex_key(&agent))
        .output()?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let paid: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(paid["status"], 200, "{paid}");
    assert_eq!(paid["payment"]["scheme"], "cross-chain-invoice");
    assert_eq!(paid["receipt"]["network"], "eip155:31337", "paid on A");
    let invoice_id: B256 = serde_json::from_value(paid["receipt"]["extra"]["invoiceId"].clone())?;

    // The proof is on B.
    let chain_b = RpcChain::http(anvil_b.endpoint_url());
    let registry = b.address("InvoiceRegistry").expect("a registry");
    let record = read(&chain_b, registry, InvoiceRegistry::recordOfCall { id: invoice_id }).await?;
    assert_eq!((record.payer, record.path), (agent.address(), 5));
    let held = read(&chain_b, end_b.token, TestStablecoin::balanceOfCall { account: payee }).await?;
    assert_eq!(held, U256::from(250_000u64));
    Ok(())
}

#[tokio::test]
async fn the_cross_chain_forge_script_deploys_and_configures_from_the_environment() -> eyre::Result<()> {
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let forge = repository.join("tools/bin/forge");
    let anvil = spawn_anvil_with_chain_id(1337)?;
    let owner = PrivateKeySigner::from(anvil.keys()[0].clone());
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("1337.json");
    let output = Command::new(env!("CARGO_BIN_EXE_quittance"))
        .args(["deploy", "--rpc-url", anvil.endpoint().as_str(), "--out"])
        .arg(&manifest)
        .env("QUITTANCE_DEPLOYER_KEY", hex_key(&owner))
        .output()?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let manifest = Manifest::read(&manifest)?;
    let registry = manifest.address("InvoiceRegistry").expect("a registry");
    // Any contract stands in for the network's router here: the script only records it.
    let router = manifest.address("VoucherChannels").expect("a contract");
    let remote_sender = PrivateKeySigner::from_bytes(&keccak256("a remote sender"))?.address();
    let script = || {
        Command::new(&forge)
            .current_dir(&repository)
            .args(["script", "script/DeployCrossChain.s.sol", "--rpc-url", anvil.endpoint().as_str()])
            .args(["--private-key", &hex_key(&owner), "--broadcast"])
            .env("FOUNDRY_BROADCAST", dir.path().join("broadcast"))
            .env("ROUTER", router.to_string())
            .env("TOKEN", manifest.address("TestStablecoin").expect("a token").to_string())
            .env("REGISTRY", registry.to_string())
            .env("ALLOW_SELECTORS", "4949039107694359620,42")
            .env("ALLOW_SENDERS", format!("{remote_sender},{remote_sender}"))
            .output()
    };
    let first = script()?;
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let stdout = String::from_utf8_lossy(&first.stdout);
    let receiver: alloy::primitives::Address = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("CrossChainInvoiceReceiver deployed "))
        .ok_or_else(|| eyre::eyre!("no receiver in {stdout}"))?
        .parse()?;

    let chain = RpcChain::http(anvil.endpoint_url());
    assert_eq!(read(&chain, registry, InvoiceRegistry::settlerKindCall { settler: receiver }).await?, 5);
    for selector in [4_949_039_107_694_359_620u64, 42] {
        let allowed =
            CrossChainInvoiceReceiver::allowedSenderCall { sourceChainSelector: selector, sender: remote_sender };
        assert!(read(&chain, receiver, allowed).await?, "selector {selector}");
    }
    // Again: both found, nothing sent.
    let again = script()?;
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(String::from_utf8_lossy(&again.stdout).matches("already deployed").count(), 2);
    Ok(())
}
