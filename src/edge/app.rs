//! App sign-in (SPEC "App sign-in"): `GET /app/login` starts the ordinary login for the
//! Passport App, the callback ends it here in a one-time code (after a "Continue" click for
//! redirect URIs any app could claim), and `POST /app/token` redeems the code for the
//! assertion. The rules are `core::app`'s; the code lives in `app_code`'s Durable Object.

use crate::core::app::{
    app_error_for, app_error_redirect, app_redirect, continue_csrf, continue_form_target,
    continue_object_name, needs_continue, parse_app_login, parse_token_form, redeem,
    still_registered, AppCodeRecord, AppStartError, PendingContinue, TokenRequestError,
    CODE_TTL_SECS, CONTINUE_TTL_SECS, MAX_TOKEN_BODY_BYTES,
};
use crate::core::authorize::{AppLogin, LoginRequest};
use crate::core::cookies;
use crate::core::handoff::{assertion_claims, AssertionContext, Channel, ASSERTION_TTL_SECS};
use crate::core::log::RequestLog;
use crate::core::member::Member;
use crate::core::pages::{continue_to_app_page, Problem};
use crate::core::secret::constant_time_eq;
use crate::core::step_up::StepUp;
use crate::core::tenant_record::Tenant;

use super::app_code::{self, Taken};
use super::body::{page_error, read_request, BodyError};
use super::ratelimit::{self, Limit};
use super::request::Request;
use super::respond::{self, AppError, Form, Response};
use super::{login, misconfigured, rand, signing, Ctx};

/// App sign-in is off for a disabled tenant and one without `app_redirect_uris`.
fn app_enabled(tenant: &Tenant, form: Form) -> Result<(), AppError> {
    if tenant.config.enabled && !tenant.config.app_redirect_uris.is_empty() {
        return Ok(());
    }
    Err(match form {
        Form::Json => oauth_error(
            404,
            "not_found",
            "app sign-in is not enabled here",
            "app_signin_off",
        ),
        _ => AppError::page(Problem::NotFound, "app_signin_off"),
    })
}

/// `GET /app/login` — checks the app's request (nothing redirects to `redirect_uri` before it
/// is known to be registered), then starts the ordinary login, recording that it is the app's.
pub async fn login(
    req: &Request,
    ctx: &Ctx<'_>,
    tenant: &Tenant,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    app_enabled(tenant, Form::Page)?;
    let cfg = &tenant.config;
    let query = ctx.url.query().unwrap_or_default();
    let start = match parse_app_login(query, &cfg.app_redirect_uris) {
        Ok(s) => s,
        Err(AppStartError::Invalid {
            redirect_uri,
            state,
            description,
        }) => {
            log.outcome = "app_error_redirect";
            log.error = Some("app_invalid_request");
            log.detail = Some(description.to_string());
            let iss = ctx.tenant_origin(&tenant.id);
            let to = app_error_redirect(
                &redirect_uri,
                "invalid_request",
                description,
                state.as_deref(),
                &iss,
            );
            return Ok(respond::redirect(302, &to, &[]));
        }
        Err(e) => {
            return Err(AppError::page(Problem::AppLinkInvalid, e.code()).with_detail(e.to_string()))
        }
    };
    // The tenant's own requirements, and the prompt the app asked for (checked above).
    let step_up = StepUp {
        prompt: start.prompt,
        ..StepUp::of_tenant(cfg.max_age, cfg.acr_values.as_deref())
    };
    let request = LoginRequest {
        login_hint: start.login_hint,
        step_up,
        app: Some(start.app),
        ..LoginRequest::default()
    };
    login::begin(req, ctx, tenant, request, log).await
}

/// A failure after callback checks 1–2 of an app login: a 302 to the app with the OAuth error,
/// the app's `state` and `iss`, instead of a page.
pub fn failure_redirect(
    ctx: &Ctx<'_>,
    tenant: &Tenant,
    app: &AppLogin,
    err: &AppError,
) -> Response {
    let (error, description) = match err {
        AppError::Page { problem, .. } => app_error_for(problem),
        _ => (
            "server_error".to_string(),
            "the sign-in could not be completed",
        ),
    };
    let iss = ctx.tenant_origin(&tenant.id);
    let to = app_error_redirect(
        &app.redirect_uri,
        &error,
        description,
        Some(&app.state),
        &iss,
    );
    respond::redirect(302, &to, &[])
}

