//! The agent pays MCP tools: a tool call answered with x402's payment-required result is paid within the
//! agent's policy, sent again with the payment in `params._meta["x402/payment"]`, and its result returned
//! with the settlement from `result._meta["x402/payment-response"]`.
//!
//! The payment itself is the agent's, unchanged: each call reaches the agent as an HTTP request to a
//! bridge on the loopback interface that carries it to the MCP server and its answer back (a
//! payment-required result as a 402 with `PAYMENT-REQUIRED`, the settlement as `PAYMENT-RESPONSE`). So the
//! policy, the signing, the durable spend record and the handling of payments in doubt (sent again when
//! the answer is lost, resolved before anything new is signed, also after a restart) are those of HTTP
//! payments. A purchase is the server, the tool and its arguments: the same call is the same purchase.

use crate::{PAYMENT_META, PAYMENT_RESPONSE_META};
use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use quittance_agent::{Agent, AgentError, Purchase, SpendState};
use quittance_x402::{
    ErrorReason, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, PaymentPayload, PaymentRequired,
    SettleResponse, decode_header, encode_header,
};
use rmcp::{
    RoleClient,
    model::{CallToolRequestParams, CallToolResult, ContentBlock, JsonObject},
    service::{Peer, ServiceError},
};
use serde_json::Value;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

/// Why a paid tool call failed.
#[derive(Debug, thiserror::Error)]
pub enum McpPayError {
    /// The agent did not pay, or the payment was refused or is in doubt (see [`AgentError`]).
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The MCP server answered with an error, or its answer was lost (not a tool result). A payment sent for
    /// the call stays where `state` says (in doubt: the next call of the same purchase sends it again, and a
    /// server that kept its result answers it).
    #[error("no tool result ({answer}); the payment (spend {spend:?}) is {state:?}")]
    Unanswered {
        /// What came instead.
        answer: String,
        /// The payment's spend in the record, when one was sent.
        spend: Option<i64>,
        /// Where it stands.
        state: Option<SpendState>,
    },
    /// The bridge could not start (no loopback socket).
    #[error("the payment bridge could not start: {0}")]
    Bridge(String),
}

/// The result of a tool call, with what it cost.
#[derive(Debug)]
pub struct PaidCall {
    /// The tool's result (for a paid call: with the settlement in its `_meta`).
    pub result: CallToolResult,
    /// The settlement, when the call was paid and the server sent one.
    pub receipt: Option<SettleResponse>,
    /// The payment sent, when the call was paid.
    pub payment: Option<PaymentPayload>,
    /// The payment's spend in the agent's record.
    pub spend: Option<i64>,
    /// Where that spend stands after this answer.
    pub state: Option<SpendState>,
}

/// One call the bridge is carrying.
#[derive(Clone)]
struct Call {
    peer: Peer<RoleClient>,
    params: CallToolRequestParams,
}

type Calls = Arc<Mutex<HashMap<String, Call>>>;

/// An agent that pays MCP tools: [`McpPayer::call_tool`] on any rmcp client peer (stdio, streamable HTTP).
#[derive(Clone)]
pub struct McpPayer {
    agent: Agent,
    base: String,
    calls: Calls,
    http: reqwest::Client,
}

impl std::fmt::Debug for McpPayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpPayer").field("agent", &self.agent.address()).field("bridge", &self.base).finish()
    }
}

impl McpPayer {
    /// An MCP client paying as `agent`; starts its bridge on the loopback interface (a task of the runtime,
    /// serving only the calls this payer is making).
    pub async fn new(agent: Agent) -> Result<Self, McpPayError> {
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| McpPayError::Bridge(e.to_string()))?;
        let address = listener.local_addr().map_err(|e| McpPayError::Bridge(e.to_string()))?;
        let calls = Calls::default();
        let app = Router::new().route("/call/{token}", post(bridge)).with_state(calls.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(%err, "the MCP payment bridge stopped");
            }
        });
        // No timeout of its own: the agent's client bounds the whole exchange.
        let http = reqwest::Client::builder().no_proxy().build().map_err(|e| McpPayError::Bridge(e.to_string()))?;
        Ok(Self { agent, base: format!("http://{address}"), calls, http })
    }

    /// The agent.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Calls `params` on `peer`, paying within the policy when the tool asks. `server` names the MCP
    /// server: the host the policy counts the payment against (for a streamable HTTP server its URL's host;
    /// for a stdio server a name of the caller's choice), and part of the purchase's key.
    pub async fn call_tool(
        &self,
        peer: &Peer<RoleClient>,
        server: &str,
        params: CallToolRequestParams,
    ) -> Result<PaidCall, McpPayError> {
        let key = purchase_key(server, &params);
        let token = alloy::primitives::B256::random().to_string();
        let _registered = Registered::new(&self.calls, token.clone(), Call { peer: peer.clone(), params });
        let request = self
            .http
            .post(format!("{}/call/{token}", self.base))
            .build()
            .map_err(|e| McpPayError::Bridge(e.to_string()))?;
        let purchase = Purchase { key, host: server.to_owned() };
        let paid = self.agent.send_for(request, &purchase).await?;
        let status = paid.response.status();
        let unanswered = |answer: String| McpPayError::Unanswered { answer, spend: paid.spend, state: paid.state };
        let body = match paid.response.bytes().await {
            Ok(body) => body,
            Err(err) => return Err(unanswered(err.to_string())),
        };
        let result: CallToolResult = match serde_json::from_slice(&body) {
            Ok(result) => result,
            Err(_) if status.is_success() => return Err(unanswered("an unreadable tool result".into())),
            Err(_) => return Err(unanswered(String::from_utf8_lossy(&body).into_owned())),
        };
        Ok(PaidCall { result, receipt: paid.receipt, payment: paid.payment, spend: paid.spend, state: paid.state })
    }
}

