//! Tenant identity and the Host header → tenant decision.
//!
//! `TenantId` can only hold a valid id, so nothing downstream re-checks it; `classify_host`
//! is the one place a raw Host is read (STYLE principle 7: resolve the tenant once).

use std::fmt;

/// A tenant id, `[a-z0-9][a-z0-9-]{0,62}` (SPEC "Tenants and hosts"). Not a secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

/// Why a string is not a tenant id; the edge answers 400 (admin API) or 404 (hosts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tenant id is 1–63 characters of a-z, 0-9 and '-', starting with a letter or digit")]
pub struct InvalidTenantId;

impl TenantId {
    pub const MAX_LEN: usize = 63;

    pub fn parse(raw: &str) -> Result<TenantId, InvalidTenantId> {
        let bytes = raw.as_bytes();
        let first_ok =
            matches!(bytes.first(), Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if first_ok && rest_ok && bytes.len() <= Self::MAX_LEN {
            Ok(TenantId(raw.to_owned()))
        } else {
            Err(InvalidTenantId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// What a request's Host names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// Exactly `BASE_DOMAIN`: admin API, shared callback, logout landing, JWKS, health.
    Apex,
    /// `{tenant}.{BASE_DOMAIN}` with a valid tenant id.
    Tenant(TenantId),
    /// Anything else, lowercased and without its port: the edge looks it up in the custom
    /// domain mappings and answers 404 when no tenant owns it.
    Other(String),
}

/// Classifies a Host header against `base_domain`; the port is ignored on both sides and
/// the comparison is case-insensitive.
///
/// Only one label may precede the base domain (`a.b.{base}` is `Other`, and so is a label
/// that is not a valid tenant id). A trailing dot is not stripped: `acme.{base}.` is a
/// different origin to a browser, so it is `Other` and, being under no mapping, a 404.
pub fn classify_host(host_header: &str, base_domain: &str) -> HostKind {
    let host = strip_port(host_header.trim()).to_ascii_lowercase();
    let base = strip_port(base_domain.trim()).to_ascii_lowercase();
    if base.is_empty() {
        return HostKind::Other(host);
    }
    if host == base {
        return HostKind::Apex;
    }
    let label = host
        .strip_suffix(base.as_str())
        .and_then(|rest| rest.strip_suffix('.'))
        .filter(|label| !label.contains('.'));
    match label.map(TenantId::parse) {
        Some(Ok(id)) => HostKind::Tenant(id),
        _ => HostKind::Other(host),
    }
}

/// `host[:port]` → `host`; a bracketed IPv6 literal keeps its brackets. A bare IPv6
/// address (several colons, no brackets) is not a `host:port` and is returned whole.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, _port)) if !name.contains(':') => name,
        _ => host,
    }
}

/// `scheme://host[:port]` of a request URL, read off the URL's own serialization (which drops
/// a default port, as an origin does) instead of building an `Origin` and serializing it anew
/// on every request. A URL with userinfo — workerd builds request URLs from the Host header,
/// so never in practice — or of another scheme gets the parsed origin.
pub fn request_origin(url: &url::Url) -> String {
    if url.username().is_empty()
        && url.password().is_none()
        && matches!(url.scheme(), "http" | "https")
    {
        url[..url::Position::AfterPort].to_string()
    } else {
        url.origin().ascii_serialization()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> HostKind {
        HostKind::Tenant(TenantId::parse(id).unwrap())
    }

    #[test]
    fn tenant_id_accepts_the_spec_pattern() {
        for ok in ["a", "0", "acme", "acme-2", "a-", "9lives", &"a".repeat(63)] {
            let id = TenantId::parse(ok).unwrap();
            assert_eq!(id.as_str(), ok);
            assert_eq!(id.to_string(), ok);
        }
    }

    #[test]
    fn tenant_id_refuses_everything_else() {
        let too_long = "a".repeat(64);
        for bad in [
            "", "-acme", "Acme", "ACME", "ac_me", "ac.me", "ac me", "acme\n", "é", "a/b",
            &too_long, "acme:1", " acme",
        ] {
            assert_eq!(TenantId::parse(bad), Err(InvalidTenantId), "{bad:?}");
        }
    }

    #[test]
    fn apex_with_and_without_port_and_case() {
        assert_eq!(classify_host("example.com", "example.com"), HostKind::Apex);
        assert_eq!(
            classify_host("EXAMPLE.com:443", "example.com"),
            HostKind::Apex
        );
        assert_eq!(classify_host("localhost:8787", "localhost"), HostKind::Apex);
        assert_eq!(classify_host("localhost", "localhost:8787"), HostKind::Apex);
    }

    #[test]
    fn tenant_subdomain() {
        assert_eq!(
            classify_host("acme.example.com", "example.com"),
            tenant("acme")
        );
        assert_eq!(
            classify_host("ACME.Example.COM:8443", "example.com"),
            tenant("acme")
        );
        assert_eq!(
            classify_host("acme.localhost:8787", "localhost"),
            tenant("acme")
        );
        assert_eq!(
            classify_host("acme-2.localhost", "LOCALHOST"),
            tenant("acme-2")
        );
    }

    #[test]
    fn deeper_or_invalid_labels_are_other() {
        let other = |s: &str| HostKind::Other(s.to_owned());
        assert_eq!(
            classify_host("a.b.example.com", "example.com"),
            other("a.b.example.com")
        );
        assert_eq!(
            classify_host("-x.example.com", "example.com"),
            other("-x.example.com")
        );
        assert_eq!(
            classify_host("a_b.example.com", "example.com"),
            other("a_b.example.com")
        );
        assert_eq!(
            classify_host(".example.com", "example.com"),
            other(".example.com")
        );
        let long = format!("{}.example.com", "a".repeat(64));
        assert_eq!(classify_host(&long, "example.com"), other(&long));
    }

    #[test]
    fn lookalikes_are_other_not_tenant() {
        let other = |s: &str| HostKind::Other(s.to_owned());
        // Suffix match must be on a label boundary.
        assert_eq!(
            classify_host("acmeexample.com", "example.com"),
            other("acmeexample.com")
        );
        assert_eq!(
            classify_host("example.com.evil", "example.com"),
            other("example.com.evil")
        );
        assert_eq!(
            classify_host("acme.example.com.", "example.com"),
            other("acme.example.com.")
        );
    }

    #[test]
    fn custom_domains_are_other_lowercased_without_port() {
        assert_eq!(
            classify_host("Portal.Acme-Coworking.COM:443", "example.com"),
            HostKind::Other("portal.acme-coworking.com".into())
        );
        assert_eq!(
            classify_host("  acme.example.test ", "localhost"),
            HostKind::Other("acme.example.test".into())
        );
    }

    #[test]
    fn ip_literals_do_not_panic() {
        for (host, want) in [
            ("[::1]:8787", "[::1]"),
            ("[::1]", "[::1]"),
            ("[::1", "[::1"),
            ("::1", "::1"),
            ("[", "["),
            ("]:", "]"),
            ("127.0.0.1:8787", "127.0.0.1"),
            ("", ""),
            (":", ""),
            ("é.example.com", "é.example.com"),
        ] {
            assert_eq!(
                classify_host(host, "localhost"),
                HostKind::Other(want.into()),
                "{host}"
            );
        }
    }

    #[test]
    fn empty_base_domain_never_matches() {
        assert_eq!(classify_host("", ""), HostKind::Other(String::new()));
        assert_eq!(classify_host("acme", ""), HostKind::Other("acme".into()));
    }

    proptest::proptest! {
        #[test]
        fn classify_never_panics(host in proptest::prelude::any::<String>()) {
            let _ = classify_host(&host, "example.com");
            let _ = classify_host("acme.example.com", &host);
        }
    }

    #[test]
    fn request_origin_is_the_origin() {
        for u in [
            "http://acme.localhost:8787/authorization-code/callback?code=x&state=y",
            "https://acme.members.example.com/login/sso",
            "https://acme.members.example.com:443/login",
            "http://127.0.0.1:80/x",
            "http://[::1]:8080/",
            "https://XN--BCHER-KVA.example/a#frag",
            "https://user:pw@acme.example.com/login",
        ] {
            let url = url::Url::parse(u).unwrap();
            assert_eq!(
                request_origin(&url),
                url.origin().ascii_serialization(),
                "{u}"
            );
        }
    }
}
