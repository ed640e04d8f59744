//! The paywall middleware.

use crate::{
    FacilitatorClient, Price,
    store::{MemoryStore, PaymentStore, Stage, StoredResponse},
};
use alloy::primitives::{B256, keccak256};
use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use quittance_x402::{
    Ambient, ErrorReason, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, PaymentPayload, PaymentPayloadV1,
    PaymentRequired, PaymentRequirementsResponseV1, PaymentRequirementsV1, ResourceInfo, Scheme, SettleResponse,
    SettlementResponseV1, VerifyRequest, X_PAYMENT, X_PAYMENT_RESPONSE, X402_V1, X402_V2, decode_header,
    eip2612_gas_sponsoring, encode_header, payment_identifier, upto,
};
use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};
use tower::{Layer, Service, ServiceExt};

mod batch;

/// A paywall in front of routes: answers `402 Payment Required` with the route's options, and serves a
/// request that carries a valid payment, settling it through the facilitator.
#[derive(Debug)]
pub struct Paywall<F> {
    facilitator: Arc<F>,
    base_url: String,
    ambient: Ambient,
    /// Every payment, reserved before it is verified, with the answer it bought.
    store: Arc<dyn PaymentStore>,
    /// This paywall among those that share the store.
    instance: B256,
    /// Payments being served by this process, so that a copy waits for the first.
    turns: Arc<Turns>,
    /// The `payment-identifier` extension: declared (`Some`), and whether an id is required.
    payment_identifier: Option<bool>,
    /// The page browsers get with a 402 (`None`: JSON for browsers too).
    page: Option<Arc<crate::page::PageConfig>>,
    /// The `batch-settlement` channels and claims (`None`: the in-memory store could not be made).
    batches: Option<Arc<crate::BatchStore>>,
    /// One claim run at a time.
    claiming: Arc<tokio::sync::Mutex<()>>,
}

impl<F> Clone for Paywall<F> {
    fn clone(&self) -> Self {
        Self {
            facilitator: self.facilitator.clone(),
            base_url: self.base_url.clone(),
            ambient: self.ambient.clone(),
            store: self.store.clone(),
            instance: self.instance,
            turns: self.turns.clone(),
            payment_identifier: self.payment_identifier,
            page: self.page.clone(),
            batches: self.batches.clone(),
            claiming: self.claiming.clone(),
        }
    }
}

/// How long a copy of a payment waits for the first copy, served by this process, to finish.
const TURN_WAIT: Duration = Duration::from_secs(60);

/// The payments this process is serving now; a copy of one waits its turn.
#[derive(Debug, Default)]
struct Turns {
    serving: Mutex<HashMap<B256, tokio::sync::watch::Receiver<()>>>,
}

/// A payment being served; dropping it lets the next copy in.
struct Turn {
    turns: Arc<Turns>,
    key: B256,
    _done: tokio::sync::watch::Sender<()>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Ok(mut serving) = self.turns.serving.lock() {
            serving.remove(&self.key);
        }
    }
}

impl Turns {
    /// Waits until no other request of this process serves `key`, then holds it; `None` after
    /// [`TURN_WAIT`].
    async fn take(self: &Arc<Self>, key: B256) -> Option<Turn> {
        let deadline = tokio::time::Instant::now() + TURN_WAIT;
        loop {
            let mut first = {
                let mut serving = self.serving.lock().ok()?;
                match serving.get(&key) {
                    Some(first) => first.clone(),
                    None => {
                        let (done, waiting) = tokio::sync::watch::channel(());
                        serving.insert(key, waiting);
                        return Some(Turn { turns: self.clone(), key, _done: done });
                    }
                }
            };
            // Ends when the first copy's turn is dropped.
            if tokio::time::timeout_at(deadline, first.changed()).await.is_err() {
                return None;
            }
        }
    }
}

/// One priced route's state.
#[derive(Debug)]
struct Guard<F> {
    paywall: Paywall<F>,
    price: Price,
    /// Priced `upto` the price's amount, settled by this facilitator: the handler reports its usage.
    upto: Option<alloy::primitives::Address>,
    /// Priced over Permit2 (`exact` over Permit2 only, or `upto` when `upto` is set); `true`: declaring
    /// `eip2612GasSponsoring` too.
    permit2: Option<bool>,
    /// Priced in `batch-settlement` only, under this offer.
    batch: Option<crate::BatchOffer>,
    /// Priced in `auth-capture` only: held in escrow before serving, captured or voided after.
    auth_capture: Option<crate::AuthCaptureOffer>,
}

