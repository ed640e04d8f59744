//! Paid MCP tools: an rmcp server whose chosen tools are sold through the HTTP paywall's own guard.
//!
//! A paid tool call is carried, inside the process, as a request to the paywall priced for that tool
//! (resource `mcp://tool/<name>`), with the payment found in `params._meta["x402/payment"]` as its
//! `PAYMENT-SIGNATURE`. So a tool sells exactly as a route does: the same prices and schemes, the same
//! facilitator (in-process or over HTTP), the same payment store (reserved before the tool runs, the paid
//! result kept and given again to a copy of the payment, one payment for one execution), the same reason
//! codes. The paywall's answer is turned back into MCP as x402's MCP transport says: a 402 becomes a
//! payment-required tool result (`isError`, the `PaymentRequired` object as `structuredContent` and as the
//! text content), and a paid result carries the settlement in `result._meta["x402/payment-response"]`.

use crate::{PAYMENT_META, PAYMENT_RESPONSE_META};
use axum::{
    body::Body,
    http::{HeaderMap, Request, StatusCode},
    response::Response,
};
use quittance_paywall::{FacilitatorClient, MAX_PAID_ANSWER_BYTES, Paywall, PaywallLayer};
use quittance_x402::{
    PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, PaymentRequired, SettleResponse, decode_header,
    encode_header,
};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::*,
    service::{MaybeSendFuture, NotificationContext, RequestContext, SubscriptionContext},
};
use serde_json::{Value, json};
use std::{borrow::Cow, collections::HashMap, convert::Infallible, future::Future, sync::Arc};
use tower::{Layer, ServiceExt};

/// The origin of a paid tool's resource URL: tool `name` is sold as `mcp://tool/<name>` (as the official
/// SDKs name it). Build the [`Paywall`] of [`PaidTools`] with it ([`paywall`]).
pub const TOOL_BASE: &str = "mcp://tool";

/// Marks, on the paywall's internal answers, which came from the tool itself (and how).
const FROM_TOOL: &str = "x-quittance-mcp-tool";

/// A paywall for MCP tools: resources named `mcp://tool/<name>`, no payment page.
pub fn paywall<F: FacilitatorClient>(facilitator: Arc<F>) -> Paywall<F> {
    Paywall::new(facilitator, TOOL_BASE).with_page(None)
}

/// An MCP server (any rmcp [`ServerHandler`], e.g. one with a tool router) whose named tools are
/// paid. Everything else (listing tools, free tools, resources, prompts) goes to the inner server as it is.
///
/// ```ignore
/// let paywall = quittance_mcp::paywall(facilitator);
/// let server = PaidTools::new(MyServer::default()).tool("report", paywall.price(price));
/// server.serve(rmcp::transport::stdio()).await?;
/// ```
#[derive(Debug)]
pub struct PaidTools<H, F> {
    inner: Arc<H>,
    tools: Arc<HashMap<String, PaywallLayer<F>>>,
}

impl<H, F> Clone for PaidTools<H, F> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), tools: self.tools.clone() }
    }
}

impl<H, F> PaidTools<H, F> {
    /// `inner` with no paid tool yet.
    pub fn new(inner: H) -> Self {
        Self { inner: Arc::new(inner), tools: Arc::default() }
    }

    /// The same server selling the tool `name` behind `layer`: one of the paywall's priced layers
    /// ([`Paywall::price`], [`Paywall::price_upto`], [`Paywall::price_exact_permit2`]) of a paywall made
    /// with [`paywall`] (or on [`TOOL_BASE`]).
    pub fn tool(self, name: impl Into<String>, layer: PaywallLayer<F>) -> Self {
        let mut tools = Arc::unwrap_or_clone(self.tools);
        tools.insert(name.into(), layer);
        Self { inner: self.inner, tools: Arc::new(tools) }
    }

    /// Whether the tool `name` is paid.
    pub fn is_paid(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }
}

