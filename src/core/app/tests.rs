use super::*;
use crate::core::member::AuthFacts;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn registered() -> Vec<String> {
    vec![
        "com.example.passport:/oauth2redirect".into(),
        "https://app.example.com/cb?tenant=acme".into(),
        "http://127.0.0.1/cb".into(),
    ]
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

fn good(redirect: &str) -> Vec<(&str, &str)> {
    vec![
        ("redirect_uri", redirect),
        ("state", "app-state.1~_"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

fn with(
    mut pairs: Vec<(&'static str, &'static str)>,
    k: &'static str,
    v: Option<&'static str>,
) -> String {
    pairs.retain(|(n, _)| *n != k);
    if let Some(v) = v {
        pairs.push((k, v));
    }
    query(&pairs)
}

const PRIVATE: &str = "com.example.passport:/oauth2redirect";

#[test]
fn a_good_request_parses() {
    let s = parse_app_login(&query(&good(PRIVATE)), &registered()).unwrap();
    assert_eq!(s.app.redirect_uri, PRIVATE);
    assert_eq!(s.app.state, "app-state.1~_");
    assert_eq!(s.app.code_challenge, CHALLENGE);
    assert_eq!((s.login_hint, s.prompt), (None, None));
    // A loopback registration matches any port, and the port is kept for the redirect.
    let s = parse_app_login(&query(&good("http://127.0.0.1:50123/cb")), &registered()).unwrap();
    assert_eq!(s.app.redirect_uri, "http://127.0.0.1:50123/cb");
    let mut p = good(PRIVATE);
    p.push(("login_hint", "ada@example.com"));
    p.push(("prompt", "login"));
    let s = parse_app_login(&query(&p), &registered()).unwrap();
    assert_eq!(s.login_hint.as_deref(), Some("ada@example.com"));
    assert_eq!(s.prompt.as_deref(), Some("login"));
}

#[test]
fn until_the_redirect_is_known_good_nothing_redirects() {
    for r in [
        None,
        Some(""),
        Some("com.example.passport:/oauth2redirect/x"),
        Some("com.example.passport:/oauth2"),
        Some("COM.EXAMPLE.PASSPORT:/oauth2redirect"),
        Some("com.example.passport:/oauth2redirect?x=1"),
        Some("com.example.passport:/oauth2redirect#f"),
        Some("https://app.example.com/cb"),
        Some("https://app.example.com/cb?tenant=acme&x=1"),
        Some("http://app.example.com/cb?tenant=acme"),
        Some("https://evil.example/cb"),
    ] {
        let q = with(good(PRIVATE), "redirect_uri", r);
        let err = parse_app_login(&q, &registered()).unwrap_err();
        assert!(
            matches!(
                err,
                AppStartError::MissingRedirect | AppStartError::UnregisteredRedirect
            ),
            "{r:?}: {err:?}"
        );
    }
    let twice = format!("{}&redirect_uri=x", query(&good(PRIVATE)));
    assert_eq!(
        parse_app_login(&twice, &registered()),
        Err(AppStartError::Repeated("redirect_uri"))
    );
}

fn invalid(q: &str) -> (Option<String>, &'static str) {
    match parse_app_login(q, &registered()) {
        Err(AppStartError::Invalid {
            redirect_uri,
            state,
            description,
        }) => {
            assert_eq!(redirect_uri, PRIVATE);
            (state, description)
        }
        other => panic!("{q}: {other:?}"),
    }
}

#[test]
fn after_the_redirect_is_good_problems_go_to_the_app() {
    let long = "s".repeat(257);
    let long: &'static str = Box::leak(long.into_boxed_str());
    for bad_state in [None, Some(""), Some("a b"), Some("<x>"), Some(long)] {
        let (state, _) = invalid(&with(good(PRIVATE), "state", bad_state));
        assert_eq!(state, None, "{bad_state:?}: a bad state is not echoed");
    }
    let short = &CHALLENGE[..42];
    let long_c: &'static str = Box::leak(format!("{CHALLENGE}A").into_boxed_str());
    for bad in [
        None,
        Some(short),
        Some(long_c),
        Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
        Some("!!!"),
    ] {
        let (state, d) = invalid(&with(good(PRIVATE), "code_challenge", bad));
        assert_eq!(state.as_deref(), Some("app-state.1~_"), "{bad:?}");
        assert!(d.contains("code_challenge"), "{d}");
    }
    for method in [None, Some("plain"), Some("s256"), Some("")] {
        let (state, d) = invalid(&with(good(PRIVATE), "code_challenge_method", method));
        assert_eq!(state.as_deref(), Some("app-state.1~_"));
        assert!(d.contains("S256"), "{method:?}: {d}");
    }
    let (_, d) = invalid(&with(good(PRIVATE), "prompt", Some("none")));
    assert!(d.contains("prompt"));
    let twice = format!("{}&state=other", query(&good(PRIVATE)));
    assert_eq!(invalid(&twice).0, None);
}

#[test]
fn redirects_to_the_app_add_to_its_own_query() {
    assert_eq!(
        app_redirect("com.example.app:/cb", &[("code", "c"), ("state", "s")]),
        "com.example.app:/cb?code=c&state=s"
    );
    assert_eq!(
        app_redirect("https://app.example.com/cb?tenant=acme", &[("code", "c d")]),
        "https://app.example.com/cb?tenant=acme&code=c+d"
    );
    let e = app_error_redirect(
        PRIVATE,
        "access_denied",
        "no & more",
        Some("s"),
        "https://acme.example.com",
    );
    assert_eq!(
        e,
        "com.example.passport:/oauth2redirect?error=access_denied&error_description=no+%26+more\
         &state=s&iss=https%3A%2F%2Facme.example.com"
    );
    assert!(!app_error_redirect(PRIVATE, "invalid_request", "x", None, "i").contains("state="));
}

#[test]
fn web_failures_map_to_oauth_errors() {
    let map = |p: Problem| app_error_for(&p).0;
    assert_eq!(
        map(Problem::AccessDenied { description: None }),
        "access_denied"
    );
    assert_eq!(
        map(Problem::IdpError {
            error: "login_required".into(),
            description: None
        }),
        "login_required"
    );
    assert_eq!(
        map(Problem::IdpError {
            error: "<script>".into(),
            description: None
        }),
        "server_error"
    );
    assert_eq!(map(Problem::EmailUnverified), "access_denied");
    assert_eq!(map(Problem::ProvisioningRefused), "access_denied");
    assert_eq!(map(Problem::ProvisioningPending), "temporarily_unavailable");
    assert_eq!(map(Problem::VerificationFailed), "server_error");
    assert_eq!(map(Problem::IssuerMismatch), "server_error");
    assert_eq!(map(Problem::TokenRejected), "server_error");
}

#[test]
fn only_https_app_links_skip_the_continue_step() {
    assert!(!needs_continue("https://app.example.com/cb"));
    assert!(needs_continue(PRIVATE));
    assert!(needs_continue("http://127.0.0.1:5000/cb"));
}

fn record() -> AppCodeRecord {
    AppCodeRecord {
        tenant: "acme".into(),
        iss: "https://acme.example.com".into(),
        aud: "https://portal.acme.com".into(),
        redirect_uri: PRIVATE.into(),
        code_challenge: CHALLENGE.into(),
        member: Member {
            sub: "u".into(),
            email: "a@b.c".into(),
            email_verified: Some(true),
            name: None,
            given_name: None,
            family_name: None,
            idp: None,
            groups: None,
            auth: AuthFacts::default(),
        },
        provisioned: false,
        expires_at: 1_000,
    }
}

fn form(pairs: &[(&str, &str)]) -> TokenForm {
    parse_token_form(query(pairs).as_bytes())
}

fn token_pairs<'a>(code: &'a str, redirect: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ]
}

#[test]
fn rfc7636_appendix_b_verifier_matches() {
    assert!(pkce_matches(VERIFIER, CHALLENGE));
    assert!(!pkce_matches(&VERIFIER.replace('d', "e"), CHALLENGE));
    assert!(!pkce_matches(VERIFIER, &CHALLENGE[..42]));
}

#[test]
fn a_good_redemption_passes_every_binding() {
    let f = form(&token_pairs("code1", PRIVATE, VERIFIER));
    assert_eq!(f.problem, None);
    assert_eq!(f.code.as_deref(), Some("code1"));
    assert_eq!(redeem(&record(), "acme", &registered(), &f, 999), Ok(()));
}

#[test]
fn each_binding_refuses_on_its_own() {
    let f = form(&token_pairs("code1", PRIVATE, VERIFIER));
    let grant = |r: Result<(), TokenRequestError>| r.unwrap_err().error();
    assert_eq!(
        grant(redeem(&record(), "beta", &registered(), &f, 999)),
        "invalid_grant"
    );
    assert_eq!(
        grant(redeem(&record(), "acme", &registered(), &f, 1_000)),
        "invalid_grant"
    );
    let other_redirect = form(&token_pairs(
        "code1",
        "https://app.example.com/cb?tenant=acme",
        VERIFIER,
    ));
    assert_eq!(
        grant(redeem(
            &record(),
            "acme",
            &registered(),
            &other_redirect,
            999
        )),
        "invalid_grant"
    );
    let wrong = "x".repeat(43);
    let wrong_verifier = form(&token_pairs("code1", PRIVATE, &wrong));
    assert_eq!(wrong_verifier.problem, None, "well-formed, just wrong");
    assert_eq!(
        grant(redeem(
            &record(),
            "acme",
            &registered(),
            &wrong_verifier,
            999
        )),
        "invalid_grant"
    );
}

#[test]
fn malformed_forms_are_invalid_request_but_still_name_their_code() {
    let short = "v".repeat(42);
    let long = "v".repeat(129);
    for (pairs, error) in [
        (token_pairs("c", PRIVATE, &short), "invalid_request"),
        (token_pairs("c", PRIVATE, &long), "invalid_request"),
        (
            token_pairs(
                "c",
                PRIVATE,
                "a b c d e f g h i j k l m n o p q r s t u v w",
            ),
            "invalid_request",
        ),
        (
            vec![
                ("code", "c"),
                ("redirect_uri", PRIVATE),
                ("code_verifier", VERIFIER),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("code", "c"),
                ("redirect_uri", PRIVATE),
                ("code_verifier", VERIFIER),
            ],
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "c"),
                ("code_verifier", VERIFIER),
            ],
            "invalid_request",
        ),
    ] {
        let f = form(&pairs);
        assert_eq!(
            f.problem.as_ref().map(|p| p.error()),
            Some(error),
            "{pairs:?}"
        );
        assert_eq!(f.code.as_deref(), Some("c"), "the attempt uses the code up");
    }
    let twice = format!("{}&code=d", query(&token_pairs("c", PRIVATE, VERIFIER)));
    assert_eq!(
        parse_token_form(twice.as_bytes())
            .problem
            .map(|p| p.error()),
        Some("invalid_request")
    );
    assert_eq!(form(&[("grant_type", "authorization_code")]).code, None);
    assert_eq!(parse_token_form(b"\xff\xfe=%%%").code, None);
    let body = TokenRequestError::UnsupportedGrantType.body();
    assert_eq!(body["error"], "unsupported_grant_type");
    assert!(body["error_description"].is_string());
}

