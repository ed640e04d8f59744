#![doc = include_str!("../README.md")]

mod cre;
mod crosschain;

use alloy::{
    primitives::{B256, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use axum::{Json, Router, routing::get};
use clap::{Parser, Subcommand, ValueEnum};
use eyre::ensure;
use quittance_agent::{Agent, Budget, Policy, SpendRecord};
use quittance_bindings::VoucherChannels;
use quittance_chain::{Chain, DevChain, RpcChain, revm::RevmChain};
use quittance_facilitator::{Facilitator, SettleConfig, SqliteLedger, http};
use quittance_paywall::{ChannelOffer, FacilitatorClient, HttpFacilitator, InvoiceIssuer, Paywall, Price};
use quittance_testkit::{PRICE, World, request};
use quittance_x402::{SettleResponse, channel, exact};
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

#[derive(Parser)]
#[command(name = "quittance-bench", about = "Benchmarks of Quittance's x402 stack on a local anvil")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Full paid GETs (402 → pay → 200) by the agent against the paywall and its facilitator.
    PaidGet {
        /// Measured requests (after the warm-up).
        #[arg(long, default_value_t = 1000)]
        requests: usize,
        /// Unmeasured requests first.
        #[arg(long, default_value_t = 50)]
        warmup: usize,
        /// The scheme the paywall offers.
        #[arg(long, value_enum, default_value_t = Scheme::Exact)]
        scheme: Scheme,
        /// Reach the facilitator over HTTP on loopback instead of in-process.
        #[arg(long)]
        remote_facilitator: bool,
    },
    /// `POST /verify` throughput over HTTP, and the in-process verify rate, at each concurrency.
    Verify {
        /// Concurrent clients.
        #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
        concurrency: Vec<usize>,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Paid loops per second (402, policy, signing, verify, settle, receipt) on the in-process revm chain and
    /// on anvil, the same code on both.
    Loops {
        /// Measured loops per chain (after 20 warm-up loops).
        #[arg(long, default_value_t = 1000)]
        requests: usize,
    },
    /// Event-to-payout latency and gas of CRE reports through the local DON stand-in and Chainlink's
    /// KeystoneForwarder on anvil, with f = 1 and f = 10.
    Cre {
        /// Measured delivery reports per DON size.
        #[arg(long, default_value_t = 100)]
        events: usize,
    },
    /// Paid GETs on chain B by an agent funded on chain A only: x402's cross-chain invoice through the
    /// local CCIP lane and its relay, on two anvils (latency and gas on each side).
    CrossChain {
        /// Measured requests.
        #[arg(long, default_value_t = 50)]
        requests: usize,
        /// How often the relay looks for messages, in milliseconds.
        #[arg(long, default_value_t = 10)]
        relay_poll_ms: u64,
    },
    /// Voucher verifications per second in-process (against the facilitator's ledger, no chain).
    Vouchers {
        /// Concurrent verifiers.
        #[arg(long, value_delimiter = ',', default_value = "1,8")]
        concurrency: Vec<usize>,
        /// Seconds per measurement.
        #[arg(long, default_value = "5")]
        seconds: u64,
    },
    /// Settlements per second over HTTP with concurrent payers, each payment sent twice at once.
    Settle {
        /// Concurrent payers.
        #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
        concurrency: Vec<usize>,
        /// Payments per payer.
        #[arg(long, default_value_t = 50)]
        payments: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Scheme {
    /// The `exact` scheme (EIP-3009 transfer to the payee).
    Exact,
    /// Quittance's `invoice` scheme (seller-signed invoice paid through the registry).
    Invoice,
    /// Quittance's `channel` scheme (one deposit, then a voucher per request; claimed after the run).
    Channel,
    /// x402's `exact` over Permit2 (a Permit2 permit to the exact proxy; the agent approved Permit2 first).
    ExactPermit2,
    /// x402's `upto` (a Permit2 permit of the maximum to the upto proxy, settled for the price).
    Upto,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Invoice => "invoice",
            Self::Channel => "channel",
            Self::ExactPermit2 => "exact over Permit2",
            Self::Upto => "upto",
        }
    }
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let cli = Cli::parse();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("machine: {cores} cores; load average before: {}", load_average());
    match cli.bench {
        Bench::PaidGet { requests, warmup, scheme, remote_facilitator } => {
            paid_get(requests, warmup, scheme, remote_facilitator).await?
        }
        Bench::Verify { concurrency, seconds } => verify(&concurrency, Duration::from_secs(seconds)).await?,
        Bench::Settle { concurrency, payments } => settle(&concurrency, payments).await?,
        Bench::Loops { requests } => {
            for storage in [Storage::Memory, Storage::Disk] {
                let revm = RevmChain::new(31337, now());
                let (deployer, facilitator_key) = (signer("deployer")?, signer("facilitator")?);
                for account in [deployer.address(), facilitator_key.address()] {
                    revm.set_balance(account, U256::from(10u64).pow(U256::from(22))).await?;
                }
                loops(revm, "revm, in-process", deployer, facilitator_key, storage, requests).await?;
            }
            let anvil = quittance_chain::anvil::spawn_anvil()?;
            let (deployer, facilitator_key) =
                (PrivateKeySigner::from(anvil.keys()[0].clone()), PrivateKeySigner::from(anvil.keys()[1].clone()));
            let rpc = RpcChain::http(anvil.endpoint_url());
            loops(rpc, "anvil", deployer, facilitator_key, Storage::Disk, requests).await?;
        }
        Bench::Cre { events } => cre::run(events).await?,
        Bench::CrossChain { requests, relay_poll_ms } => {
            crosschain::run(requests, Duration::from_millis(relay_poll_ms)).await?
        }
        Bench::Vouchers { concurrency, seconds } => vouchers(&concurrency, Duration::from_secs(seconds)).await?,
    }
    println!("load average after: {}", load_average());
    Ok(())
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Median, p99 and max of a set of latencies.
struct Summary {
    median: Duration,
    p99: Duration,
    max: Duration,
}

fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    Summary { median: at(0.5), p99: at(0.99), max: samples.last().copied().unwrap_or_default() }
}

/// The medians of the first and the last tenth of a run, in order: how much slower it got.
fn drift(samples: &[Duration]) -> (String, String) {
    let tenth = (samples.len() / 10).max(1);
    let median = |part: &[Duration]| ms(summarize(part.to_vec()).median);
    (median(&samples[..tenth]), median(&samples[samples.len().saturating_sub(tenth)..]))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A world whose agent can pay many times, with a facilitator on a file ledger and the default settings
/// (what `quittance facilitator` runs).
async fn world() -> eyre::Result<(World, Arc<Facilitator<RpcChain>>, tempfile::TempDir)> {
    let world = World::new().await?;
    world.token.mint(world.agent.address(), U256::from(10u64).pow(U256::from(15))).send().await?.watch().await?;
    let dir = tempfile::tempdir()?;
    let ledger = Arc::new(SqliteLedger::open(dir.path().join("ledger.sqlite"))?);
    let facilitator = Arc::new(world.facilitator_with(ledger, SettleConfig::default()).await?);
    Ok((world, facilitator, dir))
}

/// Serves `app` on a loopback port; returns its base URL.
async fn serve(app: Router) -> eyre::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

async fn paid_get(requests: usize, warmup: usize, scheme: Scheme, remote: bool) -> eyre::Result<()> {
    let (world, facilitator, dir) = world().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let price = Price {
        network: facilitator.network().into(),
        asset: *world.token.address(),
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PRICE),
        pay_to: world.payee,
        max_timeout_seconds: 120,
        description: "A report".into(),
        mime_type: "application/json".into(),
        invoices: matches!(scheme, Scheme::Invoice).then(|| InvoiceIssuer {
            registry: *world.registry.address(),
            signer: world.seller.clone(),
            validity_seconds: 600,
        }),
        settle_before_serving: false,
        channels: match scheme {
            Scheme::Channel => Some(ChannelOffer {
                contract: *VoucherChannels::deploy(world.rpc.clone()).await?.address(),
                min_withdraw_delay: 3600,
            }),
            _ => None,
        },
        cross_chain: Vec::new(),
    };
    fn app<F: FacilitatorClient + 'static>(
        facilitator: Arc<F>,
        base: &str,
        price: Price,
        scheme: Scheme,
        settler: alloy::primitives::Address,
    ) -> Router {
        let paywall = Paywall::new(facilitator, base);
        let layer = match scheme {
            Scheme::ExactPermit2 => paywall.price_exact_permit2(price, false),
            Scheme::Upto => paywall.price_upto(price, settler, false),
            Scheme::Exact | Scheme::Invoice | Scheme::Channel => paywall.price(price),
        };
        Router::new().route("/report", get(|| async { Json(serde_json::json!({"report": "up"})) }).layer(layer))
    }
    if matches!(scheme, Scheme::ExactPermit2 | Scheme::Upto) {
        // The agent approves Permit2 once, as x402's Permit2 schemes ask of a payer.
        let agent_rpc = alloy::providers::ProviderBuilder::new()
            .wallet(alloy::network::EthereumWallet::from(world.agent.clone()))
            .connect_http(world.endpoint.clone());
        quittance_bindings::TestStablecoin::new(*world.token.address(), agent_rpc)
            .approve(quittance_x402::permit2::PERMIT2_ADDRESS, U256::MAX)
            .send()
            .await?
            .get_receipt()
            .await?;
    }
    let settler = facilitator.address();
    let router = if remote {
        let facilitator_url = serve(http::router(facilitator.clone())).await?;
        app(Arc::new(HttpFacilitator::new(facilitator_url.parse()?)), &base, price, scheme, settler)
    } else {
        app(facilitator.clone(), &base, price, scheme, settler)
    };
    tokio::spawn(async move { axum::serve(listener, router).await });

    let budget =
        Budget { per_request: U256::MAX, per_host: U256::MAX, period: Duration::from_secs(1), total: U256::MAX };
    let policy = Policy {
        budgets: BTreeMap::from([(*world.token.address(), budget)]),
        networks: vec![facilitator.network().into()],
        hosts: None,
        // One deposit for the whole run.
        channel_requests: (warmup + requests) as u64,
    };
    let record = Arc::new(SpendRecord::open(dir.path().join("spend.sqlite"))?);
    let agent = Agent::new(world.agent.clone(), policy, record);
    let url = format!("{base}/report");
    let payee_before = world.token.balanceOf(world.payee).call().await?;

    let mut samples = Vec::with_capacity(requests);
    for i in 0..warmup + requests {
        let started = Instant::now();
        let paid = agent.get(&url).await?;
        ensure!(paid.response.status() == 200, "paid GET answered {}", paid.response.status());
        paid.response.bytes().await?;
        let elapsed = started.elapsed();
        ensure!(paid.receipt.is_some_and(|r| r.success), "paid GET without a successful settlement");
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    if let Scheme::Channel = scheme {
        facilitator.claim_channels().await?;
    }
    let paid = world.token.balanceOf(world.payee).call().await? - payee_before;
    ensure!(paid == U256::from(PRICE) * U256::from(warmup + requests), "the payee received {paid}");
    let (first, last) = drift(&samples);
    let s = summarize(samples);
    println!("paid GET median of the first tenth {first}, of the last tenth {last}");
    println!(
        "paid GET ({}, facilitator {}): {requests} requests, median {}, p99 {}, max {}; payee received exactly {} units",
        scheme.name(),
        if remote { "over HTTP" } else { "in-process" },
        ms(s.median),
        ms(s.p99),
        ms(s.max),
        paid
    );
    Ok(())
}

/// Signs `count` distinct `exact` payments by `payer` and returns them as `/verify` bodies.
async fn exact_requests(
    world: &World,
    network: &str,
    payer: &PrivateKeySigner,
    count: usize,
) -> eyre::Result<Vec<quittance_x402::VerifyRequest>> {
    let mut option = world.exact_option(*world.token.address(), "USD Coin");
    option.network = network.into();
    // Valid for the whole run.
    option.max_timeout_seconds = 3600;
    let now = world.now().await?;
    (0..count)
        .map(|_| Ok(request(exact::pay(&option, None, payer, payer.address(), now, B256::random())?, option.clone())))
        .collect()
}

async fn verify(concurrency: &[usize], duration: Duration) -> eyre::Result<()> {
    let (world, facilitator, _dir) = world().await?;
    let requests = exact_requests(&world, facilitator.network(), &world.agent, 4096).await?;
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(requests.iter().map(serde_json::to_vec).collect::<Result<_, _>>()?);
    let requests = Arc::new(requests);
    let url = format!("{}/verify", serve(http::router(facilitator.clone())).await?);
    let client = reqwest::Client::new();

    for &c in concurrency {
        // Over HTTP.
        let deadline = Instant::now() + duration;
        let started = Instant::now();
        let tasks: Vec<_> = (0..c)
            .map(|task| {
                let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    let mut i = task;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let answer = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(bodies[i % bodies.len()].clone())
                            .send()
                            .await?
                            .bytes()
                            .await?;
                        samples.push(t.elapsed());
                        ensure!(answer.windows(14).any(|w| w == b"\"isValid\":true"), "refused: {answer:?}");
                        i += c;
                    }
                    Ok::<_, eyre::Report>(samples)
                })
            })
            .collect();
        let samples = gather(tasks).await?;
        let rate = samples.len() as f64 / started.elapsed().as_secs_f64();
        let s = summarize(samples);
        println!(
            "/verify over HTTP, concurrency {c}: {rate:.0} requests/s, median {}, p99 {}, max {}",
            ms(s.median),
            ms(s.p99),
            ms(s.max)
        );

        // In-process.
        let deadline = Instant::now() + duration;
        let started = Instant::now();
        let tasks: Vec<_> = (0..c)
            .map(|task| {
                let (facilitator, requests) = (facilitator.clone(), requests.clone());
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    let mut i = task;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let answer = facilitator.verify(&requests[i % requests.len()]).await;
                        samples.push(t.elapsed());
                        ensure!(answer.is_valid, "refused: {:?}", answer.invalid_reason);
                        i += c;
                    }
                    Ok::<_, eyre::Report>(samples)
                })
            })
            .collect();
        let samples = gather(tasks).await?;
        let rate = samples.len() as f64 / started.elapsed().as_secs_f64();
        let s = summarize(samples);
        println!(
            "verify in-process, concurrency {c}: {rate:.0} verifications/s, median {}, p99 {}",
            ms(s.median),
            ms(s.p99)
        );
    }
    Ok(())
}