/// Everything but a paid tool's call goes to the inner server as it is.
#[allow(deprecated)] // the legacy methods are delegated as they are
impl<H, F> ServerHandler for PaidTools<H, F>
where
    H: ServerHandler,
    F: FacilitatorClient,
{
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match self.tools.get(request.name.as_ref()) {
            Some(layer) => self.paid(layer.clone(), request, context).await,
            None => self.inner.call_tool(request, context).await,
        }
    }

    fn ping(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        self.inner.ping(context)
    }

    fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<InitializeResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.initialize(request, context)
    }

    fn negotiate_initialize(&self, request: &InitializeRequestParams) -> Result<InitializeResult, ErrorData> {
        self.inner.negotiate_initialize(request)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<DiscoverResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.discover(context)
    }

    fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CompleteResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.complete(request, context)
    }

    fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        self.inner.set_level(request, context)
    }

    fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetPromptResponse, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.get_prompt(request, context)
    }

    fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListPromptsResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.list_prompts(request, context)
    }

    fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourcesResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.list_resources(request, context)
    }

    fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourceTemplatesResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.list_resource_templates(request, context)
    }

    fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceResponse, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.read_resource(request, context)
    }

    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    fn listen(
        &self,
        context: SubscriptionContext,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        self.inner.listen(context)
    }

    fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        self.inner.subscribe(request, context)
    }

    fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        self.inner.unsubscribe(request, context)
    }

    fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListToolsResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.list_tools(request, context)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }

    fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CustomResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.on_custom_request(request, context)
    }

    fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_cancelled(notification, context)
    }

    fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_progress(notification, context)
    }

    fn on_initialized(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_initialized(context)
    }

    fn on_roots_list_changed(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_roots_list_changed(context)
    }

    fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_custom_notification(notification, context)
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetTaskResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.get_task(request, context)
    }

    fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        self.inner.update_task(request, context)
    }

    fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        self.inner.cancel_task(request, context)
    }

    fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListSkillsResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.list_skills(request, context)
    }

    fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetSkillResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.get_skill(request, context)
    }

    fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceDirectoryResult, ErrorData>> + MaybeSendFuture + '_ {
        self.inner.read_resource_directory(request, context)
    }
}

impl<H, F> PaidTools<H, F>
where
    H: ServerHandler,
    F: FacilitatorClient,
{
    /// One paid call: through the paywall's guard, the tool itself as the guarded handler.
    async fn paid(
        &self,
        layer: PaywallLayer<F>,
        mut call: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // The payment is the seller's business, not the tool's: taken out of both places rmcp keeps `_meta`.
        let from_params = call.meta.as_mut().and_then(|meta| meta.0.0.remove(PAYMENT_META));
        let from_context = context.meta.0.0.remove(PAYMENT_META);
        let payment = from_params.or(from_context);
        let name = call.name.to_string();
        let mut request = Request::builder().method("POST").uri(format!("/{name}"));
        if let Some(payment) = payment {
            request = request.header(PAYMENT_SIGNATURE, payment_header(payment));
        }
        let request = request
            .body(Body::empty())
            .map_err(|e| ErrorData::invalid_params(format!("tool name {name:?} cannot be sold: {e}"), None))?;
        let inner = self.inner.clone();
        let handler = tower::service_fn(move |_: Request<Body>| {
            let (inner, call, context) = (inner.clone(), call.clone(), context.clone());
            async move { Ok::<_, Infallible>(run(inner.as_ref(), call, context).await) }
        });
        let response = match layer.layer(handler).oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        answer(response).await.map(CallToolResponse::Complete)
    }
}

/// The payment from `_meta` as a `PAYMENT-SIGNATURE` value: the JSON object (or JSON text) it carries,
/// encoded as the header is; anything else reaches the paywall as what it is and is refused there
/// (`invalid_payload`).
fn payment_header(payment: Value) -> String {
    let payment = match payment {
        Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        other => other,
    };
    encode_header(&payment)
}

