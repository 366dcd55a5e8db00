//! Tenant configuration, parsed not checked (STYLE principle 3): the admin `PUT` body and
//! the stored KV JSON both become a `TenantConfig` only through [`TenantConfig::parse`]
//! (also reachable as `TryFrom`), which reports every bad field at once.
//!
//! Choices beyond SPEC's table, for the README:
//! - `null` means "not given" for optional fields and fields with a default; for the
//!   required `okta_domain`, `client_id` and `portal_url` it is "is required".
//! - `client_secret: None` means "not in this body": the caller keeps the stored secret on
//!   replace and refuses a create without one (`ConfigErrors::one("client_secret", …)`).
//! - URLs are stored in their WHATWG serialization (lowercase host, default port dropped);
//!   `portal_url` as its origin without a trailing `/`; `redirect_uri` must have exactly the
//!   path `/authorization-code/callback` and no query; no URL may carry a fragment.
//! - Host names are lowercased; `custom_domains` are deduplicated in order, at most
//!   [`MAX_CUSTOM_DOMAINS`].

mod rules;
#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::core::secret::ClientSecret;

pub use rules::{is_dns_name, is_loopback_host, parse_https_origin};

pub const DEFAULT_BUTTON_LABEL: &str = "Sign in with Corporate Account";
pub const DEFAULT_HANDOFF_PATH: &str = "/sso/assertion";
/// Each custom domain is one KV mapping to write and keep unique; a cap keeps a `PUT` bounded.
pub const MAX_CUSTOM_DOMAINS: usize = 100;

/// Fields `GET` adds for display; a `PUT` ignores them so GET → edit → PUT works.
const READ_ONLY_FIELDS: [&str; 3] = ["id", "client_secret_set", "webhook_secret_set"];

/// What parsing depends on besides the body.
#[derive(Debug, Clone, Copy)]
pub struct ConfigContext<'a> {
    pub local_dev: bool,
    pub base_domain: &'a str,
}

/// The admin `PUT` body or the stored JSON, before any rule has looked at it.
#[derive(Clone, Default)]
pub struct RawTenantConfig(pub Map<String, Value>);

impl RawTenantConfig {
    pub fn from_json(body: &[u8]) -> Result<Self, ConfigErrors> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            _ => Err(ConfigErrors::one("body", "must be a JSON object")),
        }
    }

    /// `client_secret` is in the body (not absent, not `null`).
    pub fn has_client_secret(&self) -> bool {
        !matches!(self.0.get("client_secret"), None | Some(Value::Null))
    }

    /// `id` is read-only (`GET` adds it), so a `PUT` may carry it back — but only as the id in
    /// the path: another id is a mistake worth a 422, not something to ignore.
    pub fn id_conflict(&self, path_id: &str) -> Option<FieldError> {
        match self.0.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == path_id => None,
            Some(_) => Some(FieldError {
                field: "id".into(),
                message: "must be the tenant id in the path (or left out)".into(),
            }),
        }
    }
}

/// Only the keys: the map may hold a client secret.
impl std::fmt::Debug for RawTenantConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RawTenantConfig")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// How the worker authenticates to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    fn parse(input: &str) -> Result<Self, String> {
        match input {
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            _ => Err("must be client_secret_basic or client_secret_post".into()),
        }
    }
}

/// A tenant's validated configuration (SPEC "Tenants and hosts", one field per row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfig {
    pub enabled: bool,
    /// Lowercase `host` (or `host:port` in local dev), no scheme.
    pub okta_domain: String,
    pub authorization_server_id: Option<String>,
    pub idp_id: Option<String>,
    pub client_id: String,
    /// `None`: not in this body; the caller merges the stored one.
    pub client_secret: Option<ClientSecret>,
    pub token_endpoint_auth_method: ClientAuthMethod,
    pub sign_in_button_label: String,
    pub provision_new_users: bool,
    pub password_login_disabled: bool,
    pub allow_unverified_email: bool,
    /// Origin without a trailing `/`, e.g. `https://portal.example.com`.
    pub portal_url: String,
    pub handoff_path: String,
    pub provisioning_webhook_url: Option<String>,
    pub custom_domains: Vec<String>,
    pub redirect_uri: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    /// Whether `okta_domain` names this machine, decided once when parsed: `issuer` runs on
    /// every sign-in, and the host check is a full host parse.
    okta_loopback: bool,
}