async fn gather(tasks: Vec<tokio::task::JoinHandle<eyre::Result<Vec<Duration>>>>) -> eyre::Result<Vec<Duration>> {
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

async fn settle(concurrency: &[usize], payments: usize) -> eyre::Result<()> {
    let (world, facilitator, _dir) = world().await?;
    let url = format!("{}/settle", serve(http::router(facilitator.clone())).await?);
    let client = reqwest::Client::new();
    let chain = facilitator.chain();

    for (run, &c) in concurrency.iter().enumerate() {
        let payers: Vec<PrivateKeySigner> = (0..c)
            .map(|i| PrivateKeySigner::from_bytes(&keccak256(format!("bench payer {run} {i}"))))
            .collect::<Result<_, _>>()?;
        let mut bodies = Vec::new();
        for payer in &payers {
            world.token.mint(payer.address(), U256::from(PRICE * payments as u64)).send().await?.watch().await?;
            let signed = exact_requests(&world, facilitator.network(), payer, payments).await?;
            bodies.push(signed.iter().map(serde_json::to_vec).collect::<Result<Vec<_>, _>>()?);
        }
        let payee_before = world.token.balanceOf(world.payee).call().await?;
        let nonce_before = chain.pending_nonce(facilitator.address()).await?;

        let started = Instant::now();
        let tasks: Vec<_> = bodies
            .into_iter()
            .map(|bodies| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    for body in bodies {
                        let t = Instant::now();
                        // The same payment twice at once: a retry racing the original.
                        let send = || async {
                            let answer = client
                                .post(&url)
                                .header("content-type", "application/json")
                                .body(body.clone())
                                .send()
                                .await?;
                            Ok::<_, eyre::Report>(answer.json::<SettleResponse>().await?)
                        };
                        let (first, second) = tokio::try_join!(send(), send())?;
                        samples.push(t.elapsed());
                        ensure!(first.success, "settlement failed: {:?}", first.error_reason);
                        ensure!(
                            second.success && second.transaction == first.transaction,
                            "a repeated settlement answered differently: {second:?}"
                        );
                    }
                    Ok::<_, eyre::Report>(samples)
                })
            })
            .collect();
        let samples = gather(tasks).await?;
        let elapsed = started.elapsed();
        if c == 1 {
            let (first, last) = drift(&samples);
            println!("settle median of the first tenth {first}, of the last tenth {last}");
        }

        let settled = c * payments;
        let sent = chain.pending_nonce(facilitator.address()).await? - nonce_before;
        let received = world.token.balanceOf(world.payee).call().await? - payee_before;
        for payer in &payers {
            let left = world.token.balanceOf(payer.address()).call().await?;
            ensure!(left.is_zero(), "payer {} kept {left}: a payment was not settled", payer.address());
        }
        ensure!(sent == settled as u64, "{sent} transactions for {settled} payments");
        ensure!(received == U256::from(PRICE * settled as u64), "the payee received {received}");
        let s = summarize(samples);
        println!(
            "settle over HTTP, {c} concurrent payers: {settled} payments (each sent twice) in {:.2} s = {:.0} settlements/s; \
             per payment median {}, p99 {}; {sent} transactions, payee received exactly {received} units",
            elapsed.as_secs_f64(),
            settled as f64 / elapsed.as_secs_f64(),
            ms(s.median),
            ms(s.p99)
        );
    }
    Ok(())
}

