//! Quittance's `AuthCaptureCollector` installed at the canonical v1.1 EIP-3009 token collector: bound to our
//! escrow, and computing the nonce exactly as the official client does (payer zeroed, bound to the chain id and
//! the canonical `AuthCaptureEscrow`).

use alloy::{
    primitives::{
        Address, B256, U256,
        aliases::{U48, U120},
        keccak256,
    },
    sol_types::SolValue,
};
use quittance_bindings::IAuthCaptureCollector;
use quittance_chain::{DevChain, RpcChain, anvil::spawn_anvil_with_chain_id, read, revm::RevmChain};
use quittance_deploy::{AUTH_CAPTURE_EIP3009_COLLECTOR, AUTH_CAPTURE_ESCROW, install_auth_capture};

fn info(payer: Address) -> IAuthCaptureCollector::PaymentInfo {
    IAuthCaptureCollector::PaymentInfo {
        operator: Address::repeat_byte(1),
        payer,
        receiver: Address::repeat_byte(2),
        token: Address::repeat_byte(3),
        maxAmount: U120::from(1_500_000u64),
        preApprovalExpiry: U48::from(1_750_000_300u64),
        authorizationExpiry: U48::from(1_750_003_600u64),
        refundExpiry: U48::from(1_750_086_400u64),
        minFeeBps: 0,
        maxFeeBps: 100,
        feeReceiver: Address::repeat_byte(4),
        salt: U256::from_be_bytes(keccak256("salt").0),
    }
}

/// The nonce as the x402 client computes it: the PaymentInfo hash with the payer zeroed, then
/// `keccak256(abi.encode(chainId, escrow, hash))`.
fn client_nonce(chain_id: u64, i: &IAuthCaptureCollector::PaymentInfo) -> B256 {
    let typehash = keccak256(
        "PaymentInfo(address operator,address payer,address receiver,address token,uint120 maxAmount,uint48 preApprovalExpiry,uint48 authorizationExpiry,uint48 refundExpiry,uint16 minFeeBps,uint16 maxFeeBps,address feeReceiver,uint256 salt)",
    );
    let hash = keccak256(
        (
            typehash,
            i.operator,
            Address::ZERO,
            i.receiver,
            i.token,
            U256::from(i.maxAmount),
            U256::from(i.preApprovalExpiry),
            U256::from(i.authorizationExpiry),
            U256::from(i.refundExpiry),
            U256::from(i.minFeeBps),
            U256::from(i.maxFeeBps),
            i.feeReceiver,
            i.salt,
        )
            .abi_encode(),
    );
    keccak256((U256::from(chain_id), AUTH_CAPTURE_ESCROW, hash).abi_encode())
}

async fn check<C: DevChain>(chain: &C) -> eyre::Result<()> {
    let escrow = Address::repeat_byte(0xee);
    install_auth_capture(chain, escrow).await?;
    install_auth_capture(chain, escrow).await?; // again: harmless
    let chain_id = chain.chain_id().await?;
    let at = AUTH_CAPTURE_EIP3009_COLLECTOR;
    assert_eq!(read(chain, at, IAuthCaptureCollector::escrowCall {}).await?, escrow);
    assert_eq!(read(chain, at, IAuthCaptureCollector::authCaptureEscrowCall {}).await?, AUTH_CAPTURE_ESCROW);
    let payer = Address::repeat_byte(9);
    let nonce = read(chain, at, IAuthCaptureCollector::signatureNonceCall { info: info(payer) }).await?;
    assert_eq!(nonce, client_nonce(chain_id, &info(payer)), "the client's nonce on chain {chain_id}");
    // Payer-agnostic: the same for any payer; anything else in the PaymentInfo changes it.
    assert_eq!(read(chain, at, IAuthCaptureCollector::signatureNonceCall { info: info(Address::ZERO) }).await?, nonce);
    let mut other = info(payer);
    other.maxAmount = U120::from(1_500_001u64);
    assert_ne!(read(chain, at, IAuthCaptureCollector::signatureNonceCall { info: other }).await?, nonce);
    Ok(())
}

#[tokio::test]
async fn installs_on_the_in_process_chain() -> eyre::Result<()> {
    check(&RevmChain::new(8453, 1_750_000_000)).await?;
    check(&RevmChain::new(1337, 1_750_000_000)).await
}

#[tokio::test]
async fn installs_on_anvil() -> eyre::Result<()> {
    let anvil = spawn_anvil_with_chain_id(31337)?;
    check(&RpcChain::http(anvil.endpoint_url())).await
}

