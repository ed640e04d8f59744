//! Two anvil chains joined by a local CCIP lane: an agent funded only on chain A pays an invoice on chain
//! B. Chainlink's token admin registry and BurnMintTokenPool on both, the local router stand-in, and the
//! relay in this process; the proof is the registry record on B.

use alloy::{
    primitives::{Address, Bytes, U256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::{SolCall, SolConstructor, SolValue, eip712_domain},
};
use quittance_bindings::{
    CrossChainInvoicePayer, CrossChainInvoiceReceiver, InvoiceRegistry, TestStablecoin,
    cross_chain_invoice_payer::ICrossChainInvoice::CrossChainPayment, relayout,
};
use quittance_ccip::{LaneEnd, RateLimit, connect, deploy_lane_end, messages_sent, relay};
use quittance_chain::{Call, Chain, RpcChain, Sender, anvil::spawn_anvil_with_chain_id};
use quittance_x402::{channel::ReceiveWithAuthorization, invoice};
use std::time::Instant;

const SELECTOR_A: u64 = 3_478_487_238_524_512_106;
const SELECTOR_B: u64 = 16_015_286_601_757_825_753;
const AMOUNT: u64 = 2_500_000;

async fn read<C: Chain, T: SolCall>(chain: &C, to: Address, call: T) -> eyre::Result<T::Return> {
    Ok(T::abi_decode_returns(
        &chain.call(Call { from: Address::ZERO, to, data: call.abi_encode().into(), value: U256::ZERO }).await?,
    )?)
}

async fn balance<C: Chain>(chain: &C, token: Address, account: Address) -> eyre::Result<U256> {
    read(chain, token, TestStablecoin::balanceOfCall { account }).await
}

#[tokio::test]
async fn an_agent_funded_on_a_pays_an_invoice_on_b() -> eyre::Result<()> {
    let (anvil_a, anvil_b) = (spawn_anvil_with_chain_id(31337)?, spawn_anvil_with_chain_id(1337)?);
    let (a, b) = (RpcChain::http(anvil_a.endpoint_url()), RpcChain::http(anvil_b.endpoint_url()));
    let deployer = PrivateKeySigner::from(anvil_a.keys()[0].clone());
    let facilitator = PrivateKeySigner::from(anvil_a.keys()[1].clone());
    let agent = PrivateKeySigner::from_bytes(&keccak256("cross-chain agent"))?;
    let seller = PrivateKeySigner::from_bytes(&keccak256("cross-chain seller"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("cross-chain payee"))?.address();

    // Both ends, and the lane between them (100 tokens in flight, refilling one a second, each way).
    let (mut on_a, mut on_b) = (Sender::new(&a, &deployer).await?, Sender::new(&b, &deployer).await?);
    let end_a: LaneEnd = deploy_lane_end(&mut on_a, SELECTOR_A, "Quittance USD", "1").await?;
    let end_b: LaneEnd = deploy_lane_end(&mut on_b, SELECTOR_B, "Quittance USD", "1").await?;
    let limit = RateLimit { capacity: 100_000_000, rate: 1_000_000 };
    connect(&mut on_a, &end_a, &end_b, limit).await?;
    connect(&mut on_b, &end_b, &end_a, limit).await?;

    // B: Quittance's registry, and the receiver as its CrossChain settler. A: the payer contract.
    let manifest = quittance_deploy::deploy(&b, &deployer, deployer.address(), &[], |_| {}).await?;
    let registry = manifest.address("InvoiceRegistry").expect("a registry");
    let receiver_init = [
        CrossChainInvoiceReceiver::BYTECODE.as_ref(),
        &CrossChainInvoiceReceiver::constructorCall {
            router_: end_b.router,
            registry_: registry,
            owner_: deployer.address(),
        }
        .abi_encode(),
    ]
    .concat();
    let mut on_b = Sender::new(&b, &deployer).await?;
    let (receiver, _) = on_b.create(receiver_init.into(), 5_000_000).await?;
    let payer_init = [
        CrossChainInvoicePayer::BYTECODE.as_ref(),
        &CrossChainInvoicePayer::constructorCall { router_: end_a.router, token_: end_a.token }.abi_encode(),
    ]
    .concat();
    let (payer_contract, _) = on_a.create(payer_init.into(), 5_000_000).await?;
    let settler = InvoiceRegistry::setSettlerCall { settler: receiver, kind: 5 }; // Path.CrossChain
    on_b.send(registry, settler.abi_encode().into()).await?;
    let allow = CrossChainInvoiceReceiver::setAllowedSenderCall {
        sourceChainSelector: SELECTOR_A,
        sender: payer_contract,
        allowed: true,
    };
    on_b.send(receiver, allow.abi_encode().into()).await?;
    let mint = TestStablecoin::mintCall { to: agent.address(), amount: U256::from(10 * AMOUNT) };
    on_a.send(end_a.token, mint.abi_encode().into()).await?;

    // The seller's invoice on B, in B's token.
    let now = b.timestamp().await?;
    let the_invoice = invoice::Invoice {
        issuer: seller.address(),
        payee,
        token: end_b.token,
        amount: U256::from(AMOUNT),
        deadline: U256::from(now + 600),
        resource: invoice::resource_hash("http://b.local/report"),
        network: "eip155:1337".into(),
        salt: keccak256("cross-chain order"),
    };
    let id = the_invoice.id(1337, registry);
    let payment = CrossChainPayment {
        invoice: relayout(&the_invoice),
        issuerSignature: Bytes::from(seller.sign_hash_sync(&id)?.as_bytes().to_vec()),
        payer: agent.address(),
        refundTo: agent.address(),
    };

    // The agent signs on A; the facilitator submits (the agent holds no ether on either chain).
    let nonce = read(
        &a,
        payer_contract,
        CrossChainInvoicePayer::paymentNonceCall {
            destinationChainSelector: SELECTOR_B,
            receiver,
            payment: payment.clone(),
        },
    )
    .await?;
    let valid_before = a.timestamp().await? + 600;
    let message = ReceiveWithAuthorization {
        from: agent.address(),
        to: payer_contract,
        value: U256::from(AMOUNT),
        validAfter: U256::ZERO,
        validBefore: U256::from(valid_before),
        nonce,
    };
    let domain =
        eip712_domain! { name: "Quittance USD", version: "1", chain_id: 31337, verifying_contract: end_a.token, };
    let signature = agent.sign_typed_data_sync(&message, &domain)?;
    let authorization =
        (U256::ZERO, U256::from(valid_before), Bytes::from(signature.as_bytes().to_vec())).abi_encode_params();
    let pay = CrossChainInvoicePayer::payWithAuthorizationCall {
        destinationChainSelector: SELECTOR_B,
        receiver,
        payment,
        authorization: authorization.into(),
        gasLimit: U256::from(500_000),
    };
    let started = Instant::now();
    let sent = Sender::new(&a, &facilitator).await?.send(payer_contract, pay.abi_encode().into()).await?;
    let messages = messages_sent(end_a.router, &sent.logs);
    assert_eq!(messages.len(), 1);
    let executed = relay(&mut Sender::new(&b, &deployer).await?, &end_b, messages[0].clone()).await?;
    println!(
        "send on A {} gas, execute on B {} gas, {:?} from send to paid",
        sent.gas_used,
        executed.gas_used,
        started.elapsed()
    );

    // The proof is on B; the money left A.
    let record = read(&b, registry, InvoiceRegistry::recordOfCall { id }).await?;
    assert_eq!(record.payer, agent.address());
    assert_eq!(record.path, 5, "recorded as a cross-chain payment");
    assert_eq!(balance(&b, end_b.token, payee).await?, U256::from(AMOUNT));
    assert_eq!(balance(&a, end_a.token, agent.address()).await?, U256::from(9 * AMOUNT));
    assert_eq!(read(&a, end_a.token, TestStablecoin::totalSupplyCall {}).await?, U256::from(9 * AMOUNT), "burned on A");
    assert_eq!(a.pending_nonce(agent.address()).await? + b.pending_nonce(agent.address()).await?, 0, "no gas spent");
    Ok(())
}
