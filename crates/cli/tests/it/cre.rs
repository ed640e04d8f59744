//! `quittance cre deploy` and `quittance cre run` as a user runs them against anvil: a payment escrowed
//! with the workflow operator, the payer confirming delivery, and the stand-in's report capturing it.

use crate::commands::hex_key;
use alloy::{
    primitives::{Address, B256, U256, aliases::U48, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use quittance_bindings::{PaymentEscrow, TestStablecoin, WorkflowOperator, relayout};
use quittance_chain::{Chain, RpcChain, Sender, anvil::spawn_anvil, read};
use quittance_cre::LocalSetup;
use quittance_x402::escrow;
use std::process::Command;

const AMOUNT: u64 = 1_250_000;

#[tokio::test]
async fn cre_deploy_and_run_capture_a_payment_when_the_payer_confirms_delivery() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| PrivateKeySigner::from(k.clone())).collect();
    let (owner, don_key, payer, payee, relayer) = (&keys[0], &keys[1], &keys[2], &keys[3], &keys[4]);
    let dir = tempfile::tempdir()?;
    let (manifest, setup_path) = (dir.path().join("31337.json"), dir.path().join("cre.json"));
    let quittance = env!("CARGO_BIN_EXE_quittance");
    let rpc = anvil.endpoint();

    let deployed = Command::new(quittance)
        .args(["deploy", "--rpc-url", rpc.as_str(), "--fund", &payer.address().to_string(), "--out"])
        .arg(&manifest)
        .env("QUITTANCE_DEPLOYER_KEY", hex_key(owner))
        .output()?;
    assert!(deployed.status.success(), "{}", String::from_utf8_lossy(&deployed.stderr));
    let cre = |args: &[&str]| {
        Command::new(quittance).arg("cre").args(args).env("QUITTANCE_DON_KEY", hex_key(don_key)).output()
    };
    let workflow_owner = keys[5].address().to_string();
    let setup = cre(&[
        "deploy",
        "--rpc-url",
        rpc.as_str(),
        "--deployment",
        manifest.to_str().expect("utf-8"),
        "--workflow-owner",
        &workflow_owner,
        "--workflow-name",
        "quittance-delivery",
        "--out",
        setup_path.to_str().expect("utf-8"),
    ])?;
    assert!(setup.status.success(), "{}", String::from_utf8_lossy(&setup.stderr));
    assert!(String::from_utf8_lossy(&setup.stdout).contains("KeystoneForwarder"));
    let setup: LocalSetup = serde_json::from_str(&std::fs::read_to_string(&setup_path)?)?;
    assert_eq!(setup.signers.len(), 4);

    // A payment escrowed with the workflow operator as its operator.
    let chain = RpcChain::http(anvil.endpoint_url());
    let now = chain.timestamp().await?;
    let terms = escrow::PaymentTerms {
        operator: setup.operator,
        payer: payer.address(),
        payee: payee.address(),
        token: quittance_deploy::Manifest::read(&manifest)?.address("TestStablecoin").expect("a token"),
        maxAmount: U256::from(AMOUNT),
        preApprovalExpiry: U48::from(now + 600),
        authorizationExpiry: U48::from(now + 3600),
        refundExpiry: U48::from(now + 7200),
        maxFeeBps: 0,
        feeReceiver: Address::ZERO,
        salt: keccak256("cli job"),
        invoiceId: B256::ZERO,
    };
    let amount = U256::from(AMOUNT);
    let data = escrow::sign_authorization(&terms, amount, 0, now + 600, 31337, setup.escrow, "USD Coin", "2", payer)?;
    let authorize = PaymentEscrow::authorizeCall { terms: relayout(&terms), amount, method: 0, data };
    Sender::new(&chain, relayer).await?.send(setup.escrow, authorize.abi_encode().into()).await?;
    let confirm = WorkflowOperator::reportDeliveryCall { terms: relayout(&terms), delivered: true };
    Sender::new(&chain, payer).await?.send(setup.operator, confirm.abi_encode().into()).await?;

    let ran = cre(&["run", "--rpc-url", rpc.as_str(), "--setup", setup_path.to_str().expect("utf-8"), "--once"])?;
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let printed = String::from_utf8_lossy(&ran.stdout);
    assert!(printed.contains("capture accepted"), "{printed}");
    let paid = TestStablecoin::balanceOfCall { account: payee.address() };
    assert_eq!(read(&chain, terms.token, paid.clone()).await?, amount, "the payee was paid");

    // Run again from the start (a restarted watcher): that report was delivered; nothing more moves.
    let again = cre(&["run", "--rpc-url", rpc.as_str(), "--setup", setup_path.to_str().expect("utf-8"), "--once"])?;
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stdout).contains("capture already delivered"));
    assert_eq!(read(&chain, terms.token, paid).await?, amount);
    Ok(())
}

#[tokio::test]
async fn cre_refuses_a_chain_that_is_not_local() -> eyre::Result<()> {
    let anvil = quittance_chain::anvil::spawn_anvil_with_chain_id(8453)?;
    let key = hex_key(&PrivateKeySigner::from(anvil.keys()[0].clone()));
    let output = Command::new(env!("CARGO_BIN_EXE_quittance"))
        .args(["cre", "run", "--rpc-url", anvil.endpoint().as_str(), "--once"])
        .env("QUITTANCE_DON_KEY", key)
        .output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("local chains only"));
    Ok(())
}
