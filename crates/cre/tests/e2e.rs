//! The CRE path on anvil, end to end: a payment authorized in escrow, a delivery report on chain, the
//! local DON's signed report through Chainlink's real KeystoneForwarder, the workflow operator capturing
//! (or voiding); and the rejections, none of which moves money.

use alloy::{
    primitives::{Address, B256, Bytes, U256, aliases::U48, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use quittance_bindings::{
    PaymentEscrow, TestStablecoin, WorkflowOperator, payment_escrow::IPaymentEscrow::PaymentTerms, relayout,
};
use quittance_chain::{Chain, ChainError, Receipt, RpcChain, Sender, anvil::spawn_anvil, read};
use quittance_cre::{Action, Delivery, LocalDon, Workflow, decide, deploy_operator, execution_id, report_body};
use quittance_x402::escrow;
use std::time::Instant;

const AMOUNT: u64 = 2_500_000;

struct Setup {
    chain: RpcChain,
    token: Address,
    escrow: Address,
    forwarder: Address,
    operator: Address,
    payer: PrivateKeySigner,
    payee: PrivateKeySigner,
    relayer: PrivateKeySigner,
    don: LocalDon,
    workflow: Workflow,
}

async fn balance(chain: &RpcChain, token: Address, account: Address) -> eyre::Result<U256> {
    Ok(read(chain, token, TestStablecoin::balanceOfCall { account }).await?)
}

async fn setup(anvil: &alloy::node_bindings::AnvilInstance) -> eyre::Result<Setup> {
    let chain = RpcChain::http(anvil.endpoint_url());
    let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| PrivateKeySigner::from(k.clone())).collect();
    let (owner, relayer, payer, payee) = (keys[0].clone(), keys[1].clone(), keys[2].clone(), keys[3].clone());
    let manifest = quittance_deploy::deploy(&chain, &owner, owner.address(), &[payer.address()], |_| {}).await?;
    let token = manifest.address("TestStablecoin").expect("a token");
    let escrow = manifest.address("PaymentEscrow").expect("an escrow");

    // The DON's forwarder, owned by the relayer, and the operator pinned to one workflow.
    let don = LocalDon::new("quittance test don", 1)?;
    let workflow =
        Workflow { owner: keys[5].address(), name: "quittance-delivery".into(), id: keccak256("delivery workflow v1") };
    let mut sender = Sender::new(&chain, &relayer).await?;
    let forwarder = don.deploy_forwarder(&mut sender).await?;
    let operator = deploy_operator(&mut sender, escrow, forwarder, &workflow, false).await?;
    Ok(Setup { chain, token, escrow, forwarder, operator, payer, payee, relayer, don, workflow })
}

impl Setup {
    /// Terms naming the workflow operator, and the payer's funds authorized into escrow for them.
    async fn authorized(&self, salt: &str) -> eyre::Result<PaymentTerms> {
        let now = self.chain.timestamp().await?;
        let terms = PaymentTerms {
            operator: self.operator,
            payer: self.payer.address(),
            payee: self.payee.address(),
            token: self.token,
            maxAmount: U256::from(AMOUNT),
            preApprovalExpiry: U48::from(now + 600),
            authorizationExpiry: U48::from(now + 7200),
            refundExpiry: U48::from(now + 86_400),
            maxFeeBps: 0,
            feeReceiver: Address::ZERO,
            salt: keccak256(salt),
            invoiceId: B256::ZERO,
        };
        let id = read(&self.chain, self.escrow, PaymentEscrow::paymentIdCall { terms: terms.clone() }).await?;
        // The payment id computed offline is the escrow's.
        let offline: escrow::PaymentTerms = relayout(&terms);
        assert_eq!(offline.id(31337, self.escrow), id);
        let amount = U256::from(AMOUNT);
        let data = escrow::sign_authorization(
            &offline,
            amount,
            0,
            now + 600,
            31337,
            self.escrow,
            "USD Coin",
            "2",
            &self.payer,
        )?;
        let call = PaymentEscrow::authorizeCall { terms: terms.clone(), amount, method: 0, data };
        Sender::new(&self.chain, &self.relayer).await?.send(self.escrow, call.abi_encode().into()).await?;
        Ok(terms)
    }

    /// `who` reports on the payment's delivery; returns the receipt holding the trigger event.
    async fn report_delivery(
        &self,
        who: &PrivateKeySigner,
        terms: &PaymentTerms,
        delivered: bool,
    ) -> eyre::Result<Receipt> {
        let call = WorkflowOperator::reportDeliveryCall { terms: relayout(terms), delivered };
        Ok(Sender::new(&self.chain, who).await?.send(self.operator, call.abi_encode().into()).await?)
    }

    /// The local DON acts on the receipt's trigger event; returns whether the operator accepted the report.
    async fn act_on(&self, receipt: &Receipt) -> eyre::Result<bool> {
        let log = receipt.logs.iter().find(|l| l.address == self.operator).expect("a DeliveryReported log");
        let event_time = self.chain.timestamp().await?;
        let mut sender = Sender::new(&self.chain, &self.relayer).await?;
        let done = self
            .don
            .on_delivery(&mut sender, &self.workflow, self.forwarder, log, receipt.transaction_hash, 0, event_time)
            .await?
            .expect("a delivery report");
        match done.1 {
            Delivery::Sent(sent) => Ok(sent.accepted),
            Delivery::AlreadyDelivered => eyre::bail!("a new trigger was taken for an old one"),
        }
    }

    async fn balances(&self) -> eyre::Result<[U256; 3]> {
        Ok([
            balance(&self.chain, self.token, self.payer.address()).await?,
            balance(&self.chain, self.token, self.payee.address()).await?,
            balance(&self.chain, self.token, self.escrow).await?,
        ])
    }

    /// A raw report for `terms` with `action`, as the DON would sign it, with `edit` applied to the
    /// instruction first.
    fn raw(
        &self,
        terms: &PaymentTerms,
        workflow: &Workflow,
        execution: &str,
        edit: impl FnOnce(&mut quittance_cre::Instruction),
    ) -> Bytes {
        let event = quittance_cre::DeliveryReported {
            paymentId: B256::ZERO,
            reporter: self.payer.address(),
            delivered: true,
            terms: relayout(terms),
        };
        let mut instruction = decide(&event, 31337, self.operator, now());
        edit(&mut instruction);
        self.don.raw_report(keccak256(execution), now() as u32, workflow, &report_body(&instruction))
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

#[tokio::test]
async fn a_delivery_report_captures_and_giving_up_voids_through_the_real_forwarder() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    let s = setup(&anvil).await?;

    // The payer confirms delivery: the payee is paid everything held.
    let terms = s.authorized("job 1").await?;
    let before = s.balances().await?;
    let started = Instant::now();
    let trigger = s.report_delivery(&s.payer.clone(), &terms, true).await?;
    assert!(s.act_on(&trigger).await?, "the operator accepted the report");
    println!("event to payout on anvil: {:?}", started.elapsed());
    let after = s.balances().await?;
    assert_eq!(after[1], before[1] + U256::from(AMOUNT));
    assert_eq!(after[2], before[2] - U256::from(AMOUNT));

    // The payee gives up on another job: everything goes back to the payer.
    let terms = s.authorized("job 2").await?;
    let before = s.balances().await?;
    let trigger = s.report_delivery(&s.payee.clone(), &terms, false).await?;
    assert!(s.act_on(&trigger).await?);
    let after = s.balances().await?;
    assert_eq!(after[0], before[0] + U256::from(AMOUNT));
    assert_eq!(after[1], before[1]);
    Ok(())
}

#[tokio::test]
async fn bad_reports_move_no_money() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    let s = setup(&anvil).await?;
    let terms = s.authorized("job").await?;
    let held = s.balances().await?;
    let mut sender = Sender::new(&s.chain, &s.relayer).await?;
    let context = s.don.report_context(1);
    let mut refused_by_forwarder = 0;
    let mut refused_by_operator = 0;

    // The forwarder refuses: a signer outside the DON, too few signatures.
    let raw = s.raw(&terms, &s.workflow, "outsider", |_| {});
    let outsiders = LocalDon::new("someone else", 1)?.sign(&raw, &context, 2)?;
    let mut mixed = s.don.sign(&raw, &context, 1)?;
    mixed.extend(outsiders.into_iter().take(1));
    for signatures in [mixed, s.don.sign(&raw, &context, 1)?] {
        let sent = s.don.transmit(&mut sender, s.forwarder, s.operator, raw.clone(), context.clone(), signatures).await;
        assert!(matches!(sent, Err(quittance_cre::CreError::Chain(ChainError::Reverted { .. }))), "{sent:?}");
        refused_by_forwarder += 1;
    }

    // The operator refuses (the forwarder records a failed transmission): another chain, another operator,
    // an expired deadline, an unpinned workflow owner.
    let stranger = Workflow { owner: s.payee.address(), ..s.workflow.clone() };
    let cases: Vec<(&str, Bytes)> = vec![
        ("other chain", s.raw(&terms, &s.workflow, "chain", |i| i.chainId = U256::from(1))),
        ("other operator", s.raw(&terms, &s.workflow, "operator", |i| i.operator = s.escrow)),
        ("expired", s.raw(&terms, &s.workflow, "expired", |i| i.deadline = 1)),
        ("unpinned owner", s.raw(&terms, &stranger, "owner", |_| {})),
    ];
    for (case, raw) in cases {
        let signatures = s.don.sign(&raw, &context, s.don.quorum())?;
        let sent = s.don.transmit(&mut sender, s.forwarder, s.operator, raw, context.clone(), signatures).await?;
        assert!(!sent.accepted, "{case} was accepted");
        refused_by_operator += 1;
    }
    assert_eq!(s.balances().await?, held, "nothing moved");

    // A good report captures once; the same report again and a second report for the payment do not.
    let raw = s.raw(&terms, &s.workflow, "good", |_| {});
    let signatures = s.don.sign(&raw, &context, 2)?;
    let sent =
        s.don.transmit(&mut sender, s.forwarder, s.operator, raw.clone(), context.clone(), signatures.clone()).await?;
    assert!(sent.accepted);
    let paid = s.balances().await?;
    assert_eq!(paid[1], held[1] + U256::from(AMOUNT));
    let replay = s.don.transmit(&mut sender, s.forwarder, s.operator, raw, context.clone(), signatures).await;
    assert!(matches!(replay, Err(quittance_cre::CreError::Chain(ChainError::Reverted { .. }))), "{replay:?}");
    refused_by_forwarder += 1;
    let void = s.raw(&terms, &s.workflow, "second", |i| i.action = Action::Void as u8);
    let signatures = s.don.sign(&void, &context, 2)?;
    assert!(!s.don.transmit(&mut sender, s.forwarder, s.operator, void, context, signatures).await?.accepted);
    refused_by_operator += 1;
    assert_eq!(s.balances().await?, paid, "nothing moved after the capture");
    assert_eq!((refused_by_forwarder, refused_by_operator), (3, 5));
    // The execution id is per workflow and trigger.
    assert_ne!(execution_id(&s.workflow, B256::ZERO, 0), execution_id(&s.workflow, B256::ZERO, 1));
    Ok(())
}

#[tokio::test]
async fn an_operator_with_a_zero_escrow_forwarder_or_owner_is_refused() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    let s = setup(&anvil).await?;
    let mut sender = Sender::new(&s.chain, &s.relayer).await?;
    let nobody = Workflow { owner: Address::ZERO, ..s.workflow.clone() };
    for (escrow, forwarder, workflow, what) in [
        (Address::ZERO, s.forwarder, &s.workflow, "escrow"),
        (s.escrow, Address::ZERO, &s.workflow, "forwarder"),
        (s.escrow, s.forwarder, &nobody, "workflow owner"),
    ] {
        let deployed = deploy_operator(&mut sender, escrow, forwarder, workflow, false).await;
        assert!(matches!(deployed, Err(quittance_cre::CreError::ZeroAddress(w)) if w == what), "{deployed:?}");
    }
    // Sent anyway, the constructor refuses it on chain.
    let constructor = WorkflowOperator::constructorCall {
        escrow_: s.escrow,
        forwarder_: s.forwarder,
        workflowOwner: Address::ZERO,
        workflowName: s.workflow.encoded_name(),
        workflowId: B256::ZERO,
    };
    let init =
        [WorkflowOperator::BYTECODE.as_ref(), &alloy::sol_types::SolConstructor::abi_encode(&constructor)].concat();
    let created = sender.create(init.into(), 3_000_000).await;
    assert!(matches!(created, Err(ChainError::Failed { .. })), "{created:?}");
    Ok(())
}
