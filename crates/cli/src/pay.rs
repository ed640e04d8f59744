//! `quittance pay <url>`: the agent from the shell.

use crate::amount::{Amount, format_units};
use alloy::primitives::{Address, U256};
use quittance_agent::{
    Agent, Budget, ChainFunds, Declared, Paid, Policy, SpendRecord, http_client, named_purchase, purchase,
};
use quittance_chain::RpcChain;
use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

/// Arguments of `quittance pay`.
#[derive(Debug, clap::Args)]
pub struct PayArgs {
    /// The URL to GET.
    pub url: String,
    /// The token the agent pays with (repeat for more; each gets the limits below).
    #[arg(long, required_unless_present = "deployment")]
    pub token: Vec<Address>,
    /// A deployment manifest (`quittance deploy`; repeat for more chains): the agent pays on its network
    /// with its `TestStablecoin` and, when `quittance ccip deploy` recorded one, its Cross-Chain Token.
    #[arg(long)]
    pub deployment: Vec<PathBuf>,
    /// The request's method (default GET, or POST with `--data`).
    #[arg(long = "request", short = 'X')]
    pub method: Option<String>,
    /// The request's body (`@file` reads it from a file).
    #[arg(long, short = 'd')]
    pub data: Option<String>,
    /// A request header, `Name: value` (repeat for more).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// Print the headers of the request that got the answer (`>`, with the payment's) and of the answer
    /// (`<`) on stderr, the x402 ones (`PAYMENT-SIGNATURE`, `PAYMENT-RESPONSE`, `PAYMENT-REQUIRED`, their v1
    /// names) decoded from base64 JSON.
    #[arg(long)]
    pub show_headers: bool,
    /// The CAIP-2 networks the agent pays on (default: the deployments', or eip155:31337): EVM networks,
    /// written `eip155:<chain id>` (`eip155:8453` for Base).
    #[arg(long, value_parser = evm_network)]
    pub network: Vec<String>,
    /// Where the agent reads a network's chain, as `<CAIP-2 network>=<JSON-RPC URL>` (repeat per network):
    /// it then skips options it cannot fund (paying across chains when its funds are elsewhere), reads
    /// whether a payment in doubt was taken, and checks its voucher channels.
    #[arg(long, value_parser = crate::serve::network_url)]
    pub funds_rpc: Vec<(String, reqwest::Url)>,
    /// The spending limits.
    #[command(flatten)]
    pub limits: BudgetArgs,
    /// Pay through voucher channels where offered, depositing enough for this many requests at a time
    /// (within the budgets); 0 never opens a channel.
    #[arg(long, default_value = "0")]
    pub channel_requests: u64,
    /// The spend record (an SQLite file), so budgets hold across runs.
    #[arg(long, default_value = "quittance-spend.sqlite")]
    pub record: PathBuf,
    /// The agent's key.
    #[command(flatten)]
    pub key: crate::keys::KeyArgs,
    /// Seconds the agent waits for a whole answer (10 at most to connect); a payment whose answer does not
    /// come in time is in doubt, and sent again.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_secs: u64,
    /// The operator's word on a payment in doubt the agent cannot resolve by itself (it expired, and the
    /// agent has no `--funds-rpc` for its network), as `<spend id>=charged` or `<spend id>=refused` (repeat
    /// for more): either way its purchase may then be paid anew. Check the chain first.
    #[arg(long, value_parser = declaration)]
    pub resolve: Vec<(i64, Declared)>,
    /// Name this purchase (an idempotency key of yours): run again with the same name — after a crash, a
    /// timeout, a lost answer — it is the same purchase, paid once; once settled, its payment is sent again
    /// and the server answers what it bought. Without it, each run buys the URL anew.
    #[arg(long)]
    pub purchase: Option<String>,
    /// Print one JSON object (status, body, payment, receipt, spend, state, resolved) instead of words.
    #[arg(long)]
    pub json: bool,
}

/// Parses `<spend id>=charged|refused`.
fn declaration(text: &str) -> Result<(i64, Declared), String> {
    let (id, declared) = text.split_once('=').ok_or("expected <spend id>=charged|refused")?;
    Ok((id.trim().parse().map_err(|_| format!("{id:?} is not a spend id"))?, declared.trim().parse()?))
}

