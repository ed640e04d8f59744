use alloy::primitives::U256;
use quittance_cli::demo;

/// The demo is the whole loop: 402 with invoice and exact options, the agent pays the invoice, is served,
/// the registry holds the proof, and a replay gets the same answer and charges nothing.
#[tokio::test]
async fn the_demo_buys_a_paid_api_and_leaves_a_proof_in_process_and_on_anvil() -> eyre::Result<()> {
    for on in [demo::DemoChain::InProcess, demo::DemoChain::Anvil] {
        the_demo_on(on).await?;
    }
    Ok(())
}

async fn the_demo_on(on: demo::DemoChain) -> eyre::Result<()> {
    let mut narration = Vec::new();
    let report = demo::run(on, |line| narration.push(line.to_owned())).await?;

    assert_eq!(report.chain_id, 31337);
    assert_eq!(report.offered, ["exact", "invoice"]);
    assert_eq!(report.paid_with, "invoice");
    assert_eq!(report.body["report"], "markets are up");
    let [(agent_before, payee_before), (agent_after, payee_after)] = report.balances;
    assert_eq!(agent_before - agent_after, U256::from(10_000u64));
    assert_eq!(payee_after - payee_before, U256::from(10_000u64));
    assert_eq!(report.proof.0, report.agent, "the registry names the agent as payer");
    assert!(report.proof.1 > 0);
    assert_eq!(report.agent_transactions, 0, "the agent sent no transaction: it paid no gas");
    assert_eq!((report.replay.0, &report.replay.1), (200, &report.body), "a replay gets the same answer");
    assert_eq!(report.replay.2, report.balances[1], "and charges nothing more");
    assert!(report.transaction.starts_with("0x") && report.transaction.len() == 66);
    assert!(narration.iter().any(|l| l.contains("402")), "{narration:#?}");
    Ok(())
}
