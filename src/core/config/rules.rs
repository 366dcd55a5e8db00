//! Field rules for tenant config: each turns one admin-typed string into its stored form or
//! a message for the admin. Messages never repeat the value (it may be a secret).

use std::net::Ipv6Addr;

use url::{Host, Url};

use crate::core::http::written_host_is_ascii;
use crate::core::secret::ClientSecret;

type Rule<T> = Result<T, String>;

/// What a host turned out to be, before policy (local dev or not) is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostClass {
    Ip { loopback: bool },
    Name { loopback: bool, dotted: bool },
}

pub(super) fn okta_domain(input: &str, local_dev: bool) -> Rule<String> {
    let lower = input.to_ascii_lowercase();
    if lower.contains("://") || lower.starts_with("http:") || lower.starts_with("https:") {
        return Err("enter the domain without https:// (for example acme.okta.com)".into());
    }
    refuse_url_parts(input)?;
    let (host, port) = split_host_port(&lower)?;
    if port.is_some() && !local_dev {
        return Err("must not include a port (allowed only in local development)".into());
    }
    host_policy(typed_host(host)?, local_dev)?;
    Ok(lower)
}

pub(super) fn custom_domain(input: &str, base_domain: &str, local_dev: bool) -> Rule<String> {
    let lower = input.to_ascii_lowercase();
    if lower.contains("://") {
        return Err("enter the host name without https://".into());
    }
    refuse_url_parts(input)?;
    if lower.contains(':') {
        return Err("must be a host name without a port".into());
    }
    let class = typed_host(&lower)?;
    if matches!(class, HostClass::Ip { .. }) {
        return Err("must be a host name, not an IP address".into());
    }
    host_policy(class, local_dev)?;
    let base = base_domain
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if !base.is_empty() && (lower == base || lower.ends_with(&format!(".{base}"))) {
        return Err(format!("must not be {base} or a host under it"));
    }
    Ok(lower)
}

/// Okta ids (authorization server, identity provider): `[A-Za-z0-9_-]{1,128}`.
pub(super) fn okta_id(input: &str) -> Rule<String> {
    let ok = (1..=128).contains(&input.len())
        && input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(input.to_owned())
    } else {
        Err("must be 1–128 characters of A-Z, a-z, 0-9, '_' and '-'".into())
    }
}

pub(super) fn client_id(input: &str) -> Rule<String> {
    if input.is_empty() {
        return Err("must not be empty".into());
    }
    if input.len() > 256 {
        return Err("must be at most 256 characters".into());
    }
    if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    Ok(input.to_owned())
}

/// Leading or trailing blanks are refused rather than trimmed: they are a copy-paste slip
/// that would otherwise surface only as `invalid_client` at the first sign-in.
pub(super) fn client_secret(input: &str) -> Rule<ClientSecret> {
    if input.is_empty() {
        return Err("must not be empty".into());
    }
    if input.len() > 512 {
        return Err("must be at most 512 characters".into());
    }
    if input.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if input.trim() != input {
        return Err("must not start or end with spaces".into());
    }
    Ok(ClientSecret::new(input))
}

/// Stored trimmed; 1–64 characters (Unicode scalar values) after trimming.
pub(super) fn button_label(input: &str) -> Rule<String> {
    let label = input.trim();
    if label.is_empty() {
        return Err("must not be blank".into());
    }
    if label.chars().count() > 64 {
        return Err("must be at most 64 characters".into());
    }
    if label.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(label.to_owned())
}

pub(super) fn handoff_path(input: &str) -> Rule<String> {
    if !input.starts_with('/') || input.starts_with("//") {
        return Err("must be a path starting with a single /".into());
    }
    if input.len() > 256 {
        return Err("must be at most 256 characters".into());
    }
    if input.contains(['\\', '?', '#']) {
        return Err("must not contain \\, ? or #".into());
    }
    if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    Ok(input.to_owned())
}

/// An `https` origin (`http` on loopback only in local dev), stored as its ASCII
/// serialization without a trailing `/`. One trailing `/` in the input is tolerated; any
/// other path, a query, a fragment or user info is refused rather than silently dropped.
pub fn parse_https_origin(input: &str, local_dev: bool) -> Rule<String> {
    let url = web_url(input, local_dev)?;
    let after_scheme = input.split_once("://").map_or("", |(_, rest)| rest);
    let tail = after_scheme
        .find(['/', '?', '#'])
        .map_or("", |at| &after_scheme[at..]);
    if !(tail.is_empty() || tail == "/") || url.query().is_some() || url.fragment().is_some() {
        return Err("must be an origin only (scheme, host and port), without a path".into());
    }
    Ok(url.origin().ascii_serialization())
}

/// An absolute `https` URL with no fragment; stored as its WHATWG serialization.
pub(super) fn https_url(input: &str, local_dev: bool) -> Rule<String> {
    let url = web_url(input, local_dev)?;
    if url.fragment().is_some() {
        return Err("must not contain a fragment (#…)".into());
    }
    Ok(url.into())
}

