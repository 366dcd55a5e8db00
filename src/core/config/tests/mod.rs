use serde_json::{json, Value};

use super::*;

const PROD: ConfigContext<'static> = ConfigContext {
    local_dev: false,
    base_domain: "example.com",
};
const DEV: ConfigContext<'static> = ConfigContext {
    local_dev: true,
    base_domain: "localhost",
};

fn base() -> Value {
    json!({
        "okta_domain": "acme.okta.com",
        "client_id": "0oa1clientid",
        "client_secret": "s3cret-value",
        "portal_url": "https://portal.acme.example",
    })
}

/// `base()` with `patch` merged in; a patch value of the string "<absent>" removes the key.
fn with(patch: Value) -> RawTenantConfig {
    let Value::Object(mut map) = base() else {
        unreachable!()
    };
    let Value::Object(patch) = patch else {
        panic!("patch must be an object")
    };
    for (key, value) in patch {
        if value == json!("<absent>") {
            map.remove(&key);
        } else {
            map.insert(key, value);
        }
    }
    RawTenantConfig(map)
}

fn parse(patch: Value, ctx: &ConfigContext<'_>) -> Result<TenantConfig, ConfigErrors> {
    TenantConfig::parse(with(patch), ctx)
}

fn error_fields(patch: Value, ctx: &ConfigContext<'_>) -> Vec<String> {
    match parse(patch, ctx) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.into_iter().map(|e| e.field).collect(),
    }
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn table_of_good_and_bad_configs() {
    let long_host = format!("{}.okta.com", "a.".repeat(124));
    let rows: Vec<(Value, &ConfigContext<'_>, &[&str])> = vec![
        (json!({}), &PROD, &[]),
        // okta_domain
        (json!({"okta_domain": "https://acme.okta.com"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "acme.okta.com/oauth2/default"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "acme.okta.com?x=1"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "acme.okta.com#x"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "me@acme.okta.com"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "acme .okta.com"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": " acme.okta.com"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "acme.okta.com."}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": long_host}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "-acme.okta.com"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "ac_me.okta.com"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "acme..okta.com"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "localhost"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "idp.localhost"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "127.0.0.1"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "127.1"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "10.0.0.5"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "[::1]"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "acme.okta.com:8443"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "okta"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "localhost"}), &DEV, &[]),
        (json!({"okta_domain": "127.0.0.1:4000"}), &DEV, &[]),
        (json!({"okta_domain": "[::1]:4000"}), &DEV, &[]),
        (json!({"okta_domain": "acme.okta.com:8443"}), &DEV, &[]),
        (json!({"okta_domain": "127.0.0.1:0"}), &DEV, &["okta_domain"]),
        (json!({"okta_domain": "127.0.0.1:99999"}), &DEV, &["okta_domain"]),
        (json!({"okta_domain": "::1"}), &DEV, &["okta_domain"]),
        (json!({"okta_domain": "ACME.Okta.com"}), &PROD, &[]),
        (json!({"okta_domain": 42}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": "<absent>"}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": null}), &PROD, &["okta_domain"]),
        (json!({"okta_domain": ""}), &PROD, &["okta_domain"]),
        // Okta ids
        (json!({"authorization_server_id": "default", "idp_id": "0oa1idp_x-Y"}), &PROD, &[]),
        (json!({"authorization_server_id": null, "idp_id": null}), &PROD, &[]),
        (json!({"authorization_server_id": "aus/../x"}), &PROD, &["authorization_server_id"]),
        (json!({"authorization_server_id": ""}), &PROD, &["authorization_server_id"]),
        (json!({"idp_id": "0oa idp"}), &PROD, &["idp_id"]),
        (json!({"idp_id": "x".repeat(129)}), &PROD, &["idp_id"]),
        (json!({"idp_id": true}), &PROD, &["idp_id"]),
        // client credentials
        (json!({"client_id": ""}), &PROD, &["client_id"]),
        (json!({"client_id": "a b"}), &PROD, &["client_id"]),
        (json!({"client_id": "x".repeat(257)}), &PROD, &["client_id"]),
        (json!({"client_id": "<absent>"}), &PROD, &["client_id"]),
        (json!({"client_secret": "<absent>"}), &PROD, &[]),
        (json!({"client_secret": null}), &PROD, &[]),
        (json!({"client_secret": ""}), &PROD, &["client_secret"]),
        (json!({"client_secret": "x".repeat(513)}), &PROD, &["client_secret"]),
        (json!({"client_secret": " padded"}), &PROD, &["client_secret"]),
        (json!({"client_secret": "a\nb"}), &PROD, &["client_secret"]),
        (json!({"client_secret": 12345}), &PROD, &["client_secret"]),
        (json!({"token_endpoint_auth_method": "client_secret_post"}), &PROD, &[]),
        (json!({"token_endpoint_auth_method": "client_secret_jwt"}), &PROD, &["token_endpoint_auth_method"]),
        // label and booleans
        (json!({"sign_in_button_label": "é".repeat(64)}), &PROD, &[]),
        (json!({"sign_in_button_label": "x".repeat(65)}), &PROD, &["sign_in_button_label"]),
        (json!({"sign_in_button_label": "   "}), &PROD, &["sign_in_button_label"]),
        (json!({"sign_in_button_label": "a\u{7}b"}), &PROD, &["sign_in_button_label"]),
        (json!({"enabled": "yes"}), &PROD, &["enabled"]),
        (json!({"provision_new_users": 1, "password_login_disabled": "true"}), &PROD,
            &["provision_new_users", "password_login_disabled"]),
        (json!({"allow_unverified_email": []}), &PROD, &["allow_unverified_email"]),
        // portal_url
        (json!({"portal_url": "https://portal.acme.example/"}), &PROD, &[]),
        (json!({"portal_url": "https://portal.acme.example:8443"}), &PROD, &[]),
        (json!({"portal_url": "http://portal.acme.example"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "https://portal.acme.example/members"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "https://portal.acme.example//"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "https://portal.acme.example/?x=1"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "https://portal.acme.example#top"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "https://me:pw@portal.acme.example"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "portal.acme.example"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "https://10.0.0.1"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "https://localhost"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "https://portal.acme.example\\evil"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "ftp://portal.acme.example"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "http://localhost:3000"}), &DEV, &[]),
        (json!({"portal_url": "http://portal.localhost:3000/"}), &DEV, &[]),
        (json!({"portal_url": "http://127.0.0.1:3000"}), &DEV, &[]),
        (json!({"portal_url": "http://192.168.1.2"}), &DEV, &["portal_url"]),
        (json!({"portal_url": "<absent>"}), &PROD, &["portal_url"]),
        // Hosts the WHATWG parser lets through but DNS (and a CSP source) does not.
        (json!({"portal_url": "https://portal;x.acme.example"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "https://portal*.acme.example"}), &PROD, &["portal_url"]),
        (json!({"portal_url": "https://portal.acme.example."}), &PROD, &["portal_url"]),
        (json!({"portal_url": "https://por_tal.acme.example"}), &PROD, &["portal_url"]),
        (json!({"provisioning_webhook_url": "https://hooks,x.acme.example/in"}), &PROD, &["provisioning_webhook_url"]),
        // handoff_path
        (json!({"handoff_path": "/custom/sso"}), &PROD, &[]),
        (json!({"handoff_path": "sso"}), &PROD, &["handoff_path"]),
        (json!({"handoff_path": "//evil.example"}), &PROD, &["handoff_path"]),
        (json!({"handoff_path": "/a\\b"}), &PROD, &["handoff_path"]),
        (json!({"handoff_path": "/a?b=1"}), &PROD, &["handoff_path"]),
        (json!({"handoff_path": "/a#b"}), &PROD, &["handoff_path"]),
        (json!({"handoff_path": "/a\tb"}), &PROD, &["handoff_path"]),
        (json!({"handoff_path": format!("/{}", "a".repeat(256))}), &PROD, &["handoff_path"]),
        // provisioning
        (json!({"provision_new_users": true}), &PROD, &["provisioning_webhook_url"]),
        (json!({"provision_new_users": true, "provisioning_webhook_url": null}), &PROD,
            &["provisioning_webhook_url"]),
        (json!({"provision_new_users": true, "provisioning_webhook_url": "https://hooks.acme.example/p?k=1"}), &PROD, &[]),
        (json!({"provisioning_webhook_url": "http://hooks.acme.example/p"}), &PROD, &["provisioning_webhook_url"]),
        (json!({"provisioning_webhook_url": "https://hooks.acme.example/p#f"}), &PROD, &["provisioning_webhook_url"]),
        (json!({"provisioning_webhook_url": "https://169.254.169.254/latest"}), &PROD, &["provisioning_webhook_url"]),
        (json!({"provision_new_users": true, "provisioning_webhook_url": "ftp://x.example"}), &PROD,
            &["provisioning_webhook_url"]),
        (json!({"provisioning_webhook_url": "http://127.0.0.1:9000/hook"}), &DEV, &[]),
        // custom_domains
        (json!({"custom_domains": ["portal.acme.com", "Members.Acme.com"]}), &PROD, &[]),
        (json!({"custom_domains": []}), &PROD, &[]),
        (json!({"custom_domains": "portal.acme.com"}), &PROD, &["custom_domains"]),
        (json!({"custom_domains": ["example.com"]}), &PROD, &["custom_domains[0]"]),
        (json!({"custom_domains": ["ok.acme.com", "acme.example.com"]}), &PROD, &["custom_domains[1]"]),
        (json!({"custom_domains": ["ok.acme.com", "bad host", 7]}), &PROD,
            &["custom_domains[1]", "custom_domains[2]"]),
        (json!({"custom_domains": ["portal.acme.com:443"]}), &PROD, &["custom_domains[0]"]),
        (json!({"custom_domains": ["https://portal.acme.com"]}), &PROD, &["custom_domains[0]"]),
        (json!({"custom_domains": ["1.2.3.4"]}), &PROD, &["custom_domains[0]"]),
        (json!({"custom_domains": ["*.acme.com"]}), &PROD, &["custom_domains[0]"]),
        (json!({"custom_domains": ["localhost"]}), &PROD, &["custom_domains[0]"]),
        (json!({"custom_domains": ["acme.localhost"]}), &DEV, &["custom_domains[0]"]),
        (json!({"custom_domains": ["acme.example.test"]}), &DEV, &[]),
        // redirect URIs
        (json!({"redirect_uri": "https://example.com/authorization-code/callback"}), &PROD, &[]),
        (json!({"redirect_uri": "https://their.domain/authorization-code/callback"}), &PROD, &[]),
        (json!({"redirect_uri": "https://acme.example.com/callback"}), &PROD, &["redirect_uri"]),
        (json!({"redirect_uri": "https://acme.example.com/authorization-code/callback?x=1"}), &PROD, &["redirect_uri"]),
        (json!({"redirect_uri": "http://acme.example.com/authorization-code/callback"}), &PROD, &["redirect_uri"]),
        (json!({"redirect_uri": "/authorization-code/callback"}), &PROD, &["redirect_uri"]),
        (json!({"redirect_uri": "http://localhost:8787/authorization-code/callback"}), &DEV, &[]),
        (json!({"post_logout_redirect_uri": "https://acme.example.com/login/logout"}), &PROD, &[]),
        (json!({"post_logout_redirect_uri": "javascript:alert(1)"}), &PROD, &["post_logout_redirect_uri"]),
        (json!({"post_logout_redirect_uri": "/login/logout"}), &PROD, &["post_logout_redirect_uri"]),
        (json!({"post_logout_redirect_uri": "http://acme.localhost:8787/login/logout"}), &DEV, &[]),
        // read-only and unknown fields
        (json!({"client_secret_set": true, "webhook_secret_set": false}), &PROD, &[]),
        (json!({"webhook_secret": "whsec_x"}), &PROD, &["webhook_secret"]),
        (json!({"foo": 1, "Enabled": true}), &PROD, &["Enabled", "foo"]),
        // several at once, in field order, unknown ones last
        (json!({"okta_domain": "https://x.okta.com", "client_id": "<absent>", "zzz": 0,
                "portal_url": "http://p.example"}), &PROD,
            &["okta_domain", "client_id", "portal_url", "zzz"]),
    ];
    assert!(rows.len() >= 30);
    for (patch, ctx, expected) in rows {
        let label = format!("{patch} (local_dev: {})", ctx.local_dev);
        assert_eq!(error_fields(patch, ctx), *expected, "{label}");
    }
}