impl<F: FacilitatorClient> Paywall<F> {
    /// A paywall that verifies and settles through `facilitator`. `base_url` is the public origin of the
    /// server (e.g. `https://api.example`): resources are described, and invoices issued, for
    /// `base_url` + the request's path and query.
    ///
    /// Payments are kept in a store in memory: a restart forgets what was served. Give a durable one with
    /// [`Paywall::with_store`].
    pub fn new(facilitator: Arc<F>, base_url: impl Into<String>) -> Self {
        Self {
            facilitator,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            ambient: Ambient::system(),
            store: Arc::new(MemoryStore::default()),
            instance: B256::random(),
            turns: Arc::default(),
            payment_identifier: Some(false),
            page: Some(Arc::default()),
            batches: crate::BatchStore::in_memory().ok().map(Arc::new),
            claiming: Arc::default(),
        }
    }

    /// The same paywall keeping `batch-settlement` channels (the latest voucher of each, what the payee is
    /// owed) and claims in `store`; give a file ([`crate::BatchStore::open`]) so that a restart keeps them.
    /// Default: in memory.
    pub fn with_batch_store(self, store: Arc<crate::BatchStore>) -> Self {
        Self { batches: Some(store), ..self }
    }

    /// The same paywall keeping payments in `store`, as the paywall named `instance` among those that share
    /// it (give each server its own name, the same across its restarts: a restarted server resumes what its
    /// previous run left at once; what another server left is taken over after two minutes).
    pub fn with_store(self, store: Arc<dyn PaymentStore>, instance: &str) -> Self {
        Self { store, instance: keccak256(instance), ..self }
    }

    /// The same paywall with `page` as the 402 browsers see (see [`crate::page`]); `None` turns the page off,
    /// so that browsers get the JSON API clients get. On by default with [`PageConfig::default`].
    ///
    /// [`PageConfig::default`]: crate::PageConfig
    pub fn with_page(self, page: Option<crate::page::PageConfig>) -> Self {
        Self { page: page.map(Arc::new), ..self }
    }

    /// The same paywall declaring x402's `payment-identifier` extension in its 402s (`Some(true)`: and
    /// requiring an id), or not at all (`None`). Default: declared, not required.
    pub fn with_payment_identifier(self, declared: Option<bool>) -> Self {
        Self { payment_identifier: declared, ..self }
    }

    /// The same paywall reading the time and drawing invoice salts from `ambient` (a simulation's clock and
    /// seed). Layers made before keep the old one.
    pub fn with_ambient(self, ambient: Ambient) -> Self {
        Self { ambient, ..self }
    }

    /// The layer that puts `price` in front of a route (`get(handler).layer(paywall.price(price))`).
    pub fn price(&self, price: Price) -> PaywallLayer<F> {
        PaywallLayer {
            guard: Arc::new(Guard {
                paywall: self.clone(),
                price,
                upto: None,
                permit2: None,
                batch: None,
                auth_capture: None,
            }),
        }
    }

    /// The layer that puts a metered route behind the paywall: `price.amount` is the most a request may
    /// cost, paid with x402's `upto` (a Permit2 permit of that maximum to the proxy, which `facilitator`
    /// alone may settle). The handler reports what its request cost in the `Settlement-Overrides` response
    /// header (`{"amount":"1234"}` in the token's smallest unit, or `{"amount":"50%"}`), as with the
    /// official server; the paywall removes the header, and settles after serving that amount capped at the
    /// maximum (the maximum when the handler reports nothing or something unreadable; nothing moves on
    /// chain for 0). With `eip2612`, as for [`Paywall::price_exact_permit2`], the 402 declares
    /// `eip2612GasSponsoring`: a payer who has not approved Permit2 signs an EIP-2612 permit of the maximum
    /// along, and the facilitator approves Permit2 and settles in one transaction.
    pub fn price_upto(&self, price: Price, facilitator: alloy::primitives::Address, eip2612: bool) -> PaywallLayer<F> {
        let guard = Guard {
            paywall: self.clone(),
            price,
            upto: Some(facilitator),
            permit2: Some(eip2612),
            batch: None,
            auth_capture: None,
        };
        PaywallLayer { guard: Arc::new(guard) }
    }