/// Every host this worker (or its forwarder) runs on serves the callback at exactly this
/// path, so a redirect URI with any other path could never reach it; a query is refused
/// because the callback's own query carries `code` and `state`.
pub(super) fn redirect_uri(input: &str, local_dev: bool) -> Rule<String> {
    let url = web_url(input, local_dev)?;
    if url.path() != "/authorization-code/callback" {
        return Err(
            "must have the path /authorization-code/callback, which this worker serves".into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not contain a query or fragment".into());
    }
    Ok(url.into())
}

/// True for `localhost`, `*.localhost`, 127.0.0.0/8 and `[::1]`, with or without a port.
pub fn is_loopback_host(authority: &str) -> bool {
    let lower = authority.to_ascii_lowercase();
    let Ok((host, _)) = split_host_port(&lower) else {
        return false;
    };
    matches!(
        typed_host(host),
        Ok(HostClass::Ip { loopback: true } | HostClass::Name { loopback: true, .. })
    )
}

const NOT_ASCII: &str = "must be ASCII (use the xn-- form of an international name)";

pub(super) fn web_url(input: &str, local_dev: bool) -> Rule<Url> {
    if input
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err("must not contain spaces, backslashes or control characters".into());
    }
    // No Unicode tables in the worker (Cargo.toml, idna_adapter): refused as in `typed_host`.
    if !written_host_is_ascii(input) {
        return Err(format!("host {NOT_ASCII}"));
    }
    let url = Url::parse(input).map_err(|_| "must be an absolute https:// URL".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user info (user@)".into());
    }
    let class = match url.host() {
        Some(Host::Domain(name)) if !is_dns_name(name) => {
            return Err(
                "has an invalid host name (letters, digits, hyphens and dots; \
                        at most 253 characters; no trailing dot)"
                    .into(),
            )
        }
        Some(Host::Domain(name)) => name_class(name),
        Some(Host::Ipv4(ip)) => HostClass::Ip {
            loopback: ip.is_loopback(),
        },
        Some(Host::Ipv6(ip)) => HostClass::Ip {
            loopback: ip.is_loopback(),
        },
        None => return Err("must be an absolute https:// URL".into()),
    };
    let loopback = matches!(
        class,
        HostClass::Ip { loopback: true } | HostClass::Name { loopback: true, .. }
    );
    match url.scheme() {
        "https" => {}
        "http" if local_dev && loopback => {}
        "http" if local_dev => return Err("http is allowed only on loopback hosts".into()),
        _ => return Err("must be an https:// URL".into()),
    }
    host_policy(class, local_dev)?;
    Ok(url)
}

/// Outside local dev only public-looking host names pass: no IP literal (which covers
/// loopback and private ranges), no `localhost`, no single-label intranet name.
fn host_policy(class: HostClass, local_dev: bool) -> Rule<()> {
    if local_dev {
        return Ok(());
    }
    match class {
        HostClass::Ip { .. } => Err("must be a host name, not an IP address".into()),
        HostClass::Name { loopback: true, .. } => {
            Err("must not be localhost (allowed only in local development)".into())
        }
        HostClass::Name { dotted: false, .. } => Err("must be a fully qualified host name".into()),
        HostClass::Name { .. } => Ok(()),
    }
}

fn name_class(name: &str) -> HostClass {
    HostClass::Name {
        loopback: name == "localhost" || name.ends_with(".localhost"),
        dotted: name.contains('.'),
    }
}

fn refuse_url_parts(input: &str) -> Rule<()> {
    if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    if input.contains('@') {
        return Err("must not contain user info (user@)".into());
    }
    if input.contains(['/', '\\']) {
        return Err("must be a host name only, without a path".into());
    }
    if input.contains('?') {
        return Err("must not contain a query (?…)".into());
    }
    if input.contains('#') {
        return Err("must not contain a fragment (#…)".into());
    }
    Ok(())
}

/// `host[:port]`, where host may be a bracketed IPv6 literal. Expects lowercase input.
fn split_host_port(input: &str) -> Rule<(&str, Option<u16>)> {
    let (host, port) = if input.starts_with('[') {
        let end = input.find(']').ok_or("is not a valid IPv6 address")?;
        match &input[end + 1..] {
            "" => (&input[..=end], None),
            rest => (
                &input[..=end],
                Some(rest.strip_prefix(':').ok_or("has an invalid port")?),
            ),
        }
    } else {
        match input.split_once(':') {
            None => (input, None),
            Some((_, rest)) if rest.contains(':') => {
                return Err("an IPv6 address must be written in brackets".into())
            }
            Some((host, port)) => (host, Some(port)),
        }
    };
    let port = match port {
        None => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err("has an invalid port".into()),
        },
        Some(_) => return Err("has an invalid port".into()),
    };
    Ok((host, port))
}

/// A lower-case DNS host name as this worker accepts one anywhere: at most 253 bytes, no
/// trailing dot, labels of 1–63 letters, digits and inner hyphens (RFC 1123). The WHATWG
/// host parser lets through `;`, `,`, `*`, `'`… which would break a CSP source or a cookie
/// domain, and names longer than DNS allows (a KV key has room for 512 bytes).
pub fn is_dns_name(host: &str) -> bool {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    host.len() <= 253 && !host.ends_with('.') && host.split('.').all(label_ok)
}

/// A host as an admin typed it: strict DNS label syntax, then the WHATWG host parser so
/// that numeric forms a browser reads as IPv4 (`127.1`, `0x7f.1`) count as IP literals.
fn typed_host(host: &str) -> Rule<HostClass> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| "is not a valid IPv6 address".to_owned())?;
        return Ok(HostClass::Ip {
            loopback: ip.is_loopback(),
        });
    }
    if host.is_empty() {
        return Err("must not be empty".into());
    }
    if !host.is_ascii() {
        return Err(NOT_ASCII.into());
    }
    if host.len() > 253 {
        return Err("must be at most 253 characters".into());
    }
    if host.ends_with('.') {
        return Err("must not end with a dot".into());
    }
    if !is_dns_name(host) {
        return Err("is not a valid host name".into());
    }
    match Host::parse(host) {
        Ok(Host::Domain(name)) => Ok(name_class(&name)),
        Ok(Host::Ipv4(ip)) => Ok(HostClass::Ip {
            loopback: ip.is_loopback(),
        }),
        Ok(Host::Ipv6(ip)) => Ok(HostClass::Ip {
            loopback: ip.is_loopback(),
        }),
        Err(_) => Err("is not a valid host name".into()),
    }
}
