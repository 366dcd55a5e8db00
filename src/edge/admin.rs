//! The admin API on the apex host (SPEC "Admin API"): JSON in and out, bearer token compared
//! in constant time, nothing stored unless the whole request is valid.

use super::kv::Kv;
use worker::Method;

use super::request::Request;

use crate::core::config::{ConfigErrors, FieldError, RawTenantConfig, TenantConfig};
use crate::core::crypto::KeyRing;
use crate::core::log::RequestLog;
use crate::core::secret::constant_time_eq;
use crate::core::tenant::TenantId;
use crate::core::tenant_record::{Tenant, WEBHOOK_SECRET_OVERLAP_SECS};
use crate::core::webhook::webhook_secret_from_random;
use sha2::{Digest, Sha256};

use super::respond::{self, AppError, Response};
use super::{check, rand, settings, tenants, Ctx};

const MAX_BODY_BYTES: usize = 64 * 1024;

fn json_error(status: u16, code: &'static str, message: &str) -> AppError {
    AppError::json(status, code, message)
}

fn missing_secret() -> ConfigErrors {
    ConfigErrors::one("client_secret", "is required when creating a tenant")
}

/// 405 with `Allow` (README: "405 with `Allow`") and a JSON body like every admin answer.
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
    // Hashing both sides first keeps the comparison constant-time in the token's length too.
    let digest = |s: &str| Sha256::digest(s.as_bytes());
    if !given.is_empty() && constant_time_eq(&digest(given), &digest(&expected)) {
        Ok(())
    } else {
        Err(AppError::Bare {
            status: 401,
            code: "unauthorized",
        })
    }
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

pub async fn existing(
    ctx: &Ctx<'_>,
    kv: &Kv,
    keys: &KeyRing,
    id: &TenantId,
) -> Result<Option<Tenant>, AppError> {
    match tenants::load_fresh(kv, keys, &ctx.config_context(), id.as_str()).await {
        Ok(t) => Ok(t),
        Err(tenants::LoadError::Kv) => Err(kv_down()),
        Err(e) => Err(unreadable(e)),
    }
}

fn unreadable(e: tenants::LoadError) -> AppError {
    AppError::json(
        409,
        "stored_tenant_unreadable",
        "the stored tenant cannot be read; PUT it again with its client_secret, or DELETE it",
    )
    .with_detail_json(e.to_string())
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

async fn put(
    req: &Request,
    ctx: &Ctx<'_>,
    id: &TenantId,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let body = read_body(req).await?;
    let raw =
        RawTenantConfig::from_json(&body).map_err(|e| field_errors(422, "invalid_config", &e))?;
    let mut errors: Vec<FieldError> = raw.id_conflict(id.as_str()).into_iter().collect();
    let secret_in_body = raw.has_client_secret();
    let parsed = TenantConfig::parse(raw, &ctx.config_context());
    let kv = kv(ctx)?;
    let keys = keyring(ctx)?;
    let mut config = match parsed {
        Ok(c) if errors.is_empty() => c,
        parsed => {
            errors.extend(parsed.err().map(|e| e.0).unwrap_or_default());
            // Every bad field at once (SPEC): a create without a secret says so too.
            let named = errors.iter().any(|e| e.field == "client_secret");
            if !secret_in_body && !named {
                // Only whether a record exists: a refused PUT writes nothing.
                if matches!(tenants::read_raw(&kv, id.as_str()).await, Ok(None)) {
                    errors.extend(missing_secret().0);
                }
            }
            return Err(field_errors(422, "invalid_config", &ConfigErrors(errors)));
        }
    };
    // A record that no longer opens (e.g. a lost CONFIG_KEY) can be replaced by a full PUT.
    let previous = match tenants::load_fresh(&kv, &keys, &ctx.config_context(), id.as_str()).await {
        Ok(p) => p,
        Err(tenants::LoadError::Kv) => return Err(kv_down()),
        Err(e) if config.client_secret.is_none() => return Err(unreadable(e)),
        Err(_) => None,
    };
    let client_secret = match (config.client_secret.clone(), &previous) {
        (Some(s), _) => s,
        (None, Some(p)) => p.client_secret.clone(),
        (None, None) => return Err(field_errors(422, "invalid_config", &missing_secret())),
    };
    config.client_secret = Some(client_secret.clone());
    check_domains(&kv, id, &config.custom_domains).await?;
    let created = previous.is_none();
    let (webhook_secret, previous_webhook_secret) = match &previous {
        Some(p) => (p.webhook_secret.clone(), p.previous_webhook_secret.clone()),
        None => (webhook_secret_from_random(&rand::bytes()), None),
    };
    let old_domains = tenants::stored_domains(&kv, id.as_str())
        .await
        .map_err(|_| kv_down())?;
    let tenant = Tenant {
        id: id.to_string(),
        config,
        client_secret,
        webhook_secret,
        previous_webhook_secret,
    };
    // Mappings first, record last: a failure leaves the old record serving, and the mappings
    // this request created are taken back.
    let mut created_mappings = Vec::new();
    for d in tenant
        .config
        .custom_domains
        .iter()
        .filter(|d| !old_domains.contains(d))
    {
        if put_text(&kv, &tenants::domain_key(d), id.as_str())
            .await
            .is_err()
        {
            release_domains(ctx, &kv, id, &created_mappings).await;
            return Err(kv_down());
        }
        created_mappings.push(d.clone());
    }
    if let Err(e) = save(ctx, &kv, &keys, &tenant).await {
        release_domains(ctx, &kv, id, &created_mappings).await;
        return Err(e);
    }
    for d in &tenant.config.custom_domains {
        tenants::remember_domain(d, Some(id.to_string()), ctx.now_ms);
    }
    let dropped: Vec<String> = old_domains
        .into_iter()
        .filter(|d| !tenant.config.custom_domains.contains(d))
        .collect();
    release_domains(ctx, &kv, id, &dropped).await;
    let mut body = tenant.public_json();
    if created {
        body["webhook_secret"] =
            serde_json::Value::String(tenant.webhook_secret.secret().to_string());
        log.outcome = "created";
    } else {
        log.outcome = "replaced";
    }
    Ok(respond::json(if created { 201 } else { 200 }, &body))
}

/// Removes domain mappings that still point at this tenant (never another tenant's).
async fn release_domains(ctx: &Ctx<'_>, kv: &Kv, id: &TenantId, domains: &[String]) {
    for d in domains {
        let owner = kv.get_text(&tenants::domain_key(d)).await.ok().flatten();
        if owner.as_deref() == Some(id.as_str()) {
            let _ = kv.delete(&tenants::domain_key(d)).await;
            tenants::remember_domain(d, None, ctx.now_ms);
        }
    }
}

async fn check_domains(kv: &Kv, id: &TenantId, domains: &[String]) -> Result<(), AppError> {
    let mut conflicts = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        let owner = kv
            .get_text(&tenants::domain_key(d))
            .await
            .map_err(|_| kv_down())?;
        let Some(owner) = owner.filter(|o| o != id.as_str()) else {
            continue;
        };
        // A mapping whose owner no longer lists the domain is stale, not a conflict.
        let owner_lists_it = tenants::stored_domains(kv, &owner)
            .await
            .map_err(|_| kv_down())?
            .contains(d);
        if owner_lists_it {
            conflicts.push(FieldError {
                field: format!("custom_domains[{i}]"),
                message: format!("{d} is already used by another tenant"),
            });
        }
    }
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(field_errors(409, "domain_taken", &ConfigErrors(conflicts)))
    }
}

