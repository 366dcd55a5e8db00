//! Rev 3's tenant fields: one error per bad field, defaults and normalisation.

use serde_json::json;

use super::{error_fields, parse, DEV, PROD};
use crate::core::config::ConfigContext;
use serde_json::Value;

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn rev3_fields_are_validated_one_error_per_field() {
    let eleven: Vec<String> = (0..11).map(|i| format!("com.example.app:/cb{i}")).collect();
    let rows: Vec<(Value, &ConfigContext<'_>, &[&str])> = vec![
        (json!({"app_redirect_uris": ["com.example.app:/cb", "https://app.example.org/cb"]}), &PROD, &[]),
        (json!({"app_redirect_uris": "com.example.app:/cb"}), &PROD, &["app_redirect_uris"]),
        (json!({"app_redirect_uris": ["https://app.example.org/cb#x", 3]}), &PROD,
            &["app_redirect_uris[0]", "app_redirect_uris[1]"]),
        (json!({"app_redirect_uris": ["http://127.0.0.1/cb"]}), &PROD, &["app_redirect_uris[0]"]),
        (json!({"app_redirect_uris": ["http://127.0.0.1/cb"]}), &DEV, &[]),
        (json!({"app_redirect_uris": ["myapp:/cb"]}), &PROD, &["app_redirect_uris[0]"]),
        (json!({"app_redirect_uris": eleven}), &PROD, &["app_redirect_uris"]),
        (json!({"acr_values": "urn:okta:loa:2fa:any urn:okta:loa:2fa:any:ifpossible"}), &PROD, &[]),
        (json!({"acr_values": ""}), &PROD, &["acr_values"]),
        (json!({"acr_values": "a  b"}), &PROD, &["acr_values"]),
        (json!({"acr_values": 2}), &PROD, &["acr_values"]),
        (json!({"max_age": 0}), &PROD, &[]),
        (json!({"max_age": 31536000}), &PROD, &[]),
        (json!({"max_age": 31536001}), &PROD, &["max_age"]),
        (json!({"max_age": -1}), &PROD, &["max_age"]),
        (json!({"max_age": 1.5}), &PROD, &["max_age"]),
        (json!({"max_age": "60"}), &PROD, &["max_age"]),
        (json!({"extra_scopes": ["groups", "offline_access"]}), &PROD, &[]),
        (json!({"extra_scopes": ["openid", "a b"]}), &PROD, &["extra_scopes[0]", "extra_scopes[1]"]),
        (json!({"groups_claim": "groups", "allowed_groups": ["Members", "Staff"]}), &PROD, &[]),
        (json!({"allowed_groups": ["Members"]}), &PROD, &["allowed_groups"]),
        (json!({"groups_claim": null, "allowed_groups": ["Members"]}), &PROD, &["allowed_groups"]),
        (json!({"allowed_groups": []}), &PROD, &[]),
        (json!({"groups_claim": "a b"}), &PROD, &["groups_claim"]),
        (json!({"groups_claim": "groups", "allowed_groups": ["", "ok"]}), &PROD, &["allowed_groups[0]"]),
        (json!({"allowed_email_domains": ["Example.COM", "xn--bcher-kva.example"]}), &PROD, &[]),
        (json!({"allowed_email_domains": ["@example.com", "example"]}), &PROD,
            &["allowed_email_domains[0]", "allowed_email_domains[1]"]),
        (json!({"settings_admins": ["ada@example.com"]}), &PROD, &[]),
        (json!({"settings_admins": ["ada"]}), &PROD, &["settings_admins[0]"]),
    ];
    for (patch, ctx, expected) in rows {
        let label = format!("{patch} (local_dev: {})", ctx.local_dev);
        assert_eq!(error_fields(patch, ctx), *expected, "{label}");
    }
}

#[test]
fn rev3_fields_default_and_normalize() {
    let cfg = parse(json!({}), &PROD).unwrap();
    assert!(cfg.app_redirect_uris.is_empty() && cfg.extra_scopes.is_empty());
    assert!(cfg.allowed_groups.is_empty() && cfg.allowed_email_domains.is_empty());
    assert!(cfg.settings_admins.is_empty());
    assert_eq!(
        (cfg.acr_values, cfg.max_age, cfg.groups_claim),
        (None, None, None)
    );
    let cfg = parse(
        json!({"allowed_email_domains": ["Example.COM", "example.com"],
               "app_redirect_uris": ["https://App.example.org/cb"]}),
        &PROD,
    )
    .unwrap();
    assert_eq!(cfg.allowed_email_domains, ["example.com"]);
    // Redirect URIs are kept exactly as written: they are matched byte for byte.
    assert_eq!(cfg.app_redirect_uris, ["https://App.example.org/cb"]);
}
