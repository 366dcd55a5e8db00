//! IdP metadata (discovery + JWKS) per issuer: isolate memory, then KV, then the network.
//! A token with an unknown `kid` may force one JWKS refetch per issuer every 30 s, so key
//! rotation works without a restart and a flood of bad tokens cannot hammer the IdP.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::kv::Kv;
use serde::{Deserialize, Serialize};

use crate::core::discovery::{
    cache_ttl_secs, discovery_request, parse_discovery, DiscoveryError, ProviderMetadata,
};
use crate::core::http::OutboundRequest;
use crate::core::jwks::Jwks;

use super::outbound::send;

pub const FORCED_REFETCH_INTERVAL_SECS: u64 = 30;

/// What is cached for one issuer, in memory and (as JSON) in KV under `idp:{issuer}`. Memory
/// holds it behind an `Rc` and hands out shares: a warm login copies none of it.
#[derive(Clone, Serialize, Deserialize, Default)]
struct IssuerEntry {
    meta: Option<Rc<ProviderMetadata>>,
    meta_expires: u64,
    jwks_raw: Option<Rc<str>>,
    jwks_expires: u64,
    forced_at: u64,
    #[serde(skip)]
    jwks: Option<Rc<Jwks>>,
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Rc<IssuerEntry>>> = RefCell::new(HashMap::new());
}

fn kv_key(issuer: &str) -> String {
    format!("idp:{issuer}")
}

fn memory(issuer: &str) -> Option<Rc<IssuerEntry>> {
    CACHE.with(|c| c.borrow().get(issuer).cloned())
}

fn remember(issuer: &str, entry: IssuerEntry) -> Rc<IssuerEntry> {
    let entry = Rc::new(entry);
    CACHE.with(|c| c.borrow_mut().insert(issuer.to_string(), entry.clone()));
    entry
}

/// Memory first, then KV (filling memory); never awaits while holding the cache.
async fn load(kv: &Kv, issuer: &str) -> Rc<IssuerEntry> {
    if let Some(e) = memory(issuer) {
        return e;
    }
    let entry: IssuerEntry = kv
        .get_json(&kv_key(issuer))
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    // The JWKS is parsed when a token is verified, not here: `/login/sso` needs discovery only.
    remember(issuer, entry)
}

async fn store(kv: &Kv, issuer: &str, entry: IssuerEntry, now: u64) {
    let ttl = entry
        .meta_expires
        .max(entry.jwks_expires)
        .saturating_sub(now)
        .max(120);
    if let Ok(raw) = serde_json::to_string(&entry) {
        let _ = kv.put(&kv_key(issuer), &raw, Some(ttl)).await;
    }
    remember(issuer, entry);
}

/// Discovery for `issuer`, checked (issuer equality, endpoints on the issuer's origin).
pub async fn metadata(
    kv: &Kv,
    issuer: &str,
    now: u64,
) -> Result<Rc<ProviderMetadata>, DiscoveryError> {
    let entry = load(kv, issuer).await;
    if let Some(meta) = entry.meta.clone().filter(|_| entry.meta_expires > now) {
        return Ok(meta);
    }
    let (meta, ttl) = fetch_metadata(issuer).await?;
    let meta = Rc::new(meta);
    let fresh = IssuerEntry {
        meta: Some(meta.clone()),
        meta_expires: now + ttl,
        ..(*load(kv, issuer).await).clone()
    };
    store(kv, issuer, fresh, now).await;
    Ok(meta)
}

/// Fetches discovery now, bypassing every cache.
pub async fn fetch_metadata(issuer: &str) -> Result<(ProviderMetadata, u64), DiscoveryError> {
    let resp = send(&discovery_request(issuer))
        .await
        .map_err(|e| DiscoveryError::Unreachable(e.to_string()))?;
    let meta = parse_discovery(&resp, issuer)?;
    Ok((meta, cache_ttl_secs(resp.header("cache-control"))))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksFetchError {
    #[error("the JWKS could not be fetched")]
    Unreachable,
    #[error("the JWKS answered HTTP {0}")]
    Status(u16),
    #[error("the JWKS is not a valid key set")]
    Invalid,
}

impl JwksFetchError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreachable => "jwks_unreachable",
            Self::Status(_) => "jwks_status",
            Self::Invalid => "jwks_invalid",
        }
    }
}

/// Fetches the JWKS now, bypassing every cache; returns the raw body too, for caching.
pub async fn fetch_jwks(jwks_uri: &str) -> Result<(Jwks, String, u64), JwksFetchError> {
    let resp = send(&OutboundRequest::get(jwks_uri))
        .await
        .map_err(|_| JwksFetchError::Unreachable)?;
    if resp.status != 200 {
        return Err(JwksFetchError::Status(resp.status));
    }
    let jwks = Jwks::parse(&resp.body).map_err(|_| JwksFetchError::Invalid)?;
    let raw = String::from_utf8(resp.body.clone()).map_err(|_| JwksFetchError::Invalid)?;
    Ok((jwks, raw, cache_ttl_secs(resp.header("cache-control"))))
}

async fn refresh_jwks(
    kv: &Kv,
    issuer: &str,
    jwks_uri: &str,
    now: u64,
    forced: bool,
) -> Result<Rc<Jwks>, JwksFetchError> {
    let (jwks, raw, ttl) = fetch_jwks(jwks_uri).await?;
    let jwks = Rc::new(jwks);
    let mut entry = (*load(kv, issuer).await).clone();
    entry.jwks = Some(jwks.clone());
    entry.jwks_raw = Some(raw.into());
    entry.jwks_expires = now + ttl;
    if forced {
        entry.forced_at = now;
    }
    store(kv, issuer, entry, now).await;
    Ok(jwks)
}

/// The issuer's JWKS (at `jwks_uri`), cached under the issuer. Cloudflare Access's certs are
/// cached the same way, under the team's origin.
pub async fn jwks(
    kv: &Kv,
    issuer: &str,
    jwks_uri: &str,
    now: u64,
) -> Result<Rc<Jwks>, JwksFetchError> {
    let entry = load(kv, issuer).await;
    if entry.jwks_expires > now {
        if let Some(jwks) = entry.jwks.clone() {
            return Ok(jwks);
        }
        if let Some(jwks) = entry
            .jwks_raw
            .as_deref()
            .and_then(|raw| Jwks::parse(raw.as_bytes()).ok())
        {
            let jwks = Rc::new(jwks);
            remember(
                issuer,
                IssuerEntry {
                    jwks: Some(jwks.clone()),
                    ..(*entry).clone()
                },
            );
            return Ok(jwks);
        }
    }
    refresh_jwks(kv, issuer, jwks_uri, now, false).await
}

/// A refetch after an unknown `kid`: `None` when one already happened in the last 30 s.
pub async fn refetch_jwks_for_unknown_kid(
    kv: &Kv,
    issuer: &str,
    jwks_uri: &str,
    now: u64,
) -> Option<Result<Rc<Jwks>, JwksFetchError>> {
    let mut entry = (*load(kv, issuer).await).clone();
    if now < entry.forced_at + FORCED_REFETCH_INTERVAL_SECS {
        return None;
    }
    // Claim the slot before fetching, so a failing JWKS endpoint is not hammered either.
    entry.forced_at = now;
    remember(issuer, entry);
    Some(refresh_jwks(kv, issuer, jwks_uri, now, true).await)
}