#[test]
fn scheme_in_okta_domain_says_how_to_fix_it() {
    let errors = parse(json!({"okta_domain": "https://acme.okta.com"}), &PROD).unwrap_err();
    assert!(
        errors.0[0]
            .message
            .contains("enter the domain without https://"),
        "{errors}"
    );
}

#[test]
fn defaults_fill_every_optional_field() {
    let raw = RawTenantConfig::from_json(
        br#"{"okta_domain":"acme.okta.com","client_id":"cid","portal_url":"https://p.example.org"}"#,
    )
    .unwrap();
    let cfg = TenantConfig::try_from((raw, &PROD)).unwrap();
    assert!(cfg.enabled);
    assert_eq!(cfg.authorization_server_id, None);
    assert_eq!(cfg.idp_id, None);
    assert_eq!(cfg.client_secret, None);
    assert_eq!(
        cfg.token_endpoint_auth_method,
        ClientAuthMethod::ClientSecretBasic
    );
    assert_eq!(cfg.sign_in_button_label, "Sign in with Corporate Account");
    assert!(
        !cfg.provision_new_users && !cfg.password_login_disabled && !cfg.allow_unverified_email
    );
    assert_eq!(cfg.handoff_path, "/sso/assertion");
    assert_eq!(cfg.provisioning_webhook_url, None);
    assert!(cfg.custom_domains.is_empty());
    assert_eq!(cfg.redirect_uri, None);
    assert_eq!(cfg.post_logout_redirect_uri, None);
}

