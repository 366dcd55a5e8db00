use proptest::prelude::*;

use super::*;

fn target() -> ForwardTarget {
    parse_forward_to("https://acme.example.com", false).unwrap()
}

fn pairs_of(location: &str) -> Vec<(String, String)> {
    let url = Url::parse(location).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// --- parse_forward_to: accepted ---------------------------------------------------------

#[test]
fn https_origins_are_accepted_and_normalised() {
    let origin = |raw: &str| parse_forward_to(raw, false).map(|t| t.origin().to_owned());
    assert_eq!(
        origin("https://acme.example.com"),
        Ok("https://acme.example.com".into())
    );
    assert_eq!(
        origin("https://acme.example.com/"),
        Ok("https://acme.example.com".into())
    );
    assert_eq!(
        origin("HTTPS://ACME.Example.com:443/"),
        Ok("https://acme.example.com".into())
    );
    assert_eq!(
        origin("https://acme.example.com:8443"),
        Ok("https://acme.example.com:8443".into())
    );
    assert_eq!(
        origin(" https://acme.example.com\n"),
        Ok("https://acme.example.com".into())
    );
    assert_eq!(
        origin("https://xn--bcher-kva.example"),
        Ok("https://xn--bcher-kva.example".into())
    );
}

/// The worker carries no Unicode tables (Cargo.toml pins `idna_adapter` 1.0): an
/// international name must be written in its xn-- form, and the error says so.
#[test]
fn unicode_hosts_are_refused_with_the_xn_form_named() {
    for raw in [
        "https://bücher.example",
        "https://BÜCHER.example/",
        "https://acme.exampl\u{e9}",
    ] {
        let err = parse_forward_to(raw, false).unwrap_err();
        assert_eq!(err, ForwardToError::NotAscii, "{raw}");
        assert!(err.to_string().contains("xn--"), "{err}");
    }
}

#[test]
fn loopback_is_accepted_with_local_dev() {
    let origin = |raw: &str| parse_forward_to(raw, true).map(|t| t.origin().to_owned());
    assert_eq!(
        origin("http://acme.localhost:8787"),
        Ok("http://acme.localhost:8787".into())
    );
    assert_eq!(
        origin("http://localhost:8787/"),
        Ok("http://localhost:8787".into())
    );
    assert_eq!(
        origin("http://127.0.0.1:8787"),
        Ok("http://127.0.0.1:8787".into())
    );
    assert_eq!(origin("http://[::1]:8787"), Ok("http://[::1]:8787".into()));
    assert_eq!(
        origin("https://127.0.0.1:8443"),
        Ok("https://127.0.0.1:8443".into())
    );
    assert_eq!(
        origin("https://acme.example.com"),
        Ok("https://acme.example.com".into())
    );
}

// --- parse_forward_to: one test per error -----------------------------------------------

#[test]
fn empty_is_refused() {
    assert_eq!(parse_forward_to("", false), Err(ForwardToError::Empty));
    assert_eq!(parse_forward_to(" \n", true), Err(ForwardToError::Empty));
}

#[test]
fn missing_scheme_is_refused() {
    assert_eq!(
        parse_forward_to("acme.example.com", false),
        Err(ForwardToError::NoScheme)
    );
    assert_eq!(
        parse_forward_to("https:acme.example.com", false),
        Err(ForwardToError::NoScheme)
    );
    let err = parse_forward_to("acme.example.com", false).unwrap_err();
    assert!(err.to_string().contains("https://"));
}

#[test]
fn unparsable_url_is_refused() {
    for raw in [
        "https://",
        "https://exa mple.com",
        "https://acme.example.com:99999",
        "://x",
    ] {
        let result = parse_forward_to(raw, false);
        assert!(
            matches!(result, Err(ForwardToError::Invalid(_))),
            "{raw}: {result:?}"
        );
    }
}

#[test]
fn other_schemes_are_refused() {
    let result = parse_forward_to("ftp://acme.example.com", false);
    assert_eq!(result, Err(ForwardToError::Scheme("ftp".into())));
    let result = parse_forward_to("javascript://acme.example.com/", true);
    assert_eq!(result, Err(ForwardToError::Scheme("javascript".into())));
}

#[test]
fn http_is_refused_without_local_dev() {
    for raw in [
        "http://acme.example.com",
        "http://localhost:8787",
        "http://127.0.0.1",
    ] {
        assert_eq!(
            parse_forward_to(raw, false),
            Err(ForwardToError::HttpWithoutLocalDev)
        );
    }
}

#[test]
fn http_is_refused_for_other_hosts_even_in_local_dev() {
    let result = parse_forward_to("http://acme.example.com", true);
    assert_eq!(
        result,
        Err(ForwardToError::HttpNotLoopback("acme.example.com".into()))
    );
    let result = parse_forward_to("http://10.0.0.1:8787", true);
    assert_eq!(
        result,
        Err(ForwardToError::HttpNotLoopback("10.0.0.1".into()))
    );
    let result = parse_forward_to("http://localhost.example.com", true);
    assert!(matches!(result, Err(ForwardToError::HttpNotLoopback(_))));
}

#[test]
fn loopback_and_ip_hosts_are_refused_without_local_dev() {
    for (raw, host) in [
        ("https://127.0.0.1", "127.0.0.1"),
        ("https://10.1.2.3", "10.1.2.3"),
        ("https://[::1]", "[::1]"),
        ("https://localhost", "localhost"),
        ("https://acme.localhost:8787", "acme.localhost"),
    ] {
        let result = parse_forward_to(raw, false);
        assert_eq!(
            result,
            Err(ForwardToError::HostNotPublic(host.into())),
            "{raw}"
        );
    }
}

#[test]
fn user_info_is_refused_and_not_repeated() {
    for raw in [
        "https://user:hunter2@acme.example.com",
        "https://user@acme.example.com",
    ] {
        let err = parse_forward_to(raw, false).unwrap_err();
        assert_eq!(err, ForwardToError::UserInfo);
        assert!(!err.to_string().contains("hunter2"));
    }
}

#[test]
fn paths_are_refused_even_when_url_would_normalise_them() {
    for (raw, path) in [
        ("https://acme.example.com/x", "/x"),
        (
            "https://acme.example.com/authorization-code/callback",
            "/authorization-code/callback",
        ),
        ("https://acme.example.com//", "//"),
        ("https://acme.example.com/.", "/."),
        ("https://acme.example.com/%2e", "/%2e"),
        ("https://acme.example.com\\", "\\"),
        ("https://acme.example.com/./", "/./"),
    ] {
        let result = parse_forward_to(raw, false);
        assert_eq!(result, Err(ForwardToError::Path(path.into())), "{raw}");
    }
}

#[test]
fn query_is_refused() {
    for raw in ["https://acme.example.com/?a=1", "https://acme.example.com?"] {
        assert_eq!(
            parse_forward_to(raw, false),
            Err(ForwardToError::Query),
            "{raw}"
        );
    }
}

#[test]
fn fragment_is_refused() {
    for raw in ["https://acme.example.com#x", "https://acme.example.com/#"] {
        assert_eq!(
            parse_forward_to(raw, false),
            Err(ForwardToError::Fragment),
            "{raw}"
        );
    }
}

// --- locations --------------------------------------------------------------------------

#[test]
fn post_location_has_no_query() {
    assert_eq!(
        post_location(&target()),
        "https://acme.example.com/authorization-code/callback"
    );
    let local = parse_forward_to("http://acme.localhost:8787/", true).unwrap();
    assert_eq!(
        post_location(&local),
        "http://acme.localhost:8787/authorization-code/callback"
    );
}

#[test]
fn no_parameters_means_no_question_mark() {
    let bare = "https://acme.example.com/authorization-code/callback";
    assert_eq!(forward_location(&target(), None), bare);
    assert_eq!(forward_location(&target(), Some("")), bare);
    assert_eq!(forward_location(&target(), Some("&&")), bare);
}

#[test]
fn code_state_and_iss_pass_in_order() {
    let raw = "code=abc-123_x&state=s.t~u&iss=https%3A%2F%2Facme.okta.com%2Foauth2%2Fdefault";
    let location = forward_location(&target(), Some(raw));
    assert_eq!(
        location,
        "https://acme.example.com/authorization-code/callback?\
         code=abc-123_x&state=s.t%7Eu&iss=https%3A%2F%2Facme.okta.com%2Foauth2%2Fdefault"
    );
    let expected = [
        ("code", "abc-123_x"),
        ("state", "s.t~u"),
        ("iss", "https://acme.okta.com/oauth2/default"),
    ];
    assert_eq!(pairs_of(&location), owned(&expected));
}

#[test]
fn error_description_with_reserved_characters_survives() {
    let raw = "error=access_denied&error_description=Not%20assigned%20%26%20%23%201%2B1%3D2\
               &state=xyz";
    let location = forward_location(&target(), Some(raw));
    let expected = [
        ("error", "access_denied"),
        ("error_description", "Not assigned & # 1+1=2"),
        ("state", "xyz"),
    ];
    assert_eq!(pairs_of(&location), owned(&expected));
    assert!(!location.contains('#') && !location.contains(' '));
}

#[test]
fn unknown_and_repeated_parameters_are_kept() {
    let raw = "state=s&foo=bar&code=c&foo=baz&empty=&bare";
    let expected = [
        ("state", "s"),
        ("foo", "bar"),
        ("code", "c"),
        ("foo", "baz"),
        ("empty", ""),
        ("bare", ""),
    ];
    assert_eq!(
        pairs_of(&forward_location(&target(), Some(raw))),
        owned(&expected)
    );
}

#[test]
fn raw_characters_from_the_browser_are_encoded() {
    let raw = "error_description=a b\"<x>'é&state=%zz%";
    let location = forward_location(&target(), Some(raw));
    assert!(location.is_ascii());
    assert!(!location.contains(['"', '<', '>', '\'', ' ']));
    let expected = [("error_description", "a b\"<x>'é"), ("state", "%zz%")];
    assert_eq!(pairs_of(&location), owned(&expected));
}

// --- properties -------------------------------------------------------------------------

fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9&=#+% ?/;:@!$'()*,~._\\-\\[\\]\"<>\\\\é漢😀\u{0}\n\t]{0,12}",
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn every_parameter_arrives_unchanged_and_in_order(
        pairs in prop::collection::vec((tricky_text(), tricky_text()), 0..8)
    ) {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &pairs {
            query.append_pair(name, value);
        }
        let query = query.finish();
        let location = forward_location(&target(), Some(&query));
        prop_assert!(location.starts_with("https://acme.example.com/authorization-code/callback"));
        prop_assert_eq!(pairs_of(&location), pairs);
    }

    #[test]
    fn any_raw_query_yields_a_clean_location_with_the_same_meaning(raw in any::<String>()) {
        let location = forward_location(&target(), Some(&raw));
        let url = Url::parse(&location).unwrap();
        // Already in canonical form: nothing left for a URL parser to fix up.
        prop_assert_eq!(url.as_str(), location.as_str());
        prop_assert!(url.fragment().is_none());
        let meant: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        prop_assert_eq!(pairs_of(&location), meant);
    }
}
