//! `quittance serve --config`: the example route table loads, bad tables are refused naming the file, the
//! route and the field, and a served table sells each route at its own price (as processes on anvil).

use crate::commands::{Killed, free_port, hex_key, start_facilitator, wait_for};
use alloy::{
    network::EthereumWallet,
    primitives::{U256, keccak256},
    providers::ProviderBuilder,
    signers::local::PrivateKeySigner,
};
use quittance_bindings::TestStablecoin;
use quittance_chain::anvil::spawn_anvil;
use quittance_cli::routes::{self, RouteScheme};
use std::{
    path::Path,
    process::{Command, Stdio},
};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/routes.example.toml");

#[test]
fn the_example_route_table_loads() {
    let table = routes::read(Path::new(EXAMPLE)).expect("the example is valid");
    let paths: Vec<&str> = table.routes.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/report", "/forecast"]);
    let forecast = &table.routes[1];
    assert!(forecast.units && forecast.settle_before_serving);
    assert_eq!(forecast.scheme, RouteScheme::Exact);
    assert_eq!(forecast.mime_type, "text/plain");
    assert_eq!(forecast.body, b"sunny, 24 C");
    assert_eq!(table.routes[0].price.resolve(6, false), Ok(U256::from(10_000)));
}

#[test]
fn bad_route_tables_name_the_file_the_route_and_the_field() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let check = |text: &str, expected: &str| {
        let file = dir.path().join("routes.toml");
        std::fs::write(&file, text).expect("written");
        let err = routes::read(&file).expect_err(text).to_string();
        let prefix = format!("{}: ", file.display());
        assert!(err.starts_with(&prefix), "{err}");
        assert!(err[prefix.len()..].contains(expected), "{err} lacks {expected:?}");
    };
    let route = |extra: &str| format!("[[route]]\npath = \"/a\"\nbody = \"x\"\n{extra}\n");
    check("", "no routes");
    check(&route("price = \"0\""), "route /a: price: the amount must be more than zero");
    check(&route("price = \"ten\""), "route /a: price: \"ten\" is not an amount");
    check(&route("price = \"1\"\nscheme = \"fast\""), "unknown variant `fast`");
    check(&route("price = \"1\"\nprise = \"1\""), "unknown field `prise`");
    check(&route("price = \"1\"\npay_to = \"0x12\""), "pay_to");
    check(&route("price = \"1\"\nscheme = \"upto\"\ninvoice = true"), "route /a: invoice: only an `exact` route");
    check(&route("price = \"1\"\nfile = \"x.txt\""), "route /a: file: give a body or a file, not both");
    check("[[route]]\npath = \"/a\"\nprice = \"1\"\n", "route /a: body: missing");
    check("[[route]]\npath = \"a\"\nprice = \"1\"\nbody = \"x\"\n", "route a: path: \"a\" is not a path");
    check(&format!("{}{}", route("price = \"1\""), route("price = \"2\"")), "route /a: path: appears twice");
    check("[[route]]\npath = \"/a\"\nprice = \"1\"\nfile = \"missing.txt\"\n", "route /a: file: cannot read");
}