    /// The layer that puts `price` in front of a route paid with x402's `exact` over Permit2 (any ERC-20:
    /// a Permit2 permit of the exact amount to x402's exact proxy, [`Price::exact_permit2_option`]), as the
    /// only option. With `eip2612` (the token has EIP-2612, and `price.asset_name` / `asset_version` are its
    /// EIP-712 domain) the 402 declares `eip2612GasSponsoring`: a payer who has not approved Permit2 signs
    /// an EIP-2612 permit along, and the facilitator approves and settles in one transaction.
    pub fn price_exact_permit2(&self, price: Price, eip2612: bool) -> PaywallLayer<F> {
        PaywallLayer {
            guard: Arc::new(Guard {
                paywall: self.clone(),
                price,
                upto: None,
                permit2: Some(eip2612),
                batch: None,
                auth_capture: None,
            }),
        }
    }

    /// The layer that puts `price` in front of a route paid with x402's `auth-capture` (escrow flow,
    /// [`crate::AuthCaptureOffer::option`]) as the only option: the payment is authorized into the escrow
    /// through the facilitator before the handler runs; after it, a successful answer (status below 400)
    /// captures the whole price and a failed one voids the payment back to the payer, each signed by the
    /// offer's receiver authorizer. The handler finds the payment as a [`crate::EscrowedPayment`] in its
    /// request's extensions, to refund it later.
    pub fn price_auth_capture(&self, price: Price, offer: crate::AuthCaptureOffer) -> PaywallLayer<F> {
        PaywallLayer {
            guard: Arc::new(Guard {
                paywall: self.clone(),
                price,
                upto: None,
                permit2: None,
                batch: None,
                auth_capture: Some(offer),
            }),
        }
    }
}

impl<F: FacilitatorClient> Paywall<F> {
    /// The layer that puts `price` in front of a route paid with x402's `batch-settlement` as the only option
    /// ([`Price::batch_settlement_option`]): `price.amount` a request, paid with a voucher over a deposit.
    /// The first request's deposit is settled before serving; each later voucher must be for everything
    /// charged on the channel plus the price, and is recorded in the batch store before the handler runs.
    /// Vouchers are claimed with [`Paywall::claim_batches`], or on their own past `offer.claim_threshold`.
    pub fn price_batch_settlement(&self, price: Price, offer: crate::BatchOffer) -> PaywallLayer<F> {
        PaywallLayer {
            guard: Arc::new(Guard {
                paywall: self.clone(),
                price,
                upto: None,
                permit2: None,
                batch: Some(offer),
                auth_capture: None,
            }),
        }
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
        let response = guard.payment_required(&resource, None);
        match &guard.paywall.page {
            Some(page) if crate::page::wants_html(headers) => crate::page::into_page(page, response),
            _ => response,
        }
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
        if let Some(offer) = &self.batch {
            return self.payment_required_offering(resource, error, vec![self.price.batch_settlement_option(offer)]);
        }
        let ambient = &self.paywall.ambient;
        let accepts = match (self.upto, self.permit2) {
            _ if let Some(offer) = &self.auth_capture => vec![offer.option(&self.price, ambient.now())],
            (Some(facilitator), _) => vec![self.price.upto_option(facilitator)],
            (None, Some(_)) => vec![self.price.exact_permit2_option()],
            (None, None) => self.price.options(&resource.url, ambient.now(), ambient.random()),
        };
        self.payment_required_offering(resource, error, accepts)
    }

