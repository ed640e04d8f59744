//! The shared test vectors (`cre/vectors.json`): the Rust stand-in's decision and report for fixed trigger
//! logs. The TypeScript workflow's tests (`cre/workflow`) check its own decision against the same file, so
//! the two produce byte-identical report bodies. `QUITTANCE_WRITE_VECTORS=1` rewrites the file after an
//! intended change of the format.

use alloy::{
    primitives::{Address, B256, U256, address, aliases::U48, keccak256},
    sol_types::{SolEvent, SolValue},
};
use quittance_cre::{
    DeliveryReported, Instruction, LocalDon, PaymentTerms, Workflow, decide, execution_id, report_body,
};
use serde_json::{Value, json};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../cre/vectors.json");

fn vectors() -> Value {
    let operator = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    let workflow = Workflow {
        owner: address!("0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"),
        name: "quittance-delivery".into(),
        id: keccak256("delivery workflow v1"),
    };
    let don = LocalDon::new("quittance vectors", 1).expect("f = 1");
    let event_time = 1_750_000_000u64;
    let cases = [("payer confirms delivery: capture", true), ("payee gives up: void", false)];
    let mut out = Vec::new();
    for (index, (name, delivered)) in cases.into_iter().enumerate() {
        let terms = PaymentTerms {
            operator,
            payer: address!("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            payee: address!("0x90F79bf6EB2c4f870365E785982E1f101E93b906"),
            token: address!("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"),
            maxAmount: U256::from(2_500_000 + index),
            preApprovalExpiry: U48::from(event_time + 600),
            authorizationExpiry: U48::from(event_time + 7200),
            refundExpiry: U48::from(event_time + 86_400),
            maxFeeBps: 0,
            feeReceiver: Address::ZERO,
            salt: keccak256(name),
            invoiceId: B256::ZERO,
        };
        let reporter = if delivered { terms.payer } else { terms.payee };
        let event = DeliveryReported { paymentId: keccak256(name.as_bytes()), reporter, delivered, terms };
        let log = event.encode_log_data();
        let instruction = decide(&event, 31337, operator, event_time);
        let body = report_body(&instruction);
        let transaction = keccak256(format!("trigger transaction {index}"));
        let execution = execution_id(&workflow, transaction, 0);
        let raw = don.raw_report(execution, event_time as u32, &workflow, &body);
        out.push(json!({
            "name": name,
            "chainId": 31337,
            "operator": operator,
            "eventTime": event_time,
            "log": { "topics": log.topics(), "data": log.data },
            "action": instruction.action,
            "body": body,
            "workflow": {
                "owner": workflow.owner,
                "name": workflow.name,
                "encodedName": workflow.encoded_name(),
                "id": workflow.id,
            },
            "executionId": execution,
            "rawReport": raw,
        }));
    }
    Value::Array(out)
}

#[test]
fn the_rust_stand_in_matches_the_shared_vectors() {
    let computed = vectors();
    if std::env::var_os("QUITTANCE_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&computed).expect("json") + "\n";
        std::fs::write(PATH, text).expect("writing the vectors");
    }
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH).expect("cre/vectors.json")).expect("json");
    assert_eq!(committed, computed, "cre/vectors.json is out of date (QUITTANCE_WRITE_VECTORS=1 rewrites it)");
    // The body is the instruction's ABI encoding, decodable back to the same decision.
    for vector in committed.as_array().expect("a list") {
        let body: alloy::primitives::Bytes = serde_json::from_value(vector["body"].clone()).expect("hex");
        let instruction = Instruction::abi_decode(&body).expect("an instruction");
        assert_eq!(serde_json::json!(instruction.action), vector["action"]);
        assert_eq!(instruction.deadline, 1_750_000_000 + quittance_cre::REPORT_VALIDITY);
    }
}
