//! The one place that sends outbound HTTP: redirects never followed, a time limit on the whole
//! exchange, bodies read up to a cap. Discovery, JWKS, token, userinfo and webhook all pass here.
//!
//! Written against `web_sys` rather than `worker::Fetch`: one runtime timer
//! (`AbortSignal.timeout`) bounds the exchange body included, an uncompressed body of
//! declared length is read in one `arrayBuffer()`, and only the response headers the core
//! reads are copied — each a JavaScript crossing fewer per request than a Rust-side timer, a
//! stream reader and every header.

use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortSignal, Headers, Request, RequestInit, RequestRedirect, Response};

use super::body::{read_response, BodyError};
use crate::core::http::{FetchFailure, InboundResponse, Method, OutboundRequest};

/// Largest response body read from any outbound request.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The response headers anything in the core reads (`InboundResponse::header`): IdP metadata
/// caching and a webhook receiver's back-off. Others are not copied out of the runtime.
const KEPT_HEADERS: [&str; 2] = ["cache-control", "retry-after"];

pub async fn send(req: &OutboundRequest) -> Result<InboundResponse, FetchFailure> {
    // The runtime aborts the fetch — or the body mid-read — when the time is up; whatever
    // then fails, fails because of the timer.
    let signal = AbortSignal::timeout_with_u32(req.timeout_ms);
    match exchange(req, &signal).await {
        Err(_) if signal.aborted() => Err(FetchFailure::Timeout),
        other => other,
    }
}

async fn exchange(
    req: &OutboundRequest,
    signal: &AbortSignal,
) -> Result<InboundResponse, FetchFailure> {
    let unreachable = |_: JsValue| FetchFailure::Unreachable;
    let request = build(req, signal).map_err(unreachable)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let resp: Response = super::promise::settle(&global.fetch_with_request(&request))
        .await
        .map_err(unreachable)?
        .dyn_into()
        .map_err(unreachable)?;
    let status = resp.status();
    let headers = copy_headers(&resp.headers());
    // An oversized body is read no further and handed on empty: every parser then refuses it
    // as "not JSON", and no IdP or receiver can fill the isolate's memory.
    let body = match read_body(resp).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => Vec::new(),
        Err(_) => return Err(FetchFailure::Unreachable),
    };
    Ok(InboundResponse {
        status,
        headers,
        body,
    })
}

fn copy_headers(headers: &Headers) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = super::js::get_header(headers, name)?;
            Some((name.to_string(), value))
        })
        .collect();
    // A `Retry-After` date counts from the answer's own `Date`: read only then.
    if kept.iter().any(|(name, _)| name == "retry-after") {
        if let Some(date) = super::js::get_header(headers, "date") {
            kept.push(("date".to_string(), date));
        }
    }
    kept
}

/// A body with a declared length within the cap is read in one go; one over it is never
/// read; one without a length (chunked) is streamed and dropped as soon as it passes the cap.
/// A compressed body counts as one without a length: the runtime's fetch decompresses, so
/// its `Content-Length` (the compressed size) says nothing about what `arrayBuffer()` would
/// hold — a small gzip bomb would fill the isolate's memory.
async fn read_body(resp: Response) -> Result<Vec<u8>, BodyError> {
    let headers = resp.headers();
    let header = |name: &str| super::js::get_header(&headers, name);
    let encoded = header("content-encoding")
        .is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
    let declared = header("content-length")
        .filter(|_| !encoded)
        .and_then(|v| v.trim().parse::<usize>().ok());
    match declared {
        Some(n) if n > MAX_BODY_BYTES => Err(BodyError::TooLarge),
        Some(_) => {
            let promise = resp.array_buffer().map_err(|_| BodyError::Unreadable)?;
            super::promise::settle_bytes(&promise)
                .await
                .map_err(|_| BodyError::Unreadable)
        }
        None => read_response(&mut worker::Response::from(resp), MAX_BODY_BYTES).await,
    }
}

fn build(req: &OutboundRequest, signal: &AbortSignal) -> Result<Request, JsValue> {
    let headers = Headers::new()?;
    for (k, v) in &req.headers {
        super::js::set_header(&headers, k, v)?;
    }
    let init = RequestInit::new();
    let method = match req.method {
        Method::Get => "GET",
        Method::Post => "POST",
    };
    super::js::set(&init, "method", &super::js::name(method))?;
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    init.set_signal(Some(signal));
    if let Some(body) = &req.body {
        init.set_body(&Uint8Array::from(body.as_slice()));
    }
    Request::new_with_str_and_init(&req.url, &init)
}