    /// The 402 offering `accepts`.
    fn payment_required_offering(
        &self,
        resource: &ResourceInfo,
        error: Option<ErrorReason>,
        accepts: Vec<quittance_x402::PaymentRequirements>,
    ) -> Response {
        let mut extensions = self.paywall.payment_identifier.map(|required| {
            serde_json::Map::from_iter([(
                payment_identifier::PAYMENT_IDENTIFIER.to_owned(),
                payment_identifier::declare(required),
            )])
        });
        if self.permit2 == Some(true) {
            extensions
                .get_or_insert_with(serde_json::Map::new)
                .insert(eip2612_gas_sponsoring::EIP2612_GAS_SPONSORING.to_owned(), eip2612_gas_sponsoring::declare());
        }
        let required = PaymentRequired {
            x402_version: X402_V2,
            error: error.as_ref().map(ToString::to_string),
            resource: resource.clone(),
            accepts,
            extensions,
        };
        let v1 = PaymentRequirementsResponseV1 {
            x402_version: X402_V1,
            error: error.map(|e| e.to_string()).unwrap_or_else(|| {
                "payment required: send a PAYMENT-SIGNATURE header (x402 v2) or X-PAYMENT (v1)".into()
            }),
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
        // x402 v1 has no `upto`, and no `exact` over Permit2.
        (self.upto.is_none() && self.permit2.is_none() && self.batch.is_none() && self.auth_capture.is_none())
            .then_some(())?;
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
        let required = self.paywall.payment_identifier == Some(true);
        let id = match payment_identifier::payment_id(&payment, required) {
            Ok(id) => id,
            Err(err) => return bad_request(&err.to_string()),
        };
        let matched = match (self.upto, self.permit2) {
            _ if self.batch.is_some() => self.batch_match(&payment.accepted),
            _ if let Some(offer) = &self.auth_capture => {
                offer.match_option(&self.price, &payment.accepted, self.paywall.ambient.now())
            }
            (Some(facilitator), _) => {
                quittance_x402::find_matching(&[self.price.upto_option(facilitator)], &payment.accepted)
                    .cloned()
                    .ok_or(ErrorReason::InvalidPaymentRequirements)
            }
            (None, Some(_)) => quittance_x402::find_matching(&[self.price.exact_permit2_option()], &payment.accepted)
                .cloned()
                .ok_or(ErrorReason::InvalidPaymentRequirements),
            (None, None) => self.price.match_option(&payment.accepted, &resource.url, self.paywall.ambient.now()),
        };
        let requirements = match matched {
            Ok(requirements) => requirements,
            Err(reason) => return self.payment_required(&resource, Some(reason)),
        };
        let verify =
            VerifyRequest { x402_version: X402_V2, payment_payload: payment, payment_requirements: requirements };
        let receipt = |headers: &mut HeaderMap, receipt: SettleResponse| {
            insert(headers, PAYMENT_RESPONSE, &encode_header(&receipt))
        };
        self.once(&verify, id, &resource, request, next, &receipt).await
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
        let network = payment.network;
        let receipt = move |headers: &mut HeaderMap, receipt: SettleResponse| {
            let v1 = SettlementResponseV1 {
                success: receipt.success,
                error_reason: receipt.error_reason,
                transaction: receipt.transaction,
                network: network.clone(),
                payer: receipt.payer.unwrap_or_default(),
            };
            insert(headers, X_PAYMENT_RESPONSE, &encode_header(&v1))
        };
        self.once(&verify, None, &resource, request, next, &receipt).await
    }

    /// Serves one paid request, once per payment: the payment is reserved in the store before it is
    /// verified; a copy of it in progress here is waited for, and a copy of a payment that bought an answer
    /// gets that answer again.
    async fn once<S>(
        &self,
        verify: &VerifyRequest,
        id: Option<String>,
        resource: &ResourceInfo,
        request: Request,
        next: S,
        receipt: &Receipt<'_>,
    ) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        let payment = &verify.payment_payload;
        let digest = keccak256(
            serde_json::to_vec(&(&payment.accepted.scheme, &payment.accepted.network, &payment.payload))
                .unwrap_or_default(),
        );
        // What the payment is for: a copy of it for another resource or price is refused.
        let fingerprint =
            keccak256(serde_json::to_vec(&(&resource.url, &verify.payment_requirements)).unwrap_or_default());
        let key = digest;
        // An identifier names one payment: another payment under the same id is a conflict.
        if let Some(id) = &id {
            match self.paywall.store.bind_id(id, digest, self.paywall.ambient.now()) {
                Ok(true) => {}
                Ok(false) => return conflict(),
                Err(err) => {
                    tracing::error!(%err, "payment store failed");
                    return self.pending(resource, None, receipt);
                }
            }
        }
        let paywall = &self.paywall;
        let Some(_turn) = paywall.turns.take(key).await else {
            return self.pending(resource, None, receipt);
        };
        let now = paywall.ambient.now();
        let reservation = match paywall.store.reserve(key, fingerprint, paywall.instance, now) {
            Ok(reservation) => reservation,
            Err(err) => {
                tracing::error!(%err, "payment store failed");
                return self.pending(resource, None, receipt);
            }
        };
        let run = Run { key, verify, resource, receipt };
        let Some(seen) = reservation else { return self.fresh(&run, request, next, false).await };
        if seen.fingerprint != fingerprint {
            tracing::info!("a payment that was used for another request came again");
            let used = Scheme::of(&payment.accepted)
                .map_or(ErrorReason::InvalidPaymentRequirements, |s| s.used_reason_for(&payment.accepted));
            return self.payment_required(resource, Some(used));
        }
        if let Stage::Done(answer) = &seen.stage {
            tracing::info!("a payment that bought an answer came again: the same answer");
            return replay(answer);
        }
        // Another paywall sharing the store is on it: ask the client to come back.
        if seen.owner != paywall.instance && now < seen.updated_at.saturating_add(LEASE_SECONDS) {
            return self.pending(resource, None, receipt);
        }
        match paywall.store.take_over(key, &seen, paywall.instance, now) {
            Ok(true) => {}
            Ok(false) => return self.pending(resource, None, receipt),
            Err(err) => {
                tracing::error!(%err, "payment store failed");
                return self.pending(resource, None, receipt);
            }
        }
        match seen.stage {
            Stage::Reserved => self.fresh(&run, request, next, true).await,
            Stage::Settling(answer) => self.recover(&run, answer, request, next).await,
            Stage::Done(_) => unreachable!("answered above"),
        }
    }

