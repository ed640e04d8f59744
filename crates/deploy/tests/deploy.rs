//! Deploying from an empty anvil: deterministic addresses, a manifest, nothing sent the second time.

use alloy::signers::local::PrivateKeySigner;
use quittance_chain::{Chain, RpcChain, anvil::spawn_anvil_with_chain_id};
use quittance_deploy::{Event, Manifest, deploy, plan};

#[tokio::test]
async fn deploys_at_the_same_addresses_on_every_chain_and_skips_what_is_there() -> eyre::Result<()> {
    let mut manifests = Vec::new();
    for chain_id in [31337, 1337] {
        let anvil = spawn_anvil_with_chain_id(chain_id)?;
        let chain = RpcChain::http(anvil.endpoint_url());
        let signer = PrivateKeySigner::from(anvil.keys()[0].clone());
        let funded = anvil.addresses()[5];
        let mut events = Vec::new();
        let manifest = deploy(&chain, &signer, signer.address(), &[funded], |e| events.push(e)).await?;
        assert_eq!(events.iter().filter(|e| matches!(e, Event::Deployed(..))).count(), 4);
        assert!(events.iter().any(|e| matches!(e, Event::SettlerAllowed(_))));
        assert!(events.contains(&Event::Funded(funded)));
        for step in plan(signer.address(), chain_id) {
            assert_eq!(manifest.address(step.name), Some(step.address));
            assert!(!chain.code(step.address).await?.is_empty());
        }
        assert_eq!(manifest.settlers.values().collect::<Vec<_>>(), ["Escrow"]);

        // Again: nothing is sent, and the manifest names the same contracts.
        let nonce = chain.pending_nonce(signer.address()).await?;
        let mut again = Vec::new();
        let second = deploy(&chain, &signer, signer.address(), &[funded], |e| again.push(e)).await?;
        assert_eq!(chain.pending_nonce(signer.address()).await?, nonce, "nothing sent");
        assert!(again.iter().all(|e| matches!(e, Event::Present(..))), "{again:?}");
        for (name, deployed) in &manifest.contracts {
            assert_eq!(second.contracts[name].address, deployed.address);
            assert_eq!(second.contracts[name].code_hash, deployed.code_hash);
        }

        // The manifest round-trips through its file.
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("deployments").join(format!("{chain_id}.json"));
        manifest.write(&path)?;
        assert_eq!(Manifest::read(&path)?, manifest);
        manifests.push(manifest);
    }
    assert_eq!(
        manifests[0].contracts.values().map(|d| d.address).collect::<Vec<_>>(),
        manifests[1].contracts.values().map(|d| d.address).collect::<Vec<_>>(),
        "the same addresses on both chains"
    );
    Ok(())
}

#[tokio::test]
async fn code_that_is_not_the_artifacts_is_refused() {
    let artifact = quittance_bindings::InvoiceRegistry::DEPLOYED_BYTECODE.to_vec();
    assert!(quittance_deploy::matches_artifact("InvoiceRegistry", &artifact));
    let mut tampered = artifact.clone();
    let position = tampered.iter().position(|b| *b != 0).unwrap_or_default();
    tampered[position] ^= 0xff;
    assert!(!quittance_deploy::matches_artifact("InvoiceRegistry", &tampered));
    assert!(!quittance_deploy::matches_artifact("InvoiceRegistry", &artifact[1..]));
}
