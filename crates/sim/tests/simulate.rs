//! Simulations on the in-process chain and on anvil: they reconcile, repeat for a seed, and agree.

use quittance_chain::{Chain, RpcChain, anvil::spawn_anvil, revm::RevmChain};
use quittance_sim::{Report, Scenario, run};

/// A scenario small enough for a test that still reaches every path: both schemes, late payments,
/// failing handlers, a poor agent, exhausted budgets, and every fate of an escrowed job.
fn scenario(seed: u64) -> Scenario {
    Scenario {
        seed,
        agents: 4,
        steps: 160,
        budget: 300_000,
        late_permille: 60,
        handler_error_permille: 60,
        job_permille: 150,
        ..Scenario::default()
    }
}

async fn on_revm(scenario: &Scenario) -> eyre::Result<Report> {
    Ok(run(RevmChain::new(31337, 1_750_000_000), "revm", scenario, |_, _| {}).await?)
}

#[tokio::test]
async fn a_scenario_reconciles_and_repeats_for_its_seed() -> eyre::Result<()> {
    let mut steps = 0;
    let report = run(RevmChain::new(31337, 1_750_000_000), "revm", &scenario(7), |done, total| {
        assert_eq!((done, total), (steps + 1, 160));
        steps = done;
    })
    .await?;
    println!("{report}");
    let o = &report.outcome;
    assert!(report.reconciled(), "{:?}", o.mismatches);
    assert_eq!(steps, 160);
    // Every path was taken.
    assert!(o.paid["exact"] > 0 && o.paid["invoice"] > 0, "{:?}", o.paid);
    assert!(o.handler_errors > 0);
    for reason in ["invalid_exact_evm_payload_authorization_valid_before", "invalid_invoice_expired"] {
        assert!(o.refused.contains_key(reason), "no {reason} in {:?}", o.refused);
    }
    assert!(o.refused.keys().any(|r| r.starts_with("policy:")), "{:?}", o.refused);
    assert!(o.refused.keys().any(|r| r.contains("insufficient")), "{:?}", o.refused);
    let jobs = &o.jobs;
    assert!(jobs.captured > 0 && jobs.voided > 0 && jobs.refunded > 0, "{jobs:?}");
    assert_eq!(jobs.authorized, jobs.captured + jobs.voided + jobs.refunded);
    // Money is conserved, and the escrow and registry keep nothing.
    assert_eq!(o.parties.iter().map(|p| p.change()).sum::<i128>(), 0);
    for party in o.parties.iter().filter(|p| ["escrow", "registry", "facilitator"].contains(&p.role.as_str())) {
        assert_eq!(party.change(), 0, "{}", party.role);
    }
    let paid: u32 = o.paid.values().sum();
    let settlements = o.transactions.iter().filter(|t| t.kind.starts_with("settle")).count();
    assert_eq!(settlements, paid as usize, "one settlement per paid request");

    // The same seed, the same run; another seed, another.
    assert_eq!(on_revm(&scenario(7)).await?.outcome, report.outcome);
    assert_ne!(on_revm(&scenario(8)).await?.outcome, report.outcome);
    Ok(())
}

/// The same scenario on anvil and on the in-process chain: the same payments, refusals, balances, events
/// and gas used per transaction. A difference is a bug in one of them.
#[tokio::test]
async fn anvil_and_the_in_process_chain_agree_on_a_scenario() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    let rpc = RpcChain::http(anvil.endpoint_url());
    let scenario = Scenario { steps: 60, ..scenario(11) };
    let revm = RevmChain::new(31337, rpc.timestamp().await?);
    let on_anvil = run(rpc, "anvil", &scenario, |_, _| {}).await?;
    let on_revm = run(revm, "revm", &scenario, |_, _| {}).await?;
    assert!(on_anvil.reconciled(), "{:?}", on_anvil.outcome.mismatches);
    assert!(on_anvil.outcome.jobs.authorized > 0 && on_anvil.outcome.paid.len() == 2, "{on_anvil}");
    assert_eq!(on_anvil.outcome, on_revm.outcome);
    Ok(())
}

#[tokio::test]
async fn a_bad_scenario_is_refused_before_anything_runs() {
    let bad = Scenario { endpoints: 0, ..Scenario::default() };
    let err = on_revm(&bad).await.expect_err("no endpoints");
    assert_eq!(err.to_string(), "the scenario needs at least one endpoint");
}
