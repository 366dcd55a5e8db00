//! `POST /admin/tenants/{id}/check` — fetches discovery and JWKS now and names the exact
//! problem, so an admin can fix their Okta settings before a member hits them.

use crate::core::jwks::JwsAlg;
use crate::core::tenant::TenantId;

use super::respond::{self, AppError, Response};
use super::{admin, idp, settings, Ctx};

pub async fn check(ctx: &Ctx<'_>, id: &TenantId) -> Result<Response, AppError> {
    let kv = ctx.kv()?;
    let keys = settings::keyring(ctx.env).map_err(|e| {
        AppError::json(503, "misconfigured", "the worker is not configured").with_detail_json(e.0)
    })?;
    let Some(tenant) = admin::existing(ctx, &kv, &keys, id).await? else {
        return Err(AppError::json(404, "not_found", "no such tenant"));
    };
    let issuer = tenant.config.issuer(ctx.settings.local_dev);
    let problem = |text: String| {
        respond::json(
            200,
            &serde_json::json!({ "ok": false, "issuer": issuer, "problem": text }),
        )
    };
    let meta = match idp::fetch_metadata(&issuer).await {
        Ok((meta, _)) => meta,
        Err(e) => return Ok(problem(e.to_string())),
    };
    let jwks = match idp::fetch_jwks(&meta.jwks_uri).await {
        Ok((jwks, _, _)) => jwks,
        Err(e) => return Ok(problem(format!("{e} ({})", meta.jwks_uri))),
    };
    if !jwks.has_key_for(JwsAlg::Rs256) {
        return Ok(problem("the JWKS has no RS256 signing key".into()));
    }
    let keys: Vec<_> = jwks
        .keys
        .iter()
        .map(|k| serde_json::json!({ "kid": k.kid, "alg": k.alg, "kty": k.kty }))
        .collect();
    Ok(respond::json(
        200,
        &serde_json::json!({
            "ok": true,
            "issuer": meta.issuer,
            "endpoints": {
                "authorization_endpoint": meta.authorization_endpoint,
                "token_endpoint": meta.token_endpoint,
                "jwks_uri": meta.jwks_uri,
                "userinfo_endpoint": meta.userinfo_endpoint,
                "end_session_endpoint": meta.end_session_endpoint,
            },
            "keys": keys,
        }),
    ))
}
