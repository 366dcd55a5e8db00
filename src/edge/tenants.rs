//! Tenant lookup: isolate memory (30 s), then KV read with a 30 s edge cache, so an admin
//! change is seen at once by the isolate that made it and within 60 s everywhere. A KV
//! failure is never mistaken for "no such tenant": it is an error, and never cached.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::kv::Kv;

use crate::core::config::ConfigContext;
use crate::core::crypto::KeyRing;
use crate::core::tenant_record::{open_record, RecordError, Tenant};

const ISOLATE_TTL_MS: u64 = 30_000;
/// KV's own edge cache for reads (its minimum).
const KV_CACHE_TTL_SECS: u64 = 30;
/// Bound on each isolate cache: hostile Host headers must not grow memory without limit.
const MAX_CACHED: usize = 1_000;

pub fn tenant_key(id: &str) -> String {
    format!("tenant:{id}")
}

pub fn domain_key(host: &str) -> String {
    format!("domain:{host}")
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("KV is unavailable")]
    Kv,
    #[error(transparent)]
    Record(#[from] RecordError),
}

type Cache<T> = RefCell<HashMap<String, (T, u64)>>;

thread_local! {
    static TENANTS: Cache<Option<Rc<Tenant>>> = RefCell::new(HashMap::new());
    static DOMAINS: Cache<Option<String>> = RefCell::new(HashMap::new());
}

fn cached<T: Clone>(
    map: &'static std::thread::LocalKey<Cache<T>>,
    key: &str,
    now_ms: u64,
) -> Option<T> {
    map.with(|m| {
        m.borrow()
            .get(key)
            .filter(|(_, at)| now_ms < at + ISOLATE_TTL_MS)
            .map(|(v, _)| v.clone())
    })
}

fn insert<T>(map: &'static std::thread::LocalKey<Cache<T>>, key: &str, value: T, now_ms: u64) {
    map.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_CACHED {
            m.retain(|_, (_, at)| now_ms < *at + ISOLATE_TTL_MS);
            if m.len() >= MAX_CACHED {
                m.clear();
            }
        }
        m.insert(key.to_string(), (value, now_ms));
    });
}

/// Records what this isolate just wrote (or deleted), so it sees its own change at once.
pub fn remember(id: &str, tenant: Option<Rc<Tenant>>, now_ms: u64) {
    insert(&TENANTS, id, tenant, now_ms);
}

pub fn remember_domain(host: &str, tenant: Option<String>, now_ms: u64) {
    insert(&DOMAINS, host, tenant, now_ms);
}

/// The raw stored record, straight from KV (no edge cache): the admin API's view.
pub async fn read_raw(kv: &Kv, id: &str) -> Result<Option<String>, LoadError> {
    kv.get_text(&tenant_key(id))
        .await
        .map_err(|_| LoadError::Kv)
}

/// Reads and opens a tenant straight from KV, bypassing caches (the admin API, the settings
/// page and the queue consumer). It never writes: a record still sealed under
/// `CONFIG_KEY_PREVIOUS` is re-sealed under the current key only when an admin write stores
/// it again (`PUT`, the settings page's save, a webhook-secret rotation) — a write made from
/// a read that may be up to 60 s stale would undo an admin's change (SPEC).
pub async fn load_fresh(
    kv: &Kv,
    keys: &KeyRing,
    ctx: &ConfigContext<'_>,
    id: &str,
) -> Result<Option<Tenant>, LoadError> {
    let Some(raw) = read_raw(kv, id).await? else {
        return Ok(None);
    };
    Ok(Some(open_record(id, &raw, keys, ctx)?.tenant))
}

/// A tenant for serving members, cached. Never writes: a record read through the edge cache
/// may be older than the latest admin change.
pub async fn load(
    kv: &Kv,
    keys: &KeyRing,
    ctx: &ConfigContext<'_>,
    id: &str,
    now_ms: u64,
) -> Result<Option<Rc<Tenant>>, LoadError> {
    if let Some(t) = cached(&TENANTS, id, now_ms) {
        return Ok(t);
    }
    let raw = read_edge_cached(kv, &tenant_key(id)).await?;
    let tenant = match raw {
        None => None,
        Some(raw) => Some(Rc::new(open_record(id, &raw, keys, ctx)?.tenant)),
    };
    remember(id, tenant.clone(), now_ms);
    Ok(tenant)
}

/// A member-path read: through KV's 30 s edge cache, errors kept apart from "absent".
async fn read_edge_cached(kv: &Kv, key: &str) -> Result<Option<String>, LoadError> {
    kv.get_text_cached(key, KV_CACHE_TTL_SECS)
        .await
        .map_err(|_| LoadError::Kv)
}

/// The tenant that owns a custom domain, cached.
pub async fn owner_of_domain(
    kv: &Kv,
    host: &str,
    now_ms: u64,
) -> Result<Option<String>, LoadError> {
    if let Some(owner) = cached(&DOMAINS, host, now_ms) {
        return Ok(owner);
    }
    let owner = read_edge_cached(kv, &domain_key(host)).await?;
    remember_domain(host, owner.clone(), now_ms);
    Ok(owner)
}

/// The custom domains a stored record lists, read without decrypting anything (for
/// ownership checks on mappings, which may be stale).
pub async fn stored_domains(kv: &Kv, id: &str) -> Result<Vec<String>, LoadError> {
    let Some(raw) = read_raw(kv, id).await? else {
        return Ok(Vec::new());
    };
    Ok(serde_json::from_str::<serde_json::Value>(&raw)
        .ok()
        .and_then(|v| serde_json::from_value(v["config"]["custom_domains"].clone()).ok())
        .unwrap_or_default())
}
