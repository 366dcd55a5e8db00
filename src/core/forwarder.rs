//! Forwarder mode (SPEC "Forwarder mode"): a self-hosted portal's callback passes Okta's
//! answer on to the hosted tenant. This owns `FORWARD_TO` parsing and the `Location` values;
//! the edge only routes, checks sizes against [`MAX_CALLBACK_BYTES`] and answers 302/307.

use std::net::IpAddr;

use url::{form_urlencoded, Host, Url};

use crate::core::http::written_host_is_ascii;

#[cfg(test)]
mod tests;

/// Largest callback query (GET, else 414) or body (POST, else 413) passed on.
pub const MAX_CALLBACK_BYTES: usize = 8192;

const CALLBACK_PATH: &str = "/authorization-code/callback";

/// Why `FORWARD_TO` is unusable. Messages go into the 503's log line, so each says what is
/// wrong and what is expected; none repeats the value's user info.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardToError {
    #[error("FORWARD_TO is empty; expected an origin such as https://acme.example.com")]
    Empty,
    #[error("FORWARD_TO has no `scheme://`; expected an origin such as https://acme.example.com")]
    NoScheme,
    #[error("FORWARD_TO is not a valid URL: {0}")]
    Invalid(url::ParseError),
    #[error(
        "FORWARD_TO's host must be ASCII: use the xn-- form of an international name \
         (https://xn--bcher-kva.example, not https://bücher.example)"
    )]
    NotAscii,
    #[error("FORWARD_TO uses the `{0}` scheme; only https is allowed")]
    Scheme(String),
    #[error("FORWARD_TO uses http, which is allowed only when LOCAL_DEV is true")]
    HttpWithoutLocalDev,
    #[error(
        "FORWARD_TO uses http with host `{0}`; http is allowed only for loopback hosts \
         (127.0.0.1, localhost, *.localhost, [::1])"
    )]
    HttpNotLoopback(String),
    #[error(
        "FORWARD_TO host `{0}` is a loopback or IP-address host, allowed only when LOCAL_DEV \
         is true; use the tenant's host name"
    )]
    HostNotPublic(String),
    #[error("FORWARD_TO must not contain user info (`user:password@`)")]
    UserInfo,
    #[error("FORWARD_TO must be an origin without a path, but has path `{0}`")]
    Path(String),
    #[error("FORWARD_TO must not contain a query (`?…`)")]
    Query,
    #[error("FORWARD_TO must not contain a fragment (`#…`)")]
    Fragment,
}

/// The hosted tenant origin that callbacks are passed on to, known to be a valid origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTarget {
    origin: String,
}

impl ForwardTarget {
    /// `scheme://host[:port]`, no trailing slash; default ports left out, host lowercased.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Parses `FORWARD_TO`: an `https` origin (scheme, host, optional port; nothing but an
/// optional trailing `/` after it). `http` is accepted only with `local_dev` and a loopback
/// host; without `local_dev`, loopback and IP-address hosts are refused as everywhere else.
/// Surrounding whitespace (a pasted newline) is ignored.
pub fn parse_forward_to(raw: &str, local_dev: bool) -> Result<ForwardTarget, ForwardToError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(ForwardToError::Empty);
    }
    // `url` would read `https:host` as `https://host/`; demand the usual spelling.
    let (_, after_scheme) = raw.split_once("://").ok_or(ForwardToError::NoScheme)?;
    // No Unicode tables in the worker (Cargo.toml, idna_adapter): refused, not converted.
    if !written_host_is_ascii(raw) {
        return Err(ForwardToError::NotAscii);
    }
    let url = Url::parse(raw).map_err(ForwardToError::Invalid)?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(ForwardToError::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ForwardToError::UserInfo);
    }
    if url.query().is_some() {
        return Err(ForwardToError::Query);
    }
    if url.fragment().is_some() {
        return Err(ForwardToError::Fragment);
    }
    check_path(&url, after_scheme)?;
    // http(s) URLs always have a host; an empty one already failed to parse.
    let host = url
        .host()
        .ok_or(ForwardToError::Invalid(url::ParseError::EmptyHost))?;
    let loopback = is_loopback(&host);
    let public = !loopback && matches!(host, Host::Domain(_));
    match url.scheme() {
        "https" if public || local_dev => {}
        "https" => return Err(ForwardToError::HostNotPublic(host.to_string())),
        "http" if !local_dev => return Err(ForwardToError::HttpWithoutLocalDev),
        "http" if !loopback => return Err(ForwardToError::HttpNotLoopback(host.to_string())),
        _ => {} // http, LOCAL_DEV, loopback
    }
    Ok(ForwardTarget {
        origin: url.origin().ascii_serialization(),
    })
}

/// The parsed path must be `/`, and so must what was written: `url` quietly turns `/.`,
/// `\` or `/%2e` into `/`, which would hide a mistyped value.
fn check_path(url: &Url, after_scheme: &str) -> Result<(), ForwardToError> {
    if url.path() != "/" {
        return Err(ForwardToError::Path(url.path().to_owned()));
    }
    let written = after_scheme
        .find(['/', '\\'])
        .map_or("", |start| &after_scheme[start..]);
    if !written.is_empty() && written != "/" {
        return Err(ForwardToError::Path(written.to_owned()));
    }
    Ok(())
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => {
            let name = name.trim_end_matches('.');
            name == "localhost" || name.ends_with(".localhost")
        }
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// `Location` for a forwarded `GET`: the target's callback with every incoming query
/// parameter, in order. The query is parsed as `application/x-www-form-urlencoded` and
/// serialized again, so the result is correctly encoded whatever the browser sent (raw
/// spaces or non-ASCII, stray `%`). Empty `&&` segments carry no parameter and are dropped;
/// a bare `name` becomes `name=`; percent-decoded bytes that are not UTF-8 become U+FFFD
/// (OAuth values are ASCII).
pub fn forward_location(target: &ForwardTarget, raw_query: Option<&str>) -> String {
    let mut location = post_location(target);
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (name, value) in form_urlencoded::parse(raw_query.unwrap_or("").as_bytes()) {
        query.append_pair(&name, &value);
        any = true;
    }
    if any {
        location.push('?');
        location.push_str(&query.finish());
    }
    location
}

/// `Location` for a forwarded `POST` (`form_post`), answered with 307 so the browser
/// re-posts the body unchanged; nothing is carried in the URL.
pub fn post_location(target: &ForwardTarget) -> String {
    format!("{}{CALLBACK_PATH}", target.origin)
}
