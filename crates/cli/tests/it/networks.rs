//! `quittance facilitator --config`: one facilitator process for two chains (as processes on two anvils).
//! `/supported` lists both networks (each with its scheme list), `/health` reports each, a request for a
//! network not served is refused with `invalid_network`, and `serve` + `pay` on each chain settle through it,
//! each network with its own account and ledger.

use crate::commands::{Killed, free_port, hex_key, wait_for};
use alloy::{
    primitives::{U256, keccak256},
    signers::local::PrivateKeySigner,
};
use quittance_chain::anvil::{spawn_anvil, spawn_anvil_with_chain_id};
use serde_json::{Value, json};
use std::process::{Command, Stdio};

#[tokio::test]
async fn one_facilitator_serves_two_networks_each_with_its_account_and_ledger() -> eyre::Result<()> {
    let (a, b) = (spawn_anvil()?, spawn_anvil_with_chain_id(1337)?);
    let deployer = PrivateKeySigner::from(a.keys()[0].clone());
    let agent = PrivateKeySigner::from_bytes(&keccak256("networks agent"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("networks payee"))?.address();
    let dir = tempfile::tempdir()?;
    let quittance = env!("CARGO_BIN_EXE_quittance");
    for (anvil, id) in [(&a, 31337), (&b, 1337)] {
        let deployed = Command::new(quittance)
            .args(["deploy", "--rpc-url", anvil.endpoint().as_str(), "--fund", &agent.address().to_string()])
            .arg("--out")
            .arg(dir.path().join(format!("{id}.json")))
            .env("QUITTANCE_DEPLOYER_KEY", hex_key(&deployer))
            .output()?;
        assert!(deployed.status.success(), "{}", String::from_utf8_lossy(&deployed.stderr));
    }
    let (key_a, key_b) = (PrivateKeySigner::from(a.keys()[1].clone()), PrivateKeySigner::from(b.keys()[2].clone()));
    let port = free_port();
    let config = dir.path().join("facilitator.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:{port}"

[[network]]
rpc_url = "{}"
network = "eip155:31337"
key_env = "KEY_A"

[[network]]
rpc_url = "{}"
network = "eip155:1337"
key_env = "KEY_B"
schemes = ["exact", "channel"]
"#,
            a.endpoint(),
            b.endpoint()
        ),
    )?;
    let _facilitator = Killed(
        Command::new(quittance)
            .args(["facilitator", "--config"])
            .arg(&config)
            // Left over from a single-chain walk-through: ignored with --config.
            .env("QUITTANCE_RPC_URL", "http://127.0.0.1:9")
            .env("KEY_A", hex_key(&key_a))
            .env("KEY_B", hex_key(&key_b))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{url}/health")).await?;
    // Each network's ledger beside the file, named by its chain id.
    for id in [31337, 1337] {
        assert!(dir.path().join(format!("quittance-ledger-{id}.sqlite")).is_file(), "ledger of {id}");
    }

    let supported: Value = reqwest::get(format!("{url}/supported")).await?.json().await?;
    let kinds = |network: &str| -> Vec<String> {
        supported["kinds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|k| k["network"] == network)
            .map(|k| k["scheme"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert!(kinds("eip155:31337").contains(&"invoice".to_owned()), "{supported}");
    assert_eq!(
        kinds("eip155:1337"),
        ["exact", "channel"],
        "the second network offers only its listed schemes: {supported}"
    );
    let signers = supported["signers"]["eip155:*"].as_array().cloned().unwrap_or_default();
    for key in [&key_a, &key_b] {
        assert!(signers.contains(&json!(key.address().to_checksum(None))), "{supported}");
    }
    let health: Value = reqwest::get(format!("{url}/health")).await?.json().await?;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["networks"]["eip155:1337"]["address"], key_b.address().to_checksum(None), "{health}");

    // A network not served, and a scheme not offered on a served one, are refused by name.
    let verify = |network: &str, scheme: &str| {
        let requirements = json!({"scheme": scheme, "network": network, "amount": "1", "asset": payee,
            "payTo": payee, "maxTimeoutSeconds": 60, "extra": {}});
        let body = json!({"x402Version": 2, "paymentRequirements": requirements,
            "paymentPayload": {"x402Version": 2, "accepted": requirements, "payload": {}}});
        reqwest::Client::new().post(format!("{url}/verify")).json(&body).send()
    };
    let answer: Value = verify("eip155:8453", "exact").await?.json().await?;
    assert_eq!(answer["invalidReason"], "invalid_network", "{answer}");
    let answer: Value = verify("eip155:1337", "invoice").await?.json().await?;
    assert_eq!(answer["invalidReason"], "unsupported_scheme", "{answer}");

    // `serve` on each chain settles through the one facilitator; each chain's payee gets exactly the price.
    for (anvil, id) in [(&a, 31337), (&b, 1337)] {
        let serve_port = free_port();
        let manifest = dir.path().join(format!("{id}.json"));
        let _server = Killed(
            Command::new(quittance)
                .args(["serve", "--rpc-url", anvil.endpoint().as_str(), "--deployment"])
                .arg(&manifest)
                .args(["--facilitator-url", &format!("{url}/"), "--pay-to", &payee.to_string()])
                .args(["--listen", &format!("127.0.0.1:{serve_port}"), "--amount", "0.01"])
                .arg("--store")
                .arg(dir.path().join(format!("store-{id}.sqlite")))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join(format!("serve-{id}.log")))?)
                .spawn()?,
        );
        if let Err(err) = wait_for(&format!("http://127.0.0.1:{serve_port}/")).await {
            let log = std::fs::read_to_string(dir.path().join(format!("serve-{id}.log"))).unwrap_or_default();
            eyre::bail!("serve on chain {id} did not start ({err}): {log}");
        }
        let output = Command::new(quittance)
            .args(["pay", &format!("http://127.0.0.1:{serve_port}/report"), "--json", "--deployment"])
            .arg(&manifest)
            .arg("--record")
            .arg(dir.path().join(format!("spend-{id}.sqlite")))
            .env("QUITTANCE_AGENT_KEY", hex_key(&agent))
            .output()?;
        assert!(output.status.success(), "chain {id}: {}", String::from_utf8_lossy(&output.stderr));
        let paid: Value = serde_json::from_slice(&output.stdout)?;
        assert_eq!(paid["status"], 200, "{paid}");
        assert_eq!(paid["receipt"]["network"], format!("eip155:{id}"), "{paid}");
        let token = quittance_deploy::Manifest::read(&manifest)?.address("TestStablecoin").expect("a token");
        let rpc = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
        let balance = quittance_bindings::TestStablecoin::new(token, rpc).balanceOf(payee).call().await?;
        assert_eq!(balance, U256::from(10_000u64), "chain {id}: exactly the price");
    }
    Ok(())
}
