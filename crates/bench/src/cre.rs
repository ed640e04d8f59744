//! `quittance-bench cre`: the CRE path on anvil, from a delivery report mined to the escrow's payout
//! mined, through the local DON stand-in and Chainlink's KeystoneForwarder; with f = 1 and f = 10.

use crate::{ms, summarize};
use alloy::{
    primitives::{Address, B256, U256, aliases::U48, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use eyre::ensure;
use quittance_bindings::{PaymentEscrow, TestStablecoin, WorkflowOperator, relayout};
use quittance_chain::{Chain, RpcChain, Sender, anvil::spawn_anvil, read};
use quittance_cre::{Delivery, LocalDon, Workflow, deploy_operator};
use quittance_x402::escrow;
use std::time::Instant;

const AMOUNT: u64 = 1_000_000;

pub(crate) async fn run(events: usize) -> eyre::Result<()> {
    for f in [1u8, 10] {
        let anvil = spawn_anvil()?;
        let chain = RpcChain::http(anvil.endpoint_url());
        let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| PrivateKeySigner::from(k.clone())).collect();
        let (owner, relayer, payer, payee) = (&keys[0], &keys[1], &keys[2], &keys[3]);
        let manifest = quittance_deploy::deploy(&chain, owner, owner.address(), &[payer.address()], |_| {}).await?;
        let token = manifest.address("TestStablecoin").ok_or_else(|| eyre::eyre!("no token"))?;
        let escrow_address = manifest.address("PaymentEscrow").ok_or_else(|| eyre::eyre!("no escrow"))?;
        let don = LocalDon::new("bench don", f)?;
        let workflow = Workflow { owner: keys[5].address(), name: "delivery".into(), id: keccak256("bench workflow") };
        let mut transmitter = Sender::new(&chain, relayer).await?;
        let forwarder = don.deploy_forwarder(&mut transmitter).await?;
        let operator = deploy_operator(&mut transmitter, escrow_address, forwarder, &workflow, false).await?;
        let mut paying = Sender::new(&chain, payer).await?;

        let (mut latencies, mut gas) = (Vec::new(), Vec::new());
        for i in 0..events {
            let now = chain.timestamp().await?;
            let terms = escrow::PaymentTerms {
                operator,
                payer: payer.address(),
                payee: payee.address(),
                token,
                maxAmount: U256::from(AMOUNT),
                preApprovalExpiry: U48::from(now + 600),
                authorizationExpiry: U48::from(now + 3600),
                refundExpiry: U48::from(now + 7200),
                maxFeeBps: 0,
                feeReceiver: Address::ZERO,
                salt: keccak256(format!("bench job {i}")),
                invoiceId: B256::ZERO,
            };
            let amount = U256::from(AMOUNT);
            let data = escrow::sign_authorization(
                &terms,
                amount,
                0,
                now + 600,
                31337,
                escrow_address,
                "USD Coin",
                "2",
                payer,
            )?;
            let authorize = PaymentEscrow::authorizeCall { terms: relayout(&terms), amount, method: 0, data };
            transmitter.send(escrow_address, authorize.abi_encode().into()).await?;
            let confirm = WorkflowOperator::reportDeliveryCall { terms: relayout(&terms), delivered: true };
            let trigger = paying.send(operator, confirm.abi_encode().into()).await?;
            // From the event on chain to the payout on chain.
            let started = Instant::now();
            let log = trigger.logs.iter().find(|l| l.address == operator).ok_or_else(|| eyre::eyre!("no event"))?;
            let event_time = chain.timestamp().await?;
            let done = don
                .on_delivery(&mut transmitter, &workflow, forwarder, log, trigger.transaction_hash, 0, event_time)
                .await?;
            let Some((_, Delivery::Sent(sent))) = done else { eyre::bail!("no report was sent") };
            latencies.push(started.elapsed());
            ensure!(sent.accepted, "the operator refused report {i}");
            gas.push(sent.receipt.gas_used);
        }
        let paid = read(&chain, token, TestStablecoin::balanceOfCall { account: payee.address() }).await?;
        ensure!(paid == U256::from(AMOUNT * events as u64), "the payee holds {paid}, not every payment");
        let s = summarize(latencies);
        gas.sort_unstable();
        println!(
            "CRE report, f = {f} ({} signers, {} signatures): event to payout median {}, p99 {}; forwarder transaction gas {} (median of {events})",
            3 * usize::from(f) + 1,
            usize::from(f) + 1,
            ms(s.median),
            ms(s.p99),
            gas[gas.len() / 2]
        );
    }
    Ok(())
}
