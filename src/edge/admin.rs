//! The admin API on the apex host (SPEC "Admin API"): JSON in and out, bearer token compared
//! in constant time, nothing stored unless the whole request is valid.

use super::kv::Kv;
use worker::Method;

use super::request::Request;

use crate::core::config::{ConfigErrors, RawTenantConfig};
use crate::core::crypto::KeyRing;
use crate::core::log::RequestLog;
use crate::core::secret::constant_time_eq;
use crate::core::tenant::TenantId;
use crate::core::tenant_record::Tenant;
use sha2::{Digest, Sha256};

use super::respond::{self, AppError, Response};
use super::tenant_store::{self, StoreError};
use super::{check, settings, tenants, Ctx};

const MAX_BODY_BYTES: usize = 64 * 1024;

fn json_error(status: u16, code: &'static str, message: &str) -> AppError {
    AppError::json(status, code, message)
}

/// 405 with `Allow` (docs/configuration.md) and a JSON body like every admin answer.
fn not_allowed(allow: &str) -> AppError {
    AppError::method_not_allowed(allow, respond::Form::Json)
}

fn field_errors(status: u16, code: &'static str, errors: &ConfigErrors) -> AppError {
    AppError::Json {
        status,
        body: serde_json::to_value(errors).unwrap_or_default(),
        code,
    }
}

fn authorized(req: &Request, ctx: &Ctx<'_>) -> Result<(), AppError> {
    let expected = settings::admin_token(ctx.env).map_err(|e| {
        AppError::json(503, "misconfigured", "the worker is not configured").with_detail_json(e.0)
    })?;
    let header = req.header("authorization").unwrap_or_default();
    let given = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => "",
    };
    if token_matches(given, &expected) {
        Ok(())
    } else {
        Err(AppError::Bare {
            status: 401,
            code: "unauthorized",
        })
    }
}

/// `given` is the `ADMIN_TOKEN` (the admin API's bearer, the settings page's sign-in).
/// Hashing both sides first keeps the comparison constant-time in the token's length too.
pub fn token_matches(given: &str, expected: &str) -> bool {
    let digest = |s: &str| Sha256::digest(s.as_bytes());
    !given.is_empty() && constant_time_eq(&digest(given), &digest(expected))
}

fn kv_down() -> AppError {
    json_error(
        503,
        "kv_unavailable",
        "storage is unavailable; nothing was changed",
    )
}

fn kv(ctx: &Ctx<'_>) -> Result<Kv, AppError> {
    Kv::from_env(ctx.env)
        .ok_or_else(|| json_error(503, "misconfigured", "the KV binding is missing"))
}

fn keyring(ctx: &Ctx<'_>) -> Result<std::rc::Rc<KeyRing>, AppError> {
    settings::keyring(ctx.env).map_err(|e| {
        AppError::json(503, "misconfigured", "the worker is not configured").with_detail_json(e.0)
    })
}

pub async fn handle(
    req: Request,
    ctx: &Ctx<'_>,
    path: &str,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    authorized(&req, ctx)?;
    // SPEC: "A body over 64 KiB gets 413" — on every admin route, also those that never read
    // their body (check, webhook-secret, DELETE): judged as `PUT` judges it, nothing read.
    super::body::judge_request(&req, MAX_BODY_BYTES).map_err(body_error)?;
    let segments: Vec<&str> = path
        .trim_start_matches("/admin")
        .trim_matches('/')
        .split('/')
        .collect();
    let method = req.method();
    match segments.as_slice() {
        ["tenants"] => match method {
            Method::Get => list(ctx).await,
            _ => Err(not_allowed("GET")),
        },
        ["tenants", id, rest @ ..] => {
            let id = TenantId::parse(id).map_err(|_| {
                json_error(
                    400,
                    "invalid_tenant_id",
                    "tenant ids are [a-z0-9][a-z0-9-]{0,62}",
                )
            })?;
            log.tenant = Some(id.to_string());
            match (rest, method) {
                ([], Method::Get) => get(ctx, &id).await,
                ([], Method::Put) => put(&req, ctx, &id, log).await,
                ([], Method::Delete) => delete(ctx, &id).await,
                ([], _) => Err(not_allowed("GET, PUT, DELETE")),
                (["webhook-secret"], Method::Post) => rotate_webhook_secret(ctx, &id).await,
                (["check"], Method::Post) => check::check(ctx, &id).await,
                (["webhook-secret"] | ["check"], _) => Err(not_allowed("POST")),
                _ => Err(json_error(404, "not_found", "no such admin route")),
            }
        }
        _ => Err(json_error(404, "not_found", "no such admin route")),
    }
}

