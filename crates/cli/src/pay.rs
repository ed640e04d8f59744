//! `quittance pay <url>`: the agent from the shell.

use crate::keys::KeySource;
use alloy::primitives::{Address, U256};
use quittance_agent::{Agent, Budget, Policy, SpendRecord};
use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

/// Arguments of `quittance pay`.
#[derive(Debug, clap::Args)]
pub struct PayArgs {
    /// The URL to GET.
    pub url: String,
    /// The token the agent pays with.
    #[arg(long, required_unless_present = "deployment")]
    pub token: Option<Address>,
    /// A deployment manifest (`quittance deploy`): the token defaults to its `TestStablecoin`.
    #[arg(long)]
    pub deployment: Option<PathBuf>,
    /// The CAIP-2 network the agent pays on.
    #[arg(long, default_value = "eip155:31337")]
    pub network: String,
    /// The most one request may cost, in the token's smallest unit.
    #[arg(long, default_value = "50000")]
    pub max_per_request: U256,
    /// The most one host may be paid per period.
    #[arg(long, default_value = "1000000")]
    pub max_per_host: U256,
    /// The period of `--max-per-host`, in seconds.
    #[arg(long, default_value = "3600")]
    pub period_seconds: u64,
    /// The most the agent may ever spend.
    #[arg(long, default_value = "5000000")]
    pub budget: U256,
    /// Pay through voucher channels where offered, depositing enough for this many requests at a time
    /// (within the budgets); 0 never opens a channel.
    #[arg(long, default_value = "0")]
    pub channel_requests: u64,
    /// The spend record (an SQLite file), so budgets hold across runs.
    #[arg(long, default_value = "quittance-spend.sqlite")]
    pub record: PathBuf,
    /// File holding the agent's hex private key.
    #[arg(long, conflicts_with = "key_env")]
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the agent's hex private key.
    #[arg(long, default_value = "QUITTANCE_AGENT_KEY")]
    pub key_env: String,
    /// Print one JSON object (status, body, payment, receipt) instead of words.
    #[arg(long)]
    pub json: bool,
}

/// Fetches the URL, paying within the policy; the process fails if the payment is refused.
pub async fn run(args: PayArgs) -> eyre::Result<()> {
    let key = match args.key_file {
        Some(path) => KeySource::File(path),
        None => KeySource::Env(args.key_env),
    };
    let token = match (args.token, &args.deployment) {
        (Some(token), _) => token,
        (None, Some(path)) => quittance_deploy::Manifest::read(path)?
            .address("TestStablecoin")
            .ok_or_else(|| eyre::eyre!("the deployment has no TestStablecoin: pass --token"))?,
        (None, None) => eyre::bail!("pass --token or --deployment"),
    };
    let policy = Policy {
        budgets: BTreeMap::from([(
            token,
            Budget {
                per_request: args.max_per_request,
                per_host: args.max_per_host,
                period: Duration::from_secs(args.period_seconds),
                total: args.budget,
            },
        )]),
        networks: vec![args.network],
        hosts: None,
        channel_requests: args.channel_requests,
    };
    let agent = Agent::new(key.load()?, policy, Arc::new(SpendRecord::open(&args.record)?));
    let paid = agent.get(&args.url).await?;
    let status = paid.response.status().as_u16();
    let text = paid.response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    if args.json {
        let payment = paid.payment.as_ref().map(|p| {
            serde_json::json!({"scheme": p.accepted.scheme, "amount": p.accepted.amount, "asset": p.accepted.asset, "payTo": p.accepted.pay_to})
        });
        println!(
            "{}",
            serde_json::json!({"status": status, "body": body, "payment": payment, "receipt": paid.receipt})
        );
    } else {
        println!("{status} {body}");
        match (&paid.payment, &paid.receipt) {
            (Some(payment), Some(receipt)) => println!(
                "paid {} ({}) to {}: settled={} transaction {}",
                payment.accepted.amount,
                payment.accepted.scheme,
                payment.accepted.pay_to,
                receipt.success,
                receipt.transaction
            ),
            (Some(_), None) => println!("paid, but the server returned no receipt"),
            _ => println!("nothing to pay"),
        }
    }
    if !(200..300).contains(&status) {
        eyre::bail!("the server answered {status}");
    }
    Ok(())
}
