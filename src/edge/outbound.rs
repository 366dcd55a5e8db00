//! The one place that sends outbound HTTP: redirects never followed, a time limit on the whole
//! exchange, bodies read up to a cap. Discovery, JWKS, token, userinfo and webhook all pass here.

use std::time::Duration;

use futures_util::future::{select, Either};
use worker::{
    AbortController, Delay, Fetch, Headers, Method as WMethod, Request, RequestInit,
    RequestRedirect,
};

use super::body::{read_response, BodyError};
use crate::core::http::{FetchFailure, InboundResponse, Method, OutboundRequest};

/// Largest response body read from any outbound request.
const MAX_BODY_BYTES: usize = 256 * 1024;

pub async fn send(req: &OutboundRequest) -> Result<InboundResponse, FetchFailure> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let request = build(req).map_err(|_| FetchFailure::Unreachable)?;
        let mut resp = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|_| FetchFailure::Unreachable)?;
        let status = resp.status_code();
        let headers: Vec<(String, String)> = resp.headers().entries().collect();
        // An oversized body is read no further and handed on empty: every parser then
        // refuses it as "not JSON", and no IdP or receiver can fill the isolate's memory.
        let body = match read_response(&mut resp, MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => Vec::new(),
            Err(_) => return Err(FetchFailure::Unreachable),
        };
        Ok(InboundResponse {
            status,
            headers,
            body,
        })
    };
    let timer = Delay::from(Duration::from_millis(u64::from(req.timeout_ms)));
    futures_util::pin_mut!(exchange);
    match select(exchange, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => {
            controller.abort();
            Err(FetchFailure::Timeout)
        }
    }
}

fn build(req: &OutboundRequest) -> worker::Result<Request> {
    let headers = Headers::new();
    for (k, v) in &req.headers {
        headers.set(k, v)?;
    }
    let mut init = RequestInit::new();
    init.with_method(match req.method {
        Method::Get => WMethod::Get,
        Method::Post => WMethod::Post,
    })
    .with_headers(headers)
    .with_redirect(RequestRedirect::Manual);
    if let Some(body) = &req.body {
        init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    Request::new_with_init(&req.url, &init)
}
