//! A tenant as stored in KV (`tenant:{id}`): the public config JSON plus its secrets sealed
//! under CONFIG_KEY with the tenant id and field name as associated data. The loader parses
//! the config through the same `TenantConfig::parse` the admin PUT uses.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::config::{ConfigContext, ConfigErrors, RawTenantConfig, TenantConfig};
use crate::core::crypto::{CryptoError, KeyRing};
use crate::core::secret::{ClientSecret, WebhookSecret};

/// How long a rotated-out webhook secret still signs deliveries.
pub const WEBHOOK_SECRET_OVERLAP_SECS: u64 = 24 * 3600;

#[derive(Debug, Serialize, Deserialize)]
pub struct TenantRecord {
    pub config: Value,
    pub client_secret: String,
    pub webhook_secret: String,
    #[serde(default)]
    pub previous_webhook_secret: Option<String>,
    #[serde(default)]
    pub previous_webhook_secret_until: Option<u64>,
}

/// A loaded tenant: validated config and its secrets in the clear (memory only).
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub config: TenantConfig,
    pub client_secret: ClientSecret,
    pub webhook_secret: WebhookSecret,
    /// The rotated-out secret and until when it still signs.
    pub previous_webhook_secret: Option<(WebhookSecret, u64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("stored tenant record is not valid JSON")]
    NotJson,
    #[error("stored tenant config no longer validates: {0}")]
    Config(ConfigErrors),
    #[error("stored tenant secret: {0}")]
    Crypto(#[from] CryptoError),
}

fn aad(tenant: &str, field: &str) -> String {
    format!("tenant:{tenant}:{field}")
}

impl Tenant {
    /// Secrets that sign a webhook delivery now: the current one, and the previous one for
    /// 24 hours after a rotation.
    pub fn webhook_signing_secrets(&self, now: u64) -> Vec<&WebhookSecret> {
        let mut out = vec![&self.webhook_secret];
        if let Some((prev, until)) = &self.previous_webhook_secret {
            if now < *until {
                out.push(prev);
            }
        }
        out
    }

    /// The GET view: config, never a secret.
    pub fn public_json(&self) -> Value {
        let mut v = self.config.to_public_json();
        v["id"] = Value::String(self.id.clone());
        v["client_secret_set"] = Value::Bool(true);
        v["webhook_secret_set"] = Value::Bool(true);
        v
    }

    /// Seals for storage; `nonce` must give fresh random bytes on every call.
    pub fn seal(&self, keys: &KeyRing, nonce: &mut dyn FnMut() -> [u8; 12]) -> TenantRecord {
        let id = &self.id;
        let mut config = self.config.to_public_json();
        if let Some(obj) = config.as_object_mut() {
            obj.remove("client_secret_set");
        }
        TenantRecord {
            config,
            client_secret: keys.seal(
                self.client_secret.secret().as_bytes(),
                &aad(id, "client_secret"),
                nonce(),
            ),
            webhook_secret: keys.seal(
                self.webhook_secret.secret().as_bytes(),
                &aad(id, "webhook_secret"),
                nonce(),
            ),
            previous_webhook_secret: self.previous_webhook_secret.as_ref().map(|(s, _)| {
                keys.seal(
                    s.secret().as_bytes(),
                    &aad(id, "previous_webhook_secret"),
                    nonce(),
                )
            }),
            previous_webhook_secret_until: self
                .previous_webhook_secret
                .as_ref()
                .map(|(_, until)| *until),
        }
    }
}

/// Opened record, and whether any secret was under the previous config key (then the caller
/// should write the record again, re-sealed under the current one).
pub struct Opened {
    pub tenant: Tenant,
    pub needs_reseal: bool,
}

