//! Field rules for who may sign in and how (SPEC rev 3): the app's redirect URIs, step-up
//! (`acr_values`, scopes), groups and email-domain gates, and the settings page's admins.
//! Like `rules`, each turns one typed string into its stored form or a message.

use url::{Host, Url};

use super::rules::{is_dns_name, web_url};

type Rule<T> = Result<T, String>;

/// Scopes every authorize request carries already.
pub const BASE_SCOPES: [&str; 3] = ["openid", "email", "profile"];

pub const MAX_APP_REDIRECT_URIS: usize = 10;
pub const MAX_EXTRA_SCOPES: usize = 20;
pub const MAX_ALLOWED_GROUPS: usize = 100;
pub const MAX_ALLOWED_EMAIL_DOMAINS: usize = 100;
pub const MAX_SETTINGS_ADMINS: usize = 50;

/// An app's redirect URI, kept exactly as written (RFC 8252 §8.4: exact match): an `https`
/// URL (a universal link / app link), a private-use scheme in reverse-domain form (RFC 8252
/// §7.1: the scheme contains a `.`), or — under `LOCAL_DEV` only — `http` on a loopback IP
/// (§7.3). Never a fragment.
#[inline(never)]
pub fn app_redirect_uri(input: &str, local_dev: bool) -> Rule<String> {
    if input.len() > 512 {
        return Err("must be at most 512 characters".into());
    }
    if input
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err("must not contain spaces, backslashes or control characters".into());
    }
    if input.contains('#') {
        return Err("must not contain a fragment (#…)".into());
    }
    let typed_scheme = input.split(':').next().unwrap_or_default();
    let url = Url::parse(input).map_err(|_| {
        "must be an https:// URL or a private-use scheme URI such as \
         com.example.app:/oauth2redirect"
            .to_owned()
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user info (user@)".into());
    }
    match url.scheme() {
        "https" => {
            web_url(input, local_dev)?;
        }
        "http" => {
            let loopback_ip = match url.host() {
                Some(Host::Ipv4(ip)) => ip.is_loopback(),
                Some(Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            };
            if !local_dev || !loopback_ip {
                return Err(
                    "http is allowed only on a loopback IP (127.0.0.1 or [::1]) in local \
                     development"
                        .into(),
                );
            }
        }
        scheme if scheme.contains('.') => {
            if typed_scheme != scheme {
                return Err("the scheme must be written in lower case".into());
            }
        }
        _ => {
            return Err("a private-use scheme must be in reverse-domain form, e.g. \
                 com.example.app:/oauth2redirect"
                .into())
        }
    }
    Ok(input.to_owned())
}

/// The registered URI that `given` names, if any: byte for byte, except that a registered
/// `http` loopback URI matches any port (RFC 8252 §7.3; such URIs exist only under
/// `LOCAL_DEV`, the config refuses them otherwise).
pub fn find_app_redirect<'a>(registered: &'a [String], given: &str) -> Option<&'a str> {
    if let Some(exact) = registered.iter().find(|r| *r == given) {
        return Some(exact);
    }
    // Written exactly as the URL parser writes it back (no case, dot-segment or default-port
    // variants), an `http` loopback IP, then compared without its port.
    let portless = |s: &str| -> Option<String> {
        let mut url = Url::parse(s).ok()?;
        let loopback = match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            _ => false,
        };
        if url.as_str() != s || url.scheme() != "http" || !loopback || url.fragment().is_some() {
            return None;
        }
        url.set_port(None).ok()?;
        Some(url.into())
    };
    let given = portless(given)?;
    registered
        .iter()
        .find(|r| portless(r).as_deref() == Some(given.as_str()))
        .map(String::as_str)
}

/// `acr_values`, as `step_up` reads a request's.
pub fn acr_values(input: &str) -> Rule<String> {
    crate::core::step_up::parse_acr_values(input)
}