async fn put_text(kv: &Kv, key: &str, value: &str) -> Result<(), AppError> {
    kv.put(key, value, None)
        .await
        .map_err(|_| json_error(503, "kv_unavailable", "KV write failed"))
}

async fn save(ctx: &Ctx<'_>, kv: &Kv, keys: &KeyRing, tenant: &Tenant) -> Result<(), AppError> {
    let record = tenant.seal(keys, &mut || rand::bytes());
    let raw = serde_json::to_string(&record)
        .map_err(|_| json_error(500, "serialize", "could not store the tenant"))?;
    put_text(kv, &tenants::tenant_key(&tenant.id), &raw).await?;
    tenants::remember(
        &tenant.id,
        Some(std::rc::Rc::new(tenant.clone())),
        ctx.now_ms,
    );
    Ok(())
}

async fn delete(ctx: &Ctx<'_>, id: &TenantId) -> Result<Response, AppError> {
    let kv = kv(ctx)?;
    // Domain mappings are found from the stored config even when its secrets no longer open.
    let domains = tenants::stored_domains(&kv, id.as_str())
        .await
        .map_err(|_| kv_down())?;
    // The record first: should that fail, nothing has changed. A mapping left behind by a
    // failure after it is harmless: its owner no longer exists (404), and `check_domains`
    // takes a mapping whose owner does not list the domain for stale.
    kv.delete(&tenants::tenant_key(id.as_str()))
        .await
        .map_err(|_| json_error(503, "kv_unavailable", "KV delete failed"))?;
    tenants::remember(id.as_str(), None, ctx.now_ms);
    release_domains(ctx, &kv, id, &domains).await;
    Ok(respond::bare(204))
}

async fn rotate_webhook_secret(ctx: &Ctx<'_>, id: &TenantId) -> Result<Response, AppError> {
    let kv = kv(ctx)?;
    let keys = keyring(ctx)?;
    let Some(mut tenant) = existing(ctx, &kv, &keys, id).await? else {
        return Err(json_error(404, "not_found", "no such tenant"));
    };
    let fresh = webhook_secret_from_random(&rand::bytes());
    let old = std::mem::replace(&mut tenant.webhook_secret, fresh);
    tenant.previous_webhook_secret = Some((old, ctx.now() + WEBHOOK_SECRET_OVERLAP_SECS));
    save(ctx, &kv, &keys, &tenant).await?;
    Ok(respond::json(
        200,
        &serde_json::json!({ "webhook_secret": tenant.webhook_secret.secret() }),
    ))
}
