//! Tenant writes: the one storage path of the admin API and the settings page. Validation and
//! secret merging are `core::tenant_write`'s; here are the reads it needs, the custom-domain
//! ownership check and the writes, in an order that leaves the old record serving should any
//! of them fail. Member traffic never comes here.

use std::rc::Rc;

use super::kv::Kv;

use crate::core::config::{ConfigErrors, FieldError, RawTenantConfig};
use crate::core::crypto::KeyRing;
use crate::core::secret::WebhookSecret;
use crate::core::tenant::TenantId;
use crate::core::tenant_record::{Tenant, WEBHOOK_SECRET_OVERLAP_SECS};
use crate::core::tenant_write::{prepare, Previous, WriteError};
use crate::core::webhook::webhook_secret_from_random;

use super::{rand, tenants, Ctx};

/// Why a write did not happen; nothing was stored.
#[derive(Debug)]
pub enum StoreError {
    /// Bad fields (422).
    Invalid(ConfigErrors),
    /// A custom domain belongs to another tenant (409).
    DomainTaken(ConfigErrors),
    /// The stored record cannot be read and the body cannot replace it (409).
    Unreadable(String),
    /// KV failed (503).
    Storage,
    /// No such tenant (404), for writes that need one.
    NotFound,
}

/// A stored tenant and whether the write created it.
pub struct Stored {
    pub tenant: Tenant,
    pub created: bool,
}

/// The tenant as stored now, straight from KV (no cache): `Err(Unreadable)` when the record
/// does not open.
pub async fn load(
    ctx: &Ctx<'_>,
    kv: &Kv,
    keys: &KeyRing,
    id: &str,
) -> Result<Option<Tenant>, StoreError> {
    match tenants::load_fresh(kv, keys, &ctx.config_context(), id).await {
        Ok(t) => Ok(t),
        Err(tenants::LoadError::Kv) => Err(StoreError::Storage),
        Err(e) => Err(StoreError::Unreadable(e.to_string())),
    }
}

/// Creates or replaces tenant `id` from `raw` (SPEC: last write wins).
pub async fn put(
    ctx: &Ctx<'_>,
    kv: &Kv,
    keys: &KeyRing,
    id: &TenantId,
    raw: RawTenantConfig,
) -> Result<Stored, StoreError> {
    let stored = load(ctx, kv, keys, id.as_str()).await;
    let previous = match &stored {
        Ok(Some(t)) => Previous::Found(t),
        Ok(None) => Previous::None,
        Err(StoreError::Unreadable(_)) => Previous::Unreadable,
        Err(_) => return Err(StoreError::Storage),
    };
    let fresh = webhook_secret_from_random(&rand::bytes());
    let prepared =
        prepare(id, raw, previous, &ctx.config_context(), fresh).map_err(|e| match e {
            WriteError::Invalid(errors) => StoreError::Invalid(errors),
            WriteError::Unreadable => StoreError::Unreadable(match &stored {
                Err(StoreError::Unreadable(why)) => why.clone(),
                _ => String::new(),
            }),
        })?;
    let tenant = prepared.tenant;
    check_domains(kv, id, &tenant.config.custom_domains).await?;
    let old_domains = tenants::stored_domains(kv, id.as_str())
        .await
        .map_err(|_| StoreError::Storage)?;
    // Mappings first, record last: a failure leaves the old record serving, and the mappings
    // this write created are taken back.
    let mut created_mappings = Vec::new();
    for d in tenant
        .config
        .custom_domains
        .iter()
        .filter(|d| !old_domains.contains(d))
    {
        if kv
            .put(&tenants::domain_key(d), id.as_str(), None)
            .await
            .is_err()
        {
            release_domains(ctx, kv, id, &created_mappings).await;
            return Err(StoreError::Storage);
        }
        created_mappings.push(d.clone());
    }
    if let Err(e) = save(ctx, kv, keys, &tenant).await {
        release_domains(ctx, kv, id, &created_mappings).await;
        return Err(e);
    }
    for d in &tenant.config.custom_domains {
        tenants::remember_domain(d, Some(id.to_string()), ctx.now_ms);
    }
    let dropped: Vec<String> = old_domains
        .into_iter()
        .filter(|d| !tenant.config.custom_domains.contains(d))
        .collect();
    release_domains(ctx, kv, id, &dropped).await;
    Ok(Stored {
        tenant,
        created: prepared.created,
    })
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

async fn check_domains(kv: &Kv, id: &TenantId, domains: &[String]) -> Result<(), StoreError> {
    let mut conflicts = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        let owner = kv
            .get_text(&tenants::domain_key(d))
            .await
            .map_err(|_| StoreError::Storage)?;
        let Some(owner) = owner.filter(|o| o != id.as_str()) else {
            continue;
        };
        // A mapping whose owner no longer lists the domain is stale, not a conflict.
        let owner_lists_it = tenants::stored_domains(kv, &owner)
            .await
            .map_err(|_| StoreError::Storage)?
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
        Err(StoreError::DomainTaken(ConfigErrors(conflicts)))
    }
}

/// Seals and writes the record (under the current `CONFIG_KEY`: an admin write is where a
/// record still under the previous key moves to the new one).
async fn save(ctx: &Ctx<'_>, kv: &Kv, keys: &KeyRing, tenant: &Tenant) -> Result<(), StoreError> {
    let record = tenant.seal(keys, &mut || rand::bytes());
    let raw = serde_json::to_string(&record).map_err(|_| StoreError::Storage)?;
    kv.put(&tenants::tenant_key(&tenant.id), &raw, None)
        .await
        .map_err(|_| StoreError::Storage)?;
    tenants::remember(&tenant.id, Some(Rc::new(tenant.clone())), ctx.now_ms);
    Ok(())
}

/// Deletes tenant `id` and its domain mappings.
pub async fn delete(ctx: &Ctx<'_>, kv: &Kv, id: &TenantId) -> Result<(), StoreError> {
    // Domain mappings are found from the stored config even when its secrets no longer open.
    let domains = tenants::stored_domains(kv, id.as_str())
        .await
        .map_err(|_| StoreError::Storage)?;
    // The record first: should that fail, nothing has changed. A mapping left behind by a
    // failure after it is harmless: its owner no longer exists (404), and `check_domains`
    // takes a mapping whose owner does not list the domain for stale.
    kv.delete(&tenants::tenant_key(id.as_str()))
        .await
        .map_err(|_| StoreError::Storage)?;
    tenants::remember(id.as_str(), None, ctx.now_ms);
    release_domains(ctx, kv, id, &domains).await;
    Ok(())
}

/// Rotates tenant `id`'s webhook secret; the previous one still signs for 24 hours.
pub async fn rotate_webhook_secret(
    ctx: &Ctx<'_>,
    kv: &Kv,
    keys: &KeyRing,
    id: &TenantId,
) -> Result<WebhookSecret, StoreError> {
    let Some(mut tenant) = load(ctx, kv, keys, id.as_str()).await? else {
        return Err(StoreError::NotFound);
    };
    let fresh = webhook_secret_from_random(&rand::bytes());
    let old = std::mem::replace(&mut tenant.webhook_secret, fresh);
    tenant.previous_webhook_secret = Some((old, ctx.now() + WEBHOOK_SECRET_OVERLAP_SECS));
    save(ctx, kv, keys, &tenant).await?;
    Ok(tenant.webhook_secret)
}
