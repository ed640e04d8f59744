//! The services' bounds, from outside, as processes: slow-loris and idle connections against `quittance
//! facilitator` and `quittance serve`, a node that never answers, a facilitator that never answers.

use crate::commands::{Killed, free_port, hex_key, wait_for};
use alloy::{
    network::EthereumWallet,
    node_bindings::AnvilInstance,
    primitives::{Address, B256, keccak256},
    providers::ProviderBuilder,
    signers::local::PrivateKeySigner,
};
use quittance_bindings::TestStablecoin;
use quittance_chain::anvil::spawn_anvil;
use quittance_x402::{PAYMENT_REQUIRED, PAYMENT_SIGNATURE, PaymentRequired, decode_header, encode_header, exact};
use serde_json::Value;
use std::{
    net::SocketAddr,
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A chain with a token, and the two services started on it with the given extra flags.
struct Services {
    anvil: AnvilInstance,
    token: Address,
    dir: tempfile::TempDir,
}

impl Services {
    async fn new() -> eyre::Result<Self> {
        let anvil = spawn_anvil()?;
        let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
        let rpc =
            ProviderBuilder::new().wallet(EthereumWallet::from(deployer.clone())).connect_http(anvil.endpoint_url());
        let token =
            TestStablecoin::deploy(&rpc, "USD Coin".into(), "USDC".into(), "2".into(), deployer.address()).await?;
        Ok(Self { token: *token.address(), anvil, dir: tempfile::tempdir()? })
    }

    /// `quittance facilitator` on `rpc_url` (default: the anvil), listening on `port`.
    fn facilitator(&self, port: u16, rpc_url: Option<&str>, flags: &[&str]) -> eyre::Result<Killed> {
        let endpoint = self.anvil.endpoint();
        Ok(Killed(
            Command::new(env!("CARGO_BIN_EXE_quittance"))
                .args(["facilitator", "--rpc-url", rpc_url.unwrap_or(endpoint.as_str())])
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .arg("--ledger")
                .arg(self.dir.path().join(format!("ledger-{port}.sqlite")))
                .args(flags)
                .env("QUITTANCE_FACILITATOR_KEY", hex_key(&PrivateKeySigner::from(self.anvil.keys()[1].clone())))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        ))
    }

    /// `quittance serve` selling `/report` for the token, settled by the facilitator at `facilitator_url`.
    fn serve(&self, port: u16, facilitator_url: &str, flags: &[&str]) -> eyre::Result<Killed> {
        let payee = PrivateKeySigner::from_bytes(&keccak256("limits payee"))?.address();
        Ok(Killed(
            Command::new(env!("CARGO_BIN_EXE_quittance"))
                .args(["serve", "--rpc-url", self.anvil.endpoint().as_str(), "--facilitator-url", facilitator_url])
                .args(["--token", &self.token.to_string(), "--pay-to", &payee.to_string()])
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(flags)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        ))
    }
}

/// A GET on a connection of its own (closed after the answer, so it holds nothing on the server).
async fn get(url: &str) -> reqwest::Result<reqwest::Response> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(10)).build()?;
    client.get(url).send().await
}

/// The descriptors a process holds.
fn descriptors(pid: u32) -> eyre::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// Whether the server has closed `stream` (or answered on it, which is how a refused connection is closed).
fn closed(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 256];
    !matches!(stream.try_read(&mut buf), Err(err) if err.kind() == std::io::ErrorKind::WouldBlock)
}

/// Opens `count` connections to `addr`, sending `prefix` on each.
async fn connections(addr: SocketAddr, count: usize, prefix: &[u8]) -> eyre::Result<Vec<TcpStream>> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr).await?;
        if !prefix.is_empty() {
            stream.write_all(prefix).await?;
        }
        streams.push(stream);
    }
    Ok(streams)
}

/// Waits until the server closes every stream (reading past anything it answers), or `within` passes; returns
/// how many are still open.
async fn wait_closed(streams: &mut [TcpStream], within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    let mut open = 0;
    for stream in streams.iter_mut() {
        let mut buf = [0u8; 256];
        loop {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => continue,
                Err(_) => {
                    open += 1;
                    break;
                }
            }
        }
    }
    open
}

