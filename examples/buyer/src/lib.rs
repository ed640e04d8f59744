//! A buyer in a few lines: `reqwest` with Quittance's agent as middleware. Any request through the client
//! that meets a `402` is paid within the budget, once, and retried; the answer carries what was paid.

use alloy::{primitives::Address, primitives::U256, signers::local::PrivateKeySigner};
use quittance_agent::{Agent, Budget, Paying, Payment, Policy, SpendRecord};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

/// A client that pays with `key` on `network`, at most `per_request` units of `token` a request and
/// `per_hour` an hour, remembering its payments in `record`.
pub fn client(
    key: PrivateKeySigner,
    network: &str,
    token: Address,
    per_request: U256,
    per_hour: U256,
    record: Arc<SpendRecord>,
) -> ClientWithMiddleware {
    let budget = Budget { per_request, per_host: per_hour, period: Duration::from_secs(3600), total: per_hour };
    let policy = Policy {
        budgets: BTreeMap::from([(token, budget)]),
        networks: vec![network.into()],
        hosts: None,
        channel_requests: 0,
    };
    let agent = Agent::new(key, policy, record);
    ClientBuilder::new(reqwest::Client::new()).with(Paying::new(agent)).build()
}

/// Gets `url` through `client`: the status, the body, and the payment when one was made.
pub async fn buy(client: &ClientWithMiddleware, url: &str) -> eyre::Result<(u16, String, Option<Payment>)> {
    let response = client.get(url).send().await?;
    let status = response.status().as_u16();
    let payment = response.extensions().get::<Payment>().cloned();
    Ok((status, response.text().await?, payment))
}