/// One bad field: `field` is the JSON path (`okta_domain`, `custom_domains[2]`, `body`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every bad field of one body. Serializes as the 422 body `{"errors":[{field, message}]}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant config: {}", summary(.0))]
pub struct ConfigErrors(pub Vec<FieldError>);

fn summary(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    parts.join("; ")
}

impl ConfigErrors {
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn fields(&self) -> Vec<&str> {
        self.0.iter().map(|e| e.field.as_str()).collect()
    }
}

impl Serialize for ConfigErrors {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            errors: &'a [FieldError],
        }
        Body { errors: &self.0 }.serialize(serializer)
    }
}

impl<'c> TryFrom<(RawTenantConfig, &ConfigContext<'c>)> for TenantConfig {
    type Error = ConfigErrors;

    fn try_from((raw, ctx): (RawTenantConfig, &ConfigContext<'c>)) -> Result<Self, ConfigErrors> {
        Self::parse(raw, ctx)
    }
}

impl TenantConfig {
    /// The one way in: every field is read, every error collected, unknown fields refused.
    pub fn parse(raw: RawTenantConfig, ctx: &ConfigContext<'_>) -> Result<Self, ConfigErrors> {
        let dev = ctx.local_dev;
        let mut r = Reader::new(raw.0);
        let enabled = r.boolean("enabled", true);
        let okta_domain = r.required("okta_domain", |s| rules::okta_domain(s, dev));
        let authorization_server_id = r.optional("authorization_server_id", rules::okta_id);
        let idp_id = r.optional("idp_id", rules::okta_id);
        let client_id = r.required("client_id", rules::client_id);
        let client_secret = r.optional("client_secret", rules::client_secret);
        let token_endpoint_auth_method = r
            .optional("token_endpoint_auth_method", ClientAuthMethod::parse)
            .unwrap_or_default();
        let sign_in_button_label = r
            .optional("sign_in_button_label", rules::button_label)
            .unwrap_or_else(|| DEFAULT_BUTTON_LABEL.to_owned());
        let provision_new_users = r.boolean("provision_new_users", false);
        let password_login_disabled = r.boolean("password_login_disabled", false);
        let allow_unverified_email = r.boolean("allow_unverified_email", false);
        let portal_url = r.required("portal_url", |s| rules::parse_https_origin(s, dev));
        let handoff_path = r
            .optional("handoff_path", rules::handoff_path)
            .unwrap_or_else(|| DEFAULT_HANDOFF_PATH.to_owned());
        let provisioning_webhook_url = r.webhook_url(provision_new_users, dev);
        let custom_domains = r.custom_domains(ctx);
        let redirect_uri = r.optional("redirect_uri", |s| rules::redirect_uri(s, dev));
        let post_logout_redirect_uri =
            r.optional("post_logout_redirect_uri", |s| rules::https_url(s, dev));
        r.refuse_unknown();

        match (okta_domain, client_id, portal_url) {
            (Some(okta_domain), Some(client_id), Some(portal_url)) if r.errors.is_empty() => {
                Ok(TenantConfig {
                    enabled,
                    okta_loopback: is_loopback_host(&okta_domain),
                    okta_domain,
                    authorization_server_id,
                    idp_id,
                    client_id,
                    client_secret,
                    token_endpoint_auth_method,
                    sign_in_button_label,
                    provision_new_users,
                    password_login_disabled,
                    allow_unverified_email,
                    portal_url,
                    handoff_path,
                    provisioning_webhook_url,
                    custom_domains,
                    redirect_uri,
                    post_logout_redirect_uri,
                })
            }
            _ => Err(ConfigErrors(r.errors)),
        }
    }

    /// SPEC: the org authorization server's issuer is `https://{okta_domain}`, a custom one's
    /// `https://{okta_domain}/oauth2/{id}`; in local dev a loopback Okta is reached over http.
    pub fn issuer(&self, local_dev: bool) -> String {
        let scheme = if local_dev && self.okta_loopback {
            "http"
        } else {
            "https"
        };
        match &self.authorization_server_id {
            None => format!("{scheme}://{}", self.okta_domain),
            Some(id) => format!("{scheme}://{}/oauth2/{id}", self.okta_domain),
        }
    }