/// A scope token (RFC 6749 §3.3), not one of the scopes always sent.
#[inline(never)]
pub fn extra_scope(input: &str) -> Rule<String> {
    let token_char = |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
    if input.is_empty() || input.len() > 128 || !input.bytes().all(token_char) {
        return Err(
            "must be one scope: 1–128 printable ASCII characters, no spaces, \
                    quotes or backslashes"
                .into(),
        );
    }
    if BASE_SCOPES.contains(&input) {
        return Err(format!("{input} is always requested; leave it out"));
    }
    Ok(input.to_owned())
}

/// A claim name: 1–128 printable ASCII characters without spaces or quotes.
#[inline(never)]
pub fn claim_name(input: &str) -> Rule<String> {
    let ok = (1..=128).contains(&input.len())
        && input
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if ok {
        Ok(input.to_owned())
    } else {
        Err("must be a claim name: 1–128 printable ASCII characters, no spaces or quotes".into())
    }
}

/// A group name, matched exactly (case-sensitively) against the member's groups.
#[inline(never)]
pub fn group_name(input: &str) -> Rule<String> {
    if input.is_empty() || input.chars().count() > 256 {
        return Err("must be 1–256 characters".into());
    }
    if input.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(input.to_owned())
}

/// An email domain: a DNS name with a dot, stored in ASCII lower case (A-labels).
#[inline(never)]
pub fn email_domain(input: &str) -> Rule<String> {
    if input.starts_with('@') {
        return Err("enter the domain without @ (for example example.com)".into());
    }
    if !input.is_ascii() {
        return Err("must be ASCII (use the xn-- form of an international name)".into());
    }
    let lower = input.to_ascii_lowercase();
    if !is_dns_name(&lower) || !lower.contains('.') {
        return Err("must be a domain name such as example.com".into());
    }
    Ok(lower)
}