/// `serve --config` with the example table sells both routes at their prices (the second settled before
/// serving), advertises the port it bound with `:0`, and refuses a facilitator that lacks a scheme.
#[tokio::test]
async fn serve_sells_every_route_of_its_table() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let rpc = ProviderBuilder::new().wallet(EthereumWallet::from(deployer.clone())).connect_http(anvil.endpoint_url());
    let token = TestStablecoin::deploy(&rpc, "USD Coin".into(), "USDC".into(), "2".into(), deployer.address()).await?;
    let agent = PrivateKeySigner::from_bytes(&keccak256("routes agent"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("routes payee"))?.address();
    token.mint(agent.address(), U256::from(1_000_000u64)).send().await?.get_receipt().await?;

    let dir = tempfile::tempdir()?;
    let quittance = env!("CARGO_BIN_EXE_quittance");
    let (_facilitator, facilitator_port) = start_facilitator(&anvil, &dir.path().join("ledger.sqlite"), &[]).await?;
    let serve = |facilitator: &str, listen: &str| {
        let mut command = Command::new(quittance);
        command
            .args(["serve", "--rpc-url", anvil.endpoint().as_str(), "--config", EXAMPLE])
            .args(["--facilitator-url", facilitator, "--page-title", "Market reports"])
            .args(["--token", &token.address().to_string(), "--pay-to", &payee.to_string()])
            .args(["--listen", listen])
            .arg("--store")
            .arg(dir.path().join("store.sqlite"));
        command
    };
    let mut child =
        serve(&format!("http://127.0.0.1:{facilitator_port}/"), "127.0.0.1:0").stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| eyre::eyre!("no stdout"))?;
    let server = Killed(child);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = lines.next().ok_or_else(|| eyre::eyre!("serve printed nothing"))??;
    let second = lines.next().ok_or_else(|| eyre::eyre!("serve printed one line"))??;
    let origin = first
        .strip_prefix("serving ")
        .and_then(|rest| rest.split("/report").next())
        .ok_or_else(|| eyre::eyre!("unexpected line {first}"))?
        .to_owned();
    assert!(!origin.ends_with(":0"), "the bound port is advertised: {first}");
    assert!(first.contains("0.01 of the token"), "{first}");
    assert!(
        second.contains("/forecast (paid, 0.025 of the token") && second.contains("settled before serving"),
        "{second}"
    );
    wait_for(&format!("{origin}/")).await?;

    let pay = |path: &str| {
        Command::new(quittance)
            .args(["pay", &format!("{origin}{path}"), "--json", "--show-headers"])
            .args(["--token", &token.address().to_string(), "--budget", "1"])
            .arg("--record")
            .arg(dir.path().join("spend.sqlite"))
            .env("QUITTANCE_AGENT_KEY", hex_key(&agent))
            .output()
    };
    let output = pay("/report")?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(report["status"], 200);
    assert_eq!(report["body"]["report"], "markets are up");
    let output = pay("/forecast")?;
    let headers = String::from_utf8_lossy(&output.stderr);
    assert!(headers.contains("< payment-response: {"), "the receipt header is decoded: {headers}");
    assert!(headers.contains(&format!("> GET {origin}/forecast")), "the request line: {headers}");
    assert!(
        headers.lines().any(|l| l.starts_with("> payment-signature: {") && l.contains("\"x402Version\":2")),
        "the payment sent, decoded: {headers}"
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let forecast: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(forecast["status"], 200);
    assert_eq!(token.balanceOf(payee).call().await?, U256::from(35_000u64));

    // A browser gets the paywall page, titled as asked; with --no-page the bare 402.
    let browser = |url: &str| {
        reqwest::Client::new()
            .get(url)
            .header("accept", "text/html,application/xhtml+xml")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
            .send()
    };
    let page = browser(&format!("{origin}/report")).await?;
    assert_eq!(page.status(), 402);
    assert!(page.text().await?.contains("<title>Market reports</title>"), "the page's title");
    drop(server);
    let port = free_port();
    let mut bare = serve(&format!("http://127.0.0.1:{facilitator_port}/"), &format!("127.0.0.1:{port}"));
    bare.arg("--no-page").stdout(Stdio::null()).stderr(Stdio::null());
    let _bare = Killed(bare.spawn()?);
    wait_for(&format!("http://127.0.0.1:{port}/")).await?;
    let answer = browser(&format!("http://127.0.0.1:{port}/report")).await?;
    assert_eq!(answer.status(), 402);
    assert!(answer.headers().contains_key("payment-required"));
    assert_eq!(answer.json::<serde_json::Value>().await?["x402Version"], 1, "the bare 402's body, not a page");

    // A facilitator that does not settle a scheme a route offers is named, with the scheme and the network.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let lacking = format!("http://{}/", listener.local_addr()?);
    let kinds = serde_json::json!({"kinds": [{"x402Version": 2, "scheme": "upto", "network": "eip155:31337"}]});
    let app = axum::Router::new().route("/supported", axum::routing::get(move || async move { axum::Json(kinds) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut refused = serve(&lacking, "127.0.0.1:0");
    let output = tokio::task::spawn_blocking(move || refused.output()).await??;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("the facilitator at {lacking} does not support the scheme exact on eip155:31337")),
        "{stderr}"
    );

    // A facilitator that does not answer is named.
    let dead = format!("http://127.0.0.1:{}/", free_port());
    let output = serve(&dead, "127.0.0.1:0").output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(&format!("could not reach the facilitator at {dead}")), "{stderr}");
    Ok(())
}