    /// A payment this paywall holds and that nothing was asked of yet: verify, serve and settle in the
    /// route's order. `taken_over`: a reservation an earlier attempt left (a success the facilitator gives
    /// as "settled before" may then be that attempt's own).
    async fn fresh<S>(&self, run: &Run<'_>, request: Request, next: S, taken_over: bool) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        if let Some(offer) = &self.batch {
            return self.batch_serve(offer, run, request, next, false).await;
        }
        if let Some(offer) = &self.auth_capture {
            return self.escrowed(run, offer, request, next, taken_over).await;
        }
        let facilitator = &self.paywall.facilitator;
        let (verify, resource) = (run.verify, run.resource);
        // A cross-chain payment is settled before serving: once sent it cannot be called back.
        // A metered payment is settled after serving: its amount is known only then.
        let before = self.price.settle_before_serving
            || Scheme::of(&verify.payment_requirements) == Ok(Scheme::CrossChainInvoice);
        if before && self.upto.is_none() {
            if let Err(response) = self.mark_settling(run, None) {
                return *response;
            }
            return match self.settle(run, taken_over).await {
                Ok(settled) => self.serve_settled(run, settled, request, next).await,
                Err(response) => *response,
            };
        }
        let verified = match facilitator.verify(verify).await {
            Ok(verified) => verified,
            Err(err) => {
                tracing::warn!(%err, "facilitator unavailable for verify");
                self.release(run.key);
                return self.pending(resource, None, run.receipt);
            }
        };
        if !verified.is_valid {
            self.release(run.key);
            let reason = verified.invalid_reason.unwrap_or(ErrorReason::UnexpectedVerifyError);
            // In flight, or the facilitator could not tell (its chain failed): ask the client to come back.
            if matches!(reason, ErrorReason::SettlementPending | ErrorReason::UnexpectedVerifyError) {
                return self.pending(resource, None, run.receipt);
            }
            return self.payment_required(resource, Some(reason));
        }
        let answer = match keep(serve(next, request).await).await {
            Ok(answer) if answer.status < 400 => answer,
            // The handler failed: nothing is settled, and the payment may be used again.
            Ok(failed) => {
                self.release(run.key);
                return replay(&failed);
            }
            Err(response) => {
                self.release(run.key);
                return *response;
            }
        };
        if let Err(response) = self.mark_settling(run, Some(&answer)) {
            return *response;
        }
        self.settle_answer(run, answer, taken_over).await
    }

    /// Settles what a served answer cost and gives it: the price, or for a metered route the usage its
    /// handler reported in the answer (kept with it until settled, so that a retry settles the same).
    async fn settle_answer(&self, run: &Run<'_>, answer: StoredResponse, ours: bool) -> Response {
        if let Some(offer) = &self.auth_capture {
            return self.finalize(run, offer, answer).await;
        }
        let metered;
        let run = match self.upto {
            None => run,
            Some(_) => {
                metered = VerifyRequest {
                    payment_requirements: quittance_x402::PaymentRequirements {
                        amount: usage(&answer, &run.verify.payment_requirements.amount),
                        ..run.verify.payment_requirements.clone()
                    },
                    ..run.verify.clone()
                };
                &Run { key: run.key, verify: &metered, resource: run.resource, receipt: run.receipt }
            }
        };
        match self.settle(run, ours).await {
            Ok(settled) => self.complete(run, answer, settled),
            Err(response) => *response,
        }
    }

    /// A payment whose settlement was asked for by an earlier attempt that did not see its outcome: ask
    /// again (the facilitator answers from its ledger, sending nothing twice), and give the answer it bought.
    async fn recover<S>(&self, run: &Run<'_>, answer: Option<StoredResponse>, request: Request, next: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        tracing::info!("resuming a payment an earlier attempt was settling");
        if let Some(offer) = &self.batch {
            return self.batch_serve(offer, run, request, next, true).await;
        }
        if let Some(answer) = answer {
            return self.settle_answer(run, answer, true).await;
        }
        if let Some(offer) = &self.auth_capture {
            return self.escrowed(run, offer, request, next, true).await;
        }
        match self.settle(run, true).await {
            Ok(settled) => self.serve_settled(run, settled, request, next).await,
            Err(response) => *response,
        }
    }

    /// An `auth-capture` payment: authorized into the escrow before serving (settled as its collect), the
    /// handler run once with the payment in its extensions, its answer kept, then finalized.
    async fn escrowed<S>(
        &self,
        run: &Run<'_>,
        offer: &crate::AuthCaptureOffer,
        mut request: Request,
        next: S,
        ours: bool,
    ) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        let escrowed = match crate::EscrowedPayment::of(&run.verify.payment_payload, &run.verify.payment_requirements) {
            Ok(escrowed) => escrowed,
            Err(reason) => {
                self.release(run.key);
                return self.payment_required(run.resource, Some(reason));
            }
        };
        if let Err(response) = self.mark_settling(run, None) {
            return *response;
        }
        if let Err(response) = self.settle(run, ours).await {
            return *response;
        }
        request.extensions_mut().insert(escrowed);
        let answer = match keep(serve(next, request).await).await {
            Ok(answer) => answer,
            // Unkeepable: served as a failure, and the hold voided.
            Err(response) => stored(&response),
        };
        // Kept before finalizing, so that a retry finalizes this answer and never serves again.
        if let Err(response) = self.mark_settling(run, Some(&answer)) {
            return *response;
        }
        self.finalize(run, offer, answer).await
    }

    /// Finalizes an escrowed payment after serving (`captureMode: "sync"`): the whole hold captured for an
    /// answer below 400, voided otherwise; the answer given with the finalize's receipt, and kept. The
    /// facilitator answers a retried finalize from its ledger. A finalize it refuses leaves the payment held
    /// (reserved here, never served again): the seller finalizes it later, or the payer reclaims it after
    /// the capture deadline.
    async fn finalize(&self, run: &Run<'_>, offer: &crate::AuthCaptureOffer, answer: StoredResponse) -> Response {
        let operation = match crate::EscrowedPayment::of(&run.verify.payment_payload, &run.verify.payment_requirements)
        {
            Ok(escrowed) if answer.status < 400 => escrowed.request(escrowed.capture_all(), &offer.authorizer),
            Ok(escrowed) => escrowed.request(crate::Lifecycle::Void, &offer.authorizer),
            Err(reason) => Err(reason),
        };
        let operation = match operation {
            Ok(operation) => operation,
            Err(reason) => {
                tracing::error!(%reason, "could not sign the finalize of an escrowed payment");
                return self.pending(run.resource, None, run.receipt);
            }
        };
        match self.paywall.facilitator.settle(&operation).await {
            Ok(settled) if settled.success => self.complete(run, answer, settled),
            Ok(settled)
                if matches!(
                    settled.error_reason,
                    Some(
                        ErrorReason::SettlementPending
                            | ErrorReason::UnexpectedSettleError
                            | ErrorReason::UnexpectedVerifyError
                    )
                ) =>
            {
                self.pending(run.resource, Some(settled), run.receipt)
            }
            Ok(settled) => {
                tracing::error!(reason = ?settled.error_reason, "the facilitator refused to finalize an escrowed payment");
                self.refusal(run.resource, settled, run.receipt)
            }
            Err(err) => {
                tracing::warn!(%err, "facilitator unavailable to finalize; the payment stays held");
                self.pending(run.resource, None, run.receipt)
            }
        }
    }

    /// Records that settlement is asked for, before asking.
    fn mark_settling(&self, run: &Run<'_>, answer: Option<&StoredResponse>) -> Result<(), Box<Response>> {
        self.paywall.store.settling(run.key, answer, self.paywall.ambient.now()).map_err(|err| {
            tracing::error!(%err, "payment store failed; nothing is settled");
            self.release(run.key);
            Box::new(self.pending(run.resource, None, run.receipt))
        })
    }

    /// Asks the facilitator to settle: the successful receipt, or the answer to give now (a 402 with the
    /// reason, or `settlement_pending` while the outcome is unknown). `ours`: a "settled before" answer is
    /// this reservation's own settlement, asked for by an earlier attempt.
    async fn settle(&self, run: &Run<'_>, ours: bool) -> Result<SettleResponse, Box<Response>> {
        let settled = match self.paywall.facilitator.settle(run.verify).await {
            Ok(settled) => settled,
            Err(err) => {
                tracing::warn!(%err, "facilitator unavailable for settle; the outcome is not known");
                return Err(Box::new(self.pending(run.resource, None, run.receipt)));
            }
        };
        if settled.success {
            return Ok(settled);
        }
        if settled.settled_before() {
            if ours {
                return Ok(SettleResponse { success: true, error_reason: None, error_message: None, ..settled });
            }
            // Settled by another request: it bought that request's answer, not this one.
            tracing::info!("a payment settled for another request came again");
            let refused = self.refusal(run.resource, settled, run.receipt);
            self.complete_raw(run.key, &stored(&refused));
            return Err(Box::new(refused));
        }
        // Not known yet, or the facilitator failed before it could tell: keep the reservation (and the
        // handler's answer) for the retry.
        if matches!(
            settled.error_reason,
            Some(
                ErrorReason::SettlementPending
                    | ErrorReason::UnexpectedSettleError
                    | ErrorReason::UnexpectedVerifyError
                    | ErrorReason::InvalidTransactionState
            )
        ) {
            return Err(Box::new(self.pending(run.resource, Some(settled), run.receipt)));
        }
        // Refused: nothing was taken, and the payment may be tried again.
        self.release(run.key);
        Err(Box::new(self.refusal(run.resource, settled, run.receipt)))
    }

    /// Serves a settled payment's request (settled before serving): the handler's answer, whatever it is,
    /// is what the payment bought.
    async fn serve_settled<S>(&self, run: &Run<'_>, settled: SettleResponse, request: Request, next: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        match keep(serve(next, request).await).await {
            Ok(answer) => self.complete(run, answer, settled),
            Err(response) => *response,
        }
    }

    /// The answer a settled payment bought, with its receipt, kept for any copy of the payment.
    fn complete(&self, run: &Run<'_>, mut answer: StoredResponse, settled: SettleResponse) -> Response {
        answer.headers.retain(|(name, _)| !name.eq_ignore_ascii_case(upto::SETTLEMENT_OVERRIDES));
        let mut headers = HeaderMap::new();
        (run.receipt)(&mut headers, settled);
        for (name, value) in kept_headers(&headers) {
            answer.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            answer.headers.push((name, value));
        }
        self.complete_raw(run.key, &answer);
        replay(&answer)
    }

    fn complete_raw(&self, key: B256, answer: &StoredResponse) {
        if let Err(err) = self.paywall.store.complete(key, answer, self.paywall.ambient.now()) {
            tracing::error!(%err, "could not keep a paid answer; a copy of the payment asks the facilitator again");
        }
    }

    fn release(&self, key: B256) {
        if let Err(err) = self.paywall.store.release(key) {
            tracing::error!(%err, "could not release a payment's reservation");
        }
    }

    /// A 402 for a settlement that failed, with the facilitator's answer in the receipt header.
    fn refusal(&self, resource: &ResourceInfo, settled: SettleResponse, receipt: &Receipt<'_>) -> Response {
        let reason = settled.error_reason.clone().unwrap_or(ErrorReason::UnexpectedSettleError);
        let mut response = self.payment_required(resource, Some(reason));
        receipt(response.headers_mut(), settled);
        response
    }

    /// A 402 for a payment whose outcome is not known yet: `settlement_pending` with `Retry-After`, never an
    /// invitation to pay again; the same payment, sent again later, gets its outcome.
    fn pending(&self, resource: &ResourceInfo, settled: Option<SettleResponse>, receipt: &Receipt<'_>) -> Response {
        let mut response = self.payment_required(resource, Some(ErrorReason::SettlementPending));
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        if let Some(settled) = settled {
            receipt(headers, settled);
        }
        response
    }
}

