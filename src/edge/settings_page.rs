//! `/settings` on the apex (SPEC "Settings page"): the operator's "Settings > Integrations >
//! Okta". Who is there comes first — Cloudflare Access when both `ACCESS_*` vars are set,
//! else platform staff's signed cookie — then, for every POST, the `Origin` and (after
//! sign-in) the CSRF token; the tenant form validates and stores through the admin API's own
//! path (`tenant_store`). Decisions are `core::settings`'; pages `core::pages::settings*`.

use worker::Method;

mod pages;

use crate::core::access::{verify_access_token, AccessConfig, AccessError, SettingsAuth};
use crate::core::log::RequestLog;
use crate::core::pages::{settings_problem_page, sign_in_page};
use crate::core::settings::form::Submitted;
use crate::core::settings::{
    clear_staff_cookie_header, same_origin, staff_cookie_header, staff_cookie_value,
    staff_from_cookie, Operator, STAFF_COOKIE,
};

use super::body::{page_error, read_request};
use super::ratelimit::{self, Limit};
use super::request::Request;
use super::respond::{self, AppError, Response};
use super::webcrypto::WebCryptoVerifier;
use super::{admin, idp, rand, settings, Ctx};
use pages::Pages;

const MAX_FORM_BYTES: usize = 64 * 1024;

/// A settings-page refusal: the page, and the log's code.
fn refuse(
    log: &mut RequestLog,
    status: u16,
    code: &'static str,
    title: &str,
    sentence: &str,
) -> Response {
    log.error = Some(code);
    respond::html(settings_problem_page(
        status,
        title,
        sentence,
        &rand::token(),
    ))
}

fn forbidden(log: &mut RequestLog, code: &'static str) -> Response {
    refuse(
        log,
        403,
        code,
        "That can\u{2019}t be done from here",
        "You are not allowed to do that, or the form came from another page or has expired. \
         Reload the settings and try again.",
    )
}

fn not_found(log: &mut RequestLog) -> Response {
    refuse(
        log,
        404,
        "not_found",
        "Not found",
        "There is no such settings page or tenant.",
    )
}

fn storage_down(log: &mut RequestLog) -> Response {
    refuse(
        log,
        503,
        "kv_unavailable",
        "Storage is unavailable",
        "Nothing was changed. Try again in a moment.",
    )
}

