//! User mistakes are answered with a sentence naming what is wrong, exit code 1, and no source locations or
//! backtraces (even with `RUST_BACKTRACE=1`).

use std::process::{Command, Output};

const QUITTANCE: &str = env!("CARGO_BIN_EXE_quittance");
const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

fn quittance(args: &[&str]) -> Output {
    Command::new(QUITTANCE)
        .args(args)
        .env("QUITTANCE_AGENT_KEY", KEY)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the quittance binary runs")
}

/// The command failed with exactly `expected` as its first line, and nothing a user should not see.
fn assert_refused(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().next(), Some(expected), "{stderr}");
    for noise in ["Location:", "Backtrace", "stack backtrace", "panicked", ".rs:"] {
        assert!(!stderr.contains(noise), "{noise:?} in {stderr}");
    }
}

#[test]
fn amounts_that_cannot_be_paid_are_refused_by_name() {
    let pay = |flag: &str, value: &str| {
        quittance(&["pay", "http://127.0.0.1:9/report", "--token", TOKEN, &format!("--{flag}"), value])
    };
    assert_refused(&pay("budget", "0"), "error: --budget: the amount must be more than zero");
    assert_refused(&pay("max-per-request", "$0.00"), "error: --max-per-request: the amount must be more than zero");
    assert_refused(
        &pay("max-per-host", "0.0000001"),
        "error: --max-per-host: 0.0000001 has more decimal places than the token's 6",
    );
    let units = quittance(&["pay", "http://127.0.0.1:9/", "--token", TOKEN, "--units", "--budget", "0.5"]);
    assert_refused(
        &units,
        "error: --max-per-request: 0.05 is in the token's smallest unit (--units), which has no fractions",
    );
    // A malformed amount is refused by the argument parser, which names the flag.
    let malformed = pay("budget", "ten");
    let stderr = String::from_utf8_lossy(&malformed.stderr);
    assert_eq!(malformed.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--budget") && stderr.contains("is not an amount"), "{stderr}");
}

#[tokio::test]
async fn a_port_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address");
    let err = quittance_cli::server::bind(address).await.expect_err("the port is taken");
    assert_eq!(
        err.to_string(),
        format!("cannot listen on {address}: another process uses it (pick another with --listen)")
    );
}

#[test]
fn a_chain_that_does_not_answer_is_named() {
    let output = Command::new(QUITTANCE)
        .args(["facilitator", "--rpc-url", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", "--rpc-timeout-secs", "1"])
        .env("QUITTANCE_FACILITATOR_KEY", KEY)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the quittance binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: the facilitator could not start (chain http://127.0.0.1:9/)"), "{stderr}");
    assert!(!stderr.contains("Location:") && !stderr.contains("Backtrace"), "{stderr}");
}

#[test]
fn networks_are_checked_against_caip2() {
    let pay = |network: &str| quittance(&["pay", "http://127.0.0.1:9/report", "--token", TOKEN, "--network", network]);
    for (network, expected) in [
        ("base", "\"base\" is an x402 v1 name: write the CAIP-2 network eip155:8453"),
        ("nowhere", "\"nowhere\" is not a CAIP-2 network (namespace:reference): write it like eip155:8453"),
        ("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "is not an EVM network"),
    ] {
        let output = pay(network);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{stderr} lacks {expected:?}");
    }
}

#[test]
fn requests_that_cannot_be_built_are_refused_by_name() {
    let pay = |extra: &[&str]| {
        let mut args = vec!["pay", "http://127.0.0.1:9/report", "--token", TOKEN];
        args.extend_from_slice(extra);
        quittance(&args)
    };
    assert_refused(&pay(&["-X", "PO ST"]), "error: -X \"PO ST\" is not an HTTP method: write it like POST");
    assert_refused(
        &pay(&["-H", "Accept"]),
        "error: -H \"Accept\" is not a header: write it like 'Accept: application/json'",
    );
    assert_refused(&pay(&["-H", "Bad Name: x"]), "error: -H \"Bad Name: x\": \"Bad Name\" is not a header name");
    let output = pay(&["-d", "@/nonexistent/body.json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: --data @/nonexistent/body.json: cannot read /nonexistent/body.json"),
        "{stderr}"
    );
    let output = quittance(&["pay", "notaurl", "--token", TOKEN]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: \"notaurl\" is not a URL"), "{stderr}");
}
