//! The settings page's tenant form: its fields (the seed's wording where the seed has it, the
//! rest under "Advanced"), and the translation between the form and the admin API's JSON
//! body — so the page validates and stores through the very same `TenantConfig::parse` and
//! `tenant_write::prepare` as `PUT /admin/tenants/{id}`.

use serde_json::{Map, Value};
use url::form_urlencoded;

use crate::core::config::{FieldError, RawTenantConfig};

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// Never shown again: empty keeps the stored value.
    Secret,
    Checkbox,
    Select(&'static [&'static str]),
    /// One value per line.
    Lines,
    /// Values separated by spaces or lines.
    Words,
    Number,
}

/// One field of the tenant form.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// Under "Advanced".
    pub advanced: bool,
    /// Only platform staff see and change it (SPEC: an Access admin cannot change
    /// `custom_domains` or `settings_admins`).
    pub staff_only: bool,
}

const fn field(
    name: &'static str,
    label: &'static str,
    help: &'static str,
    kind: Kind,
) -> FieldSpec {
    FieldSpec {
        name,
        label,
        help,
        kind,
        advanced: false,
        staff_only: false,
    }
}

const fn advanced(
    name: &'static str,
    label: &'static str,
    help: &'static str,
    kind: Kind,
) -> FieldSpec {
    FieldSpec {
        advanced: true,
        ..field(name, label, help, kind)
    }
}

const fn staff(
    name: &'static str,
    label: &'static str,
    help: &'static str,
    kind: Kind,
) -> FieldSpec {
    FieldSpec {
        staff_only: true,
        ..advanced(name, label, help, kind)
    }
}

/// Every field, in the order the form shows them.
pub const FIELDS: [FieldSpec; 25] = [
    field("enabled", "Okta integration", "On: members see the sign-in button and can sign in with their corporate account.", Kind::Checkbox),
    field("okta_domain", "Okta domain", "Enter the domain without https:// (for example acme.okta.com, or your Okta custom domain).", Kind::Text),
    field("client_id", "Client ID", "From the Okta app's General tab.", Kind::Text),
    field("client_secret", "Client secret", "Leave empty to keep the current secret.", Kind::Secret),
    field("idp_id", "IdP ID", "Optional: the Okta Identity Provider ID (0oa…) to send members straight to one identity provider that Okta brokers.", Kind::Text),
    field("sign_in_button_label", "Sign in button label", "The text of the button on your login page (1–64 characters).", Kind::Text),
    field("portal_url", "Members Portal URL", "Your Members Portal's address, e.g. https://members.example.com: signed-in members are handed to it.", Kind::Text),
    field("provision_new_users", "Create new users if they don't exist", "Members who sign in for the first time are created as contacts through the provisioning webhook.", Kind::Checkbox),
    field("provisioning_webhook_url", "Provisioning webhook URL", "Required when new users are created: where the worker sends each new member.", Kind::Text),
    field("password_login_disabled", "Prevent users from using their password to log in", "The login page then goes straight to your corporate sign-in, as long as they are already a user.", Kind::Checkbox),
    advanced("authorization_server_id", "Authorization server ID", "Empty for Okta's org authorization server; default (or aus…) for a custom one.", Kind::Text),
    advanced("token_endpoint_auth_method", "Client authentication", "How the worker sends the client secret to Okta.", Kind::Select(&["client_secret_basic", "client_secret_post"])),
    advanced("allow_unverified_email", "Allow unverified email addresses", "Off: a member whose identity provider says the email is not verified is refused.", Kind::Checkbox),
    advanced("handoff_path", "Handoff path", "Where on your portal the signed-in member is handed off (default /sso/assertion).", Kind::Text),
    advanced("redirect_uri", "Sign-in redirect URI override", "Empty: the tenant's own callback (shown below). Set it when Okta has the shared apex or a forwarder's callback registered.", Kind::Text),
    advanced("post_logout_redirect_uri", "Sign-out redirect URI override", "Empty: the tenant's own /login/logout (shown below).", Kind::Text),
    advanced("app_redirect_uris", "App redirect URIs", "One per line, exactly as the Passport App sends them (https app links or com.example.app:/callback). Empty: app sign-in off.", Kind::Lines),
    advanced("acr_values", "Required authentication (acr_values)", "Sent on every sign-in, e.g. urn:okta:loa:2fa:any to require MFA.", Kind::Text),
    advanced("max_age", "Maximum authentication age (seconds)", "Sent on every sign-in: members who authenticated longer ago sign in again.", Kind::Number),
    advanced("extra_scopes", "Extra scopes", "Added after openid email profile, e.g. groups.", Kind::Words),
    advanced("groups_claim", "Groups claim", "The claim holding the member's groups, e.g. groups.", Kind::Text),
    advanced("allowed_groups", "Allowed groups", "One per line, exact: members in none of them are refused. Needs the groups claim.", Kind::Lines),
    advanced("allowed_email_domains", "Allowed email domains", "One per line, e.g. example.com: members with another email domain are refused.", Kind::Lines),
    staff("custom_domains", "Custom domains", "One host name per line that serves this tenant's members (each owned by one tenant only).", Kind::Lines),
    staff("settings_admins", "Settings admins", "One email per line: the Cloudflare Access identities that may edit this tenant here.", Kind::Lines),
];