/// Resolves what the spend record holds in doubt, then fetches the URL, paying within the policy (never a
/// second time for a purchase whose payment is in doubt); the process fails if the payment is refused or
/// stays in doubt.
pub async fn run(args: PayArgs) -> eyre::Result<()> {
    let key = args.key.source();
    let mut tokens = args.token.clone();
    let mut networks = args.network.clone();
    for path in &args.deployment {
        let manifest = quittance_deploy::Manifest::read(path)?;
        let before = tokens.len();
        tokens.extend(manifest.address("TestStablecoin"));
        tokens.extend(manifest.ccip.as_ref().map(|c| c.token));
        eyre::ensure!(tokens.len() > before, "{} has no token to pay with: pass --token", path.display());
        if args.network.is_empty() {
            networks.push(manifest.network);
        }
    }
    if networks.is_empty() {
        networks.push("eip155:31337".into());
    }
    let budget = args.limits.budget()?;
    let policy = Policy {
        budgets: tokens.into_iter().map(|token| (token, budget.clone())).collect::<BTreeMap<_, _>>(),
        networks,
        hosts: None,
        channel_requests: args.channel_requests,
    };
    let record = Arc::new(SpendRecord::open(&args.record)?);
    for (id, declared) in &args.resolve {
        record.declare(*id, *declared)?;
        if !args.json {
            println!("spend {id} declared {declared}");
        }
    }
    let http = http_client(Duration::from_secs(args.timeout_secs))?;
    let mut agent = Agent::new(key.load()?, policy, record).with_http(http);
    if !args.funds_rpc.is_empty() {
        let funds = args
            .funds_rpc
            .iter()
            .fold(ChainFunds::new(), |funds, (network, url)| funds.with(network.clone(), RpcChain::http(url.clone())));
        agent = agent.with_funds(Arc::new(funds));
    }
    // What earlier runs left in doubt first: sent again while valid, read on chain where it can be.
    let url = reqwest::Url::parse(&args.url)
        .map_err(|e| eyre::eyre!("{:?} is not a URL ({e}): write it like http://127.0.0.1:8080/report", args.url))?;
    let request = build_request(&url, args.method.as_deref(), args.data.as_deref(), &args.headers)?;
    let request_line = (request.method().clone(), request.url().clone());
    let this_purchase = match &args.purchase {
        Some(id) => named_purchase(id),
        None => purchase(request.method(), &url),
    };
    let mut resolved = Vec::new();
    let mut answered: Option<Paid> = None;
    let mut blocked = None;
    for mut resolution in agent.resolve_in_doubt().await? {
        if !args.json {
            println!(
                "spend {} ({}) is {}: {}",
                resolution.spend, resolution.request, resolution.state, resolution.detail
            );
        }
        resolved.push(serde_json::json!({
            "spend": resolution.spend, "request": resolution.request,
            "state": resolution.state.as_str(), "detail": resolution.detail,
        }));
        // This very purchase: answered, that is the answer it paid for; still unresolved, it stays blocked.
        if resolution.request == this_purchase && answered.is_none() {
            match resolution.paid.take() {
                Some(paid) => answered = Some(paid),
                None if !resolution.state.is_resolved() => blocked = Some(resolution.detail.clone()),
                None => {}
            }
        }
    }
    // A named purchase is resolved below with its own request (the record cannot rebuild it).
    if let (None, Some(detail), None) = (&answered, blocked, &args.purchase) {
        eyre::bail!("{detail}");
    }
    let paid = match answered {
        Some(paid) => paid,
        None => match &args.purchase {
            Some(id) => agent.send_purchase(request, id).await?,
            None => agent.send(request).await?,
        },
    };
    let status = paid.response.status().as_u16();
    if args.show_headers {
        eprintln!("> {} {}", request_line.0, request_line.1);
        for (name, value) in &paid.sent {
            eprintln!("> {name}: {}", show_header(name.as_str(), value));
        }
        eprintln!("< {:?} {}", paid.response.version(), paid.response.status());
        for (name, value) in paid.response.headers() {
            eprintln!("< {name}: {}", show_header(name.as_str(), value));
        }
    }
    let text = paid.response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    if args.json {
        let payment = paid.payment.as_ref().map(|p| {
            serde_json::json!({"scheme": p.accepted.scheme, "amount": p.accepted.amount, "asset": p.accepted.asset, "payTo": p.accepted.pay_to})
        });
        let state = paid.state.map(|s| s.as_str());
        println!(
            "{}",
            serde_json::json!({
                "status": status, "body": body, "payment": payment, "receipt": paid.receipt,
                "spend": paid.spend, "state": state, "resolved": resolved,
            })
        );
    } else {
        println!("{status} {body}");
        match (&paid.payment, &paid.receipt) {
            (Some(payment), Some(receipt)) => println!(
                "paid {} ({} units, {}) to {}: settled={} transaction {}",
                payment
                    .accepted
                    .amount
                    .parse::<U256>()
                    .map_or_else(|_| "?".into(), |a| format_units(a, args.limits.decimals)),
                payment.accepted.amount,
                payment.accepted.scheme,
                payment.accepted.pay_to,
                receipt.success,
                receipt.transaction
            ),
            (Some(_), None) => match (paid.spend, paid.state) {
                (Some(spend), Some(state)) => {
                    println!("paid (spend {spend}, {state}), but the server returned no receipt")
                }
                _ => println!("paid, but the server returned no receipt"),
            },
            _ => println!("nothing to pay"),
        }
    }
    if !(200..300).contains(&status) {
        eyre::bail!("the server answered {status}");
    }
    Ok(())
}