/// Callback step 9 for the app: the verified member becomes a one-time code — at once for an
/// `https` app link, after the "Continue" click for a private scheme or loopback redirect.
pub async fn finish(
    ctx: &Ctx<'_>,
    tenant: &Tenant,
    app: &AppLogin,
    member: Member,
    provisioned: bool,
    browser: &str,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let record = AppCodeRecord {
        tenant: tenant.id.clone(),
        iss: ctx.tenant_origin(&tenant.id),
        aud: tenant.config.portal_url.clone(),
        redirect_uri: app.redirect_uri.clone(),
        code_challenge: app.code_challenge.clone(),
        member,
        provisioned,
        expires_at: ctx.now() + CODE_TTL_SECS,
    };
    if !needs_continue(&app.redirect_uri) {
        log.outcome = "app_code";
        return issue_code(ctx, record, &app.state).await;
    }
    // The waiting sign-in, single-use in its own Durable Object: only the form's CSRF token,
    // which only this browser's binding cookie gives, takes it out.
    let id = rand::token();
    let csrf = continue_csrf(browser, &id);
    let email = record.member.email.clone();
    let waiting = PendingContinue {
        record,
        app_state: app.state.clone(),
        created_at: ctx.now(),
    };
    let expires_at = ctx.now() + CONTINUE_TTL_SECS;
    app_code::store(
        ctx.env,
        &continue_object_name(&tenant.id, &id),
        &waiting,
        expires_at,
        Some(&csrf),
    )
    .await
    .map_err(|_| misconfigured("the app code store (Durable Object) failed"))?;
    log.outcome = "app_continue";
    let target = continue_form_target(&app.redirect_uri);
    let page = continue_to_app_page(&email, &id, &csrf, target.as_deref(), &rand::token());
    Ok(respond::html(page))
}

/// A fresh code for `record`, stored in its Durable Object until 60 s from now, and the 302
/// that hands it over.
async fn issue_code(
    ctx: &Ctx<'_>,
    mut record: AppCodeRecord,
    state: &str,
) -> Result<Response, AppError> {
    record.expires_at = ctx.now() + CODE_TTL_SECS;
    let code = rand::token();
    app_code::store(ctx.env, &code, &record, record.expires_at, None)
        .await
        .map_err(|_| misconfigured("the app code store (Durable Object) failed"))?;
    let to = app_redirect(
        &record.redirect_uri,
        &[("code", &code), ("state", state), ("iss", &record.iss)],
    );
    Ok(respond::redirect(302, &to, &[]))
}

/// `POST /app/continue` — the member's click on "Continue to the app": the form's CSRF token
/// and the binding cookie must both belong to the waiting sign-in; then the code goes out.
pub async fn continue_post(
    req: &Request,
    ctx: &Ctx<'_>,
    tenant: &Tenant,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    app_enabled(tenant, Form::Page)?;
    let body = read_request(req, 4 * 1024).await.map_err(page_error)?;
    let mut id = None;
    let mut csrf = None;
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "continue" if id.is_none() => id = Some(v.into_owned()),
            "csrf" if csrf.is_none() => csrf = Some(v.into_owned()),
            _ => {}
        }
    }
    let expired = || AppError::page(Problem::ExpiredLink, "continue_unknown");
    let forged = || AppError::page(Problem::CsrfMismatch, "continue_csrf_mismatch");
    let id = id.filter(|i| i.len() == 43).ok_or_else(expired)?;
    // The form's token must be the one this browser's binding cookie gives for this id; a
    // forged click takes nothing out of the store, so the member's own click still works.
    let browser = ctx.cookie(req, cookies::BROWSER).unwrap_or_default();
    let bound = csrf
        .is_some_and(|c| constant_time_eq(c.as_bytes(), continue_csrf(&browser, &id).as_bytes()));
    if browser.is_empty() || !bound {
        return Err(forged());
    }
    let csrf = continue_csrf(&browser, &id);
    let taken = app_code::take::<PendingContinue>(
        ctx.env,
        &continue_object_name(&tenant.id, &id),
        Some(&csrf),
    )
    .await
    .map_err(|_| super::storage_unavailable())?;
    let waiting = match taken {
        Taken::Record(w) => w,
        Taken::NotYours => return Err(forged()),
        Taken::Nothing => return Err(expired()),
    };
    if waiting.record.tenant != tenant.id || ctx.now() > waiting.created_at + CONTINUE_TTL_SECS {
        return Err(expired());
    }
    if !still_registered(
        &tenant.config.app_redirect_uris,
        &waiting.record.redirect_uri,
    ) {
        return Err(AppError::page(
            Problem::AppLinkInvalid,
            "app_redirect_unregistered",
        ));
    }
    // One click, one code: the record is gone from its object.
    log.outcome = "app_code";
    issue_code(ctx, waiting.record, &waiting.app_state).await
}