async fn vouchers(concurrency: &[usize], duration: Duration) -> eyre::Result<()> {
    let (world, facilitator, _dir) = world().await?;
    let contract = *VoucherChannels::deploy(world.rpc.clone()).await?.address();
    let price = PRICE / 10;
    let option: quittance_x402::PaymentRequirements = serde_json::from_value(serde_json::json!({
        "scheme": "channel", "network": facilitator.network(), "amount": price.to_string(),
        "asset": world.token.address(), "payTo": world.payee, "maxTimeoutSeconds": 60,
        "extra": {"name": "USD Coin", "version": "2", "contract": contract, "minWithdrawDelay": 3600}
    }))?;
    let config = channel::ChannelConfig {
        payer: world.agent.address(),
        payerAuthorizer: Default::default(),
        receiver: world.payee,
        token: *world.token.address(),
        withdrawDelay: alloy::primitives::aliases::U40::from(3600),
        salt: B256::random(),
    };
    // Open the channel with a deposit and a first voucher.
    let deposit = channel::sign_deposit(
        &option,
        &config,
        U256::from(price * 1_000_000),
        world.now().await? + 600,
        B256::random(),
        &world.agent,
    )?;
    let first = channel::pay(&option, None, &config, u128::from(price), &world.agent, Some(deposit))?;
    ensure!(facilitator.settle(&request(first, option.clone())).await.success, "the channel did not open");
    // Vouchers above the accepted one: each verifies (verification accepts nothing).
    let requests: Arc<Vec<_>> = Arc::new(
        (2..4098u64)
            .map(|n| {
                let payment = channel::pay(&option, None, &config, u128::from(n * price), &world.agent, None)?;
                Ok(request(payment, option.clone()))
            })
            .collect::<eyre::Result<_>>()?,
    );
    for &c in concurrency {
        let deadline = Instant::now() + duration;
        let started = Instant::now();
        let tasks: Vec<_> = (0..c)
            .map(|task| {
                let (facilitator, requests) = (facilitator.clone(), requests.clone());
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    let mut i = task;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let answer = facilitator.verify(&requests[i % requests.len()]).await;
                        samples.push(t.elapsed());
                        ensure!(answer.is_valid, "refused: {:?}", answer.invalid_reason);
                        i += c;
                    }
                    Ok::<_, eyre::Report>(samples)
                })
            })
            .collect();
        let samples = gather(tasks).await?;
        let rate = samples.len() as f64 / started.elapsed().as_secs_f64();
        let s = summarize(samples);
        println!(
            "voucher verify in-process, concurrency {c}: {rate:.0} verifications/s, median {}, p99 {}",
            ms(s.median),
            ms(s.p99)
        );
    }
    Ok(())
}

