use alloy::primitives::U256;
use quittance_bindings::TestStablecoin::TestStablecoinErrors;
use quittance_cli::demo;

/// The anvil smoke flow: deploy through the bindings, pay with an EIP-3009 authorization signed with
/// alloy's EIP-712 machinery, check balances and the event, and see a replay refused.
#[tokio::test]
async fn agent_pays_with_eip3009_authorization_and_replay_is_refused() -> eyre::Result<()> {
    let mut narration = Vec::new();
    let report = demo::run(|line| narration.push(line.to_owned())).await?;

    assert_eq!(report.chain_id, 31337);
    let (agent_before, seller_before) = report.balances_before;
    let (agent_after, seller_after) = report.balances_after;
    assert_eq!(agent_before, U256::from(5_000_000u64));
    assert_eq!(seller_before, U256::ZERO);
    assert_eq!(report.amount, U256::from(10_000u64));
    assert_eq!(agent_after, agent_before - report.amount);
    assert_eq!(seller_after, seller_before + report.amount);

    // The token tied the transfer to the signed nonce, and the agent paid no gas.
    assert_eq!(report.authorization_used, (report.agent, report.nonce));
    assert_eq!(report.agent_ether, U256::ZERO);
    assert!(report.gas_used > 21_000);

    match &report.replay_error {
        TestStablecoinErrors::AuthorizationAlreadyUsed(e) => {
            assert_eq!((e.authorizer, e.nonce), (report.agent, report.nonce));
        }
        other => panic!("a replay must fail with AuthorizationAlreadyUsed, got {other:?}"),
    }
    assert!(narration.iter().any(|l| l.contains("AuthorizationAlreadyUsed")), "{narration:#?}");
    Ok(())
}