/// Parses an EVM CAIP-2 network (`eip155:8453`); an x402 v1 name (`base`) is refused with the CAIP-2 name it
/// stands for.
pub(crate) fn evm_network(text: &str) -> Result<String, String> {
    if let Ok(network) = quittance_x402::Network::from_v1_name(text) {
        return Err(format!("{text:?} is an x402 v1 name: write the CAIP-2 network {network}"));
    }
    let network: quittance_x402::Network =
        text.parse().map_err(|e: quittance_x402::NetworkError| format!("{e}: write it like eip155:8453"))?;
    network.chain_id().map_err(|e| format!("{e}: the agent pays on EVM networks, written eip155:<chain id>"))?;
    Ok(network.to_string())
}

/// The request `pay` sends: `method` (default GET, or POST with a body), `data` as its body (`@file` read from
/// the file), and `headers` as `Name: value`.
fn build_request(
    url: &reqwest::Url,
    method: Option<&str>,
    data: Option<&str>,
    headers: &[String],
) -> eyre::Result<reqwest::Request> {
    let method = match method {
        Some(name) => reqwest::Method::from_bytes(name.to_ascii_uppercase().as_bytes())
            .map_err(|_| eyre::eyre!("-X {name:?} is not an HTTP method: write it like POST"))?,
        None if data.is_some() => reqwest::Method::POST,
        None => reqwest::Method::GET,
    };
    let mut request = reqwest::Request::new(method, url.clone());
    for header in headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| eyre::eyre!("-H {header:?} is not a header: write it like 'Accept: application/json'"))?;
        let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| eyre::eyre!("-H {header:?}: {:?} is not a header name", name.trim()))?;
        let value = reqwest::header::HeaderValue::from_str(value.trim())
            .map_err(|_| eyre::eyre!("-H {header:?}: the value is not a header value"))?;
        request.headers_mut().append(name, value);
    }
    if let Some(data) = data {
        let body = match data.strip_prefix('@') {
            Some(path) => std::fs::read(path).map_err(|e| eyre::eyre!("--data @{path}: cannot read {path}: {e}"))?,
            None => data.as_bytes().to_vec(),
        };
        *request.body_mut() = Some(body.into());
    }
    Ok(request)
}

/// A header's value as `--show-headers` prints it: an x402 header decoded (base64 JSON), others as sent.
fn show_header(name: &str, value: &reqwest::header::HeaderValue) -> String {
    let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let x402 = [
        quittance_x402::PAYMENT_RESPONSE,
        quittance_x402::PAYMENT_REQUIRED,
        quittance_x402::PAYMENT_SIGNATURE,
        quittance_x402::X_PAYMENT,
        quittance_x402::X_PAYMENT_RESPONSE,
    ];
    if x402.iter().any(|h| h.eq_ignore_ascii_case(name))
        && let Ok(decoded) = quittance_x402::decode_header::<serde_json::Value>(&text)
    {
        return decoded.to_string();
    }
    text
}

/// The spending limits of an agent run from the shell (`pay`, `mcp`), each token getting all of them.
#[derive(Debug, Clone, clap::Args)]
pub struct BudgetArgs {
    /// The most one request may cost, in whole tokens (`0.05` or `$0.05`), or in the token's smallest unit
    /// with `--units`.
    #[arg(long, visible_alias = "max", default_value = "0.05")]
    pub max_per_request: Amount,
    /// The most one host may be paid per period.
    #[arg(long, default_value = "1")]
    pub max_per_host: Amount,
    /// The period of `--max-per-host`, in seconds.
    #[arg(long, default_value = "3600")]
    pub period_seconds: u64,
    /// The most the agent may ever spend.
    #[arg(long, default_value = "5")]
    pub budget: Amount,
    /// The decimals of the tokens the amounts above are in whole tokens of (6: USDC and the test stablecoin).
    #[arg(long, default_value = "6")]
    pub decimals: u8,
    /// Read the amounts above in the tokens' smallest unit (`10000` is a cent of USDC) instead.
    #[arg(long)]
    pub units: bool,
}

impl BudgetArgs {
    /// The budget these flags describe; an amount that cannot be read names its flag.
    pub fn budget(&self) -> eyre::Result<Budget> {
        let amount = |flag: &str, amount: &Amount| {
            amount.resolve(self.decimals, self.units).map_err(|e| eyre::eyre!("--{flag}: {e}"))
        };
        Ok(Budget {
            per_request: amount("max-per-request", &self.max_per_request)?,
            per_host: amount("max-per-host", &self.max_per_host)?,
            period: Duration::from_secs(self.period_seconds),
            total: amount("budget", &self.budget)?,
        })
    }
}