#[test]
fn continue_csrf_is_bound_to_the_browser_and_the_member() {
    let t = continue_csrf("browser-1", "c1");
    assert_eq!(t, continue_csrf("browser-1", "c1"));
    assert_ne!(t, continue_csrf("browser-2", "c1"));
    assert_ne!(t, continue_csrf("browser-1", "c2"));
    assert_eq!(t.len(), 43);
}

#[test]
fn object_names_hide_the_code() {
    let n = code_object_name("the-code");
    assert_eq!(n.len(), 64);
    assert!(!n.contains("the-code"));
    assert_ne!(n, code_object_name("the-codf"));
}

#[test]
fn the_continue_form_may_post_on_to_the_app() {
    assert_eq!(
        continue_form_target(PRIVATE).as_deref(),
        Some("com.example.passport:")
    );
    assert_eq!(
        continue_form_target("http://127.0.0.1:51234/cb?x=1").as_deref(),
        Some("http://127.0.0.1:51234")
    );
    assert_eq!(
        continue_form_target("http://[::1]:5/cb").as_deref(),
        Some("http://[::1]:5")
    );
    assert_eq!(continue_form_target("not a uri"), None);
}

#[test]
fn a_redirect_uri_removed_since_stops_its_codes() {
    let f = form(&token_pairs("code1", PRIVATE, VERIFIER));
    let now_registered: Vec<String> = vec!["https://app.example.com/cb?tenant=acme".into()];
    assert!(!still_registered(&now_registered, PRIVATE));
    assert_eq!(
        redeem(&record(), "acme", &now_registered, &f, 999)
            .unwrap_err()
            .error(),
        "invalid_grant"
    );
    // A loopback one still matches on any port.
    assert!(still_registered(&registered(), "http://127.0.0.1:4000/cb"));
}

#[test]
fn token_forms_keep_their_secrets_out_of_debug() {
    let f = form(&token_pairs("the-code-value", PRIVATE, VERIFIER));
    let dump = format!("{f:?}");
    assert!(
        !dump.contains("the-code-value") && !dump.contains(VERIFIER),
        "{dump}"
    );
}
