//! `GET /login`, `GET /login/sso` and `GET|POST /login/initiate`: the tenant's page and the
//! starts of a login. Every start — these two, and the app's `/app/login` — goes through
//! `begin`: rate limit, pending login in KV, binding cookie, 302 to the IdP.

use super::request::Request;
use url::form_urlencoded;

use crate::core::authorize::{
    authorize_url, sanitize_login_hint, sanitize_portal_state, AuthorizeParams, LoginRequest,
    LoginSeeds, PendingLogin, PENDING_LOGIN_TTL_SECS,
};
use crate::core::cookies;
use crate::core::initiate::{initiate_request, InitiateContext, MAX_INITIATE_BYTES};
use crate::core::log::RequestLog;
use crate::core::pages::{login_page, LoginPage, Problem};
use crate::core::return_to::sanitize_return_to;
use crate::core::secret::BrowserId;
use crate::core::step_up::{StepUp, StepUpRequest};
use crate::core::tenant_record::Tenant;

use super::body::query_or_form;
use super::ratelimit::{self, Limit};
use super::respond::{self, AppError, Form, Response};
use super::{idp, rand, Ctx};

fn query_param(ctx: &Ctx<'_>, name: &str) -> Option<String> {
    ctx.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A step-up parameter, which must not be repeated: which of two `max_age` values was meant
/// is not ours to guess, and dropping the stricter one would be a silent downgrade.
fn step_up_param(ctx: &Ctx<'_>, name: &'static str) -> Result<Option<String>, AppError> {
    let mut values = ctx.url.query_pairs().filter(|(k, _)| k == name);
    let first = values.next().map(|(_, v)| v.into_owned());
    if values.next().is_some() {
        return Err(AppError::page(Problem::StepUpInvalid, "repeated_parameter")
            .with_detail(format!("{name} appears more than once"))
            .start_again("/login"));
    }
    Ok(first)
}

fn return_to(ctx: &Ctx<'_>) -> Option<String> {
    query_param(ctx, "return_to")
        .as_deref()
        .and_then(sanitize_return_to)
}

fn portal_state(ctx: &Ctx<'_>) -> Option<String> {
    query_param(ctx, "portal_state")
        .as_deref()
        .and_then(sanitize_portal_state)
}

/// `/login/sso` with the `return_to` and `portal_state` the member came with.
fn sso_href(return_to: Option<&str>, portal_state: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(r) = return_to {
        query.append_pair("return_to", r);
    }
    if let Some(p) = portal_state {
        query.append_pair("portal_state", p);
    }
    match query.finish() {
        q if q.is_empty() => "/login/sso".to_string(),
        q => format!("/login/sso?{q}"),
    }
}

/// `GET /login` — the tenant's login page, or straight on to `/login/sso` when password login
/// is disabled (keeping `return_to` and `portal_state`, so a portal that started the login
/// can bind its result to its own browser session).
pub fn page(_req: &Request, ctx: &Ctx<'_>, tenant: &Tenant) -> Result<Response, AppError> {
    let cfg = &tenant.config;
    let (return_to, portal_state) = (return_to(ctx), portal_state(ctx));
    let sso = cfg
        .enabled
        .then(|| sso_href(return_to.as_deref(), portal_state.as_deref()));
    if cfg.password_login_disabled {
        if let Some(sso) = &sso {
            return Ok(respond::redirect(302, sso, &[]));
        }
    }
    let password = (!cfg.password_login_disabled).then(|| format!("{}/login", cfg.portal_url));
    let page = login_page(
        &LoginPage {
            tenant: &tenant.id,
            button_label: &cfg.sign_in_button_label,
            sso_href: sso.as_deref(),
            password_href: password.as_deref(),
        },
        &rand::token(),
    );
    Ok(respond::html(page))
}

/// SPEC: a tenant with its Okta integration off answers 404 where a login would start.
fn sso_enabled(tenant: &Tenant) -> Result<(), AppError> {
    if tenant.config.enabled {
        Ok(())
    } else {
        Err(AppError::page(Problem::SsoDisabled, "sso_disabled"))
    }
}

/// `GET /login/sso` — starts a login, with the step-up a portal may ask for: a request can
/// make a login stricter than the tenant's own requirements, never weaker, and a malformed
/// value is a 400 page rather than dropped.
pub async fn sso(
    req: &Request,
    ctx: &Ctx<'_>,
    tenant: &Tenant,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let cfg = &tenant.config;
    sso_enabled(tenant)?;
    let (prompt, max_age, acr) = (
        step_up_param(ctx, "prompt")?,
        step_up_param(ctx, "max_age")?,
        step_up_param(ctx, "acr_values")?,
    );
    let asked = StepUpRequest {
        prompt: prompt.as_deref(),
        max_age: max_age.as_deref(),
        acr_values: acr.as_deref(),
    };
    let step_up = StepUp::merge(cfg.max_age, cfg.acr_values.as_deref(), &asked).map_err(|e| {
        AppError::page(Problem::StepUpInvalid, e.code())
            .with_detail(e.to_string())
            .start_again("/login")
    })?;
    let request = LoginRequest {
        return_to: return_to(ctx),
        portal_state: portal_state(ctx),
        login_hint: query_param(ctx, "login_hint")
            .as_deref()
            .and_then(sanitize_login_hint),
        step_up,
        app: None,
    };
    begin(req, ctx, tenant, request, log).await
}

/// `GET|POST /login/initiate` — the Okta dashboard tile (OIDC Core §4): Okta names its
/// issuer, which must be this tenant's; then the ordinary start with the tenant's own step-up.
pub async fn initiate(
    req: &Request,
    ctx: &Ctx<'_>,
    tenant: &Tenant,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let cfg = &tenant.config;
    sso_enabled(tenant)?;
    let (raw, _) = query_or_form(req, ctx.url.query(), MAX_INITIATE_BYTES).await?;
    let local_dev = ctx.settings.local_dev;
    let (issuer, org_issuer) = (cfg.issuer(local_dev), cfg.org_issuer(local_dev));
    let request = initiate_request(
        &raw,
        &InitiateContext {
            issuer: &issuer,
            org_issuer: &org_issuer,
            portal_url: &cfg.portal_url,
            max_age: cfg.max_age,
            acr_values: cfg.acr_values.as_deref(),
        },
    )
    .map_err(|e| AppError::page(Problem::NotForThisPortal, e.code()).with_detail(e.to_string()))?;
    begin(req, ctx, tenant, request, log).await
}

/// Starts a login: counted against the login-start limit, then pending login in KV, binding
/// cookie, 302 to the IdP. The caller has checked that the tenant is enabled.
pub async fn begin(
    req: &Request,
    ctx: &Ctx<'_>,
    tenant: &Tenant,
    request: LoginRequest,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    // SPEC: 600 per IP and tenant a minute, counted before anything is written.
    ratelimit::enforce(ctx, req, Limit::LoginStart, Some(&tenant.id), Form::Page).await?;
    let cfg = &tenant.config;
    let kv = ctx.kv()?;
    let issuer = cfg.issuer(ctx.settings.local_dev);
    let meta = idp::metadata(&kv, &issuer, ctx.now()).await.map_err(|e| {
        AppError::page(Problem::IdpUnavailable, e.code())
            .with_detail(e.to_string())
            .start_again("/login")
    })?;
    let browser = ctx
        .cookie(req, cookies::BROWSER)
        .filter(|v| v.len() == 43)
        .unwrap_or_else(rand::token);
    let redirect_uri = cfg.sign_in_redirect_uri(&ctx.origin);
    let seeds = LoginSeeds {
        state: rand::bytes(),
        nonce: rand::bytes(),
        verifier: rand::bytes(),
    };
    let pending = PendingLogin::new(
        &tenant.id,
        &ctx.origin,
        &redirect_uri,
        BrowserId::new(browser.clone()),
        &seeds,
        &request,
        ctx.now(),
    );
    let params = AuthorizeParams {
        authorization_endpoint: &meta.authorization_endpoint,
        client_id: &cfg.client_id,
        idp: cfg.idp_id.as_deref(),
        login_hint: request.login_hint.as_deref(),
        extra_scopes: &cfg.extra_scopes,
    };
    let location = authorize_url(&params, &pending)
        .map_err(|_| AppError::page(Problem::IdpUnavailable, "bad_authorize_endpoint"))?;
    let body = serde_json::to_string(&pending)
        .map_err(|_| AppError::page(Problem::BadRequest, "serialize"))?;
    kv.put(
        &format!("pending:{}", pending.state.secret()),
        &body,
        Some(PENDING_LOGIN_TTL_SECS),
    )
    .await
    .map_err(|_| super::storage_unavailable())?;
    log.outcome = "redirect_to_idp";
    Ok(respond::redirect(
        302,
        &location,
        &[(
            "set-cookie",
            cookies::browser_cookie(&browser, ctx.settings.local_dev),
        )],
    ))
}
