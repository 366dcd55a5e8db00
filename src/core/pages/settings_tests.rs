//! The settings pages: the shell's headers, escaping of everything an operator typed, and
//! the form's parts (errors by their fields, the secret never echoed, staff-only fields).

use super::tests::header;
use super::*;
use crate::core::settings::form::{display_values, Source, Submitted};

const NONCE: &str = "dGVzdC1ub25jZS0xMjM0NTY";
const EVIL: &str = "<script>alert(1)</script>\"'&";

fn staff() -> Viewer<'static> {
    Viewer {
        who: "Platform staff",
        sign_out_csrf: Some("csrf-1"),
    }
}

fn assert_settings_headers(page: &Page) {
    assert_eq!(header(page, "Referrer-Policy"), "same-origin");
    assert_eq!(header(page, "Cache-Control"), "no-store");
    let policy = header(page, "Content-Security-Policy");
    assert!(policy.contains("frame-ancestors 'none'") && policy.contains("form-action 'self'"));
    assert!(!policy.contains("unsafe"));
    assert!(!page.html.contains(EVIL), "raw operator input in the page");
}

#[test]
fn every_settings_page_has_the_shell_headers() {
    let rows = [TenantRow {
        id: "acme",
        okta_domain: EVIL,
        enabled: true,
        button_label: EVIL,
    }];
    let pages = [
        sign_in_page(Some(EVIL), 401, NONCE),
        list_page(&staff(), &rows, true, Some(&Notice::Info(EVIL)), NONCE),
        delete_page(&staff(), "acme", "csrf-1", NONCE),
        settings_problem_page(403, EVIL, EVIL, NONCE),
    ];
    for page in &pages {
        assert_settings_headers(page);
    }
    assert!(pages[1]
        .html
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;"));
    assert!(pages[1].html.contains("href=\"/settings/new\""));
    assert_eq!(pages[0].status, 401);
}

fn typed(pairs: &[(&str, &str)]) -> Submitted {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    Submitted::parse(s.finish().as_bytes())
}

#[test]
fn a_refused_form_keeps_what_was_typed_shows_errors_by_field_and_never_the_secret() {
    let form = typed(&[
        ("okta_domain", EVIL),
        ("client_secret", "typed-secret-value"),
        ("sign_in_button_label", EVIL),
        ("allowed_groups", EVIL),
    ]);
    let values = display_values(&Source::Typed(&form));
    let errors = vec![
        (Some("okta_domain"), format!("bad {EVIL}")),
        (None, "must be the tenant id".to_string()),
    ];
    let viewer = staff();
    let page = tenant_form_page(
        &TenantForm {
            viewer: &viewer,
            csrf: "csrf-1",
            id: None,
            typed_id: EVIL,
            values: &values,
            errors: &errors,
            staff: true,
            setup: None,
            notice: None,
            new_webhook_secret: None,
            check: None,
            status: 422,
        },
        NONCE,
    );
    assert_settings_headers(&page);
    assert_eq!(page.status, 422);
    assert!(!page.html.contains("typed-secret-value"));
    assert!(page.html.contains("id=\"okta_domain-error\""));
    assert!(page
        .html
        .contains("aria-invalid=\"true\" aria-describedby=\"okta_domain-error okta_domain-help\""));
    assert!(page.html.contains("id=\"id-error\">must be the tenant id"));
    assert!(page.html.contains("name=\"id\" type=\"text\" value=\"&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;\" aria-invalid=\"true\" aria-describedby=\"id-error id-help\""));
    assert!(page.html.contains("name=\"csrf\" value=\"csrf-1\""));
    // The seed's labels and help, word for word.
    for words in [
        ">Okta domain<",
        "Enter the domain without https://",
        ">IdP ID<",
        ">Client ID<",
        ">Client secret<",
        "Leave empty to keep the current secret.",
        ">Sign in button label<",
        ">Create new users if they don&#x27;t exist<",
        ">Prevent users from using their password to log in<",
        ">Okta integration<",
        "<summary>Advanced</summary>",
    ] {
        assert!(page.html.contains(words), "{words}");
    }
    assert!(
        page.html.contains("name=\"custom_domains\""),
        "staff see the staff-only fields"
    );
}

#[test]
fn an_admins_form_has_no_staff_only_fields_and_no_staff_actions() {
    let values = display_values(&Source::New);
    let viewer = Viewer {
        who: "ada@example.com",
        sign_out_csrf: None,
    };
    let setup = OktaSetup {
        sign_in_redirect_uri: "https://acme.example.com/authorization-code/callback".into(),
        sign_out_redirect_uri: "https://acme.example.com/login/logout".into(),
        initiate_login_uri: "https://acme.example.com/login/initiate".into(),
    };
    let check = CheckWords {
        ok: false,
        headline: "The connection test failed.".into(),
        lines: vec![format!("Problem: {EVIL}")],
    };
    let page = tenant_form_page(
        &TenantForm {
            viewer: &viewer,
            csrf: "c",
            id: Some("acme"),
            typed_id: "acme",
            values: &values,
            errors: &[],
            staff: false,
            setup: Some(&setup),
            notice: Some(Notice::Info("Saved.")),
            new_webhook_secret: None,
            check: Some(&check),
            status: 200,
        },
        NONCE,
    );
    assert_settings_headers(&page);
    for absent in [
        "name=\"custom_domains\"",
        "name=\"settings_admins\"",
        "webhook-secret\"",
        "/delete\"",
        "Sign out",
    ] {
        assert!(!page.html.contains(absent), "{absent}");
    }
    assert!(page
        .html
        .contains("id=\"initiate-login-uri\">https://acme.example.com/login/initiate<"));
    assert!(
        page.html
            .contains("data-copy=\"sign-in-redirect-uri\" hidden"),
        "copy buttons wait for the script"
    );
    assert!(page.html.contains("What to do in Okta"));
    assert!(page
        .html
        .contains("Redirect to app to initiate login (OIDC Compliant)"));
    assert!(page.html.contains("/settings/tenants/acme/check"));
    assert!(
        header(&page, "Content-Security-Policy").contains(&format!("script-src 'nonce-{NONCE}'"))
    );
}

#[test]
fn a_new_webhook_secret_is_shown_with_its_warning() {
    let values = display_values(&Source::New);
    let viewer = staff();
    let page = tenant_form_page(
        &TenantForm {
            viewer: &viewer,
            csrf: "c",
            id: Some("acme"),
            typed_id: "acme",
            values: &values,
            errors: &[],
            staff: true,
            setup: None,
            notice: None,
            new_webhook_secret: Some("whsec_abc"),
            check: None,
            status: 201,
        },
        NONCE,
    );
    assert!(page.html.contains("id=\"new-webhook-secret\">whsec_abc<"));
    assert!(page.html.contains("shown only this once"));
}
