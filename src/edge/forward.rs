//! Forwarder mode (`FORWARD_TO` set): relays the IdP's callback to the hosted tenant endpoint,
//! every parameter carried and re-encoded; nothing is ever reflected into a page.

use worker::Method;

use crate::core::forwarder::{
    forward_location, parse_forward_to, post_location, MAX_CALLBACK_BYTES,
};
use crate::core::log::RequestLog;

use super::body::declared_length;
use super::request::Request;
use super::respond::{self, AppError, Response};
use super::settings::Settings;

pub async fn handle(
    req: Request,
    settings: Settings,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let raw = settings.forward_to.unwrap_or_default();
    let target = match parse_forward_to(&raw, settings.local_dev) {
        Ok(t) => t,
        Err(e) => {
            log.route = "forwarder";
            log.error = Some("forward_to_invalid");
            log.detail = Some(e.to_string());
            log.outcome = "misconfigured";
            return Ok(respond::bare(503));
        }
    };
    let url = url::Url::parse(&req.url()).map_err(|_| AppError::Bare {
        status: 400,
        code: "bad_url",
    })?;
    match url.path() {
        "/healthz" => {
            log.route = "/healthz";
            match req.method() {
                Method::Get | Method::Head => Ok(respond::text(200, "ok")),
                _ => Err(not_allowed("GET, HEAD")),
            }
        }
        "/authorization-code/callback" => {
            log.route = "/authorization-code/callback";
            log.outcome = "forwarded";
            // SPEC's 8 KiB bound on the query holds whatever the method (a POST's query is
            // dropped by the 307, but an oversize one is refused, as the hosted worker does).
            let query = url.query();
            if query.is_some_and(|q| q.len() > MAX_CALLBACK_BYTES) {
                return Err(AppError::Bare {
                    status: 414,
                    code: "query_too_long",
                });
            }
            match req.method() {
                Method::Get | Method::Head => Ok(respond::redirect(
                    302,
                    &forward_location(&target, query),
                    &[],
                )),
                Method::Post => {
                    // The body is never read: the 307 makes the browser post it again to the
                    // hosted worker, which applies its own limits. Only its declared size counts.
                    let too_big = declared_length(req.header("content-length"))
                        .is_some_and(|n| n > MAX_CALLBACK_BYTES);
                    if too_big {
                        return Err(AppError::Bare {
                            status: 413,
                            code: "body_too_large",
                        });
                    }
                    Ok(respond::redirect(307, &post_location(&target), &[]))
                }
                _ => Err(not_allowed("GET, HEAD, POST")),
            }
        }
        _ => Err(AppError::Bare {
            status: 404,
            code: "not_found",
        }),
    }
}

/// 405 with `Allow` (RFC 9110 §15.5.6) and, like every forwarder answer, no body.
fn not_allowed(allow: &str) -> AppError {
    AppError::method_not_allowed(allow, respond::Form::Empty)
}