/// Slow-loris against one server: connections that start a request and never finish its headers are closed
/// after the header timeout (2 s here), and a normal request is served during the attack and after.
async fn slow_loris(port: u16, probe: &str) -> eyre::Result<()> {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let started = Instant::now();
    let mut attack = connections(addr, 200, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(attack.iter().filter(|stream| closed(stream)).count(), 0, "closed before the header timeout");
    let response = get(&format!("http://{addr}{probe}")).await?;
    assert_eq!(response.status(), 200, "a normal request is served during the attack");
    let open = wait_closed(&mut attack, Duration::from_secs(8)).await;
    assert_eq!(open, 0, "slow-loris connections are closed");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1500), "closed after {elapsed:?}, before the header timeout");
    assert_eq!(get(&format!("http://{addr}{probe}")).await?.status(), 200);
    Ok(())
}

#[tokio::test]
async fn slow_loris_connections_are_closed_after_the_header_timeout_while_others_are_served() -> eyre::Result<()> {
    let services = Services::new().await?;
    let (facilitator_port, serve_port) = (free_port(), free_port());
    let flags = ["--header-timeout-secs", "2", "--idle-timeout-secs", "60"];
    let _facilitator = services.facilitator(facilitator_port, None, &flags)?;
    let _server = services.serve(serve_port, &format!("http://127.0.0.1:{facilitator_port}/"), &flags)?;
    wait_for(&format!("http://127.0.0.1:{facilitator_port}/supported")).await?;
    wait_for(&format!("http://127.0.0.1:{serve_port}/")).await?;

    slow_loris(facilitator_port, "/supported").await?;
    slow_loris(serve_port, "/").await?;
    Ok(())
}

/// Idle connections against one server capped at 50: beyond the cap connections are closed at once, the
/// process's descriptors stay bounded, the idle ones are closed after the idle timeout (2 s here), and
/// normal requests are served after.
async fn idle_flood(port: u16, pid: u32, probe: &str) -> eyre::Result<()> {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let url = format!("http://{addr}{probe}");
    assert_eq!(get(&url).await?.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = descriptors(pid)?;

    let mut idle = connections(addr, 150, b"").await?;
    // Those beyond the cap are closed at once; the 50 others stay open until the idle timeout.
    let settled = Instant::now();
    let mut open = idle.iter().filter(|stream| !closed(stream)).count();
    while open > 50 && settled.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        open = idle.iter().filter(|stream| !closed(stream)).count();
    }
    assert!(open <= 50, "{open} connections held beyond the cap of 50");
    let held = descriptors(pid)?;
    assert!(held <= baseline + 50 + 5, "{held} descriptors with 150 idle connections (baseline {baseline}, cap 50)");

    // A request while the cap is reached is refused at once, not held.
    let asked = Instant::now();
    let refused = get(&url).await;
    if let Ok(response) = &refused {
        assert_eq!(response.status(), 503, "a request beyond the cap was served");
    }
    assert!(asked.elapsed() < Duration::from_secs(2), "a request beyond the cap was held {:?}", asked.elapsed());

    let open = wait_closed(&mut idle, Duration::from_secs(8)).await;
    assert_eq!(open, 0, "idle connections are closed after the idle timeout");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = descriptors(pid)?;
    assert!(after <= baseline + 2, "{after} descriptors after the idle connections closed (baseline {baseline})");
    assert_eq!(get(&url).await?.status(), 200, "served after the idle connections closed");
    Ok(())
}

#[tokio::test]
async fn idle_connections_are_capped_and_closed_after_the_idle_timeout() -> eyre::Result<()> {
    let services = Services::new().await?;
    let (facilitator_port, serve_port) = (free_port(), free_port());
    let flags = ["--max-connections", "50", "--idle-timeout-secs", "2", "--header-timeout-secs", "10"];
    let facilitator = services.facilitator(facilitator_port, None, &flags)?;
    let server = services.serve(serve_port, &format!("http://127.0.0.1:{facilitator_port}/"), &flags)?;
    wait_for(&format!("http://127.0.0.1:{facilitator_port}/supported")).await?;
    wait_for(&format!("http://127.0.0.1:{serve_port}/")).await?;

    idle_flood(facilitator_port, facilitator.0.id(), "/supported").await?;
    idle_flood(serve_port, server.0.id(), "/").await?;
    Ok(())
}

/// A listener that reads requests and never answers them (but `GET /supported`, answered as a facilitator
/// offering `exact` on the local chain, so `serve` starts); counts the requests it holds.
async fn silent() -> eyre::Result<(SocketAddr, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let asked = Arc::new(AtomicUsize::new(0));
    let count = asked.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(n @ 1..) => request.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                if request.starts_with(b"GET /supported ") {
                    // What `serve` checks at start: exact on the local chain.
                    let body = r#"{"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:31337"}]}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
            });
        }
    });
    Ok((addr, asked))
}