pub fn open_record(
    id: &str,
    raw: &str,
    keys: &KeyRing,
    ctx: &ConfigContext<'_>,
) -> Result<Opened, RecordError> {
    let record: TenantRecord = serde_json::from_str(raw).map_err(|_| RecordError::NotJson)?;
    let Value::Object(map) = record.config else {
        return Err(RecordError::NotJson);
    };
    let mut config = TenantConfig::parse(RawTenantConfig(map), ctx).map_err(RecordError::Config)?;
    let mut needs_reseal = false;
    let mut open = |sealed: &str, field: &str| -> Result<String, RecordError> {
        let o = keys.open(sealed, &aad(id, field))?;
        needs_reseal |= o.under_previous_key;
        String::from_utf8(o.plaintext).map_err(|_| RecordError::Crypto(CryptoError::Malformed))
    };
    let client_secret = ClientSecret::new(open(&record.client_secret, "client_secret")?);
    let webhook_secret = WebhookSecret::new(open(&record.webhook_secret, "webhook_secret")?);
    let previous_webhook_secret = match (
        &record.previous_webhook_secret,
        record.previous_webhook_secret_until,
    ) {
        (Some(s), Some(until)) => Some((
            WebhookSecret::new(open(s, "previous_webhook_secret")?),
            until,
        )),
        _ => None,
    };
    config.client_secret = Some(client_secret.clone());
    Ok(Opened {
        tenant: Tenant {
            id: id.to_string(),
            config,
            client_secret,
            webhook_secret,
            previous_webhook_secret,
        },
        needs_reseal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "HxwdHhscGRoXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";
    const CTX: ConfigContext<'static> = ConfigContext {
        local_dev: false,
        base_domain: "example.com",
    };

    fn tenant() -> Tenant {
        let body = br#"{"okta_domain":"acme.okta.com","client_id":"0oa1","client_secret":"cs-VALUE","portal_url":"https://portal.acme.com"}"#;
        let config = TenantConfig::parse(RawTenantConfig::from_json(body).unwrap(), &CTX).unwrap();
        Tenant {
            id: "acme".into(),
            config,
            client_secret: ClientSecret::new("cs-VALUE"),
            webhook_secret: WebhookSecret::new("whsec_CURRENT"),
            previous_webhook_secret: Some((WebhookSecret::new("whsec_OLD"), 5000)),
        }
    }

    fn counter() -> impl FnMut() -> [u8; 12] {
        let mut n = 0u8;
        move || {
            n += 1;
            [n; 12]
        }
    }

    #[test]
    fn sealed_record_holds_no_secret_and_opens_again() {
        let keys = KeyRing::new(K1, None).unwrap();
        let record = tenant().seal(&keys, &mut counter());
        let raw = serde_json::to_string(&record).unwrap();
        for s in ["cs-VALUE", "whsec_CURRENT", "whsec_OLD"] {
            assert!(!raw.contains(s), "{s} in {raw}");
        }
        let opened = open_record("acme", &raw, &keys, &CTX).unwrap();
        assert!(!opened.needs_reseal);
        assert_eq!(opened.tenant.client_secret.secret(), "cs-VALUE");
        assert_eq!(opened.tenant.config.client_id, "0oa1");
        assert_eq!(opened.tenant.webhook_signing_secrets(4999).len(), 2);
        assert_eq!(opened.tenant.webhook_signing_secrets(5000).len(), 1);
    }

    #[test]
    fn record_of_another_tenant_does_not_open() {
        let keys = KeyRing::new(K1, None).unwrap();
        let raw = serde_json::to_string(&tenant().seal(&keys, &mut counter())).unwrap();
        assert!(matches!(
            open_record("evil", &raw, &keys, &CTX),
            Err(RecordError::Crypto(_))
        ));
    }

    #[test]
    fn previous_config_key_opens_and_asks_for_reseal() {
        let old = KeyRing::new(K2, None).unwrap();
        let raw = serde_json::to_string(&tenant().seal(&old, &mut counter())).unwrap();
        let rotated = KeyRing::new(K1, Some(K2)).unwrap();
        assert!(
            open_record("acme", &raw, &rotated, &CTX)
                .unwrap()
                .needs_reseal
        );
    }

    #[test]
    fn public_json_says_secrets_are_set_without_values() {
        let v = tenant().public_json();
        assert_eq!(v["client_secret_set"], true);
        assert_eq!(v["webhook_secret_set"], true);
        assert_eq!(v["id"], "acme");
        // GET → edit → PUT: the read-only fields are ignored by the parser.
        let raw = RawTenantConfig::from_json(v.to_string().as_bytes()).unwrap();
        assert!(TenantConfig::parse(raw, &CTX).is_ok());
        assert!(!v.to_string().contains("cs-VALUE") && !v.to_string().contains("whsec_"));
    }
}