fn call(call: impl alloy::sol_types::SolCall) -> alloy::primitives::Bytes {
    call.abi_encode().into()
}

/// A payment as the official client signs it lands in our `PaymentEscrow` through the installed collector;
/// the operator then captures part, voids the rest and refunds part of the capture; a stranger's redemption, a
/// replay, a capture above the authorization and a refund above the capture are each refused, nothing moved.
/// Prints the gas of each operation (the README's figures).
#[tokio::test]
async fn a_client_authorization_lands_in_our_escrow_and_is_captured_voided_and_refunded() -> eyre::Result<()> {
    use alloy::{
        signers::{SignerSync, local::PrivateKeySigner},
        sol_types::{SolConstructor, SolStruct, eip712_domain},
    };
    use quittance_bindings::{IPaymentEscrow, InvoiceRegistry, PaymentEscrow, TestStablecoin};
    use quittance_chain::Sender;
    use quittance_x402::{
        auth_capture::{Extra, Payload},
        channel::ReceiveWithAuthorization,
    };

    let chain = RevmChain::new(31337, 1_750_000_000);
    let key = |name: &str| PrivateKeySigner::from_bytes(&keccak256(name));
    let (owner, operator, payer) = (key("ac owner")?, key("ac operator")?, key("ac payer")?);
    let (receiver, fees) = (key("ac receiver")?.address(), key("ac fees")?.address());
    for account in [owner.address(), operator.address()] {
        chain.set_balance(account, U256::from(10u64).pow(U256::from(20))).await?;
    }
    let mut deployer = Sender::new(&chain, &owner).await?;
    let init = |code: &[u8], args: Vec<u8>| -> alloy::primitives::Bytes { [code, &args].concat().into() };
    let (token, _) = deployer
        .create(
            init(
                &TestStablecoin::BYTECODE,
                TestStablecoin::constructorCall {
                    name_: "USD Coin".into(),
                    symbol_: "USDC".into(),
                    version_: "2".into(),
                    owner_: owner.address(),
                }
                .abi_encode(),
            ),
            8_000_000,
        )
        .await?;
    let (registry, _) = deployer
        .create(
            init(&InvoiceRegistry::BYTECODE, InvoiceRegistry::constructorCall { owner_: owner.address() }.abi_encode()),
            8_000_000,
        )
        .await?;
    let (escrow, _) = deployer
        .create(
            init(&PaymentEscrow::BYTECODE, PaymentEscrow::constructorCall { registry_: registry }.abi_encode()),
            8_000_000,
        )
        .await?;
    deployer
        .send(token, call(TestStablecoin::mintCall { to: payer.address(), amount: U256::from(5_000_000u64) }))
        .await?;
    install_auth_capture(&chain, escrow).await?;

    // What the client builds from the requirements and signs.
    let extra: Extra = serde_json::from_value(serde_json::json!({
        "name": "USD Coin", "version": "2", "captureAuthorizer": operator.address(), "feeRecipient": fees,
        "captureDeadline": 1_750_003_600u64, "refundDeadline": 1_750_086_400u64, "minFeeBps": 0, "maxFeeBps": 100
    }))?;
    let amount = U256::from(1_500_000u64);
    let mut payload = Payload {
        authorization: quittance_x402::exact::Authorization {
            from: payer.address(),
            to: AUTH_CAPTURE_EIP3009_COLLECTOR,
            value: amount,
            valid_after: U256::ZERO,
            valid_before: U256::from(1_750_000_300u64),
            nonce: B256::ZERO,
        },
        signature: Default::default(),
        salt: keccak256("client salt"),
        salt_nonce: None,
    };
    let x402_info = payload.payment_info(&extra, receiver, token, amount);
    payload.authorization.nonce = x402_info.nonce(31337, AUTH_CAPTURE_ESCROW);
    let a = &payload.authorization;
    let message = ReceiveWithAuthorization {
        from: a.from,
        to: a.to,
        value: a.value,
        validAfter: a.valid_after,
        validBefore: a.valid_before,
        nonce: a.nonce,
    };
    let domain = eip712_domain! { name: "USD Coin", version: "2", chain_id: 31337, verifying_contract: token, };
    payload.signature = payer.sign_hash_sync(&message.eip712_signing_hash(&domain))?.as_bytes().into();

    let info = IAuthCaptureCollector::PaymentInfo {
        operator: x402_info.operator,
        payer: x402_info.payer,
        receiver: x402_info.receiver,
        token: x402_info.token,
        maxAmount: x402_info.maxAmount,
        preApprovalExpiry: x402_info.preApprovalExpiry,
        authorizationExpiry: x402_info.authorizationExpiry,
        refundExpiry: x402_info.refundExpiry,
        minFeeBps: x402_info.minFeeBps,
        maxFeeBps: x402_info.maxFeeBps,
        feeReceiver: x402_info.feeReceiver,
        salt: x402_info.salt,
    };
    let at = AUTH_CAPTURE_EIP3009_COLLECTOR;
    assert_eq!(
        read(&chain, at, IAuthCaptureCollector::signatureNonceCall { info: info.clone() }).await?,
        payload.authorization.nonce,
        "our module's nonce is the collector's"
    );
    let balance = |who: Address| {
        let chain = chain.clone();
        async move { read(&chain, token, TestStablecoin::balanceOfCall { account: who }).await }
    };
    let mut op = Sender::new(&chain, &operator).await?;
    // Only the operator may redeem it.
    let stranger = key("ac stranger")?;
    chain.set_balance(stranger.address(), U256::from(10u64).pow(U256::from(20))).await?;
    let refused = Sender::new(&chain, &stranger)
        .await?
        .send(
            at,
            call(IAuthCaptureCollector::authorizeCall { info: info.clone(), signature: payload.signature.clone() }),
        )
        .await;
    assert!(refused.is_err(), "a stranger redeemed it");
    assert_eq!(balance(payer.address()).await?, U256::from(5_000_000u64), "nothing moved");

    let authorized = op
        .send(
            at,
            call(IAuthCaptureCollector::authorizeCall { info: info.clone(), signature: payload.signature.clone() }),
        )
        .await?;
    assert_eq!(balance(payer.address()).await?, U256::from(3_500_000u64));
    assert_eq!(balance(escrow).await?, amount);
    // A replay is refused (the token's nonce is used).
    let replay = op
        .send(
            at,
            call(IAuthCaptureCollector::authorizeCall { info: info.clone(), signature: payload.signature.clone() }),
        )
        .await;
    assert!(replay.is_err(), "a replay redeemed it again");
    assert_eq!(balance(escrow).await?, amount);

    let terms = read(&chain, at, IAuthCaptureCollector::termsCall { info: info.clone() }).await?;
    // The same struct, as the escrow's binding types it.
    let terms = <IPaymentEscrow::PaymentTerms as SolValue>::abi_decode(&terms.abi_encode())?;
    // Capture above the authorization is refused.
    let over = op
        .send(
            escrow,
            call(IPaymentEscrow::captureCall {
                terms: terms.clone(),
                amount: amount + U256::from(1u64),
                fee: U256::ZERO,
                feeReceiver: fees,
            }),
        )
        .await;
    assert!(over.is_err(), "captured above the authorization");
    let captured = op
        .send(
            escrow,
            call(IPaymentEscrow::captureCall {
                terms: terms.clone(),
                amount: U256::from(1_000_000u64),
                fee: U256::ZERO,
                feeReceiver: fees,
            }),
        )
        .await?;
    assert_eq!(balance(receiver).await?, U256::from(1_000_000u64));
    let voided = op.send(escrow, call(IPaymentEscrow::voidCall { terms: terms.clone() })).await?;
    assert_eq!(balance(payer.address()).await?, U256::from(4_000_000u64));
    assert_eq!(balance(escrow).await?, U256::ZERO);
    // After the void only what was captured is refundable, from the operator's own funds: more is refused
    // with nothing moved; the captured part is refunded.
    deployer
        .send(token, call(TestStablecoin::mintCall { to: operator.address(), amount: U256::from(1_000_000u64) }))
        .await?;
    op.send(token, call(TestStablecoin::approveCall { spender: escrow, value: U256::MAX })).await?;
    let over = op
        .send(escrow, call(IPaymentEscrow::refundCall { terms: terms.clone(), amount: U256::from(1_000_001u64) }))
        .await;
    assert!(over.is_err(), "refunded more than was captured");
    assert_eq!(balance(payer.address()).await?, U256::from(4_000_000u64), "nothing moved");
    let refunded = op
        .send(escrow, call(IPaymentEscrow::refundCall { terms: terms.clone(), amount: U256::from(400_000u64) }))
        .await?;
    assert_eq!(
        (balance(payer.address()).await?, balance(operator.address()).await?),
        (U256::from(4_400_000u64), U256::from(600_000u64))
    );
    eprintln!(
        "auth-capture gas: authorize {} capture {} void {} refund {}",
        authorized.gas_used, captured.gas_used, voided.gas_used, refunded.gas_used
    );
    Ok(())
}