/// An email address as Cloudflare Access sends it: `local@domain`, no spaces, at most 254
/// characters. Kept as written; compared ASCII case-insensitively.
#[inline(never)]
pub fn admin_email(input: &str) -> Rule<String> {
    let bad = || Err("must be an email address such as ada@example.com".into());
    if input.len() > 254
        || input
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;\\".contains(c))
    {
        return bad();
    }
    let Some((local, domain)) = input.split_once('@') else {
        return bad();
    };
    if domain.contains('@') {
        return bad();
    }
    if local.is_empty() || !is_dns_name(&domain.to_ascii_lowercase()) || !domain.contains('.') {
        return bad();
    }
    Ok(input.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_redirect_uris_accept_the_three_kinds() {
        for ok in [
            "https://app.example.com/oauth2redirect",
            "https://app.example.com/cb?x=1",
            "com.example.passport:/oauth2redirect",
            "com.example.passport:/oauth2redirect?a=b",
            "com.example.passport://callback",
        ] {
            assert_eq!(app_redirect_uri(ok, false).as_deref(), Ok(ok));
        }
        assert!(app_redirect_uri("http://127.0.0.1/cb", true).is_ok());
        assert!(app_redirect_uri("http://127.0.0.1:9999/cb", true).is_ok());
        assert!(app_redirect_uri("http://[::1]/cb", true).is_ok());
    }

    #[test]
    fn app_redirect_uris_refuse_the_rest() {
        for (bad, dev) in [
            ("http://127.0.0.1/cb", false),
            ("http://localhost/cb", true),
            ("http://app.example.com/cb", true),
            ("https://app.example.com/cb#frag", false),
            ("https://app.example.com/cb#", false),
            ("passport:/cb", false),
            ("javascript:alert(1)", false),
            ("data:text/html,x", false),
            ("Com.Example.App:/cb", false),
            ("https://127.0.0.1/cb", false),
            ("https://user@app.example.com/cb", false),
            ("/relative", false),
            ("com.example.app:/a b", false),
            ("", false),
        ] {
            assert!(app_redirect_uri(bad, dev).is_err(), "{bad} (dev {dev})");
        }
        assert!(
            app_redirect_uri(&format!("https://a.example/{}", "x".repeat(500)), false).is_err()
        );
    }

    #[test]
    fn app_redirects_match_exactly() {
        let reg: Vec<String> = [
            "https://app.example.com/oauth2redirect",
            "com.example.passport:/oauth2redirect",
            "https://app.example.com/cb?tenant=acme",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert!(find_app_redirect(&reg, "com.example.passport:/oauth2redirect").is_some());
        assert!(find_app_redirect(&reg, "https://app.example.com/cb?tenant=acme").is_some());
        for near in [
            "https://app.example.com/oauth2redirect/",
            "https://app.example.com/oauth2redirect?x=1",
            "https://app.example.com/oauth2",
            "https://APP.example.com/oauth2redirect",
            "https://app.example.com/oauth2redirect#f",
            "http://app.example.com/oauth2redirect",
            "https://app.example.com:443/oauth2redirect",
            "com.example.passport:/oauth2redirect2",
            "COM.EXAMPLE.PASSPORT:/oauth2redirect",
            "https://app.example.com/cb?tenant=acme&x=1",
            "https://app.example.com/cb",
        ] {
            assert_eq!(find_app_redirect(&reg, near), None, "{near}");
        }
    }

    #[test]
    fn loopback_app_redirects_match_any_port() {
        let reg = vec!["http://127.0.0.1/cb".to_string()];
        assert_eq!(
            find_app_redirect(&reg, "http://127.0.0.1:51234/cb"),
            Some("http://127.0.0.1/cb")
        );
        assert!(find_app_redirect(&reg, "http://127.0.0.1/cb").is_some());
        for near in [
            "http://127.0.0.1:51234/cb2",
            "http://127.0.0.1:51234/cb?x=1",
            "http://127.0.0.1:51234/cb#f",
            "http://127.0.0.2:51234/cb",
            "http://localhost:51234/cb",
            "http://127.0.0.1:51234/a/../cb",
            "http://u@127.0.0.1:51234/cb",
            "https://127.0.0.1:51234/cb",
        ] {
            assert_eq!(find_app_redirect(&reg, near), None, "{near}");
        }
        // A non-loopback registration never matches another port.
        let https = vec!["https://app.example.com/cb".to_string()];
        assert_eq!(
            find_app_redirect(&https, "https://app.example.com:8443/cb"),
            None
        );
    }

    #[test]
    fn scopes_claims_groups_domains_emails() {
        assert_eq!(extra_scope("groups").as_deref(), Ok("groups"));
        assert_eq!(
            extra_scope("okta.users.read.self").as_deref(),
            Ok("okta.users.read.self")
        );
        for bad in ["", "a b", "a\"b", "a\\b", "openid", "email", "profile", "é"] {
            assert!(extra_scope(bad).is_err(), "{bad}");
        }
        assert!(claim_name("groups").is_ok());
        assert!(claim_name("https://example.com/claims/groups").is_ok());
        for bad in ["", "a b", "a\"", &"g".repeat(129)] {
            assert!(claim_name(bad).is_err(), "{bad}");
        }
        assert!(group_name("Members – Paris").is_ok());
        assert!(group_name("").is_err() && group_name("a\nb").is_err());
        assert_eq!(email_domain("Example.COM").as_deref(), Ok("example.com"));
        assert_eq!(
            email_domain("xn--bcher-kva.example").as_deref(),
            Ok("xn--bcher-kva.example")
        );
        for bad in [
            "@example.com",
            "bücher.example",
            "example",
            "exa mple.com",
            "example.com.",
            "*.example.com",
            "",
        ] {
            assert!(email_domain(bad).is_err(), "{bad}");
        }
        assert!(admin_email("Ada@Example.com").is_ok());
        for bad in [
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a da@example.com",
            "<a@b.c>",
            "a@b@c.com",
        ] {
            assert!(admin_email(bad).is_err(), "{bad}");
        }
    }
}
