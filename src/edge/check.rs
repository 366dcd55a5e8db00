//! "Test connection" for a tenant: `POST /admin/tenants/{id}/check` and the settings page's
//! button. Fetches discovery and JWKS now, bypassing every cache, and names the exact problem
//! (`core::check` decides and words the report).

use crate::core::check::{report, CheckReport};
use crate::core::tenant::TenantId;
use crate::core::tenant_record::Tenant;

use super::respond::{self, AppError, Response};
use super::{admin, idp, settings, Ctx};

/// The report for `tenant`, fetched now.
pub async fn run(ctx: &Ctx<'_>, tenant: &Tenant) -> CheckReport {
    let issuer = tenant.config.issuer(ctx.settings.local_dev);
    let problem = |text: String| CheckReport::Problem {
        issuer: issuer.clone(),
        problem: text,
    };
    let meta = match idp::fetch_metadata(&issuer).await {
        Ok((meta, _)) => meta,
        Err(e) => return problem(e.to_string()),
    };
    match idp::fetch_jwks(&meta.jwks_uri).await {
        Ok((jwks, _, _)) => report(meta, &jwks, &tenant.config.extra_scopes),
        Err(e) => problem(format!("{e} ({})", meta.jwks_uri)),
    }
}

/// `POST /admin/tenants/{id}/check`.
pub async fn check(ctx: &Ctx<'_>, id: &TenantId) -> Result<Response, AppError> {
    let kv = ctx.kv()?;
    let keys = settings::keyring(ctx.env).map_err(|e| {
        AppError::json(503, "misconfigured", "the worker is not configured").with_detail_json(e.0)
    })?;
    let Some(tenant) = admin::existing(ctx, &kv, &keys, id).await? else {
        return Err(AppError::json(404, "not_found", "no such tenant"));
    };
    Ok(respond::json(200, &run(ctx, &tenant).await.to_json()))
}