/// Writes a settlement's receipt into an answer's headers (v2 `PAYMENT-RESPONSE`, or v1's).
type Receipt<'a> = dyn Fn(&mut HeaderMap, SettleResponse) + Send + Sync + 'a;

/// What one paid request works with.
struct Run<'a> {
    key: B256,
    verify: &'a VerifyRequest,
    resource: &'a ResourceInfo,
    receipt: &'a Receipt<'a>,
}

/// How long a reservation held by another paywall (sharing the store) is left to it before this one takes
/// it over, in seconds: longer than any request takes.
const LEASE_SECONDS: u64 = 120;

/// The largest answer a paid handler may give, in bytes: an answer is kept whole so that a retry of its
/// payment gets it again.
pub const MAX_PAID_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Reads a handler's answer whole, to keep it; one larger than [`MAX_PAID_ANSWER_BYTES`] is refused (500)
/// and nothing is settled for it.
async fn keep(response: Response) -> Result<StoredResponse, Box<Response>> {
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, MAX_PAID_ANSWER_BYTES).await.map_err(|err| {
        tracing::error!(%err, "a paid answer could not be read whole; nothing is settled");
        Box::new(
            (StatusCode::INTERNAL_SERVER_ERROR, "the answer could not be kept; nothing was charged").into_response(),
        )
    })?;
    Ok(StoredResponse { status: parts.status.as_u16(), headers: kept_headers(&parts.headers), body: body.to_vec() })
}

