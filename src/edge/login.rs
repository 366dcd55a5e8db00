//! `GET /login` and `GET /login/sso`: the tenant's page and the start of a login.

use super::request::Request;
use url::form_urlencoded;

use crate::core::authorize::{
    authorize_url, sanitize_login_hint, sanitize_portal_state, AuthorizeParams, LoginRequest,
    LoginSeeds, PendingLogin, PENDING_LOGIN_TTL_SECS,
};
use crate::core::cookies;
use crate::core::log::RequestLog;
use crate::core::pages::{login_page, LoginPage, Problem};
use crate::core::return_to::sanitize_return_to;
use crate::core::secret::BrowserId;
use crate::core::tenant_record::Tenant;

use super::respond::{self, AppError, Response};
use super::{idp, rand, Ctx};

fn query_param(ctx: &Ctx<'_>, name: &str) -> Option<String> {
    ctx.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn return_to(ctx: &Ctx<'_>) -> Option<String> {
    query_param(ctx, "return_to")
        .as_deref()
        .and_then(sanitize_return_to)
}

fn sso_href(return_to: Option<&str>) -> String {
    match return_to {
        Some(r) => format!(
            "/login/sso?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", r)
                .finish()
        ),
        None => "/login/sso".to_string(),
    }
}

/// `GET /login` — the tenant's login page, or straight on to `/login/sso` when password login
/// is disabled (keeping `return_to`).
pub fn page(_req: &Request, ctx: &Ctx<'_>, tenant: &Tenant) -> Result<Response, AppError> {
    let cfg = &tenant.config;
    let return_to = return_to(ctx);
    let sso = cfg.enabled.then(|| sso_href(return_to.as_deref()));
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

/// `GET /login/sso` — starts a login: pending login in KV, binding cookie, 302 to the IdP.
pub async fn start(
    req: &Request,
    ctx: &Ctx<'_>,
    tenant: &Tenant,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let cfg = &tenant.config;
    if !cfg.enabled {
        return Err(AppError::page(Problem::SsoDisabled, "sso_disabled"));
    }
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
    let request = LoginRequest {
        return_to: return_to(ctx),
        portal_state: query_param(ctx, "portal_state")
            .as_deref()
            .and_then(sanitize_portal_state),
        login_hint: query_param(ctx, "login_hint")
            .as_deref()
            .and_then(sanitize_login_hint),
    };
    let redirect_uri = cfg
        .redirect_uri
        .clone()
        .unwrap_or_else(|| format!("{}/authorization-code/callback", ctx.origin));
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