/// On a chain `quittance deploy` prepared (Permit2, the proxies at their canonical addresses), a table of an
/// `exact`-over-Permit2 route and an `upto` route is sold to `quittance pay`: each moves exactly its price
/// (`upto` with no usage reported settles its maximum), through Permit2, from an agent that approved it once.
#[tokio::test]
async fn serve_sells_permit2_and_upto_routes_on_a_deployed_chain() -> eyre::Result<()> {
    use alloy::{network::TransactionBuilder, providers::Provider, rpc::types::TransactionRequest};
    let anvil = spawn_anvil()?;
    let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let agent = PrivateKeySigner::from_bytes(&keccak256("permit2 routes agent"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("permit2 routes payee"))?.address();
    let dir = tempfile::tempdir()?;
    let quittance = env!("CARGO_BIN_EXE_quittance");
    let manifest = dir.path().join("31337.json");
    let deployed = Command::new(quittance)
        .args(["deploy", "--rpc-url", anvil.endpoint().as_str(), "--fund", &agent.address().to_string(), "--out"])
        .arg(&manifest)
        .env("QUITTANCE_DEPLOYER_KEY", hex_key(&deployer))
        .output()?;
    assert!(deployed.status.success(), "{}", String::from_utf8_lossy(&deployed.stderr));
    let said = String::from_utf8_lossy(&deployed.stdout);
    assert!(said.contains("Permit2 and x402's Permit2 proxies installed"), "{said}");
    let token = quittance_deploy::Manifest::read(&manifest)?.address("TestStablecoin").expect("the test token");

    // The agent approves Permit2 once (the agent itself never sends an approval).
    let rpc = ProviderBuilder::new().wallet(EthereumWallet::from(deployer.clone())).connect_http(anvil.endpoint_url());
    let gas = TransactionRequest::default().with_to(agent.address()).with_value(U256::from(10u64).pow(U256::from(17)));
    rpc.send_transaction(gas).await?.get_receipt().await?;
    let as_agent =
        ProviderBuilder::new().wallet(EthereumWallet::from(agent.clone())).connect_http(anvil.endpoint_url());
    let erc20 = TestStablecoin::new(token, &as_agent);
    erc20.approve(quittance_deploy::PERMIT2, U256::MAX).send().await?.get_receipt().await?;
    let before = erc20.balanceOf(agent.address()).call().await?;

    let table = dir.path().join("routes.toml");
    std::fs::write(
        &table,
        r#"
[[route]]
path = "/permit2"
price = "$0.01"
scheme = "exact-permit2"
description = "Paid through Permit2"
body = "permit2 answer"

[[route]]
path = "/metered"
price = "0.05"
scheme = "upto"
description = "At most five cents"
body = "metered answer"
"#,
    )?;
    let (_facilitator, facilitator_port) = start_facilitator(&anvil, &dir.path().join("ledger.sqlite"), &[]).await?;
    let serve_port = free_port();
    let _server = Killed(
        Command::new(quittance)
            .args(["serve", "--rpc-url", anvil.endpoint().as_str(), "--config"])
            .arg(&table)
            .arg("--deployment")
            .arg(&manifest)
            .args(["--facilitator-url", &format!("http://127.0.0.1:{facilitator_port}/")])
            .args(["--pay-to", &payee.to_string(), "--listen", &format!("127.0.0.1:{serve_port}")])
            .arg("--store")
            .arg(dir.path().join("store.sqlite"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for(&format!("http://127.0.0.1:{serve_port}/")).await?;

    let pay = |path: &str| {
        Command::new(quittance)
            .args(["pay", &format!("http://127.0.0.1:{serve_port}{path}"), "--json", "--deployment"])
            .arg(&manifest)
            .args(["--funds-rpc", &format!("eip155:31337={}", anvil.endpoint())])
            .arg("--record")
            .arg(dir.path().join("spend.sqlite"))
            .env("QUITTANCE_AGENT_KEY", hex_key(&agent))
            .output()
    };
    let output = pay("/permit2")?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let paid: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!((paid["status"].as_u64(), paid["body"].as_str()), (Some(200), Some("permit2 answer")), "{paid}");
    assert_eq!(paid["payment"]["scheme"], "exact");
    assert_eq!(erc20.balanceOf(payee).call().await?, U256::from(10_000u64));

    let output = pay("/metered")?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let paid: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!((paid["status"].as_u64(), paid["body"].as_str()), (Some(200), Some("metered answer")), "{paid}");
    assert_eq!(paid["payment"]["scheme"], "upto");
    assert_eq!(paid["receipt"]["amount"], "50000", "no usage reported: the maximum");
    assert_eq!(erc20.balanceOf(payee).call().await?, U256::from(60_000u64));
    assert_eq!(erc20.balanceOf(agent.address()).call().await?, before - U256::from(60_000u64), "exactly the prices");
    Ok(())
}

/// `serve --config` with an `auth-capture` route, in front of `quittance facilitator` on anvil with our
/// collector installed: the payment is held, the route served, the price captured for the payee; a copy of
/// the payment gets the same answer and nothing more moves.
#[tokio::test]
async fn serve_sells_an_auth_capture_route() -> eyre::Result<()> {
    use quittance_bindings::{InvoiceRegistry, PaymentEscrow};
    use quittance_x402::{PAYMENT_REQUIRED, PAYMENT_SIGNATURE, PaymentPayload, PaymentRequired, decode_header};

    let anvil = spawn_anvil()?;
    let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let rpc = ProviderBuilder::new().wallet(EthereumWallet::from(deployer.clone())).connect_http(anvil.endpoint_url());
    let token = TestStablecoin::deploy(&rpc, "USD Coin".into(), "USDC".into(), "2".into(), deployer.address()).await?;
    let registry = InvoiceRegistry::deploy(&rpc, deployer.address()).await?;
    let escrow = *PaymentEscrow::deploy(&rpc, *registry.address()).await?.address();
    quittance_deploy::install_auth_capture(&quittance_chain::RpcChain::http(anvil.endpoint_url()), escrow).await?;
    let agent = PrivateKeySigner::from_bytes(&keccak256("auth-capture agent"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("auth-capture payee"))?.address();
    let seller = PrivateKeySigner::from_bytes(&keccak256("auth-capture seller"))?;
    token.mint(agent.address(), U256::from(1_000_000u64)).send().await?.get_receipt().await?;

    let dir = tempfile::tempdir()?;
    let table = dir.path().join("routes.toml");
    std::fs::write(
        &table,
        "[[route]]\npath = \"/held\"\nprice = \"0.01\"\nscheme = \"auth-capture\"\nbody = \"{\\\"held\\\": true}\"\n",
    )?;
    let quittance = env!("CARGO_BIN_EXE_quittance");
    let (_facilitator, facilitator_port) = start_facilitator(&anvil, &dir.path().join("ledger.sqlite"), &[]).await?;
    let mut child = Command::new(quittance)
        .args(["serve", "--rpc-url", anvil.endpoint().as_str(), "--config"])
        .arg(&table)
        .args(["--facilitator-url", &format!("http://127.0.0.1:{facilitator_port}/")])
        .args(["--token", &token.address().to_string(), "--pay-to", &payee.to_string()])
        .args(["--listen", "127.0.0.1:0"])
        .arg("--store")
        .arg(dir.path().join("store.sqlite"))
        .env("QUITTANCE_ISSUER_KEY", hex_key(&seller))
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| eyre::eyre!("no stdout"))?;
    let _server = Killed(child);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = lines.next().ok_or_else(|| eyre::eyre!("serve printed nothing"))??;
    assert!(first.contains("auth-capture"), "{first}");
    let url = first
        .strip_prefix("serving ")
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| eyre::eyre!("unexpected line {first}"))?
        .to_owned();
    let origin = url.trim_end_matches("/held").to_owned();
    wait_for(&format!("{origin}/")).await?;

    let client = reqwest::Client::new();
    let offer = client.get(&url).send().await?;
    assert_eq!(offer.status(), 402);
    let required: PaymentRequired = decode_header(offer.headers()[PAYMENT_REQUIRED].to_str()?)?;
    let option = &required.accepts[0];
    assert_eq!(option.scheme, "auth-capture");
    assert_eq!(option.extra_str("receiverAuthorizer"), Some(seller.address().to_checksum(None).as_str()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let payload =
        quittance_x402::auth_capture::pay(option, &agent, agent.address(), now, alloy::primitives::B256::random())?;
    let payment = PaymentPayload {
        x402_version: 2,
        resource: Some(required.resource.clone()),
        accepted: option.clone(),
        payload,
        extensions: None,
    };
    let header = quittance_x402::encode_header(&payment);
    for _ in 0..2 {
        let answer = client.get(&url).header(PAYMENT_SIGNATURE, &header).send().await?;
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.json::<serde_json::Value>().await?, serde_json::json!({"held": true}));
        assert_eq!(token.balanceOf(payee).call().await?, U256::from(10_000u64), "captured once");
        assert_eq!(token.balanceOf(agent.address()).call().await?, U256::from(990_000u64), "paid once");
        assert_eq!(token.balanceOf(escrow).call().await?, U256::ZERO, "nothing left held");
    }
    // `quittance pay` pays it too: held, served, captured.
    let output = Command::new(quittance)
        .args(["pay", &url, "--json"])
        .args(["--token", &token.address().to_string(), "--budget", "1"])
        .arg("--record")
        .arg(dir.path().join("spend.sqlite"))
        .env("QUITTANCE_AGENT_KEY", hex_key(&agent))
        .output()?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let paid: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!((&paid["status"], &paid["body"]), (&serde_json::json!(200), &serde_json::json!({"held": true})));
    assert_eq!(token.balanceOf(payee).call().await?, U256::from(20_000u64), "a second payment, captured");
    assert_eq!(token.balanceOf(escrow).call().await?, U256::ZERO, "nothing left held");
    Ok(())
}