/// What a metered answer cost, as its handler reported it in [`upto::SETTLEMENT_OVERRIDES`], capped at the
/// `maximum` (a decimal string); the maximum when nothing readable was reported.
fn usage(answer: &StoredResponse, maximum: &str) -> String {
    let Some(max) = alloy::primitives::U256::from_str_radix(maximum, 10).ok() else { return maximum.to_owned() };
    let report = answer.headers.iter().find(|(name, _)| name.eq_ignore_ascii_case(upto::SETTLEMENT_OVERRIDES));
    let Some((_, report)) = report else {
        tracing::warn!("a metered handler reported no usage; the maximum is settled");
        return maximum.to_owned();
    };
    match upto::settlement_override(report, max) {
        Ok(used) if used > max => {
            tracing::warn!(%used, %max, "a metered handler reported more than the maximum; the maximum is settled");
            maximum.to_owned()
        }
        Ok(used) => used.to_string(),
        Err(err) => {
            tracing::error!(%err, "a metered handler's usage report is unreadable; the maximum is settled");
            maximum.to_owned()
        }
    }
}

/// Headers as they are kept: as text, without those that describe one connection's framing.
fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "content-length" | "transfer-encoding" | "connection"))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect()
}

/// A kept answer, given again.
fn replay(answer: &StoredResponse) -> Response {
    let mut response = Response::new(Body::from(answer.body.clone()));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// A refusal as it is kept: its status and headers (the reason is in `PAYMENT-REQUIRED`).
fn stored(response: &Response) -> StoredResponse {
    StoredResponse { status: response.status().as_u16(), headers: kept_headers(response.headers()), body: Vec::new() }
}

/// `400 Bad Request` for a payment whose identifier breaks the `payment-identifier` rules.
fn bad_request(message: &str) -> Response {
    let body = serde_json::json!({ "error": ErrorReason::InvalidPayload, "message": message });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// `409 Conflict`: the payment identifier names another payment, or the same payment for another request.
fn conflict() -> Response {
    let body = serde_json::json!({
        "error": "payment_identifier_conflict",
        "message": "this payment identifier was used with another payment or for another request",
    });
    (StatusCode::CONFLICT, axum::Json(body)).into_response()
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

/// What a 402 for a payment still in flight tells the client in `Retry-After`, in seconds.
const RETRY_AFTER_SECONDS: u64 = 1;

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE"),
    );
}