/// Runs the tool, as the paywall's handler: a completed result is a 200 (settled), a failed one (an error
/// result, an MCP error, or anything but one complete result) is a 500, so that nothing is settled for it.
async fn run<H: ServerHandler>(
    inner: &H,
    call: CallToolRequestParams,
    context: RequestContext<RoleServer>,
) -> Response {
    let (status, kind, body) = match inner.call_tool(call, context).await {
        Ok(CallToolResponse::Complete(result)) if result.is_error != Some(true) => {
            (StatusCode::OK, "result", serde_json::to_vec(&result))
        }
        Ok(CallToolResponse::Complete(result)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "result", serde_json::to_vec(&result))
        }
        Ok(_) => {
            let result = CallToolResult::error(vec![ContentBlock::text(
                "a paid tool must complete in one call (no task, no input request); nothing was charged",
            )]);
            (StatusCode::INTERNAL_SERVER_ERROR, "result", serde_json::to_vec(&result))
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, "error", serde_json::to_vec(&error)),
    };
    let mut response = Response::new(Body::from(body.unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().insert(FROM_TOOL, axum::http::HeaderValue::from_static(kind));
    response
}

/// The paywall's answer, in MCP.
async fn answer(response: Response) -> Result<CallToolResult, ErrorData> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_PAID_ANSWER_BYTES)
        .await
        .map_err(|e| ErrorData::internal_error(format!("the paid answer could not be read: {e}"), None))?;
    let receipt: Option<SettleResponse> = header(&parts.headers, PAYMENT_RESPONSE);
    let from_tool = parts.headers.get(FROM_TOOL).and_then(|v| v.to_str().ok());
    if parts.status.is_success() {
        let mut result: CallToolResult = serde_json::from_slice(&bytes)
            .map_err(|e| ErrorData::internal_error(format!("a kept paid result is unreadable: {e}"), None))?;
        if let Some(receipt) = receipt {
            result.meta.get_or_insert_default().0.insert(PAYMENT_RESPONSE_META.into(), json!(receipt));
        }
        return Ok(result);
    }
    if parts.status == StatusCode::PAYMENT_REQUIRED {
        let required: PaymentRequired = header(&parts.headers, PAYMENT_REQUIRED)
            .ok_or_else(|| ErrorData::internal_error("the paywall answered 402 without its offer", None))?;
        return Ok(payment_required(&required, receipt));
    }
    match from_tool {
        // The tool failed: its own answer, nothing charged.
        Some("result") => serde_json::from_slice(&bytes)
            .map_err(|e| ErrorData::internal_error(format!("a failed tool result is unreadable: {e}"), None)),
        Some(_) => Err(serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| ErrorData::internal_error("the tool failed; nothing was charged", None))),
        // The paywall refused the request itself (a malformed payment identifier: 400; another payment under
        // the same identifier: 409; an answer too large to keep: 500): an error, with its status and body.
        None => {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let message = body
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            let data = json!({ "status": parts.status.as_u16(), "body": body });
            Err(match parts.status.is_server_error() {
                true => ErrorData::internal_error(message, Some(data)),
                false => ErrorData::invalid_params(message, Some(data)),
            })
        }
    }
}

/// The payment-required tool result of x402's MCP transport: `isError`, the `PaymentRequired` object as
/// structured content and as JSON text; a failed settlement's receipt under `x402/payment-response` in it.
pub fn payment_required(required: &PaymentRequired, receipt: Option<SettleResponse>) -> CallToolResult {
    let mut object = serde_json::to_value(required).unwrap_or(Value::Null);
    if let (Some(receipt), Some(map)) = (receipt, object.as_object_mut()) {
        map.insert(PAYMENT_RESPONSE_META.into(), json!(receipt));
    }
    let mut result = CallToolResult::error(vec![ContentBlock::text(object.to_string())]);
    result.structured_content = Some(object);
    result
}

fn header<T: serde::de::DeserializeOwned>(headers: &HeaderMap, name: &str) -> Option<T> {
    decode_header(headers.get(name)?.to_str().ok()?).ok()
}
