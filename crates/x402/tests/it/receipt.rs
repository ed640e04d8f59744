use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use quittance_x402::receipt::{PaymentReceipt, ReceiptError, SignedReceipt};

fn receipt() -> PaymentReceipt {
    PaymentReceipt {
        network: "eip155:31337".into(),
        transaction: keccak256("tx"),
        blockNumber: 7,
        payer: Address::repeat_byte(1),
        payee: Address::repeat_byte(2),
        token: Address::repeat_byte(3),
        amount: U256::from(10_000u64),
        invoiceId: B256::ZERO,
    }
}

#[test]
fn a_signed_receipt_verifies_offline_and_names_its_facilitator() {
    let facilitator = PrivateKeySigner::random();
    let signed = SignedReceipt::sign(receipt(), &facilitator).expect("signs");
    assert_eq!(signed.facilitator, facilitator.address());
    signed.verify(None).expect("valid");
    signed.verify(Some(facilitator.address())).expect("the expected facilitator");
    let json = serde_json::to_value(&signed).expect("serializes");
    assert_eq!(serde_json::from_value::<SignedReceipt>(json).expect("round trip"), signed);
}

#[test]
fn tampered_or_foreign_receipts_are_refused() {
    let facilitator = PrivateKeySigner::random();
    let signed = SignedReceipt::sign(receipt(), &facilitator).expect("signs");

    let mut more = signed.clone();
    more.receipt.amount = U256::from(20_000u64);
    assert_eq!(more.verify(None), Err(ReceiptError::Signature(facilitator.address())));

    let mut other_chain = signed.clone();
    other_chain.receipt.network = "eip155:1".into();
    assert!(other_chain.verify(None).is_err());

    let mut impostor = signed.clone();
    impostor.facilitator = Address::repeat_byte(9);
    assert!(impostor.verify(None).is_err());

    let stranger = Address::repeat_byte(8);
    assert_eq!(
        signed.verify(Some(stranger)),
        Err(ReceiptError::Facilitator { found: facilitator.address(), expected: stranger })
    );

    let mut solana = signed;
    solana.receipt.network = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp".into();
    assert!(matches!(solana.verify(None), Err(ReceiptError::Network(_))));
}
