use super::*;

const NONCE: &str = "dGVzdC1ub25jZS0xMjM0NTY";

pub(super) fn header<'a>(page: &'a Page, name: &str) -> &'a str {
    page.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("missing header {name}"))
}

fn login(sso: Option<&'static str>, password: Option<&'static str>) -> Page {
    login_page(
        &LoginPage {
            tenant: "acme",
            button_label: "Sign in with Corporate Account",
            sso_href: sso,
            password_href: password,
        },
        NONCE,
    )
}

/// Whether any ` on…=` attribute appears, the shape of an inline event handler.
fn has_event_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(i, _)| {
        let rest = &html[i + 3..];
        let name_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        name_len > 0 && rest[name_len..].starts_with('=')
    })
}

fn all_problems() -> Vec<(Problem, u16)> {
    use Problem::*;
    vec![
        (ExpiredLink, 400),
        (CsrfMismatch, 400),
        (AccessDenied { description: None }, 400),
        (
            IdpError {
                error: "invalid_scope".into(),
                description: None,
            },
            400,
        ),
        (IssuerMismatch, 400),
        (TokenRejected, 400),
        (IdpUnavailable, 502),
        (IdpTimeout, 504),
        (VerificationFailed, 502),
        (NoEmail, 502),
        (EmailUnverified, 403),
        (ProvisioningPending, 503),
        (ProvisioningRefused, 403),
        (SsoDisabled, 404),
        (NotFound, 404),
        (MethodNotAllowed, 405),
        (TooLarge, 413),
        (UriTooLong, 414),
        (BadRequest, 400),
        (UnknownState, 400),
        (Misconfigured, 503),
    ]
}

fn handoff() -> Page {
    handoff_page(
        "https://portal.example.com/sso/assertion?x=1&y=2",
        "aaa.bbb.ccc",
        NONCE,
    )
}

