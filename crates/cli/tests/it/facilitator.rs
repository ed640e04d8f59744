//! `quittance facilitator` as a user runs it: a process serving HTTP against anvil.

use quittance_chain::anvil::spawn_anvil;
use serde_json::Value;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
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
    assert_eq!(supported["kinds"].as_array().map(Vec::len), Some(2));
    assert!(dir.path().join("ledger.sqlite").exists(), "the ledger file is created");
    Ok(())
}