/// A proxy to `upstream` that stops answering when `silent` is set: requests on any connection, old or
/// new, are then read and never passed on.
async fn proxy(upstream: SocketAddr, silent: Arc<AtomicBool>) -> eyre::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let silent = silent.clone();
            tokio::spawn(async move {
                let Ok(node) = TcpStream::connect(upstream).await else { return };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut node_read, mut node_write) = node.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut node_read, &mut client_write).await });
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                    if silent.load(Ordering::SeqCst) {
                        std::future::pending::<()>().await;
                    }
                    if node_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(addr)
}

#[tokio::test]
async fn a_node_that_never_answers_fails_the_start_in_time_and_health_answers_503() -> eyre::Result<()> {
    let services = Services::new().await?;

    // At start: the facilitator gives up within its RPC timeout, saying why.
    let (node, asked) = silent().await?;
    let started = Instant::now();
    let mut process = Killed(
        Command::new(env!("CARGO_BIN_EXE_quittance"))
            .args(["facilitator", "--rpc-url", &format!("http://{node}/"), "--rpc-timeout-secs", "1"])
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .arg("--ledger")
            .arg(services.dir.path().join("silent.sqlite"))
            .env("QUITTANCE_FACILITATOR_KEY", hex_key(&PrivateKeySigner::from(services.anvil.keys()[1].clone())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let status = loop {
        if let Some(status) = process.0.try_wait()? {
            break status;
        }
        eyre::ensure!(started.elapsed() < Duration::from_secs(10), "the facilitator hangs on a silent node");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut process.0.stderr.take().ok_or_else(|| eyre::eyre!("no stderr"))?, &mut stderr)?;
    assert!(!status.success());
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(asked.load(Ordering::SeqCst) >= 1, "the node was asked");

    // Running: a node that stops answering makes /health answer 503 within its bound, in plain words.
    let quiet = Arc::new(AtomicBool::new(false));
    let rpc = proxy(SocketAddr::from(([127, 0, 0, 1], services.anvil.port())), quiet.clone()).await?;
    let port = free_port();
    let _facilitator = services.facilitator(port, Some(&format!("http://{rpc}/")), &[])?;
    let health = format!("http://127.0.0.1:{port}/health");
    wait_for(&health).await?;
    assert_eq!(get(&health).await?.status(), 200);
    quiet.store(true, Ordering::SeqCst);
    let asked = Instant::now();
    let response = get(&health).await?;
    let elapsed = asked.elapsed();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await?;
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["error"], "the chain did not answer within 2s", "{body}");
    assert!(elapsed < Duration::from_secs(5), "/health took {elapsed:?}");
    assert_eq!(get(&format!("http://127.0.0.1:{port}/supported")).await?.status(), 200);
    Ok(())
}

#[tokio::test]
async fn a_facilitator_that_never_answers_does_not_hold_a_paid_request() -> eyre::Result<()> {
    let services = Services::new().await?;
    let (facilitator, asked) = silent().await?;
    let port = free_port();
    let _server = services.serve(port, &format!("http://{facilitator}/"), &["--facilitator-timeout-secs", "2"])?;
    let report = format!("http://127.0.0.1:{port}/report");
    wait_for(&format!("http://127.0.0.1:{port}/")).await?;

    let offer = get(&report).await?;
    assert_eq!(offer.status(), 402);
    let header = offer.headers().get(PAYMENT_REQUIRED).ok_or_else(|| eyre::eyre!("no {PAYMENT_REQUIRED}"))?;
    let required: PaymentRequired = decode_header(header.to_str()?)?;
    let option = required.accepts.iter().find(|o| o.scheme == exact::SCHEME).ok_or_else(|| eyre::eyre!("no exact"))?;
    let agent = PrivateKeySigner::from_bytes(&keccak256("limits agent"))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let payment =
        exact::pay(option, Some(required.resource.clone()), &agent, agent.address(), now, B256::from([7u8; 32]))?;

    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let started = Instant::now();
    let response = client.get(&report).header(PAYMENT_SIGNATURE, encode_header(&payment)).send().await?;
    let elapsed = started.elapsed();
    assert_ne!(response.status(), 200, "served without a facilitator");
    assert!(elapsed < Duration::from_secs(12), "the paid request took {elapsed:?} (facilitator timeout 2 s)");
    assert!(asked.load(Ordering::SeqCst) >= 1, "the paywall asked the facilitator");
    Ok(())
}
