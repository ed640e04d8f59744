//! `quittance verify-receipt`: checks a facilitator's signed receipt offline, and against a chain.

use alloy::primitives::Address;
use quittance_chain::RpcChain;
use quittance_facilitator::confirm_on_chain;
use quittance_x402::{SettleResponse, decode_header, receipt::SignedReceipt};
use std::{io::Read, path::PathBuf};

/// Arguments of `quittance verify-receipt`.
#[derive(Debug, clap::Args)]
pub struct VerifyReceiptArgs {
    /// A file holding the receipt: a `PAYMENT-RESPONSE` header value, a settlement response (JSON), or the
    /// output of `quittance pay --json`; `-` reads standard input.
    #[arg(default_value = "-")]
    pub receipt: PathBuf,
    /// The facilitator that must have signed it.
    #[arg(long)]
    pub facilitator: Option<Address>,
    /// Also check it against the chain at this JSON-RPC endpoint.
    #[arg(long)]
    pub rpc_url: Option<reqwest::Url>,
    /// Print one JSON object instead of words.
    #[arg(long)]
    pub json: bool,
}

/// Reads a settlement response from any of the forms `verify-receipt` accepts.
pub fn parse(text: &str) -> eyre::Result<SettleResponse> {
    let text = text.trim();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text)?;
        let response = match value.get("receipt") {
            Some(inner) if inner.get("success").is_some() => inner.clone(),
            _ => value,
        };
        Ok(serde_json::from_value(response)?)
    } else {
        Ok(decode_header(text)?)
    }
}

/// Checks the receipt; fails if it does not hold.
pub async fn run(args: VerifyReceiptArgs) -> eyre::Result<()> {
    let mut text = String::new();
    if args.receipt.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(&args.receipt)?;
    }
    let signed = SignedReceipt::from_response(&parse(&text)?)?;
    signed.verify(args.facilitator)?;
    let r = &signed.receipt;
    if let Some(url) = args.rpc_url {
        confirm_on_chain(&RpcChain::http(url), r).await?;
    }
    if args.json {
        println!("{}", serde_json::json!({"valid": true, "facilitator": signed.facilitator, "receipt": r}));
    } else {
        let invoice = if r.invoiceId.is_zero() { String::new() } else { format!(", paying invoice {}", r.invoiceId) };
        println!(
            "valid: {} attests that {} paid {} of token {} to {} in transaction {} (block {}) on {}{invoice}",
            signed.facilitator, r.payer, r.amount, r.token, r.payee, r.transaction, r.blockNumber, r.network
        );
    }
    Ok(())
}