/// The route under `/settings`, parsed.
enum Route<'a> {
    Home,
    SignIn,
    SignOut,
    New,
    Tenant(&'a str),
    Check(&'a str),
    RotateSecret(&'a str),
    Delete(&'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/settings")?;
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').skip(1).collect();
    Some(match segments.as_slice() {
        [] => Route::Home,
        ["sign-in"] => Route::SignIn,
        ["sign-out"] => Route::SignOut,
        ["new"] => Route::New,
        ["tenants", id] => Route::Tenant(id),
        ["tenants", id, "check"] => Route::Check(id),
        ["tenants", id, "webhook-secret"] => Route::RotateSecret(id),
        ["tenants", id, "delete"] => Route::Delete(id),
        _ => return None,
    })
}

/// Everything under `/settings`.
pub async fn handle(
    req: Request,
    ctx: &Ctx<'_>,
    path: &str,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let (team, aud) = settings::access_vars(ctx.env);
    let auth = SettingsAuth::from_vars(team.as_deref(), aud.as_deref(), ctx.settings.local_dev);
    if let SettingsAuth::Misconfigured(why) = &auth {
        log.detail = Some(why.clone());
        return Ok(refuse(
            log,
            503,
            "settings_misconfigured",
            "The settings are not available",
            "They are not configured correctly on this worker. The platform team has been told \
             in the worker's log.",
        ));
    }
    let admin_token = settings::admin_token(ctx.env).map_err(|e| super::misconfigured(e.0))?;
    // Behind Access every request proves who it is first, whatever it asks for (SPEC: else
    // 403), so not even which pages exist is told to a request without a valid token.
    let access_operator = match &auth {
        SettingsAuth::Access(config) => match access_operator(&req, ctx, config).await {
            Ok(op) => Some(op),
            Err(AccessError::Unavailable(why)) => {
                log.detail = Some(why.into());
                return Ok(refuse(
                    log,
                    503,
                    "access_certs_unavailable",
                    "The settings are not available just now",
                    "The sign-in check could not be made. Try again in a moment.",
                ));
            }
            Err(e) => {
                log.detail = Some(e.to_string());
                return Ok(forbidden(log, e.code()));
            }
        },
        _ => None,
    };
    let Some(route) = route(path) else {
        return Ok(not_found(log));
    };
    let method = req.method();
    let is_post = method == Method::Post;
    if !is_post && !matches!(method, Method::Get | Method::Head) {
        return Err(AppError::method_not_allowed(
            "GET, POST",
            respond::Form::Page,
        ));
    }
    // SPEC: every POST, the sign-in form included, carries the apex origin.
    if is_post && !same_origin(req.header("origin").as_deref(), &ctx.origin) {
        return Ok(forbidden(log, "settings_origin"));
    }
    if let Route::SignIn = route {
        return match (&auth, is_post) {
            (SettingsAuth::Token, true) => sign_in(&req, ctx, &admin_token, log).await,
            (SettingsAuth::Token, false) => Ok(respond::redirect(303, "/settings", &[])),
            _ => Ok(not_found(log)),
        };
    }
    let operator = match access_operator {
        Some(op) => op,
        None => {
            let cookie = ctx.cookie(&req, STAFF_COOKIE);
            match cookie.and_then(|c| staff_from_cookie(&c, &admin_token, ctx.now())) {
                Some(op) => op,
                None if !is_post && matches!(route, Route::Home) => {
                    return Ok(respond::html(sign_in_page(None, 200, &rand::token())))
                }
                None if !is_post => return Ok(respond::redirect(303, "/settings", &[])),
                None => return Ok(forbidden(log, "settings_not_signed_in")),
            }
        }
    };
    let form = if is_post {
        let body = read_request(&req, MAX_FORM_BYTES)
            .await
            .map_err(page_error)?;
        let form = Submitted::parse(&body);
        if !operator.csrf_matches(&admin_token, form.get("csrf")) {
            return Ok(forbidden(log, "settings_csrf"));
        }
        Some(form)
    } else {
        None
    };
    let page = Pages {
        ctx,
        csrf: operator.csrf_token(&admin_token),
        operator: &operator,
    };
    match (route, form) {
        (Route::Home, None) => page.home(log).await,
        (Route::SignOut, Some(_)) => Ok(respond::redirect(
            303,
            "/settings",
            &[(
                "set-cookie",
                clear_staff_cookie_header(ctx.settings.local_dev),
            )],
        )),
        (Route::New, form) if operator.is_staff() => page.create(form, log).await,
        (Route::Tenant(id), form) => page.tenant(id, form, log).await,
        (Route::Check(id), Some(_)) => page.check(id, log).await,
        (Route::RotateSecret(id), Some(_)) if operator.is_staff() => page.rotate(id, log).await,
        (Route::Delete(id), form) if operator.is_staff() => page.delete(id, form, log).await,
        (Route::New | Route::RotateSecret(_) | Route::Delete(_), _) => {
            Ok(forbidden(log, "settings_staff_only"))
        }
        _ => Err(AppError::method_not_allowed(
            "GET, POST",
            respond::Form::Page,
        )),
    }
}

/// `POST /settings/sign-in`: counted against the limit before the token is compared.
async fn sign_in(
    req: &Request,
    ctx: &Ctx<'_>,
    admin_token: &str,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    ratelimit::enforce(ctx, req, Limit::SettingsSignIn, None, respond::Form::Page).await?;
    let body = read_request(req, 4 * 1024).await.map_err(page_error)?;
    let form = Submitted::parse(&body);
    if !admin::token_matches(form.get("token").unwrap_or_default(), admin_token) {
        log.error = Some("settings_wrong_token");
        let page = sign_in_page(
            Some("That is not the admin token. Check it and try again."),
            401,
            &rand::token(),
        );
        return Ok(respond::html(page));
    }
    log.outcome = "signed_in";
    let value = staff_cookie_value(admin_token, &rand::bytes(), ctx.now());
    Ok(respond::redirect(
        303,
        "/settings",
        &[(
            "set-cookie",
            staff_cookie_header(&value, ctx.settings.local_dev),
        )],
    ))
}

/// The Access identity of this request, checked against the team's certs (cached like an
/// IdP's JWKS, refetched once for an unknown `kid`, at most every 30 s).
async fn access_operator(
    req: &Request,
    ctx: &Ctx<'_>,
    config: &AccessConfig,
) -> Result<Operator, AccessError> {
    let raw = req
        .header("cf-access-jwt-assertion")
        .ok_or(AccessError::Missing)?;
    let kv = ctx
        .kv()
        .map_err(|_| AccessError::Unavailable("the KV binding is missing"))?;
    let certs_url = config.certs_url();
    // Cached like an IdP's JWKS, under a key no issuer can have.
    let cache_key = format!("access:{}", config.team_origin);
    let certs = idp::jwks(&kv, &cache_key, &certs_url, ctx.now())
        .await
        .map_err(|_| AccessError::Unavailable("the Access certs could not be fetched"))?;
    let verified = match verify_access_token(&raw, &certs, config, ctx.now(), &WebCryptoVerifier)
        .await
    {
        Err(AccessError::Token(crate::core::id_token::IdTokenError::UnknownKid)) => {
            match idp::refetch_jwks_for_unknown_kid(&kv, &cache_key, &certs_url, ctx.now()).await {
                Some(Ok(certs)) => {
                    verify_access_token(&raw, &certs, config, ctx.now(), &WebCryptoVerifier).await
                }
                _ => Err(AccessError::Token(
                    crate::core::id_token::IdTokenError::UnknownKid,
                )),
            }
        }
        other => other,
    }?;
    Ok(Operator::Admin {
        email: verified.email,
        sub: verified.sub,
    })
}
