//! Callback steps 5–9: code exchange, ID token verification, member identity, provisioning,
//! session and handoff.

use crate::core::authorize::PendingLogin;
use crate::core::cookies;
use crate::core::discovery::ProviderMetadata;
use crate::core::gates::check_gates;
use crate::core::handoff::{assertion_claims, AssertionContext, Channel};
use crate::core::id_token::{verify_id_token, Expectations, IdTokenError, VerifiedIdToken};
use crate::core::log::RequestLog;
use crate::core::member::{IdentityClaims, Member};
use crate::core::pages::{portal_handoff_page, Problem};
use crate::core::session::{id_token_aad, session_ttl, Session};
use crate::core::step_up::check_requirements;
use crate::core::tenant_record::Tenant;
use crate::core::token::{
    parse_token_response, parse_userinfo, token_request, userinfo_request, TokenError,
    TokenRequest, TokenResponse, UserinfoError,
};

use super::kv::Kv;
use super::respond::{self, AppError, Response};
use super::webcrypto::WebCryptoVerifier;
use super::{
    app, idp, misconfigured, outbound, own_code, provision, rand, sealing, settings, signing, Ctx,
};

pub async fn finish(
    ctx: &Ctx<'_>,
    kv: &Kv,
    tenant: &Tenant,
    pending: PendingLogin,
    issuer: &str,
    code: &str,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let meta = idp::metadata(kv, issuer, ctx.now()).await.map_err(|e| {
        AppError::page(Problem::IdpUnavailable, e.code())
            .with_detail(e.to_string())
            .start_again("/login")
    })?;
    // 5. Code exchange.
    let tokens = own_code(exchange(tenant, &meta, &pending, code)).await?;
    // 6. ID token verification (OIDC Core 3.1.3.7), the signature through WebCrypto.
    let verified = own_code(verify(ctx, kv, tenant, issuer, &meta, &pending, &tokens)).await?;
    // 6 (continued). What this login asked for: max_age, prompt=login, acr_values.
    check_requirements(
        &pending.step_up,
        verified.auth_time(),
        verified.acr(),
        pending.created_at,
        ctx.now(),
    )
    .map_err(|e| {
        let tenant_name = tenant.id.clone();
        AppError::page(
            Problem::RequirementsNotMet {
                tenant: tenant_name,
            },
            e.code(),
        )
        .with_detail(e.to_string())
        .start_again("/login")
    })?;
    // 7. Member identity, with the userinfo fallback, then who may sign in here at all.
    let (member, userinfo_skipped) = own_code(identify(&meta, &tokens, &verified, tenant)).await?;
    if let Some(code) = userinfo_skipped {
        // Said in the request's one log line (SPEC), not a second one.
        log.detail = Some(format!(
            "signed in without what userinfo would have added: userinfo failed ({code})"
        ));
    }
    check_gates(&tenant.config, &member).map_err(|e| {
        AppError::page(
            Problem::NotAllowed {
                tenant: tenant.id.clone(),
            },
            e.code(),
        )
        .with_detail(e.to_string())
    })?;
    // 8. Provisioning.
    let provisioned = if tenant.config.provision_new_users {
        own_code(provision::provision(ctx.env, tenant, issuer, &member)).await?
    } else {
        false
    };
    // 9. For the app, a one-time code and no session; for the web, a session and the handoff.
    if let Some(app_login) = &pending.app {
        return own_code(app::finish(
            ctx,
            tenant,
            app_login,
            member,
            provisioned,
            pending.browser.secret(),
            log,
        ))
        .await;
    }
    let session_cookie = own_code(create_session(ctx, kv, tenant, &tokens, &verified)).await?;
    log.outcome = "handoff";
    own_code(handoff(
        ctx,
        tenant,
        &member,
        &pending,
        provisioned,
        session_cookie,
    ))
    .await
}

async fn exchange(
    tenant: &Tenant,
    meta: &ProviderMetadata,
    pending: &PendingLogin,
    code: &str,
) -> Result<TokenResponse, AppError> {
    let req = token_request(&TokenRequest {
        token_endpoint: &meta.token_endpoint,
        auth: tenant.config.token_endpoint_auth_method,
        client_id: &tenant.config.client_id,
        client_secret: &tenant.client_secret,
        code,
        redirect_uri: &pending.redirect_uri,
        verifier: &pending.verifier,
    });
    let result = outbound::send(&req).await;
    parse_token_response(result.as_ref().map_err(|e| *e)).map_err(|e| {
        let problem = match &e {
            TokenError::OAuth { .. } => Problem::TokenRejected,
            TokenError::Timeout => Problem::IdpTimeout,
            _ => Problem::IdpUnavailable,
        };
        AppError::page(problem, e.code())
            .with_detail(e.to_string())
            .start_again("/login")
    })
}