fn signer(role: &str) -> eyre::Result<PrivateKeySigner> {
    Ok(PrivateKeySigner::from_bytes(&keccak256(format!("bench {role}")))?)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Where the facilitator's ledger and the agent's spend record live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    /// In memory, as in a simulation.
    Memory,
    /// In SQLite files, synced where a crash must not lose them (as in production).
    Disk,
}

/// The paid loop, `exact`, on `chain`: deployed with `quittance-deploy`, facilitator in-process, paywall and
/// agent over loopback HTTP.
async fn loops<C: Chain + Clone + 'static>(
    chain: C,
    name: &str,
    deployer: PrivateKeySigner,
    facilitator_key: PrivateKeySigner,
    storage: Storage,
    requests: usize,
) -> eyre::Result<()> {
    let agent_key = signer("agent")?;
    let payee = signer("payee")?.address();
    let manifest =
        quittance_deploy::deploy(&chain, &deployer, deployer.address(), &[agent_key.address()], |_| {}).await?;
    let token = manifest.address("TestStablecoin").ok_or_else(|| eyre::eyre!("no token"))?;
    let dir = tempfile::tempdir()?;
    let (ledger, record) = match storage {
        Storage::Memory => (SqliteLedger::in_memory()?, SpendRecord::in_memory()?),
        Storage::Disk => {
            (SqliteLedger::open(dir.path().join("ledger.sqlite"))?, SpendRecord::open(dir.path().join("spend.sqlite"))?)
        }
    };
    let facilitator =
        Arc::new(Facilitator::new(chain.clone(), facilitator_key, Arc::new(ledger), SettleConfig::default()).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let price = Price {
        network: facilitator.network().into(),
        asset: token,
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PRICE / 100),
        pay_to: payee,
        max_timeout_seconds: 120,
        description: "A report".into(),
        mime_type: "application/json".into(),
        invoices: None,
        settle_before_serving: false,
        channels: None,
        cross_chain: Vec::new(),
    };
    let paywall = Paywall::new(facilitator.clone(), base.clone());
    let app = Router::new()
        .route("/report", get(|| async { Json(serde_json::json!({"report": "up"})) }).layer(paywall.price(price)));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let budget =
        Budget { per_request: U256::MAX, per_host: U256::MAX, period: Duration::from_secs(1), total: U256::MAX };
    let policy = Policy {
        budgets: BTreeMap::from([(token, budget)]),
        networks: vec![facilitator.network().into()],
        hosts: None,
        channel_requests: 0,
    };
    let agent = Agent::new(agent_key, policy, Arc::new(record));
    let url = format!("{base}/report");
    let mut samples = Vec::with_capacity(requests);
    let mut started_all = Instant::now();
    for i in 0..20 + requests {
        if i == 20 {
            started_all = Instant::now();
        }
        let started = Instant::now();
        let paid = agent.get(&url).await?;
        ensure!(paid.response.status() == 200 && paid.receipt.is_some_and(|r| r.success), "a loop failed");
        if i >= 20 {
            samples.push(started.elapsed());
        }
    }
    let rate = requests as f64 / started_all.elapsed().as_secs_f64();
    let s = summarize(samples);
    println!(
        "paid loops on {name}, {storage:?} storage: {rate:.0} loops/s, median {}, p99 {}",
        ms(s.median),
        ms(s.p99)
    );
    Ok(())
}