    /// Every field with its effective value, never the secret; `client_secret_set` says
    /// whether this value holds one (true once the caller merged the stored secret). The
    /// caller adds `webhook_secret_set`. Parsing this JSON again gives the same config.
    pub fn to_public_json(&self) -> Value {
        json!({
            "enabled": self.enabled,
            "okta_domain": self.okta_domain,
            "authorization_server_id": self.authorization_server_id,
            "idp_id": self.idp_id,
            "client_id": self.client_id,
            "client_secret_set": self.client_secret.is_some(),
            "token_endpoint_auth_method": self.token_endpoint_auth_method.as_str(),
            "sign_in_button_label": self.sign_in_button_label,
            "provision_new_users": self.provision_new_users,
            "password_login_disabled": self.password_login_disabled,
            "allow_unverified_email": self.allow_unverified_email,
            "portal_url": self.portal_url,
            "handoff_path": self.handoff_path,
            "provisioning_webhook_url": self.provisioning_webhook_url,
            "custom_domains": self.custom_domains,
            "redirect_uri": self.redirect_uri,
            "post_logout_redirect_uri": self.post_logout_redirect_uri,
        })
    }
}

/// Takes fields out of the body one by one, so whatever is left at the end is unknown.
struct Reader {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Reader {
    fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            errors: Vec::new(),
        }
    }

    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    fn is_given(&self, field: &str) -> bool {
        self.map.get(field).is_some_and(|v| !v.is_null())
    }

    /// The value, with `null` read as absent.
    fn take(&mut self, field: &str) -> Option<Value> {
        self.map.remove(field).filter(|v| !v.is_null())
    }

    fn boolean(&mut self, field: &str, default: bool) -> bool {
        match self.take(field) {
            None => default,
            Some(Value::Bool(b)) => b,
            Some(_) => {
                self.fail(field, "must be a boolean");
                default
            }
        }
    }

    fn optional<T>(
        &mut self,
        field: &str,
        rule: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.take(field)? {
            Value::String(s) => rule(&s).map_err(|message| self.fail(field, message)).ok(),
            _ => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    fn required<T>(
        &mut self,
        field: &str,
        rule: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        if !self.is_given(field) {
            self.map.remove(field);
            self.fail(field, "is required");
            return None;
        }
        self.optional(field, rule)
    }

    /// SPEC: required when `provision_new_users` is true.
    fn webhook_url(&mut self, required: bool, local_dev: bool) -> Option<String> {
        const FIELD: &str = "provisioning_webhook_url";
        if required && !self.is_given(FIELD) {
            self.fail(FIELD, "is required when provision_new_users is true");
        }
        self.optional(FIELD, |s| rules::https_url(s, local_dev))
    }

    fn custom_domains(&mut self, ctx: &ConfigContext<'_>) -> Vec<String> {
        const FIELD: &str = "custom_domains";
        let items = match self.take(FIELD) {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.fail(FIELD, "must be a list of host names");
                return Vec::new();
            }
        };
        let mut domains: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{FIELD}[{i}]");
            let parsed = match item {
                Value::String(s) => rules::custom_domain(s, ctx.base_domain, ctx.local_dev),
                _ => Err("must be a string".to_owned()),
            };
            match parsed {
                Ok(domain) if !domains.contains(&domain) => domains.push(domain),
                Ok(_) => {}
                Err(message) => self.fail(&path, message),
            }
        }
        if domains.len() > MAX_CUSTOM_DOMAINS {
            self.fail(
                FIELD,
                format!("must list at most {MAX_CUSTOM_DOMAINS} host names"),
            );
        }
        domains
    }

    fn refuse_unknown(&mut self) {
        let unknown: Vec<String> = std::mem::take(&mut self.map)
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| !READ_ONLY_FIELDS.contains(&key.as_str()))
            .collect();
        for key in unknown {
            self.fail(&key, "unknown field");
        }
    }
}
