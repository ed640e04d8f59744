//! The paywall middleware.

use crate::{
    FacilitatorClient, Price,
    served::{Served, Taken},
};
use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use quittance_x402::{
    Ambient, ErrorReason, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, PaymentPayload, PaymentPayloadV1,
    PaymentRequired, PaymentRequirementsResponseV1, PaymentRequirementsV1, ResourceInfo, SettleResponse,
    SettlementResponseV1, VerifyRequest, X_PAYMENT, X_PAYMENT_RESPONSE, X402_V1, X402_V2, crosschain, decode_header,
    encode_header,
};
use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tower::{Layer, Service, ServiceExt};

/// A paywall in front of routes: answers `402 Payment Required` with the route's options, and serves a
/// request that carries a valid payment, settling it through the facilitator.
#[derive(Debug)]
pub struct Paywall<F> {
    facilitator: Arc<F>,
    base_url: String,
    ambient: Ambient,
    /// Payments settled before serving, each serving one request.
    served: Arc<Served>,
}

impl<F> Clone for Paywall<F> {
    fn clone(&self) -> Self {
        Self {
            facilitator: self.facilitator.clone(),
            base_url: self.base_url.clone(),
            ambient: self.ambient.clone(),
            served: self.served.clone(),
        }
    }
}

/// One priced route's state.
#[derive(Debug)]
struct Guard<F> {
    paywall: Paywall<F>,
    price: Price,
}

impl<F: FacilitatorClient> Paywall<F> {
    /// A paywall that verifies and settles through `facilitator`. `base_url` is the public origin of the
    /// server (e.g. `https://api.example`): resources are described, and invoices issued, for
    /// `base_url` + the request's path and query.
    pub fn new(facilitator: Arc<F>, base_url: impl Into<String>) -> Self {
        Self {
            facilitator,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            ambient: Ambient::system(),
            served: Arc::default(),
        }
    }

    /// The same paywall reading the time and drawing invoice salts from `ambient` (a simulation's clock and
    /// seed). Layers made before keep the old one.
    pub fn with_ambient(self, ambient: Ambient) -> Self {
        Self { ambient, ..self }
    }

    /// The layer that puts `price` in front of a route (`get(handler).layer(paywall.price(price))`).
    pub fn price(&self, price: Price) -> PaywallLayer<F> {
        PaywallLayer { guard: Arc::new(Guard { paywall: self.clone(), price }) }
    }
}

/// A [`Paywall`] priced for one route: a tower [`Layer`].
#[derive(Debug)]
pub struct PaywallLayer<F> {
    guard: Arc<Guard<F>>,
}

impl<F> Clone for PaywallLayer<F> {
    fn clone(&self) -> Self {
        Self { guard: self.guard.clone() }
    }
}

impl<S, F> Layer<S> for PaywallLayer<F> {
    type Service = PaywallService<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        PaywallService { inner, guard: self.guard.clone() }
    }
}

/// The service a [`PaywallLayer`] wraps a route in.
#[derive(Debug)]
pub struct PaywallService<S, F> {
    inner: S,
    guard: Arc<Guard<F>>,
}

impl<S: Clone, F> Clone for PaywallService<S, F> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), guard: self.guard.clone() }
    }
}

impl<S, F> Service<Request> for PaywallService<S, F>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
    F: FacilitatorClient,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The ready service handles this request; a fresh clone waits for the next one.
        let fresh = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, fresh);
        let guard = self.guard.clone();
        Box::pin(async move { Ok(guarded(guard, request, ready).await) })
    }
}