#[test]
fn null_means_default_for_defaulted_fields() {
    let cfg = parse(
        json!({"enabled": null, "sign_in_button_label": null, "handoff_path": null,
               "token_endpoint_auth_method": null, "custom_domains": null}),
        &PROD,
    )
    .unwrap();
    assert!(cfg.enabled);
    assert_eq!(cfg.sign_in_button_label, DEFAULT_BUTTON_LABEL);
    assert_eq!(cfg.handoff_path, DEFAULT_HANDOFF_PATH);
}

/// The worker carries no Unicode tables (Cargo.toml pins `idna_adapter` 1.0): an international
/// host is written in its xn-- form, and a URL or host naming it in Unicode is refused with a
/// message that says so, where it used to be converted.
#[test]
fn international_hosts_must_be_given_in_their_xn_form() {
    let message = |patch: Value| match parse(patch, &PROD) {
        Ok(_) => String::new(),
        Err(errors) => errors
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect(),
    };
    for (field, value) in [
        ("portal_url", "https://bücher.example"),
        (
            "provisioning_webhook_url",
            "https://hooks.bücher.example/in",
        ),
        ("post_logout_redirect_uri", "https://BÜCHER.example/bye"),
    ] {
        assert_eq!(
            message(json!({ field: value })),
            format!("{field}: host must be ASCII (use the xn-- form of an international name)"),
        );
    }
    assert_eq!(
        message(json!({"custom_domains": ["bücher.example"]})),
        "custom_domains[0]: must be ASCII (use the xn-- form of an international name)",
    );
    let cfg = parse(
        json!({"portal_url": "https://XN--BCHER-KVA.example", "custom_domains": ["xn--bcher-kva.example"]}),
        &PROD,
    )
    .unwrap();
    assert_eq!(cfg.portal_url, "https://xn--bcher-kva.example");
    assert_eq!(cfg.custom_domains, ["xn--bcher-kva.example"]);
}

