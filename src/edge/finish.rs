//! Callback steps 5–9: code exchange, ID token verification, member identity, provisioning,
//! session and handoff.

use crate::core::authorize::PendingLogin;
use crate::core::cookies;
use crate::core::discovery::ProviderMetadata;
use crate::core::handoff::{assertion_claims, AssertionContext};
use crate::core::id_token::{verify_id_token, Expectations, IdTokenError, VerifiedIdToken};
use crate::core::log::RequestLog;
use crate::core::member::{IdentityClaims, Member};
use crate::core::pages::{portal_handoff_page, Problem};
use crate::core::session::{id_token_aad, session_ttl, Session};
use crate::core::tenant_record::Tenant;
use crate::core::token::{
    parse_token_response, parse_userinfo, token_request, userinfo_request, TokenError,
    TokenRequest, TokenResponse, UserinfoError,
};

use super::kv::Kv;
use super::respond::{self, AppError, Response};
use super::webcrypto::WebCryptoVerifier;
use super::{
    idp, misconfigured, outbound, own_code, provision, rand, sealing, settings, signing, Ctx,
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
    // 7. Member identity, with the userinfo fallback.
    let (member, userinfo_skipped) = own_code(identify(
        &meta,
        &tokens,
        &verified,
        tenant.config.allow_unverified_email,
    ))
    .await?;
    if let Some(code) = userinfo_skipped {
        // Said in the request's one log line (SPEC), not a second one.
        log.detail = Some(format!(
            "signed in without a name: userinfo failed ({code})"
        ));
    }
    // 8. Provisioning.
    let provisioned = if tenant.config.provision_new_users {
        own_code(provision::provision(ctx.env, tenant, issuer, &member)).await?
    } else {
        false
    };
    // 9. Session, then the handoff.
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
    let jwks = idp::jwks(kv, issuer, meta, ctx.now())
        .await
        .map_err(|e| failed(e.code(), e.to_string()))?;
    match verify_id_token(raw, &jwks, &expect, &WebCryptoVerifier).await {
        Err(IdTokenError::UnknownKid) => {
            // Key rotation: one refetch per issuer every 30 s at most.
            let jwks = match own_code(idp::refetch_jwks_for_unknown_kid(
                kv,
                issuer,
                meta,
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
    allow_unverified: bool,
) -> Result<(Member, Option<&'static str>), AppError> {
    let mut skipped = None;
    let mut claims = IdentityClaims {
        sub: t.sub().to_string(),
        email: t.email().map(str::to_string),
        email_verified: t.email_verified(),
        name: t.name().map(str::to_string),
        given_name: t.given_name().map(str::to_string),
        family_name: t.family_name().map(str::to_string),
        idp: t.idp().map(str::to_string),
    };
    if claims.needs_userinfo() {
        if let (Some(endpoint), Some(token)) = (&meta.userinfo_endpoint, &tokens.access_token) {
            let result = own_code(outbound::send(&userinfo_request(endpoint, token))).await;
            match parse_userinfo(result.as_ref().map_err(|e| *e), &claims.sub) {
                Ok(info) => claims = claims.merge_userinfo(&info),
                // Only the name was missing: sign the member in without it rather than fail.
                Err(e) if claims.email.is_some() && e != UserinfoError::SubMismatch => {
                    skipped = Some(e.code());
                }
                Err(e) => {
                    return Err(AppError::page(Problem::VerificationFailed, e.code())
                        .with_detail(e.to_string())
                        .start_again("/login"))
                }
            }
        }
    }
    let member = claims.into_member(allow_unverified).map_err(|e| {
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