async fn guarded<S, F>(guard: Arc<Guard<F>>, request: Request, next: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send,
    F: FacilitatorClient,
{
    let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let resource = ResourceInfo {
        url: format!("{}{path}", guard.paywall.base_url),
        description: Some(guard.price.description.clone()),
        mime_type: Some(guard.price.mime_type.clone()),
    };
    let headers = request.headers();
    if let Some(value) = headers.get(PAYMENT_SIGNATURE) {
        match decode(value) {
            Ok(payment) => guard.serve_v2(payment, resource, request, next).await,
            Err(reason) => guard.payment_required(&resource, Some(reason)),
        }
    } else if let Some(value) = headers.get(X_PAYMENT) {
        match decode(value) {
            Ok(payment) => guard.serve_v1(payment, resource, request, next).await,
            Err(reason) => guard.payment_required(&resource, Some(reason)),
        }
    } else {
        guard.payment_required(&resource, None)
    }
}

/// Decodes a payment header; anything unreadable is an `invalid_payload`.
fn decode<T: serde::de::DeserializeOwned>(value: &HeaderValue) -> Result<T, ErrorReason> {
    let text = value.to_str().map_err(|_| ErrorReason::InvalidPayload)?;
    decode_header(text).map_err(|e| e.reason())
}

impl<F: FacilitatorClient> Guard<F> {
    /// The 402: the v2 options base64 in `PAYMENT-REQUIRED`, and the v1 answer as the JSON body.
    fn payment_required(&self, resource: &ResourceInfo, error: Option<ErrorReason>) -> Response {
        let ambient = &self.paywall.ambient;
        let accepts = self.price.options(&resource.url, ambient.now(), ambient.random());
        let required = PaymentRequired {
            x402_version: X402_V2,
            error: error.as_ref().map(ToString::to_string),
            resource: resource.clone(),
            accepts,
            extensions: None,
        };
        let v1 = PaymentRequirementsResponseV1 {
            x402_version: X402_V1,
            error: error.map(|e| e.to_string()).unwrap_or_else(|| "X-PAYMENT header is required".into()),
            accepts: self.v1_option(resource).into_iter().collect(),
        };
        let mut response = (StatusCode::PAYMENT_REQUIRED, axum::Json(v1)).into_response();
        let headers = response.headers_mut();
        insert(headers, PAYMENT_REQUIRED, &encode_header(&required));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// The `exact` option in v1 form, for networks that have a v1 name.
    fn v1_option(&self, resource: &ResourceInfo) -> Option<PaymentRequirementsV1> {
        let name = self.price.network.parse::<quittance_x402::Network>().ok()?.v1_name()?;
        let option = self.price.exact_option();
        Some(PaymentRequirementsV1 {
            scheme: option.scheme,
            network: name.into(),
            max_amount_required: option.amount,
            asset: option.asset,
            pay_to: option.pay_to,
            resource: resource.url.clone(),
            description: self.price.description.clone(),
            mime_type: Some(self.price.mime_type.clone()),
            output_schema: None,
            max_timeout_seconds: option.max_timeout_seconds,
            extra: Some(option.extra),
        })
    }

    async fn serve_v2<S>(&self, payment: PaymentPayload, resource: ResourceInfo, request: Request, next: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        if payment.x402_version != X402_V2 {
            return self.payment_required(&resource, Some(ErrorReason::InvalidX402Version));
        }
        let requirements = match self.price.match_option(&payment.accepted, &resource.url, self.paywall.ambient.now()) {
            Ok(requirements) => requirements,
            Err(reason) => return self.payment_required(&resource, Some(reason)),
        };
        let verify =
            VerifyRequest { x402_version: X402_V2, payment_payload: payment, payment_requirements: requirements };
        let outcome = self.pay_and_serve(&verify, request, next).await;
        self.respond(outcome, &resource, |headers, receipt| insert(headers, PAYMENT_RESPONSE, &encode_header(&receipt)))
    }

    /// v1 clients pay the `exact` option under its v1 network name; the payment is verified and settled as
    /// the v2 payment it is.
    async fn serve_v1<S>(
        &self,
        payment: PaymentPayloadV1,
        resource: ResourceInfo,
        request: Request,
        next: S,
    ) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        let option = self.price.exact_option();
        let network_matches =
            quittance_x402::Network::from_v1_name(&payment.network).is_ok_and(|n| n.to_string() == option.network);
        if payment.x402_version != X402_V1 || payment.scheme != option.scheme || !network_matches {
            return self.payment_required(&resource, Some(ErrorReason::InvalidPaymentRequirements));
        }
        let v2 = PaymentPayload {
            x402_version: X402_V2,
            resource: Some(resource.clone()),
            accepted: option.clone(),
            payload: payment.payload,
            extensions: None,
        };
        let verify = VerifyRequest { x402_version: X402_V2, payment_payload: v2, payment_requirements: option };
        let outcome = self.pay_and_serve(&verify, request, next).await;
        self.respond(outcome, &resource, |headers, receipt| {
            let v1 = SettlementResponseV1 {
                success: receipt.success,
                error_reason: receipt.error_reason,
                transaction: receipt.transaction,
                network: payment.network,
                payer: receipt.payer.unwrap_or_default(),
            };
            insert(headers, X_PAYMENT_RESPONSE, &encode_header(&v1))
        })
    }

    /// The answer to a paid request: the handler's response with the receipt header `add_receipt` writes, a
    /// new 402 with the refusal's reason, or the failed handler's response as is.
    fn respond(
        &self,
        outcome: Result<(Response, SettleResponse), Outcome>,
        resource: &ResourceInfo,
        add_receipt: impl FnOnce(&mut HeaderMap, SettleResponse),
    ) -> Response {
        match outcome {
            Ok((mut response, receipt)) => {
                add_receipt(response.headers_mut(), receipt);
                response
            }
            Err(Outcome::Refused(reason)) => self.payment_required(resource, Some(reason)),
            Err(Outcome::Unsettled(receipt)) => {
                let reason = receipt.error_reason.clone().unwrap_or(ErrorReason::UnexpectedSettleError);
                let pending = reason == ErrorReason::SettlementPending;
                let mut response = self.payment_required(resource, Some(reason));
                let headers = response.headers_mut();
                if pending {
                    // The payment is on its way: the same payment, sent again later, is served once it settles.
                    headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
                }
                add_receipt(headers, receipt);
                response
            }
            Err(Outcome::HandlerFailed(response)) => response,
        }
    }

    /// Verify, then settle and serve in the route's order. The handler's output is released only once the
    /// payment is settled; a handler that fails (status >= 400) is answered as is and nothing is settled.
    async fn pay_and_serve<S>(
        &self,
        verify: &VerifyRequest,
        request: Request,
        next: S,
    ) -> Result<(Response, SettleResponse), Outcome>
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        let facilitator = &self.paywall.facilitator;
        let settle = || async {
            let receipt = facilitator.settle(verify).await.map_err(|err| {
                tracing::warn!(%err, "facilitator unavailable for settle");
                Outcome::Refused(ErrorReason::UnexpectedSettleError)
            })?;
            if receipt.success { Ok(receipt) } else { Err(Outcome::Unsettled(receipt)) }
        };
        // A cross-chain payment is settled before serving: once sent it cannot be called back, and asking
        // again for the same payment (while its message is in flight) must find its outcome, not verify it anew.
        if self.price.settle_before_serving || verify.payment_requirements.scheme == crosschain::SCHEME {
            // Settling verifies the payment in full; nothing is served unless it settled, and a payment serves
            // one request (the facilitator answers a settled payment's outcome again).
            let served = &self.paywall.served;
            let digest = Served::digest(&verify.payment_payload);
            match served.claim(digest, self.paywall.ambient.now()) {
                Ok(()) => {}
                Err(Taken::Served) => {
                    tracing::info!("a payment that served a request came again");
                    return Err(Outcome::Refused(used(&verify.payment_requirements.scheme)));
                }
                Err(Taken::Settling) => return Err(Outcome::Refused(ErrorReason::SettlementPending)),
            }
            let receipt = match settle().await {
                Ok(receipt) => receipt,
                Err(outcome) => {
                    served.release(digest);
                    return Err(outcome);
                }
            };
            served.served(digest, self.paywall.ambient.now());
            let response = serve(next, request).await;
            return Ok((response, receipt));
        }
        let verified = facilitator.verify(verify).await.map_err(|err| {
            tracing::warn!(%err, "facilitator unavailable for verify");
            Outcome::Refused(ErrorReason::UnexpectedVerifyError)
        })?;
        if !verified.is_valid {
            return Err(Outcome::Refused(verified.invalid_reason.unwrap_or(ErrorReason::UnexpectedVerifyError)));
        }
        let response = serve(next, request).await;
        if response.status().as_u16() >= 400 {
            return Err(Outcome::HandlerFailed(response));
        }
        let receipt = settle().await?;
        Ok((response, receipt))
    }
}

async fn serve<S>(service: S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

enum Outcome {
    /// Refused before anything was sent.
    Refused(ErrorReason),
    /// Settlement failed or is still pending: the facilitator's answer goes back with the 402.
    Unsettled(SettleResponse),
    HandlerFailed(Response<Body>),
}

/// The reason a payment that was used already is refused with, in its scheme's words.
fn used(scheme: &str) -> ErrorReason {
    match scheme {
        quittance_x402::exact::SCHEME => ErrorReason::ExactEvmNonceAlreadyUsed,
        _ => ErrorReason::InvoiceAlreadyPaid,
    }
}

/// What a 402 for a payment still in flight tells the client in `Retry-After`, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE"),
    );
}