#[test]
fn values_are_normalized() {
    let cfg = parse(
        json!({"okta_domain": "ACME.Okta.COM", "portal_url": "https://Portal.Acme.Example:443/",
               "custom_domains": ["Portal.Acme.com", "portal.acme.com", "b.acme.com"],
               "sign_in_button_label": "  Sign in with Acme  ",
               "post_logout_redirect_uri": "https://ACME.example.com"}),
        &PROD,
    )
    .unwrap();
    assert_eq!(cfg.okta_domain, "acme.okta.com");
    assert_eq!(cfg.portal_url, "https://portal.acme.example");
    assert_eq!(cfg.custom_domains, ["portal.acme.com", "b.acme.com"]);
    assert_eq!(cfg.sign_in_button_label, "Sign in with Acme");
    assert_eq!(
        cfg.post_logout_redirect_uri.as_deref(),
        Some("https://acme.example.com/")
    );
    assert_eq!(
        cfg.client_secret.as_ref().map(|s| s.secret()),
        Some("s3cret-value")
    );
}

#[test]
fn too_many_custom_domains() {
    let many: Vec<String> = (0..=MAX_CUSTOM_DOMAINS)
        .map(|i| format!("d{i}.acme.com"))
        .collect();
    assert_eq!(
        error_fields(json!({"custom_domains": many}), &PROD),
        ["custom_domains"]
    );
}

