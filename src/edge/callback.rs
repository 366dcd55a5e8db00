//! `GET|POST /authorization-code/callback`, SPEC checks 1–4 and the relay to the start host;
//! `finish` does 5–9.

use std::rc::Rc;

use crate::core::app::still_registered;
use crate::core::authorize::PendingLogin;
use crate::core::callback::{
    check_callback, parse_callback, pending_key, route_pending, CallbackError, PendingRoute,
    MAX_CALLBACK_BYTES,
};
use crate::core::cookies;
use crate::core::log::RequestLog;
use crate::core::pages::Problem;
use crate::core::tenant_record::Tenant;

use super::body::query_or_form;
use super::request::Request;
use super::respond::{self, AppError, Response};
use super::{app, finish, own_code, Ctx};

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
    let (raw, is_post) = query_or_form(&req, ctx.url.query(), MAX_CALLBACK_BYTES).await?;
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
    let here = tenant.as_ref().map(|t| t.id.as_str());
    let route = route_pending(
        pending.as_ref(),
        ctx.now(),
        &ctx.origin,
        here,
        &raw,
        is_post,
    );
    // A login this host serves or relays names its tenant (on the apex, the only way to know
    // it); another tenant's, refused here, leaves the host's tenant in the log.
    if let (Some(p), PendingRoute::Here | PendingRoute::Relay { .. }) = (&pending, &route) {
        log.tenant = Some(p.tenant.clone());
    }
    match route {
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
    // A tenant disabled since the login started: nothing more is sent to its IdP. (One
    // deleted since then never gets here: its host answers 404 before anything is read.)
    if !tenant.config.enabled {
        return Err(AppError::page(Problem::SsoDisabled, "tenant_disabled"));
    }
    // One use only (best effort on KV; the IdP's single-use code, PKCE and the cookie close the
    // rest). Not awaited: its outcome changes nothing here, and an await costs a wasm re-entry.
    kv.delete_in_background(&key, ctx.wait);

    // 2. The browser that started the login: a page whoever started it.
    let browser = ctx.cookie(&req, cookies::BROWSER);
    if !pending.is_bound_to(browser.as_deref()) {
        return Err(refusal(CallbackError::BrowserMismatch));
    }
    // An app login whose redirect URI the tenant has removed since: nothing more goes there.
    if let Some(app_login) = &pending.app {
        if !still_registered(&tenant.config.app_redirect_uris, &app_login.redirect_uri) {
            return Err(AppError::page(
                Problem::AppLinkInvalid,
                "app_redirect_unregistered",
            ));
        }
    }
    // 3–4. IdP error, RFC 9207 `iss`; then 5–9. For the app, every failure from here on goes
    // back to the app as an OAuth error redirect, not a page.
    let issuer = tenant.config.issuer(ctx.settings.local_dev);
    let app_login = pending.app.clone();
    let result = match check_callback(&params, &pending, browser.as_deref(), &issuer) {
        Ok(code) => {
            let code = code.to_string();
            own_code(finish::finish(
                ctx, &kv, &tenant, pending, &issuer, &code, log,
            ))
            .await
        }
        Err(e) => Err(refusal(e)),
    };
    match (result, app_login) {
        (Err(err), Some(app_login)) => {
            log.error = Some(err.code());
            log.detail = err.detail().map(str::to_string);
            log.outcome = "app_error_redirect";
            Ok(app::failure_redirect(ctx, &tenant, &app_login, &err))
        }
        (result, _) => result,
    }
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