#[test]
fn escape_covers_the_five_characters() {
    assert_eq!(
        html_escape(r#"<a href="x" title='y'>&</a>"#),
        "&lt;a href=&quot;x&quot; title=&#x27;y&#x27;&gt;&amp;&lt;/a&gt;"
    );
    assert_eq!(html_escape("plain ü text"), "plain ü text");
}

#[test]
fn text_escape_leaves_quotes_for_element_content() {
    assert_eq!(
        text_escape(r#"<b>"it's" & more</b>"#),
        "&lt;b&gt;\"it's\" &amp; more&lt;/b&gt;"
    );
}

#[test]
fn button_label_is_escaped() {
    let page = login_page(
        &LoginPage {
            tenant: "<b>acme</b>",
            button_label: "<script>alert(1)</script>",
            sso_href: Some("/login/sso?return_to=%2Fx&portal_state=a\"b"),
            password_href: Some("https://portal.example.com/login"),
        },
        NONCE,
    );
    assert!(!page.html.contains("<script"));
    assert!(!page.html.contains("<b>acme"));
    assert!(page.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page
        .html
        .contains("href=\"/login/sso?return_to=%2Fx&amp;portal_state=a&quot;b\""));
}

#[test]
fn login_page_offers_sso_and_password() {
    let page = login(Some("/login/sso"), Some("https://portal.example.com/login"));
    assert_eq!(page.status, 200);
    assert!(page.html.contains("<h1>Sign in</h1>"));
    assert!(page.html.contains("<strong>acme</strong>"));
    assert!(page
        .html
        .contains("href=\"/login/sso\">Sign in with Corporate Account</a>"));
    assert!(page
        .html
        .contains("href=\"https://portal.example.com/login\">Use your password"));
    assert!(page.html.contains("<html lang=\"en\">"));
}

#[test]
fn login_page_without_password_or_sso() {
    let sso_only = login(Some("/login/sso"), None);
    assert!(!sso_only.html.contains("password"));
    let password_only = login(None, Some("https://portal.example.com/login"));
    assert!(!password_only.html.contains("Corporate Account"));
    assert!(password_only.html.contains("Use your password to sign in"));
    let neither = login(None, None);
    assert!(!neither.html.contains("class=\"button"));
}

#[test]
fn unsafe_hrefs_are_left_out() {
    for bad in [
        "javascript:alert(1)",
        "//evil.example/x",
        "data:text/html,x",
        "/\\evil",
        "/a\nb",
    ] {
        assert!(safe_href(bad).is_none(), "{bad}");
        let page = problem_page(&Problem::ExpiredLink, Some(bad), NONCE);
        assert!(!page.html.contains("Start again</a>"), "{bad}");
    }
    assert!(safe_href("/login?return_to=%2Fa").is_some());
    assert!(safe_href("http://acme.localhost:8787/login").is_some());
}

#[test]
fn every_problem_has_its_status_and_no_script() {
    for (problem, status) in all_problems() {
        let page = problem_page(&problem, Some("/login"), NONCE);
        assert_eq!(page.status, status, "{problem:?}");
        assert_eq!(problem.status(), status, "{problem:?}");
        assert!(!page.html.contains("<script"), "{problem:?}");
        assert!(page.html.contains("<h1>"), "{problem:?}");
        assert!(
            page.html.contains("href=\"/login\">Start again</a>"),
            "{problem:?}"
        );
        assert!(!header(&page, "Content-Security-Policy").contains("script-src"));
    }
}

#[test]
fn idp_description_is_escaped_and_capped() {
    let problem = Problem::IdpError {
        error: "invalid_request\"<x>".into(),
        description: Some(format!("bad \"thing\" <img src=x> {}", "z".repeat(500))),
    };
    let page = problem_page(&problem, None, NONCE);
    assert_eq!(page.status, 400);
    assert!(page
        .html
        .contains("bad &quot;thing&quot; &lt;img src=x&gt;"));
    assert!(page.html.contains("invalid_request&quot;&lt;x&gt;"));
    assert!(!page.html.contains("<img"));
    assert!(!page.html.contains(&"z".repeat(300)));
    assert!(page.html.contains("z\u{2026}</p>"));
    assert!(!page.html.contains("Start again</a>"));
}

#[test]
fn access_denied_says_ask_your_administrator() {
    let expected =
        "your account is not assigned to this application \u{2014} ask your administrator";
    let direct = Problem::AccessDenied {
        description: Some("User is not assigned".into()),
    };
    let page = problem_page(&direct, None, NONCE);
    assert!(page.html.contains(expected));
    assert!(page.html.contains("User is not assigned"));
    let via_error = Problem::IdpError {
        error: "access_denied".into(),
        description: None,
    };
    let page = problem_page(&via_error, None, NONCE);
    assert!(page.html.contains(expected));
    assert!(!page.html.contains("class=\"detail\""));
}

#[test]
fn spec_sentences_are_used() {
    // SPEC.md's words, exactly as it writes them (straight apostrophe, em dashes, lower case):
    // a member, a support desk or a test looking for them finds them verbatim.
    let cases = [
        (
            Problem::VerificationFailed,
            "your identity provider's answer could not be verified",
        ),
        (
            Problem::ProvisioningPending,
            "we could not finish setting up your account \u{2014} try again in a minute",
        ),
        (Problem::UnknownState, "Start again from your portal."),
        (
            Problem::ExpiredLink,
            "this sign-in link has expired \u{2014} start again",
        ),
        (
            Problem::AccessDenied { description: None },
            "your account is not assigned to this application \u{2014} ask your administrator",
        ),
    ];
    for (problem, sentence) in cases {
        let html = problem_page(&problem, None, NONCE).html;
        assert!(html.contains(sentence), "{problem:?}");
    }
    let pending = problem_page(&Problem::ProvisioningPending, None, NONCE);
    assert_eq!(header(&pending, "Retry-After"), "60");
}

#[test]
fn csp_is_strict() {
    let policy = csp(NONCE, false, &[]);
    assert_eq!(
        policy,
        "default-src 'none'; style-src 'nonce-dGVzdC1ub25jZS0xMjM0NTY'; form-action 'none'; \
         base-uri 'none'; frame-ancestors 'none'"
    );
    let with_script = csp(NONCE, true, &["'self'", "https://p.example"]);
    assert!(with_script.contains("script-src 'nonce-dGVzdC1ub25jZS0xMjM0NTY';"));
    assert!(with_script.contains("form-action 'self' https://p.example;"));
    for policy in [policy, with_script] {
        assert!(!policy.contains("unsafe"));
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}

#[test]
fn every_page_carries_the_security_headers() {
    let mut pages = vec![
        (login(Some("/login/sso"), None), "no-referrer"),
        (handoff(), "strict-origin"),
        (signed_out_page(None, NONCE), "no-referrer"),
        (
            continue_to_app_page("a@b.c", "id", "csrf", None, NONCE),
            "no-referrer",
        ),
    ];
    pages.push((problem_page(&Problem::NotFound, None, NONCE), "no-referrer"));
    for (page, referrer) in pages {
        assert_eq!(header(&page, "Content-Type"), "text/html; charset=utf-8");
        assert_eq!(header(&page, "X-Content-Type-Options"), "nosniff");
        assert_eq!(header(&page, "Referrer-Policy"), referrer);
        assert_eq!(
            page.headers
                .iter()
                .filter(|(k, _)| *k == "Referrer-Policy")
                .count(),
            1
        );
        assert_eq!(header(&page, "X-Frame-Options"), "DENY");
        assert_eq!(header(&page, "Cache-Control"), "no-store");
        let policy = header(&page, "Content-Security-Policy");
        assert!(policy.contains(&format!("style-src 'nonce-{NONCE}'")));
        assert!(page.html.contains(&format!("<style nonce=\"{NONCE}\">")));
        assert!(!has_event_handler(&page.html), "no inline event handler");
        assert!(!page.html.contains("style=\""));
    }
}

#[test]
fn handoff_posts_the_assertion_to_the_portal() {
    let page = handoff();
    assert_eq!(page.status, 200);
    assert!(page.html.contains(
        "<form method=\"post\" action=\"https://portal.example.com/sso/assertion?x=1&amp;y=2\">"
    ));
    assert!(page
        .html
        .contains("<input type=\"hidden\" name=\"assertion\" value=\"aaa.bbb.ccc\">"));
    assert!(page
        .html
        .contains("<button class=\"button primary\" type=\"submit\">Continue</button>"));
    assert_eq!(page.html.matches("<script").count(), 1);
    assert!(page.html.contains(&format!(
        "<script nonce=\"{NONCE}\">document.forms[0].submit()</script>"
    )));
    let policy = header(&page, "Content-Security-Policy");
    assert!(policy.contains(&format!("script-src 'nonce-{NONCE}';")));
    assert!(policy.contains("form-action https://portal.example.com;"));
}

#[test]
fn handoff_origin_keeps_port_and_escapes_values() {
    let page = handoff_page(
        "http://acme.localhost:3000/sso/assertion",
        "a\"><script>",
        NONCE,
    );
    let policy = header(&page, "Content-Security-Policy");
    assert!(policy.contains("form-action http://acme.localhost:3000;"));
    assert!(page.html.contains("value=\"a&quot;&gt;&lt;script&gt;\""));
    assert_eq!(page.html.matches("<script").count(), 1);
}

#[test]
fn handoff_refuses_a_non_web_action() {
    for bad in ["javascript:alert(1)", "not a url", "data:text/html,x"] {
        let page = handoff_page(bad, "aaa.bbb.ccc", NONCE);
        assert_eq!(page.status, 503, "{bad}");
        assert!(!page.html.contains("<script"));
        assert!(!page.html.contains("aaa.bbb.ccc"));
    }
}

#[test]
fn signed_out_page_links_back_when_it_can() {
    let page = signed_out_page(Some("https://portal.example.com"), NONCE);
    assert_eq!(page.status, 200);
    assert!(page.html.contains("You are signed out"));
    assert!(page.html.contains("you are signed out"));
    assert!(page
        .html
        .contains("href=\"https://portal.example.com\">Back to your portal</a>"));
    let bare = signed_out_page(None, NONCE);
    assert!(!bare.html.contains("<a "));
    assert!(!header(&bare, "Content-Security-Policy").contains("script-src"));
}

/// The portal's handoff page, built from the stored origin without parsing a URL, is the same
/// page as the one built by parsing the full action URL.
#[test]
fn portal_handoff_page_matches_the_parsed_one() {
    for (origin, path) in [
        ("https://portal.example.com", "/sso/assertion"),
        ("http://acme.localhost:3000", "/sso/assertion?x=1&y=2"),
        ("http://127.0.0.1:45678", "/sso/assertion"),
        ("http://[::1]:8080", "/sso"),
        ("https://[2001:db8::1]", "/handoff"),
        ("https://xn--bcher-kva.example", "/a/b"),
    ] {
        let action = format!("{origin}{path}");
        let parsed = handoff_page(&action, "a\"><b>", NONCE);
        let direct = portal_handoff_page(origin, path, "a\"><b>", NONCE);
        assert_eq!(parsed.status, 200, "{origin}");
        assert_eq!(direct.status, parsed.status, "{origin}");
        assert_eq!(direct.html, parsed.html, "{origin}");
        assert_eq!(direct.headers, parsed.headers, "{origin}");
    }
}

#[test]
fn portal_handoff_page_refuses_what_is_not_an_origin() {
    for bad in [
        "javascript:alert(1)",
        "ftp://portal.example.com",
        "https://",
        "https://a@b",
        "portal.example.com",
    ] {
        let page = portal_handoff_page(bad, "/sso", "aaa.bbb.ccc", NONCE);
        assert_eq!(page.status, 503, "{bad}");
        assert!(!page.html.contains("aaa.bbb.ccc"), "{bad}");
    }
}

#[test]
fn continue_page_escapes_and_posts_to_itself() {
    let page = continue_to_app_page("<b>@x.io", "id\"1", "c<s", Some("com.example.app:"), NONCE);
    assert!(page.html.contains("Continue to the app as &lt;b&gt;@x.io?"));
    assert!(page.html.contains("name=\"continue\" value=\"id&quot;1\""));
    assert!(page.html.contains("name=\"csrf\" value=\"c&lt;s\""));
    assert!(page.html.contains("action=\"/app/continue\""));
    let policy = header(&page, "Content-Security-Policy");
    assert!(
        policy.contains("form-action 'self' com.example.app:;"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"));
    assert!(!page.html.contains("<script"));
}

#[test]
fn rev3_problem_pages_say_spec_words() {
    let p = problem_page(
        &Problem::RequirementsNotMet {
            tenant: "acme".into(),
        },
        Some("/login"),
        NONCE,
    );
    assert_eq!(p.status, 403);
    assert!(p
        .html
        .contains("this sign-in did not meet acme's security requirements \u{2014} sign in again"));
    let p = problem_page(
        &Problem::NotAllowed {
            tenant: "acme".into(),
        },
        None,
        NONCE,
    );
    assert_eq!(p.status, 403);
    assert!(p.html.contains(
        "your account is not allowed to sign in to acme \u{2014} ask your administrator"
    ));
    let p = problem_page(&Problem::RateLimited, None, NONCE);
    assert_eq!(p.status, 429);
    assert_eq!(header(&p, "Retry-After"), "60");
    for (problem, status) in [
        (Problem::StepUpInvalid, 400),
        (Problem::NotForThisPortal, 400),
        (Problem::AppLinkInvalid, 400),
    ] {
        assert_eq!(problem_page(&problem, None, NONCE).status, status);
    }
}