/// Every `/app/token` answer that is not a success is RFC 6749 §5.2 JSON
/// (`{"error","error_description"}`), whatever its status.
/// The log line keeps its own, more precise `code`.
fn oauth_error(
    status: u16,
    error: &'static str,
    description: &str,
    code: &'static str,
) -> AppError {
    AppError::Json {
        status,
        body: serde_json::json!({ "error": error, "error_description": description }),
        code,
    }
}

fn token_error(e: TokenRequestError) -> AppError {
    let code = match e {
        TokenRequestError::InvalidRequest(_) => "token_invalid_request",
        TokenRequestError::UnsupportedGrantType => "token_unsupported_grant_type",
        TokenRequestError::InvalidGrant(_) => "token_invalid_grant",
    };
    AppError::Json {
        status: 400,
        body: e.body(),
        code,
    }
}

/// `POST /app/token` — redeems a one-time code (RFC 6749 §4.1.3 with RFC 7636): form body,
/// every attempt uses the code up, and the answer is the assertion with `"channel":"app"`.
pub async fn token(
    req: &Request,
    ctx: &Ctx<'_>,
    tenant: &Tenant,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    app_enabled(tenant, Form::Json)?;
    ratelimit::enforce(ctx, req, Limit::AppToken, Some(&tenant.id), Form::Json).await?;
    let form_type = req.header("content-type").is_some_and(|t| {
        t.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !form_type {
        return Err(token_error(TokenRequestError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        )));
    }
    let body = read_request(req, MAX_TOKEN_BODY_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => oauth_error(
                413,
                "invalid_request",
                "the body is over 8 KiB",
                "body_too_large",
            ),
            BodyError::LengthRequired => oauth_error(
                411,
                "invalid_request",
                "send the body with a Content-Length",
                "length_required",
            ),
            BodyError::Unreadable => {
                token_error(TokenRequestError::InvalidRequest("unreadable body"))
            }
        })?;
    let form = parse_token_form(&body);
    // Any attempt that names a code uses it up, whatever else is wrong with it.
    let record = match &form.code {
        Some(code) => match app_code::take::<AppCodeRecord>(ctx.env, code, None).await {
            Ok(Taken::Record(r)) => Some(r),
            Ok(Taken::Nothing | Taken::NotYours) => None,
            Err(_) => {
                return Err(oauth_error(
                    503,
                    "temporarily_unavailable",
                    "try again in a moment",
                    "code_store_failed",
                )
                .with_detail_json("the app code store failed"))
            }
        },
        None => None,
    };
    if let Some(problem) = form.problem.clone() {
        return Err(token_error(problem));
    }
    let record = record.ok_or_else(|| {
        token_error(TokenRequestError::InvalidGrant(
            "the code is unknown, used or expired",
        ))
    })?;
    redeem(
        &record,
        &tenant.id,
        &tenant.config.app_redirect_uris,
        &form,
        ctx.now(),
    )
    .map_err(token_error)?;
    let signer = signing::signer(ctx.env).await.map_err(|e| {
        oauth_error(
            503,
            "temporarily_unavailable",
            "the worker is not configured",
            "misconfigured",
        )
        .with_detail_json(e.0)
    })?;
    let jti = rand::token();
    let claims = assertion_claims(
        &record.member,
        &AssertionContext {
            channel: Channel::App,
            origin: None,
            // From the code, never from the Host.
            issuer: &record.iss,
            portal_url: &record.aud,
            tenant: &record.tenant,
            now: ctx.now(),
            jti: &jti,
            return_to: None,
            portal_state: None,
            provisioned: record.provisioned,
        },
    );
    let assertion = signing::sign_assertion(&signer, &claims)
        .await
        .ok_or_else(|| {
            oauth_error(
                503,
                "temporarily_unavailable",
                "try again in a moment",
                "misconfigured",
            )
            .with_detail_json("assertion signing failed")
        })?;
    log.outcome = "app_assertion";
    Ok(respond::json(
        200,
        &serde_json::json!({
            "assertion": assertion,
            "token_type": "assertion",
            "expires_in": ASSERTION_TTL_SECS,
        }),
    ))
}
