//! What a tenant write stores: one path for the admin API's `PUT` and the settings page's
//! save, so the two can never disagree about what a valid tenant is. The body is parsed by
//! `TenantConfig::parse`; the client secret is kept when the body leaves it out; a create
//! gets a fresh webhook secret and a replace keeps the stored ones. The edge then checks
//! custom-domain ownership and writes (`edge::tenant_store`).

use crate::core::config::{ConfigContext, ConfigErrors, RawTenantConfig, TenantConfig};
use crate::core::secret::WebhookSecret;
use crate::core::tenant::TenantId;
use crate::core::tenant_record::Tenant;

/// The stored record before the write, as the edge found it.
pub enum Previous<'a> {
    None,
    Found(&'a Tenant),
    /// There is a record, and it does not open (a lost `CONFIG_KEY`, a config that no longer
    /// validates): only a full body with its client secret may replace it.
    Unreadable,
}

/// Why a write is refused before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// Every bad field at once.
    Invalid(ConfigErrors),
    /// The stored record cannot be read, and the body has no client secret to replace it.
    Unreadable,
}

/// The tenant to store, and whether it is new.
#[derive(Debug)]
pub struct Prepared {
    pub tenant: Tenant,
    pub created: bool,
}

fn missing_secret() -> ConfigErrors {
    ConfigErrors::one("client_secret", "is required when creating a tenant")
}

/// Validates `raw` for tenant `id` and merges what the body may leave out.
/// `fresh_webhook_secret` is used only for a create.
pub fn prepare(
    id: &TenantId,
    raw: RawTenantConfig,
    previous: Previous<'_>,
    ctx: &ConfigContext<'_>,
    fresh_webhook_secret: WebhookSecret,
) -> Result<Prepared, WriteError> {
    let mut errors: Vec<_> = raw.id_conflict(id.as_str()).into_iter().collect();
    let secret_in_body = raw.has_client_secret();
    let mut config = match TenantConfig::parse(raw, ctx) {
        Ok(c) if errors.is_empty() => c,
        parsed => {
            errors.extend(parsed.err().map(|e| e.0).unwrap_or_default());
            // Every bad field at once (SPEC): a create without a secret says so too.
            let named = errors.iter().any(|e| e.field == "client_secret");
            if !secret_in_body && !named && matches!(previous, Previous::None) {
                errors.extend(missing_secret().0);
            }
            return Err(WriteError::Invalid(ConfigErrors(errors)));
        }
    };
    let stored = match previous {
        Previous::Found(t) => Some(t),
        Previous::Unreadable if config.client_secret.is_none() => {
            return Err(WriteError::Unreadable)
        }
        Previous::Unreadable | Previous::None => None,
    };
    let client_secret = match (config.client_secret.clone(), stored) {
        (Some(s), _) => s,
        (None, Some(p)) => p.client_secret.clone(),
        (None, None) => return Err(WriteError::Invalid(missing_secret())),
    };
    config.client_secret = Some(client_secret.clone());
    let (webhook_secret, previous_webhook_secret) = match stored {
        Some(p) => (p.webhook_secret.clone(), p.previous_webhook_secret.clone()),
        None => (fresh_webhook_secret, None),
    };
    Ok(Prepared {
        tenant: Tenant {
            id: id.to_string(),
            config,
            client_secret,
            webhook_secret,
            previous_webhook_secret,
        },
        created: stored.is_none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CTX: ConfigContext<'static> = ConfigContext {
        local_dev: false,
        base_domain: "example.com",
    };

    fn raw(v: serde_json::Value) -> RawTenantConfig {
        RawTenantConfig(v.as_object().unwrap().clone())
    }

    fn body(secret: bool) -> RawTenantConfig {
        let mut v = json!({"okta_domain":"acme.okta.com","client_id":"c",
            "portal_url":"https://p.example.org"});
        if secret {
            v["client_secret"] = json!("s3cret");
        }
        raw(v)
    }

    fn id() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn fresh() -> WebhookSecret {
        WebhookSecret::new("whsec_fresh")
    }

    #[test]
    fn a_create_needs_a_secret_and_gets_a_fresh_webhook_secret() {
        let p = prepare(&id(), body(true), Previous::None, &CTX, fresh()).unwrap();
        assert!(p.created);
        assert_eq!(p.tenant.client_secret.secret(), "s3cret");
        assert_eq!(p.tenant.webhook_secret.secret(), "whsec_fresh");
        let err = prepare(&id(), body(false), Previous::None, &CTX, fresh()).unwrap_err();
        assert_eq!(
            err,
            WriteError::Invalid(ConfigErrors::one(
                "client_secret",
                "is required when creating a tenant"
            ))
        );
    }

    #[test]
    fn a_replace_keeps_the_stored_secrets() {
        let stored = prepare(&id(), body(true), Previous::None, &CTX, fresh())
            .unwrap()
            .tenant;
        let p = prepare(
            &id(),
            body(false),
            Previous::Found(&stored),
            &CTX,
            WebhookSecret::new("whsec_unused"),
        )
        .unwrap();
        assert!(!p.created);
        assert_eq!(p.tenant.client_secret.secret(), "s3cret");
        assert_eq!(p.tenant.webhook_secret.secret(), "whsec_fresh");
    }

    #[test]
    fn every_bad_field_at_once_missing_secret_included() {
        let mut v = body(false).0;
        v.insert("okta_domain".into(), json!("https://x"));
        v.insert("id".into(), json!("other"));
        let Err(WriteError::Invalid(e)) =
            prepare(&id(), RawTenantConfig(v), Previous::None, &CTX, fresh())
        else {
            panic!("refused")
        };
        assert_eq!(e.fields(), ["id", "okta_domain", "client_secret"]);
    }

    #[test]
    fn an_unreadable_record_is_replaced_only_with_a_secret() {
        assert_eq!(
            prepare(&id(), body(false), Previous::Unreadable, &CTX, fresh()).unwrap_err(),
            WriteError::Unreadable
        );
        let p = prepare(&id(), body(true), Previous::Unreadable, &CTX, fresh()).unwrap();
        assert!(
            p.created,
            "a fresh webhook secret: the old one is lost with the record"
        );
    }
}