/// The spend record's key of a tool call: `MCP <server> <tool> <arguments>`.
pub fn purchase_key(server: &str, params: &CallToolRequestParams) -> String {
    let arguments = params.arguments.clone().map(Value::Object).unwrap_or(Value::Null);
    format!("MCP {server} {} {arguments}", params.name)
}

/// A call registered on the bridge for as long as it runs.
struct Registered {
    calls: Calls,
    token: String,
}

impl Registered {
    fn new(calls: &Calls, token: String, call: Call) -> Self {
        calls.lock().unwrap_or_else(PoisonError::into_inner).insert(token.clone(), call);
        Self { calls: calls.clone(), token }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.token);
    }
}

/// The bridge: the agent's request carried to the MCP server as a tool call, its answer carried back.
async fn bridge(State(calls): State<Calls>, Path(token): Path<String>, headers: HeaderMap, _: Bytes) -> Response {
    let Some(Call { peer, mut params }) = calls.lock().unwrap_or_else(PoisonError::into_inner).get(&token).cloned()
    else {
        return (StatusCode::NOT_FOUND, "no such call").into_response();
    };
    if let Some(payment) = headers.get(PAYMENT_SIGNATURE).and_then(|v| v.to_str().ok()) {
        let Ok(payment) = decode_header::<Value>(payment) else {
            return (StatusCode::BAD_REQUEST, "an unreadable payment").into_response();
        };
        params.meta.get_or_insert_default().0.0.insert(PAYMENT_META.into(), payment);
    }
    match peer.call_tool(params).await {
        Ok(result) => carried(result),
        Err(ServiceError::McpError(error)) => {
            // A refusal of the paywall's own (a payment identifier's conflict: 409) keeps its status.
            let status = error
                .data
                .as_ref()
                .and_then(|d| d.get("status"))
                .and_then(Value::as_u64)
                .and_then(|s| StatusCode::from_u16(u16::try_from(s).ok()?).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, error.message.to_string()).into_response()
        }
        // Lost on the way: the agent sends the same payment again, or leaves it in doubt.
        Err(other) => (StatusCode::BAD_GATEWAY, other.to_string()).into_response(),
    }
}

/// A tool result as the agent reads answers.
fn carried(result: CallToolResult) -> Response {
    if let Some((required, receipt)) = payment_required(&result) {
        let mut response = StatusCode::PAYMENT_REQUIRED.into_response();
        let headers = response.headers_mut();
        insert(headers, PAYMENT_REQUIRED, &encode_header(&required));
        if let Some(receipt) = receipt {
            insert(headers, PAYMENT_RESPONSE, &encode_header(&receipt));
        }
        if required.error.as_deref() == Some(ErrorReason::SettlementPending.to_string().as_str()) {
            headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        return response;
    }
    let receipt: Option<SettleResponse> = result
        .meta
        .as_ref()
        .and_then(|meta| meta.0.get(PAYMENT_RESPONSE_META))
        .and_then(|value| serde_json::from_value(value.clone()).ok());
    // A failed tool: nothing was charged for it, as with a failed handler behind the paywall.
    let status = if result.is_error == Some(true) { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
    let mut response = (status, serde_json::to_vec(&result).unwrap_or_default()).into_response();
    if let Some(receipt) = receipt {
        insert(response.headers_mut(), PAYMENT_RESPONSE, &encode_header(&receipt));
    }
    response
}

/// The `PaymentRequired` of a payment-required tool result (from its structured content, else its first
/// text content), with the failed settlement's receipt it may carry.
pub fn payment_required(result: &CallToolResult) -> Option<(PaymentRequired, Option<SettleResponse>)> {
    if result.is_error != Some(true) {
        return None;
    }
    let text = || match result.content.first() {
        Some(ContentBlock::Text(text)) => serde_json::from_str::<Value>(&text.text).ok(),
        _ => None,
    };
    let object: JsonObject = match result.structured_content.clone().or_else(text)? {
        Value::Object(object) => object,
        _ => return None,
    };
    let receipt = object.get(PAYMENT_RESPONSE_META).and_then(|v| serde_json::from_value(v.clone()).ok());
    let mut offer = object;
    offer.remove(PAYMENT_RESPONSE_META);
    let required: PaymentRequired = serde_json::from_value(Value::Object(offer)).ok()?;
    (!required.accepts.is_empty()).then_some((required, receipt))
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}