#[test]
fn issuer_follows_the_authorization_server() {
    let org = parse(json!({}), &PROD).unwrap();
    assert_eq!(org.issuer(false), "https://acme.okta.com");
    assert_eq!(org.issuer(true), "https://acme.okta.com");
    let custom = parse(json!({"authorization_server_id": "default"}), &PROD).unwrap();
    assert_eq!(custom.issuer(false), "https://acme.okta.com/oauth2/default");
    let local = parse(json!({"okta_domain": "127.0.0.1:4000"}), &DEV).unwrap();
    assert_eq!(local.issuer(true), "http://127.0.0.1:4000");
    let local = parse(
        json!({"okta_domain": "idp.localhost:4000", "authorization_server_id": "aus1"}),
        &DEV,
    )
    .unwrap();
    assert_eq!(local.issuer(true), "http://idp.localhost:4000/oauth2/aus1");
    assert_eq!(
        local.issuer(false),
        "https://idp.localhost:4000/oauth2/aus1"
    );
    let remote = parse(json!({"okta_domain": "acme.okta.com:8443"}), &DEV).unwrap();
    assert_eq!(remote.issuer(true), "https://acme.okta.com:8443");
}

#[test]
fn public_json_round_trips_without_the_secret() {
    let full = json!({
        "enabled": false, "okta_domain": "acme.okta.com", "authorization_server_id": "default",
        "idp_id": "0oaIdp", "client_id": "cid", "client_secret": "top-secret",
        "token_endpoint_auth_method": "client_secret_post", "sign_in_button_label": "Go",
        "provision_new_users": true, "password_login_disabled": true,
        "allow_unverified_email": true, "portal_url": "https://p.example.org",
        "handoff_path": "/x/y", "provisioning_webhook_url": "https://hooks.example.org/h",
        "custom_domains": ["members.acme.org"],
        "redirect_uri": "https://example.com/authorization-code/callback",
        "post_logout_redirect_uri": "https://acme.example.com/login/logout",
        "app_redirect_uris": ["com.example.passport:/cb", "https://app.example.org/cb"],
        "acr_values": "urn:okta:loa:2fa:any", "max_age": 3600, "extra_scopes": ["groups"],
        "groups_claim": "groups", "allowed_groups": ["Members"],
        "allowed_email_domains": ["example.org"], "settings_admins": ["ada@example.org"],
    });
    for patch in [full, json!({})] {
        let cfg = parse(patch, &PROD).unwrap();
        let public = cfg.to_public_json();
        let text = public.to_string();
        assert!(
            !text.contains("top-secret") && !text.contains("s3cret-value"),
            "{text}"
        );
        assert_eq!(public["client_secret_set"], json!(true));
        let Value::Object(map) = public else {
            panic!("not an object")
        };
        let again = TenantConfig::parse(RawTenantConfig(map), &PROD).unwrap();
        assert_eq!(again.client_secret, None);
        assert_eq!(
            again,
            TenantConfig {
                client_secret: None,
                ..cfg
            }
        );
        assert_eq!(again.to_public_json()["client_secret_set"], json!(false));
    }
}

#[test]
fn from_json_refuses_non_objects() {
    for body in [&b"not json"[..], b"[]", b"null", b"\"x\"", b"", b"{\"a\":"] {
        let errors = RawTenantConfig::from_json(body).unwrap_err();
        assert_eq!(errors.fields(), ["body"]);
    }
    assert!(RawTenantConfig::from_json(b"{}").is_ok());
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let raw = with(json!({"client_secret": "hunter2-secret"}));
    assert!(!format!("{raw:?}").contains("hunter2"));
    let cfg = TenantConfig::parse(raw, &PROD).unwrap();
    assert!(!format!("{cfg:?}").contains("hunter2"));
    let bad = parse(
        json!({"client_secret": " hunter2-secret", "client_id": ""}),
        &PROD,
    )
    .unwrap_err();
    assert!(!format!("{bad} {bad:?}").contains("hunter2"));
    assert!(!serde_json::to_string(&bad).unwrap().contains("hunter2"));
}

