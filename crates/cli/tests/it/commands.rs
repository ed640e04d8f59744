//! The commands as a user runs them, as processes against anvil: `facilitator`, `serve` and `pay`.

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{U256, keccak256},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use quittance_bindings::{InvoiceRegistry, TestStablecoin};
use quittance_chain::anvil::spawn_anvil;
use serde_json::Value;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `quittance facilitator` on `anvil` (anvil's account 1 pays the gas) with its ledger at `ledger` and
/// `extra` flags, and waits until it answers; returns it (killed when dropped) and its port.
pub(crate) async fn start_facilitator(
    anvil: &alloy::node_bindings::AnvilInstance,
    ledger: &std::path::Path,
    extra: &[&str],
) -> eyre::Result<(Killed, u16)> {
    let port = free_port();
    let process = Killed(
        Command::new(env!("CARGO_BIN_EXE_quittance"))
            .args(["facilitator", "--rpc-url", anvil.endpoint().as_str()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .arg("--ledger")
            .arg(ledger)
            .env("QUITTANCE_FACILITATOR_KEY", hex_key(&PrivateKeySigner::from(anvil.keys()[1].clone())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for(&format!("http://127.0.0.1:{port}/health")).await?;
    Ok((process, port))
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test]
async fn the_facilitator_command_serves_supported_and_health() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    let dir = tempfile::tempdir()?;
    let port = free_port();
    let key = format!("0x{}", alloy::hex::encode(anvil.keys()[1].to_bytes()));
    let _process = Killed(
        Command::new(env!("CARGO_BIN_EXE_quittance"))
            .args(["facilitator", "--rpc-url", anvil.endpoint().as_str(), "--listen", &format!("127.0.0.1:{port}")])
            .arg("--ledger")
            .arg(dir.path().join("ledger.sqlite"))
            .env("QUITTANCE_FACILITATOR_KEY", &key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let health: Value = loop {
        match client.get(format!("{base}/health")).send().await {
            Ok(response) => break response.json().await?,
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(err) => return Err(err.into()),
        }
    };
    assert_eq!(health["status"], "ok");
    assert_eq!(health["network"], "eip155:31337");
    assert_eq!(health["address"], anvil.addresses()[1].to_checksum(None));

    let supported: Value = client.get(format!("{base}/supported")).send().await?.json().await?;
    let schemes: Vec<&str> =
        supported["kinds"].as_array().into_iter().flatten().filter_map(|k| k["scheme"].as_str()).collect();
    assert_eq!(schemes, ["exact", "invoice", "channel"]);
    assert!(dir.path().join("ledger.sqlite").exists(), "the ledger file is created");
    Ok(())
}

pub(crate) async fn wait_for(url: &str) -> eyre::Result<()> {
    let started = Instant::now();
    loop {
        match reqwest::get(url).await {
            Ok(_) => return Ok(()),
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(err) => return Err(err.into()),
        }
    }
}

pub(crate) fn hex_key(signer: &PrivateKeySigner) -> String {
    format!("0x{}", alloy::hex::encode(signer.to_bytes()))
}

#[tokio::test]
async fn serve_and_pay_complete_the_loop_from_the_shell() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let rpc = ProviderBuilder::new().wallet(EthereumWallet::from(deployer.clone())).connect_http(anvil.endpoint_url());
    let token = TestStablecoin::deploy(&rpc, "USD Coin".into(), "USDC".into(), "2".into(), deployer.address()).await?;
    let registry = InvoiceRegistry::deploy(&rpc, deployer.address()).await?;
    let agent = PrivateKeySigner::from_bytes(&keccak256("shell agent"))?;
    let seller = PrivateKeySigner::from_bytes(&keccak256("shell seller"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("shell payee"))?.address();
    token.mint(agent.address(), U256::from(1_000_000u64)).send().await?.get_receipt().await?;

    let dir = tempfile::tempdir()?;
    let serve_port = free_port();
    let quittance = env!("CARGO_BIN_EXE_quittance");
    let (_facilitator, facilitator_port) = start_facilitator(&anvil, &dir.path().join("ledger.sqlite"), &[]).await?;
    let _server = Killed(
        Command::new(quittance)
            .args(["serve", "--rpc-url", anvil.endpoint().as_str()])
            .args(["--facilitator-url", &format!("http://127.0.0.1:{facilitator_port}/")])
            .args(["--token", &token.address().to_string(), "--pay-to", &payee.to_string()])
            .args(["--registry", &registry.address().to_string(), "--listen", &format!("127.0.0.1:{serve_port}")])
            .env("QUITTANCE_ISSUER_KEY", hex_key(&seller))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for(&format!("http://127.0.0.1:{facilitator_port}/health")).await?;
    wait_for(&format!("http://127.0.0.1:{serve_port}/")).await?;

    let pay = |budget: &str| {
        Command::new(quittance)
            .args(["pay", &format!("http://127.0.0.1:{serve_port}/report"), "--json"])
            .args(["--token", &token.address().to_string(), "--budget", budget])
            .arg("--record")
            .arg(dir.path().join("spend.sqlite"))
            .env("QUITTANCE_AGENT_KEY", hex_key(&agent))
            .output()
    };
    let output = pay("0.01")?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let result: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(result["status"], 200);
    assert_eq!(result["body"]["report"], "markets are up");
    assert_eq!(result["payment"]["scheme"], "invoice");
    assert_eq!(result["receipt"]["success"], true);
    assert_eq!(token.balanceOf(payee).call().await?, U256::from(10_000u64));

    // The receipt checks out offline (signed by the facilitator) and against the chain; a tampered one does not.
    let receipt_file = dir.path().join("paid.json");
    std::fs::write(&receipt_file, &output.stdout)?;
    let facilitator_address = anvil.addresses()[1].to_string();
    let verify = |file: &std::path::Path| {
        Command::new(quittance)
            .arg("verify-receipt")
            .arg(file)
            .args(["--facilitator", &facilitator_address, "--rpc-url", anvil.endpoint().as_str()])
            .output()
    };
    let checked = verify(&receipt_file)?;
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    assert!(String::from_utf8_lossy(&checked.stdout).starts_with("valid:"));
    let mut tampered = result.clone();
    tampered["receipt"]["extra"]["receipt"]["receipt"]["amount"] = serde_json::json!("0x4e21");
    let tampered_file = dir.path().join("tampered.json");
    std::fs::write(&tampered_file, serde_json::to_vec(&tampered)?)?;
    assert!(!verify(&tampered_file)?.status.success(), "a tampered receipt must not verify");

    // The spend record remembers: a budget of one payment stops the second, and nothing moves.
    let output = pay("0.01")?;
    assert!(!output.status.success(), "a second payment must exceed the budget");
    assert!(String::from_utf8_lossy(&output.stderr).contains("policy"), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(token.balanceOf(payee).call().await?, U256::from(10_000u64));

    // `spend` shows the one payment, settled, and its token's total; a record that is not there is named.
    let spend = |record: &std::path::Path, json: bool| {
        let mut command = Command::new(quittance);
        command.arg("spend").arg("--record").arg(record);
        if json {
            command.arg("--json");
        }
        command.output()
    };
    let output = spend(&dir.path().join("spend.sqlite"), true)?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let shown: Value = serde_json::from_slice(&output.stdout)?;
    let payments = shown["payments"].as_array().expect("payments");
    assert_eq!(payments.len(), 1, "{shown}");
    assert_eq!(payments[0]["state"], "settled");
    assert_eq!(payments[0]["amount"], "10000");
    assert_eq!(payments[0]["scheme"], "invoice");
    assert_eq!(shown["totals"][0]["taken"], "10000");
    assert_eq!(shown["totals"][0]["inDoubt"], "0");
    let table = String::from_utf8(spend(&dir.path().join("spend.sqlite"), false)?.stdout)?;
    assert!(table.contains("settled 0.01 (10000 units)"), "{table}");
    let missing = spend(&dir.path().join("nothing.sqlite"), false)?;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nothing.sqlite"), "the missing file is named");
    Ok(())
}

#[tokio::test]
async fn pay_through_a_voucher_channel_from_the_shell_and_the_facilitator_claims_on_its_own() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let rpc = ProviderBuilder::new().wallet(EthereumWallet::from(deployer.clone())).connect_http(anvil.endpoint_url());
    let token = TestStablecoin::deploy(&rpc, "USD Coin".into(), "USDC".into(), "2".into(), deployer.address()).await?;
    let channels = quittance_bindings::VoucherChannels::deploy(&rpc).await?;
    let agent = PrivateKeySigner::from_bytes(&keccak256("shell channel agent"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("shell channel payee"))?.address();
    token.mint(agent.address(), U256::from(1_000_000u64)).send().await?.get_receipt().await?;

    let dir = tempfile::tempdir()?;
    let serve_port = free_port();
    let quittance = env!("CARGO_BIN_EXE_quittance");
    let (_facilitator, facilitator_port) =
        start_facilitator(&anvil, &dir.path().join("ledger.sqlite"), &["--claim-every", "1"]).await?;
    let _server = Killed(
        Command::new(quittance)
            .args(["serve", "--rpc-url", anvil.endpoint().as_str()])
            .args(["--facilitator-url", &format!("http://127.0.0.1:{facilitator_port}/")])
            .args(["--token", &token.address().to_string(), "--pay-to", &payee.to_string(), "--amount", "0.001"])
            .args(["--channels", &channels.address().to_string(), "--listen", &format!("127.0.0.1:{serve_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for(&format!("http://127.0.0.1:{facilitator_port}/health")).await?;
    wait_for(&format!("http://127.0.0.1:{serve_port}/")).await?;

    for _ in 0..3 {
        let output = Command::new(quittance)
            .args(["pay", &format!("http://127.0.0.1:{serve_port}/report"), "--json", "--channel-requests", "10"])
            .args(["--token", &token.address().to_string()])
            .arg("--record")
            .arg(dir.path().join("spend.sqlite"))
            .env("QUITTANCE_AGENT_KEY", hex_key(&agent))
            .output()?;
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let result: Value = serde_json::from_slice(&output.stdout)?;
        assert_eq!(result["status"], 200);
        assert_eq!(result["payment"]["scheme"], "channel");
    }
    // One deposit of ten requests; three vouchers; the facilitator claims them within a few seconds.
    assert_eq!(token.balanceOf(agent.address()).call().await?, U256::from(1_000_000u64 - 10_000));
    // `spend` shows the channel: ten requests deposited, three paid through it.
    let output = Command::new(quittance)
        .arg("spend")
        .arg("--json")
        .arg("--record")
        .arg(dir.path().join("spend.sqlite"))
        .output()?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let shown: Value = serde_json::from_slice(&output.stdout)?;
    let channels = shown["channels"].as_array().expect("channels");
    assert_eq!(channels.len(), 1, "{shown}");
    assert_eq!(channels[0]["deposited"], "10000");
    assert_eq!(channels[0]["paid"], "3000");
    assert_eq!(channels[0]["receiver"], payee.to_checksum(None));
    let started = Instant::now();
    while token.balanceOf(payee).call().await? != U256::from(3_000u64) {
        assert!(started.elapsed() < Duration::from_secs(20), "the facilitator did not claim the vouchers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // `channel withdraw`, with the agent's key in an encrypted keystore: it asks to withdraw, says when that
    // is ready, and after the channel's delay gets back exactly what was not claimed; the record forgets it.
    let keystore = dir.path().join("keystore");
    std::fs::create_dir(&keystore)?;
    PrivateKeySigner::encrypt_keystore(&keystore, &mut rand::thread_rng(), agent.to_bytes(), "horse", Some("agent"))?;
    let gas = TransactionRequest::default().with_to(agent.address()).with_value(U256::from(10u64).pow(U256::from(17)));
    rpc.send_transaction(gas).await?.get_receipt().await?;
    let withdraw = |password: &str| {
        Command::new(quittance)
            .args(["channel", "withdraw", "--rpc-url", anvil.endpoint().as_str(), "--keystore"])
            .arg(keystore.join("agent"))
            .arg("--record")
            .arg(dir.path().join("spend.sqlite"))
            .env("QUITTANCE_KEYSTORE_PASSWORD", password)
            .output()
    };
    let stdout = |output: &std::process::Output| String::from_utf8_lossy(&output.stdout).into_owned();
    let wrong = withdraw("battery")?;
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("cannot unlock the keystore"), "{wrong:?}");
    let requested = withdraw("horse")?;
    assert!(requested.status.success(), "{}", String::from_utf8_lossy(&requested.stderr));
    assert!(stdout(&requested).contains("withdrawal requested; the receiver may claim"), "{}", stdout(&requested));
    let waiting = withdraw("horse")?;
    assert!(stdout(&waiting).contains("withdrawal requested; ready at"), "{}", stdout(&waiting));
    assert_eq!(token.balanceOf(agent.address()).call().await?, U256::from(1_000_000u64 - 10_000), "nothing yet");
    rpc.raw_request::<_, Value>("evm_increaseTime".into(), (3601,)).await?;
    rpc.raw_request::<_, Value>("evm_mine".into(), ()).await?;
    let withdrawn = withdraw("horse")?;
    assert!(withdrawn.status.success(), "{}", String::from_utf8_lossy(&withdrawn.stderr));
    assert!(stdout(&withdrawn).contains("withdrew 0.007 (7000 units"), "{}", stdout(&withdrawn));
    assert_eq!(token.balanceOf(agent.address()).call().await?, U256::from(1_000_000u64 - 3_000), "the rest back");
    assert_eq!(token.balanceOf(payee).call().await?, U256::from(3_000u64));
    let again = withdraw("horse")?;
    assert!(stdout(&again).contains("no voucher channels"), "{}", stdout(&again));
    Ok(())
}

#[tokio::test]
async fn from_an_empty_anvil_deploy_writes_the_manifest_the_other_commands_read() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    let owner = PrivateKeySigner::from(anvil.keys()[0].clone());
    let dir = tempfile::tempdir()?;
    let manifest_path = dir.path().join("deployments").join("31337.json");
    let quittance = env!("CARGO_BIN_EXE_quittance");
    let agent = PrivateKeySigner::from_bytes(&keccak256("manifest agent"))?;
    let deploy = |extra: &[&str]| {
        Command::new(quittance)
            .args(["deploy", "--rpc-url", anvil.endpoint().as_str(), "--out"])
            .arg(&manifest_path)
            .args(["--fund", &agent.address().to_string()])
            .args(extra)
            .env("QUITTANCE_DEPLOYER_KEY", hex_key(&owner))
            .output()
    };

    let dry = deploy(&["--dry-run"])?;
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let plan = String::from_utf8_lossy(&dry.stdout);
    assert!(plan.contains("InvoiceRegistry") && plan.contains("to deploy") && plan.contains("gas in all"), "{plan}");
    assert!(!manifest_path.exists(), "a dry run writes nothing");

    let first = deploy(&[])?;
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(stdout.matches("deployed in").count(), 4, "{stdout}");
    assert!(!stdout.contains(&hex_key(&owner)[2..]), "the key is never printed");
    let manifest = quittance_deploy::Manifest::read(&manifest_path)?;
    let again = deploy(&[])?;
    assert!(again.status.success());
    assert_eq!(String::from_utf8_lossy(&again.stdout).matches("already deployed").count(), 4);
    assert_eq!(quittance_deploy::Manifest::read(&manifest_path)?, manifest, "the same manifest, transactions kept");

    paid_loop_with_manifest(&anvil, &manifest_path, dir.path(), &agent).await
}

#[tokio::test]
async fn deploy_refuses_a_chain_that_is_not_local_unless_told() -> eyre::Result<()> {
    let anvil = quittance_chain::anvil::spawn_anvil_with_chain_id(8453)?;
    let output = Command::new(env!("CARGO_BIN_EXE_quittance"))
        .args(["deploy", "--rpc-url", anvil.endpoint().as_str()])
        .env("QUITTANCE_DEPLOYER_KEY", hex_key(&PrivateKeySigner::from(anvil.keys()[0].clone())))
        .current_dir(tempfile::tempdir()?.path())
        .output()?;
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--allow-remote"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn the_forge_script_and_quittance_deploy_give_the_same_addresses_and_manifest() -> eyre::Result<()> {
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let forge = repository.join("tools/bin/forge");
    let quittance = env!("CARGO_BIN_EXE_quittance");
    let dir = tempfile::tempdir()?;
    let agent = PrivateKeySigner::from_bytes(&keccak256("forge agent"))?;
    let mut manifests = Vec::new();
    for (path, chain_id) in [("forge", 31337u64), ("rust", 31337)] {
        let anvil = quittance_chain::anvil::spawn_anvil_with_chain_id(chain_id)?;
        let key = hex_key(&PrivateKeySigner::from(anvil.keys()[0].clone()));
        let out = dir.path().join(format!("{path}.json"));
        let mut deploy = Command::new(quittance);
        deploy.args(["deploy", "--rpc-url", anvil.endpoint().as_str(), "--out"]).arg(&out);
        deploy.env("QUITTANCE_DEPLOYER_KEY", &key);
        deploy.args(["--fund", &agent.address().to_string()]);
        if path == "forge" {
            // The broadcast record goes to a scratch directory, not the repository's.
            let script = Command::new(&forge)
                .current_dir(&repository)
                .args(["script", "script/Deploy.s.sol", "--rpc-url", anvil.endpoint().as_str()])
                .args(["--private-key", &key, "--broadcast"])
                .env("FOUNDRY_BROADCAST", dir.path().join("broadcast"))
                .env("FUND", agent.address().to_string())
                .output()?;
            assert!(script.status.success(), "{}", String::from_utf8_lossy(&script.stderr));
            // Twice: nothing to broadcast the second time.
            let again = Command::new(&forge)
                .current_dir(&repository)
                .args(["script", "script/Deploy.s.sol", "--rpc-url", anvil.endpoint().as_str()])
                .args(["--private-key", &key, "--broadcast"])
                .env("FOUNDRY_BROADCAST", dir.path().join("broadcast"))
                .env("FUND", agent.address().to_string())
                .output()?;
            assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
            assert!(String::from_utf8_lossy(&again.stdout).matches("already deployed").count() == 4);
            deploy
                .arg("--forge-broadcast")
                .arg(dir.path().join(format!("broadcast/Deploy.s.sol/{chain_id}/run-latest.json")));
        }
        let output = deploy.output()?;
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        if path == "forge" {
            // What the script deployed passes the code check and nothing is sent.
            assert_eq!(String::from_utf8_lossy(&output.stdout).matches("already deployed, code checked").count(), 4);
            // The paid loop against what the script deployed.
            paid_loop_with_manifest(&anvil, &out, dir.path(), &agent).await?;
        }
        manifests.push(quittance_deploy::Manifest::read(&out)?);
    }
    let (forge_manifest, rust_manifest) = (&manifests[0], &manifests[1]);
    assert_eq!(forge_manifest.settlers, rust_manifest.settlers);
    assert_eq!(forge_manifest.owner, rust_manifest.owner);
    for (name, rust) in &rust_manifest.contracts {
        let forge = &forge_manifest.contracts[name];
        assert_eq!((forge.address, forge.code_hash), (rust.address, rust.code_hash), "{name}");
        // Both record the deploying transaction (their hashes differ: other nonces, other gas limits).
        assert!(forge.transaction.is_some() && forge.block.is_some(), "{name}");
        assert!(rust.transaction.is_some() && rust.block.is_some(), "{name}");
    }
    Ok(())
}

/// The agent (funded by the deployment) buys `/report` through `facilitator`, `serve` and `pay` processes
/// configured by the manifest alone.
async fn paid_loop_with_manifest(
    anvil: &alloy::node_bindings::AnvilInstance,
    manifest_path: &std::path::Path,
    dir: &std::path::Path,
    agent: &PrivateKeySigner,
) -> eyre::Result<()> {
    let quittance = env!("CARGO_BIN_EXE_quittance");
    let manifest = quittance_deploy::Manifest::read(manifest_path)?;
    let token = TestStablecoin::new(
        manifest.address("TestStablecoin").expect("a token on a local chain"),
        ProviderBuilder::new().connect_http(anvil.endpoint_url()),
    );
    assert_eq!(token.balanceOf(agent.address()).call().await?, U256::from(quittance_deploy::FUNDING), "funded");
    let payee = PrivateKeySigner::from_bytes(&keccak256("manifest payee"))?.address();
    let serve_port = free_port();
    let (_facilitator, facilitator_port) = start_facilitator(anvil, &dir.join("ledger.sqlite"), &[]).await?;
    let _server = Killed(
        Command::new(quittance)
            .args(["serve", "--rpc-url", anvil.endpoint().as_str(), "--deployment"])
            .arg(manifest_path)
            .args(["--facilitator-url", &format!("http://127.0.0.1:{facilitator_port}/")])
            .args(["--pay-to", &payee.to_string(), "--listen", &format!("127.0.0.1:{serve_port}")])
            .env("QUITTANCE_ISSUER_KEY", hex_key(&PrivateKeySigner::from(anvil.keys()[2].clone())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for(&format!("http://127.0.0.1:{facilitator_port}/health")).await?;
    wait_for(&format!("http://127.0.0.1:{serve_port}/")).await?;
    let output = Command::new(quittance)
        .args(["pay", &format!("http://127.0.0.1:{serve_port}/report"), "--json", "--deployment"])
        .arg(manifest_path)
        .arg("--record")
        .arg(dir.join("spend.sqlite"))
        .env("QUITTANCE_AGENT_KEY", hex_key(agent))
        .output()?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let result: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(result["status"], 200);
    // The deployment's registry took the payment: the invoice is paid there.
    assert_eq!(result["payment"]["scheme"], "invoice");
    assert_eq!(token.balanceOf(payee).call().await?, U256::from(10_000u64));
    Ok(())
}
