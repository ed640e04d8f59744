//! Permit2 payments from a wallet that never approved Permit2, on the in-process chain with the real
//! facilitator: where the server declares `eip2612GasSponsoring`, the agent signs an EIP-2612 permit along
//! and the facilitator approves and settles in one transaction; where it does not, the agent asks its
//! operator to approve Permit2 once, and pays nothing.

use super::local::{Local, PRICE, Proxy};
use alloy::primitives::U256;
use quittance_agent::{AgentError, SpendRecord, SpendState};
use quittance_bindings::TestStablecoin;
use quittance_chain::read;
use quittance_x402::{eip2612_gas_sponsoring, permit2::PERMIT2_ADDRESS};
use std::sync::{Arc, atomic::Ordering};

#[tokio::test]
async fn an_unapproved_wallet_pays_upto_with_a_permit_where_the_server_sponsors_and_is_told_to_approve_elsewhere()
-> eyre::Result<()> {
    let local = Local::new().await?;
    let proxy = Proxy::with_plan([]);
    let (base, served) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let agent = local.agent_with_chain(&local.agent_key(), &record, local.policy(10 * PRICE));
    let allowance = || {
        read(
            &local.chain,
            local.token,
            TestStablecoin::allowanceCall { owner: local.agent.address(), spender: PERMIT2_ADDRESS },
        )
    };
    assert_eq!(allowance().await?, U256::ZERO, "never approved");

    // `exact` over Permit2 without sponsoring: refused before anything is signed, with what to do.
    let err = agent.get(&format!("{base}/permit2")).await.expect_err("needs an approval");
    assert!(matches!(err, AgentError::Permit2Approval { .. }), "{err:?}");
    assert!(err.to_string().contains("approve"), "{err}");
    assert!(proxy.seen().is_empty(), "nothing was sent");

    // `upto` with sponsoring: the payment carries an EIP-2612 permit of the maximum to Permit2.
    let paid = agent.get(&format!("{base}/metered")).await?;
    assert_eq!(paid.response.status(), 200);
    assert_eq!(paid.state, Some(SpendState::Settled));
    let payment = paid.payment.expect("the payment");
    assert_eq!(payment.accepted.scheme, "upto");
    let permit = payment.extensions.as_ref().and_then(|e| e.get(eip2612_gas_sponsoring::EIP2612_GAS_SPONSORING));
    assert!(permit.is_some(), "an EIP-2612 permit went along: {:?}", payment.extensions);
    assert_eq!(served.load(Ordering::SeqCst), 1);
    // No usage reported: the maximum is settled, and the permit's approval is spent by it.
    assert_eq!(local.balance(local.payee).await?, U256::from(PRICE));
    assert_eq!(allowance().await?, U256::ZERO);
    Ok(())
}