#[test]
fn errors_serialize_as_the_422_body() {
    let errors = parse(json!({"okta_domain": "<absent>"}), &PROD).unwrap_err();
    assert_eq!(
        serde_json::to_value(&errors).unwrap(),
        json!({"errors": [{"field": "okta_domain", "message": "is required"}]})
    );
    assert_eq!(
        errors.to_string(),
        "invalid tenant config: okta_domain: is required"
    );
    assert_eq!(
        ConfigErrors::one("client_secret", "is required").fields(),
        ["client_secret"]
    );
}

#[test]
fn loopback_detection() {
    for host in [
        "localhost",
        "LOCALHOST:8787",
        "a.localhost",
        "127.0.0.1",
        "127.9.9.9:1",
        "[::1]:4000",
    ] {
        assert!(is_loopback_host(host), "{host}");
    }
    for host in [
        "example.com",
        "10.0.0.1",
        "[::2]",
        "localhost.example.com",
        "",
        "::1",
    ] {
        assert!(!is_loopback_host(host), "{host}");
    }
}

#[test]
fn origin_helper_for_forward_to() {
    assert_eq!(
        parse_https_origin("https://acme.example.com", false).as_deref(),
        Ok("https://acme.example.com")
    );
    assert!(parse_https_origin("https://acme.example.com/x", false).is_err());
    assert!(parse_https_origin("http://acme.localhost:8787", false).is_err());
    assert_eq!(
        parse_https_origin("http://acme.localhost:8787", true).as_deref(),
        Ok("http://acme.localhost:8787")
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_strings_never_panic(s in proptest::prelude::any::<String>()) {
        for field in ["okta_domain", "portal_url", "redirect_uri", "handoff_path", "client_secret"] {
            for ctx in [&PROD, &DEV] {
                let _ = parse(json!({ field: s.clone(), "custom_domains": [s.clone()] }), ctx);
            }
        }
        let _ = RawTenantConfig::from_json(s.as_bytes());
    }
}

/// A raw body from a JSON object literal.
fn raw(v: Value) -> RawTenantConfig {
    RawTenantConfig(v.as_object().cloned().unwrap_or_default())
}

#[test]
fn id_in_a_put_body_must_be_the_path_id() {
    assert_eq!(raw(json!({})).id_conflict("acme"), None);
    assert_eq!(raw(json!({"id": null})).id_conflict("acme"), None);
    assert_eq!(raw(json!({"id": "acme"})).id_conflict("acme"), None);
    for other in [json!("beta"), json!("ACME"), json!(1), json!(["acme"])] {
        let e = raw(json!({ "id": other })).id_conflict("acme");
        assert_eq!(e.map(|e| e.field), Some("id".to_string()), "{other}");
    }
}

#[test]
fn client_secret_counts_as_given_unless_absent_or_null() {
    assert!(!raw(json!({})).has_client_secret());
    assert!(!raw(json!({"client_secret": null})).has_client_secret());
    assert!(raw(json!({"client_secret": ""})).has_client_secret());
    assert!(raw(json!({"client_secret": "s"})).has_client_secret());
}

#[test]
fn dns_names() {
    let long = format!("{}.example", vec!["a".repeat(63); 4].join("."));
    assert!(long.len() > 253);
    for good in [
        "example.com",
        "a-b.example",
        "localhost",
        "acme.localhost",
        "127.0.0.1",
        "x",
    ] {
        assert!(is_dns_name(good), "{good}");
    }
    let label64 = format!("{}.example", "a".repeat(64));
    for bad in [
        "",
        "a..b",
        "example.com.",
        "-a.example",
        "a-.example",
        "A.example",
        "a_b.example",
        "a;b.example",
        "a,b",
        "*.example",
        "a'b",
        "[::1]",
        &long,
        &label64,
    ] {
        assert!(!is_dns_name(bad), "{bad}");
    }
}

// The fields SPEC rev 3 added: the app, step-up, groups and domain gates, settings admins.
mod rev3;