/// Form fields that are not tenant fields.
const CONTROL_FIELDS: [&str; 2] = ["csrf", "id"];

/// A submitted form, field by field (the first value of each name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submitted {
    pub values: Vec<(String, String)>,
}

impl Submitted {
    pub fn parse(body: &[u8]) -> Self {
        let mut values: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(body) {
            if !values.iter().any(|(n, _)| *n == k) {
                values.push((k.into_owned(), v.into_owned()));
            }
        }
        Self { values }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the form names a staff-only field (an admin's form never does).
    pub fn names_staff_only_field(&self) -> bool {
        FIELDS
            .iter()
            .filter(|f| f.staff_only)
            .any(|f| self.get(f.name).is_some())
    }

    /// The admin API's JSON body for this form. Checkboxes absent are false; empty text is
    /// `null` (the field's default); an empty secret is left out (keep the stored one); lists
    /// are one value per line. Staff-only fields are taken from `keep` when the operator may
    /// not change them. Unknown names are ignored (a form is not an API).
    pub fn to_raw(&self, keep: Option<&Map<String, Value>>) -> RawTenantConfig {
        let mut map = Map::new();
        for f in &FIELDS {
            if f.staff_only {
                if let Some(keep) = keep {
                    if let Some(v) = keep.get(f.name) {
                        map.insert(f.name.into(), v.clone());
                    }
                    continue;
                }
            }
            let raw = self.get(f.name);
            let value = match f.kind {
                // A ticked box sends "on"; an unticked one nothing (or, from a naive client,
                // an empty value).
                Kind::Checkbox => Value::Bool(raw.is_some_and(|v| !v.is_empty())),
                Kind::Secret => match raw {
                    Some(s) if !s.is_empty() => Value::String(s.into()),
                    _ => continue,
                },
                Kind::Text | Kind::Select(_) => match raw {
                    Some(s) if !s.trim().is_empty() => Value::String(s.into()),
                    _ => Value::Null,
                },
                Kind::Number => match raw.map(str::trim) {
                    None | Some("") => Value::Null,
                    Some(s) => s
                        .parse::<u64>()
                        .map(|n| Value::Number(n.into()))
                        .unwrap_or_else(|_| Value::String(s.into())),
                },
                Kind::Lines => list(raw, |c| c == '\n' || c == '\r'),
                Kind::Words => list(raw, char::is_whitespace),
            };
            map.insert(f.name.into(), value);
        }
        RawTenantConfig(map)
    }
}

fn list(raw: Option<&str>, split: fn(char) -> bool) -> Value {
    Value::Array(
        raw.unwrap_or_default()
            .split(split)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Value::String(s.into()))
            .collect(),
    )
}

/// What each field shows: a stored config (the GET view) or what was typed (after a refused
/// save). Never the client secret.
pub fn display_values(source: &Source<'_>) -> Vec<(&'static str, String)> {
    FIELDS
        .iter()
        .map(|f| {
            let shown = match (source, f.kind) {
                (_, Kind::Secret) => String::new(),
                (Source::Typed(s), _) => s.get(f.name).unwrap_or_default().to_string(),
                (Source::Stored(map), kind) => display_json(map.get(f.name), kind),
                (Source::New, Kind::Checkbox) if f.name == "enabled" => "on".into(),
                (Source::New, Kind::Text) if f.name == "sign_in_button_label" => {
                    crate::core::config::DEFAULT_BUTTON_LABEL.into()
                }
                (Source::New, _) => String::new(),
            };
            (f.name, shown)
        })
        .collect()
}

/// Where the form's values come from.
pub enum Source<'a> {
    New,
    Stored(&'a Map<String, Value>),
    Typed(&'a Submitted),
}

fn display_json(v: Option<&Value>, kind: Kind) -> String {
    match (v, kind) {
        (Some(Value::Bool(true)), Kind::Checkbox) => "on".into(),
        (Some(Value::Bool(false)) | None, Kind::Checkbox) => String::new(),
        (Some(Value::String(s)), _) => s.clone(),
        (Some(Value::Number(n)), _) => n.to_string(),
        (Some(Value::Array(items)), Kind::Words) => join(items, " "),
        (Some(Value::Array(items)), _) => join(items, "\n"),
        _ => String::new(),
    }
}

fn join(items: &[Value], sep: &str) -> String {
    items
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(sep)
}

/// Each error against the form field it belongs to (`custom_domains[2]` → `custom_domains`);
/// errors about no field of the form (`id`, `body`) under `None`.
pub fn errors_by_field(errors: &[FieldError]) -> Vec<(Option<&'static str>, String)> {
    errors
        .iter()
        .map(|e| {
            let base = e.field.split('[').next().unwrap_or_default();
            let field = FIELDS.iter().find(|f| f.name == base).map(|f| f.name);
            let message = match (field, e.field.find('[')) {
                (Some(_), Some(i)) => format!("{}: {}", &e.field[i..], e.message),
                _ => e.message.clone(),
            };
            (field, message)
        })
        .collect()
}

/// Whether `name` is a form field the page knows (for tests of the page's completeness).
pub fn is_known(name: &str) -> bool {
    CONTROL_FIELDS.contains(&name) || FIELDS.iter().any(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{ConfigContext, TenantConfig, READ_ONLY_FIELDS};
    use serde_json::json;

    const CTX: ConfigContext<'static> = ConfigContext {
        local_dev: false,
        base_domain: "example.com",
    };

    fn form(pairs: &[(&str, &str)]) -> Submitted {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        Submitted::parse(s.finish().as_bytes())
    }

    #[test]
    fn every_tenant_field_is_on_the_form() {
        let cfg = TenantConfig::parse(
            RawTenantConfig::from_json(
                br#"{"okta_domain":"a.okta.com","client_id":"c","portal_url":"https://p.example.org"}"#,
            )
            .unwrap(),
            &CTX,
        )
        .unwrap();
        for key in cfg.to_public_json().as_object().unwrap().keys() {
            assert!(
                is_known(key) || READ_ONLY_FIELDS.contains(&key.as_str()),
                "{key} has no form field"
            );
        }
    }

    #[test]
    fn a_form_becomes_the_api_body() {
        let f = form(&[
            ("csrf", "x"),
            ("enabled", "on"),
            ("okta_domain", "acme.okta.com"),
            ("client_id", "0oa1"),
            ("client_secret", ""),
            ("portal_url", "https://p.example.org"),
            ("sign_in_button_label", "Go"),
            ("max_age", "600"),
            ("extra_scopes", "groups  offline_access\n"),
            ("groups_claim", "groups"),
            ("allowed_groups", "Members\r\n\r\n Staff \n"),
            ("custom_domains", "members.acme.org"),
        ]);
        let raw = f.to_raw(None);
        let m = &raw.0;
        assert_eq!(m["enabled"], true);
        assert_eq!(m["provision_new_users"], false, "an unticked box is false");
        assert!(
            !m.contains_key("client_secret"),
            "empty keeps the stored secret"
        );
        assert_eq!(m["idp_id"], Value::Null);
        assert_eq!(m["max_age"], 600);
        assert_eq!(m["extra_scopes"], json!(["groups", "offline_access"]));
        assert_eq!(m["allowed_groups"], json!(["Members", "Staff"]));
        assert_eq!(m["custom_domains"], json!(["members.acme.org"]));
        assert!(!m.contains_key("csrf"));
        let cfg = TenantConfig::parse(raw, &CTX).unwrap();
        assert_eq!(cfg.sign_in_button_label, "Go");
    }

    #[test]
    fn bad_values_reach_the_shared_validation_unchanged() {
        let raw = form(&[
            ("okta_domain", "https://acme.okta.com"),
            ("max_age", "soon"),
        ])
        .to_raw(None);
        assert_eq!(raw.0["max_age"], "soon");
        let errors = TenantConfig::parse(raw, &CTX).unwrap_err();
        let fields = errors.fields();
        for f in ["okta_domain", "client_id", "portal_url", "max_age"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
    }

    #[test]
    fn staff_only_fields_are_kept_from_the_store_for_admins() {
        let keep =
            json!({"custom_domains": ["members.acme.org"], "settings_admins": ["ada@example.com"]});
        let f = form(&[("okta_domain", "a.okta.com")]);
        let raw = f.to_raw(keep.as_object());
        assert_eq!(raw.0["custom_domains"], json!(["members.acme.org"]));
        assert_eq!(raw.0["settings_admins"], json!(["ada@example.com"]));
        assert!(!f.names_staff_only_field());
        assert!(form(&[("custom_domains", "evil.example")]).names_staff_only_field());
        assert!(form(&[("settings_admins", "")]).names_staff_only_field());
    }

    #[test]
    fn display_never_shows_the_secret_and_round_trips_lists() {
        let stored = json!({"client_secret_set": true, "enabled": true, "extra_scopes": ["a", "b"],
            "allowed_groups": ["X", "Y"], "max_age": 60, "okta_domain": "a.okta.com"});
        let shown = display_values(&Source::Stored(stored.as_object().unwrap()));
        let get = |n: &str| shown.iter().find(|(k, _)| *k == n).unwrap().1.clone();
        assert_eq!(get("client_secret"), "");
        assert_eq!(get("enabled"), "on");
        assert_eq!(get("extra_scopes"), "a b");
        assert_eq!(get("allowed_groups"), "X\nY");
        assert_eq!(get("max_age"), "60");
        let typed = form(&[("client_secret", "typed-secret"), ("okta_domain", "x y")]);
        let shown = display_values(&Source::Typed(&typed));
        assert!(
            shown.iter().all(|(_, v)| v != "typed-secret"),
            "the secret is never echoed"
        );
        assert!(shown.iter().any(|(k, v)| *k == "okta_domain" && v == "x y"));
    }

    #[test]
    fn errors_land_next_to_their_fields() {
        let errors = vec![
            FieldError {
                field: "custom_domains[1]".into(),
                message: "is taken".into(),
            },
            FieldError {
                field: "okta_domain".into(),
                message: "is required".into(),
            },
            FieldError {
                field: "id".into(),
                message: "must match".into(),
            },
        ];
        let by = errors_by_field(&errors);
        assert_eq!(by[0], (Some("custom_domains"), "[1]: is taken".into()));
        assert_eq!(by[1], (Some("okta_domain"), "is required".into()));
        assert_eq!(by[2], (None, "must match".into()));
    }
}
