//! `GET|POST /authorization-code/callback`, SPEC checks 1–4 and the relay to the start host;
//! `finish` does 5–9.

use std::rc::Rc;

use worker::Method;

use crate::core::authorize::PendingLogin;
use crate::core::callback::{
    check_callback, parse_callback, pending_key, route_pending, CallbackError, PendingRoute,
    MAX_CALLBACK_BYTES,
};
use crate::core::cookies;
use crate::core::log::RequestLog;
use crate::core::pages::Problem;
use crate::core::tenant_record::Tenant;

use super::body::{read_request, BodyError};
use super::request::Request;
use super::respond::{self, AppError, Response};
use super::{finish, own_code, Ctx};

/// Reads the callback's parameters: the query for GET, the form body for POST.
async fn read_params(req: &Request, ctx: &Ctx<'_>) -> Result<(String, bool), AppError> {
    // SPEC's 8 KiB bound on the query holds for a POST too, though its query is not read.
    let query = ctx.url.query().unwrap_or_default();
    if query.len() > MAX_CALLBACK_BYTES {
        return Err(AppError::page(Problem::UriTooLong, "query_too_long"));
    }
    if req.method() == Method::Post {
        let body = read_request(req, MAX_CALLBACK_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => AppError::page(Problem::TooLarge, "body_too_large"),
                BodyError::LengthRequired => AppError::Bare {
                    status: 411,
                    code: "length_required",
                },
                BodyError::Unreadable => AppError::page(Problem::BadRequest, "unreadable_body"),
            })?;
        Ok((String::from_utf8_lossy(&body).into_owned(), true))
    } else {
        Ok((query.to_string(), false))
    }
}

fn expired(on_apex: bool) -> AppError {
    if on_apex {
        AppError::page(Problem::UnknownState, "unknown_state")
    } else {
        AppError::page(Problem::ExpiredLink, "unknown_state").start_again("/login")
    }
}

pub async fn handle(
    req: Request,
    ctx: &Ctx<'_>,
    tenant: Option<Rc<Tenant>>,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let (raw, is_post) = read_params(&req, ctx).await?;
    let params = parse_callback(&raw);
    if let Some(name) = params.repeated {
        return Err(AppError::page(Problem::BadRequest, "repeated_parameter")
            .with_detail(format!("{name} appears more than once"))
            .start_again("/login"));
    }
    let kv = ctx.kv()?;
    let on_apex = tenant.is_none();

    // 1. `state` names a pending login (core::callback: the key, then the route).
    let key = pending_key(&params).ok_or_else(|| expired(on_apex))?;
    // A value that does not parse reads as absent: expired, like a missing one.
    let pending = match kv.get_json::<PendingLogin>(&key).await {
        Ok(p) => p,
        Err(_) => return Err(super::storage_unavailable()),
    };
    // The pending login names the tenant (on the apex, the only way to know it); without one
    // the host's tenant, set by the router, stays.
    if let Some(p) = &pending {
        log.tenant = Some(p.tenant.clone());
    }
    let here = tenant.as_ref().map(|t| t.id.as_str());
    match route_pending(
        pending.as_ref(),
        ctx.now(),
        &ctx.origin,
        here,
        &raw,
        is_post,
    ) {
        PendingRoute::Expired => return Err(expired(on_apex)),
        PendingRoute::Relay { status, location } => {
            log.outcome = "relayed_to_start_host";
            return Ok(respond::redirect(status, &location, &[]));
        }
        PendingRoute::Here => {}
    }
    // `Here` means both are there; the pattern only spares an unwrap.
    let (Some(pending), Some(tenant)) = (pending, tenant) else {
        return Err(expired(on_apex));
    };
    // One use only (best effort on KV; the IdP's single-use code, PKCE and the cookie close the
    // rest). Not awaited: its outcome changes nothing here, and an await costs a wasm re-entry.
    kv.delete_in_background(&key, ctx.wait);

    // 2–4. Browser binding, IdP error, RFC 9207 `iss`.
    let browser = ctx.cookie(&req, cookies::BROWSER);
    let issuer = tenant.config.issuer(ctx.settings.local_dev);
    let code = check_callback(&params, &pending, browser.as_deref(), &issuer)
        .map_err(refusal)?
        .to_string();
    own_code(finish::finish(
        ctx, &kv, &tenant, pending, &issuer, &code, log,
    ))
    .await
}

fn refusal(err: CallbackError) -> AppError {
    let code = err.code();
    let problem = match err {
        CallbackError::BrowserMismatch => Problem::CsrfMismatch,
        CallbackError::Idp { error, description } if error == "access_denied" => {
            Problem::AccessDenied { description }
        }
        CallbackError::Idp { error, description } => Problem::IdpError { error, description },
        CallbackError::IssuerMismatch => Problem::IssuerMismatch,
        CallbackError::MissingCode => Problem::BadRequest,
    };
    AppError::page(problem, code).start_again("/login")
}