async fn verify(
    ctx: &Ctx<'_>,
    kv: &Kv,
    tenant: &Tenant,
    issuer: &str,
    meta: &ProviderMetadata,
    pending: &PendingLogin,
    tokens: &TokenResponse,
) -> Result<VerifiedIdToken, AppError> {
    let failed = |code: &'static str, detail: String| {
        AppError::page(Problem::VerificationFailed, code)
            .with_detail(detail)
            .start_again("/login")
    };
    let expect = Expectations {
        issuer,
        client_id: &tenant.config.client_id,
        nonce: &pending.nonce,
        now: ctx.now(),
    };
    let raw = tokens.id_token.secret();
    let jwks = idp::jwks(kv, issuer, &meta.jwks_uri, ctx.now())
        .await
        .map_err(|e| failed(e.code(), e.to_string()))?;
    match verify_id_token(raw, &jwks, &expect, &WebCryptoVerifier).await {
        Err(IdTokenError::UnknownKid) => {
            // Key rotation: one refetch per issuer every 30 s at most.
            let jwks = match own_code(idp::refetch_jwks_for_unknown_kid(
                kv,
                issuer,
                &meta.jwks_uri,
                ctx.now(),
            ))
            .await
            {
                Some(Ok(jwks)) => jwks,
                Some(Err(e)) => return Err(failed(e.code(), e.to_string())),
                None => {
                    return Err(failed(
                        IdTokenError::UnknownKid.code(),
                        "unknown kid; JWKS refetched less than 30 s ago".into(),
                    ))
                }
            };
            verify_id_token(raw, &jwks, &expect, &WebCryptoVerifier)
                .await
                .map_err(|e| failed(e.code(), e.to_string()))
        }
        other => other.map_err(|e| failed(e.code(), e.to_string())),
    }
}

async fn identify(
    meta: &ProviderMetadata,
    tokens: &TokenResponse,
    t: &VerifiedIdToken,
    tenant: &Tenant,
) -> Result<(Member, Option<&'static str>), AppError> {
    let cfg = &tenant.config;
    let mut skipped = None;
    let mut claims = IdentityClaims::from_token(t, cfg.groups_claim.as_deref());
    if claims.needs_userinfo() {
        let fetched = match (&meta.userinfo_endpoint, &tokens.access_token) {
            (Some(endpoint), Some(token)) => {
                let result = own_code(outbound::send(&userinfo_request(endpoint, token))).await;
                Some(parse_userinfo(result.as_ref().map_err(|e| *e), &claims.sub))
            }
            _ => None,
        };
        claims = match fetched {
            Some(Ok(info)) => claims.merge_userinfo(&info),
            // Only the name or the groups were missing: sign in without them rather than
            // fail (no groups fails `allowed_groups` closed).
            Some(Err(e)) if claims.can_do_without_userinfo() && e != UserinfoError::SubMismatch => {
                skipped = Some(e.code());
                claims.without_userinfo()
            }
            Some(Err(e)) => {
                return Err(AppError::page(Problem::VerificationFailed, e.code())
                    .with_detail(e.to_string())
                    .start_again("/login"))
            }
            None => claims.without_userinfo(),
        };
    }
    let member = claims
        .into_member(cfg.allow_unverified_email)
        .map_err(|e| {
            let problem = match e {
                crate::core::member::MemberError::NoEmail => Problem::NoEmail,
                crate::core::member::MemberError::EmailUnverified => Problem::EmailUnverified,
            };
            AppError::page(problem, e.code()).start_again("/login")
        })?;
    Ok((member, skipped))
}

async fn create_session(
    ctx: &Ctx<'_>,
    kv: &Kv,
    tenant: &Tenant,
    tokens: &TokenResponse,
    t: &VerifiedIdToken,
) -> Result<String, AppError> {
    let keys = settings::keyring(ctx.env).map_err(|e| misconfigured(e.0))?;
    let key_text = settings::config_key(ctx.env).unwrap_or_default();
    let sid = rand::token();
    let ttl = session_ttl(ctx.now(), t.exp());
    let id_token_sealed = sealing::seal(
        &key_text,
        &keys,
        tokens.id_token.secret().as_bytes(),
        &id_token_aad(&sid),
        rand::bytes(),
    )
    .await;
    let session = Session {
        tenant: tenant.id.clone(),
        sub: t.sub().to_string(),
        id_token_sealed,
        expires_at: ctx.now() + ttl,
    };
    let body =
        serde_json::to_string(&session).map_err(|_| misconfigured("session serialization"))?;
    kv.put(&format!("session:{sid}"), &body, Some(ttl))
        .await
        .map_err(|_| super::storage_unavailable())?;
    Ok(cookies::session_cookie(&sid, ttl, ctx.settings.local_dev))
}

async fn handoff(
    ctx: &Ctx<'_>,
    tenant: &Tenant,
    member: &Member,
    pending: &PendingLogin,
    provisioned: bool,
    cookie: String,
) -> Result<Response, AppError> {
    let signer = signing::signer(ctx.env)
        .await
        .map_err(|e| misconfigured(e.0))?;
    let issuer = ctx.tenant_origin(&tenant.id);
    let jti = rand::token();
    let claims = assertion_claims(
        member,
        &AssertionContext {
            channel: Channel::Web,
            // The handoff page is served here, on the host the login started on (the callback
            // ends there), so this is the `Origin` the portal sees on the POST.
            origin: Some(&ctx.origin),
            issuer: &issuer,
            portal_url: &tenant.config.portal_url,
            tenant: &tenant.id,
            now: ctx.now(),
            jti: &jti,
            return_to: pending.return_to.as_deref(),
            portal_state: pending.portal_state.as_deref(),
            provisioned,
        },
    );
    let assertion = signing::sign_assertion(&signer, &claims)
        .await
        .ok_or_else(|| misconfigured("assertion signing failed"))?;
    let page = portal_handoff_page(
        &tenant.config.portal_url,
        &tenant.config.handoff_path,
        &assertion,
        &rand::token(),
    );
    Ok(respond::html_with(page, &[("set-cookie", cookie)]))
}