/// The tenant as stored now (no cache), or the admin API's error for why not.
pub async fn existing(
    ctx: &Ctx<'_>,
    kv: &Kv,
    keys: &KeyRing,
    id: &TenantId,
) -> Result<Option<Tenant>, AppError> {
    tenant_store::load(ctx, kv, keys, id.as_str())
        .await
        .map_err(store_error)
}

/// The admin API's answer for a refused write (nothing was stored).
fn store_error(e: StoreError) -> AppError {
    match e {
        StoreError::Invalid(errors) => field_errors(422, "invalid_config", &errors),
        StoreError::DomainTaken(errors) => field_errors(409, "domain_taken", &errors),
        StoreError::Unreadable(why) => AppError::json(
            409,
            "stored_tenant_unreadable",
            "the stored tenant cannot be read; PUT it again with its client_secret, or DELETE it",
        )
        .with_detail_json(why),
        StoreError::Storage => kv_down(),
        StoreError::NotFound => json_error(404, "not_found", "no such tenant"),
    }
}

async fn list(ctx: &Ctx<'_>) -> Result<Response, AppError> {
    let kv = kv(ctx)?;
    let keys = keyring(ctx)?;
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = kv
            .list("tenant:", cursor.as_deref())
            .await
            .map_err(|_| json_error(503, "kv_unavailable", "KV list failed"))?;
        for name in &page.names {
            let id = name.trim_start_matches("tenant:");
            match tenants::load_fresh(&kv, &keys, &ctx.config_context(), id).await {
                Ok(Some(t)) => out.push(t.public_json()),
                Ok(None) => {}
                Err(tenants::LoadError::Kv) => {
                    out.push(serde_json::json!({ "id": id, "error": "storage unavailable" }))
                }
                Err(_) => out
                    .push(serde_json::json!({ "id": id, "error": "stored tenant cannot be read" })),
            }
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(respond::json(200, &serde_json::json!({ "tenants": out })))
}

async fn get(ctx: &Ctx<'_>, id: &TenantId) -> Result<Response, AppError> {
    let kv = kv(ctx)?;
    let keys = keyring(ctx)?;
    match existing(ctx, &kv, &keys, id).await? {
        Some(t) => Ok(respond::json(200, &t.public_json())),
        None => Err(json_error(404, "not_found", "no such tenant")),
    }
}

async fn read_body(req: &Request) -> Result<Vec<u8>, AppError> {
    super::body::read_request(req, MAX_BODY_BYTES)
        .await
        .map_err(body_error)
}

fn body_error(e: super::body::BodyError) -> AppError {
    match e {
        super::body::BodyError::TooLarge => {
            json_error(413, "body_too_large", "the body is over 64 KiB")
        }
        super::body::BodyError::LengthRequired => json_error(
            411,
            "length_required",
            "send the body with a Content-Length",
        ),
        super::body::BodyError::Unreadable => {
            json_error(400, "unreadable_body", "the body could not be read")
        }
    }
}

/// `PUT /admin/tenants/{id}` — create (201, with the webhook secret once) or replace (200).
async fn put(
    req: &Request,
    ctx: &Ctx<'_>,
    id: &TenantId,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let body = read_body(req).await?;
    let raw =
        RawTenantConfig::from_json(&body).map_err(|e| field_errors(422, "invalid_config", &e))?;
    let kv = kv(ctx)?;
    let keys = keyring(ctx)?;
    let stored = tenant_store::put(ctx, &kv, &keys, id, raw)
        .await
        .map_err(store_error)?;
    let mut body = stored.tenant.public_json();
    if stored.created {
        body["webhook_secret"] =
            serde_json::Value::String(stored.tenant.webhook_secret.secret().to_string());
        log.outcome = "created";
    } else {
        log.outcome = "replaced";
    }
    Ok(respond::json(if stored.created { 201 } else { 200 }, &body))
}

async fn delete(ctx: &Ctx<'_>, id: &TenantId) -> Result<Response, AppError> {
    let kv = kv(ctx)?;
    tenant_store::delete(ctx, &kv, id)
        .await
        .map_err(|_| json_error(503, "kv_unavailable", "KV delete failed"))?;
    Ok(respond::bare(204))
}

async fn rotate_webhook_secret(ctx: &Ctx<'_>, id: &TenantId) -> Result<Response, AppError> {
    let kv = kv(ctx)?;
    let keys = keyring(ctx)?;
    let secret = tenant_store::rotate_webhook_secret(ctx, &kv, &keys, id)
        .await
        .map_err(store_error)?;
    Ok(respond::json(
        200,
        &serde_json::json!({ "webhook_secret": secret.secret() }),
    ))
}
