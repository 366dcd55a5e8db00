//! Tenant configuration, parsed not checked (STYLE principle 3): the admin `PUT` body and
//! the stored KV JSON both become a `TenantConfig` only through [`TenantConfig::parse`]
//! (also reachable as `TryFrom`), which reports every bad field at once.
//!
//! Choices beyond SPEC's table (docs/configuration.md, docs/security.md):
//! - `null` means "not given" for optional fields and fields with a default; for the
//!   required `okta_domain`, `client_id` and `portal_url` it is "is required".
//! - `client_secret: None` means "not in this body": the caller keeps the stored secret on
//!   replace and refuses a create without one (`ConfigErrors::one("client_secret", …)`).
//! - URLs are stored in their WHATWG serialization (lowercase host, default port dropped);
//!   `portal_url` as its origin without a trailing `/`; `redirect_uri` must have exactly the
//!   path `/authorization-code/callback` and no query; no URL may carry a fragment.
//! - Host names are lowercased; `custom_domains` are deduplicated in order, at most
//!   [`MAX_CUSTOM_DOMAINS`].

mod reader;
mod rules;
mod sign_in_rules;
#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::core::secret::ClientSecret;

use reader::Reader;
pub use rules::{is_dns_name, is_loopback_host, parse_https_origin};
pub use sign_in_rules::{find_app_redirect, BASE_SCOPES};
use sign_in_rules::{
    MAX_ALLOWED_EMAIL_DOMAINS, MAX_ALLOWED_GROUPS, MAX_APP_REDIRECT_URIS, MAX_EXTRA_SCOPES,
    MAX_SETTINGS_ADMINS,
};

pub const DEFAULT_BUTTON_LABEL: &str = "Sign in with Corporate Account";
pub const DEFAULT_HANDOFF_PATH: &str = "/sso/assertion";
/// Each custom domain is one KV mapping to write and keep unique; a cap keeps a `PUT` bounded.
pub const MAX_CUSTOM_DOMAINS: usize = 100;

/// Fields `GET` adds for display; a `PUT` ignores them so GET → edit → PUT works.
pub(crate) const READ_ONLY_FIELDS: [&str; 3] = ["id", "client_secret_set", "webhook_secret_set"];

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

/// A service host as an admin types one (Okta domain, Access team domain): a host name,
/// `:port` only in local dev, no scheme, path, query or user info; lower-cased.
pub fn okta_domain_rule(input: &str, local_dev: bool) -> Result<String, String> {
    rules::okta_domain(input, local_dev)
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
    /// Exact redirect URIs of the tenant's app (empty: app sign-in off).
    pub app_redirect_uris: Vec<String>,
    /// Sent on every authorize request; the ID token's `acr` must be one of them.
    pub acr_values: Option<String>,
    /// Sent on every authorize request; the ID token's `auth_time` is then checked.
    pub max_age: Option<u64>,
    /// Requested after `openid email profile`.
    pub extra_scopes: Vec<String>,
    /// The claim holding the member's groups (ID token first, else userinfo).
    pub groups_claim: Option<String>,
    /// When not empty, a member in none of these groups is refused.
    pub allowed_groups: Vec<String>,
    /// When not empty, a member whose (verified) email is on none of these is refused.
    pub allowed_email_domains: Vec<String>,
    /// Cloudflare Access identities that may edit this tenant on the settings page.
    pub settings_admins: Vec<String>,
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
        let app_redirect_uris = r.list(
            "app_redirect_uris",
            "redirect URIs",
            MAX_APP_REDIRECT_URIS,
            &mut |s| sign_in_rules::app_redirect_uri(s, dev),
        );
        let acr_values = r.optional("acr_values", sign_in_rules::acr_values);
        let max_age = r.integer("max_age", 0, crate::core::step_up::MAX_AGE_LIMIT);
        let extra_scopes = r.list(
            "extra_scopes",
            "scopes",
            MAX_EXTRA_SCOPES,
            &mut sign_in_rules::extra_scope,
        );
        let groups_given = r.is_given("groups_claim");
        let groups_claim = r.optional("groups_claim", sign_in_rules::claim_name);
        let allowed_groups = r.list(
            "allowed_groups",
            "group names",
            MAX_ALLOWED_GROUPS,
            &mut sign_in_rules::group_name,
        );
        if !allowed_groups.is_empty() && !groups_given {
            r.fail(
                "allowed_groups",
                "needs groups_claim: set the claim that holds the member's groups",
            );
        }
        let allowed_email_domains = r.list(
            "allowed_email_domains",
            "domain names",
            MAX_ALLOWED_EMAIL_DOMAINS,
            &mut sign_in_rules::email_domain,
        );
        let settings_admins = r.list(
            "settings_admins",
            "email addresses",
            MAX_SETTINGS_ADMINS,
            &mut sign_in_rules::admin_email,
        );
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
                    app_redirect_uris,
                    acr_values,
                    max_age,
                    extra_scopes,
                    groups_claim,
                    allowed_groups,
                    allowed_email_domains,
                    settings_admins,
                })
            }
            _ => Err(ConfigErrors(r.errors)),
        }
    }

    /// SPEC: the org authorization server's issuer is `https://{okta_domain}`, a custom one's
    /// `https://{okta_domain}/oauth2/{id}`; in local dev a loopback Okta is reached over http.
    pub fn issuer(&self, local_dev: bool) -> String {
        match &self.authorization_server_id {
            None => self.org_issuer(local_dev),
            Some(id) => format!("{}/oauth2/{id}", self.org_issuer(local_dev)),
        }
    }

    /// The sign-in redirect URI Okta must have registered for a login that starts on
    /// `start_origin`: the configured one, else that origin's own callback.
    pub fn sign_in_redirect_uri(&self, start_origin: &str) -> String {
        self.redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{start_origin}/authorization-code/callback"))
    }

    /// The sign-out redirect URI: the configured one, else the tenant origin's `/login/logout`.
    pub fn sign_out_redirect_uri(&self, tenant_origin: &str) -> String {
        self.post_logout_redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{tenant_origin}/login/logout"))
    }

    /// The Okta org's own issuer, `https://{okta_domain}` (`http` for a loopback Okta in local
    /// dev): what a dashboard tile may name in `/login/initiate`.
    pub fn org_issuer(&self, local_dev: bool) -> String {
        let scheme = if local_dev && self.okta_loopback {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.okta_domain)
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
            "app_redirect_uris": self.app_redirect_uris,
            "acr_values": self.acr_values,
            "max_age": self.max_age,
            "extra_scopes": self.extra_scopes,
            "groups_claim": self.groups_claim,
            "allowed_groups": self.allowed_groups,
            "allowed_email_domains": self.allowed_email_domains,
            "settings_admins": self.settings_admins,
        })
    }
}
