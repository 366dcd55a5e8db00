//! Tenant lookup: isolate memory (30 s), then KV read with a 30 s edge cache, so an admin
//! change is seen at once by the isolate that made it and within 60 s everywhere.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use worker::kv::KvStore;

use crate::core::config::ConfigContext;
use crate::core::crypto::KeyRing;
use crate::core::tenant_record::{open_record, RecordError, Tenant};

const ISOLATE_TTL_MS: u64 = 30_000;
/// KV's own edge cache for reads (its minimum).
const KV_CACHE_TTL_SECS: u64 = 30;

pub fn tenant_key(id: &str) -> String {
    format!("tenant:{id}")
}

pub fn domain_key(host: &str) -> String {
    format!("domain:{host}")
}

thread_local! {
    static TENANTS: RefCell<HashMap<String, (Option<Rc<Tenant>>, u64)>> = RefCell::new(HashMap::new());
    static DOMAINS: RefCell<HashMap<String, (Option<String>, u64)>> = RefCell::new(HashMap::new());
}

fn cached<T: Clone>(map: &'static std::thread::LocalKey<RefCell<HashMap<String, (T, u64)>>>, key: &str, now_ms: u64) -> Option<T> {
    map.with(|m| m.borrow().get(key).filter(|(_, at)| now_ms < at + ISOLATE_TTL_MS).map(|(v, _)| v.clone()))
}

/// Records what this isolate just wrote (or deleted), so it sees its own change at once.
pub fn remember(id: &str, tenant: Option<Rc<Tenant>>, now_ms: u64) {
    TENANTS.with(|m| m.borrow_mut().insert(id.to_string(), (tenant, now_ms)));
}

pub fn remember_domain(host: &str, tenant: Option<String>, now_ms: u64) {
    DOMAINS.with(|m| m.borrow_mut().insert(host.to_string(), (tenant, now_ms)));
}

/// Reads and opens a tenant straight from KV (the admin API uses this, bypassing caches).
pub async fn load_fresh(kv: &KvStore, keys: &KeyRing, ctx: &ConfigContext<'_>, id: &str) -> Result<Option<Tenant>, RecordError> {
    let raw = kv.get(&tenant_key(id)).text().await.ok().flatten();
    match raw {
        None => Ok(None),
        Some(raw) => open_record(id, &raw, keys, ctx).map(|o| Some(o.tenant)),
    }
}

/// A tenant for serving members, cached.
pub async fn load(kv: &KvStore, keys: &KeyRing, ctx: &ConfigContext<'_>, id: &str, now_ms: u64) -> Result<Option<Rc<Tenant>>, RecordError> {
    if let Some(t) = cached(&TENANTS, id, now_ms) {
        return Ok(t);
    }
    let raw = kv.get(&tenant_key(id)).cache_ttl(KV_CACHE_TTL_SECS).text().await.ok().flatten();
    let tenant = match raw {
        None => None,
        Some(raw) => {
            let opened = open_record(id, &raw, keys, ctx)?;
            if opened.needs_reseal {
                reseal(kv, keys, &opened.tenant).await;
            }
            Some(Rc::new(opened.tenant))
        }
    };
    remember(id, tenant.clone(), now_ms);
    Ok(tenant)
}

/// During a CONFIG_KEY rotation, a record still sealed under the previous key is written
/// again under the current one the first time it is read (best effort).
async fn reseal(kv: &KvStore, keys: &KeyRing, tenant: &Tenant) {
    let record = tenant.seal(keys, &mut || super::rand::bytes());
    if let Ok(raw) = serde_json::to_string(&record) {
        if let Ok(put) = kv.put(&tenant_key(&tenant.id), raw) {
            let _ = put.execute().await;
        }
    }
}

/// The tenant that owns a custom domain, cached.
pub async fn owner_of_domain(kv: &KvStore, host: &str, now_ms: u64) -> Option<String> {
    if let Some(owner) = cached(&DOMAINS, host, now_ms) {
        return owner;
    }
    let owner = kv.get(&domain_key(host)).cache_ttl(KV_CACHE_TTL_SECS).text().await.ok().flatten();
    remember_domain(host, owner.clone(), now_ms);
    owner
}
