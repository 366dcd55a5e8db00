//! Plain HTTP values: the core builds requests and parses responses; only the edge sends.

/// A request the core wants sent. The edge sends it with redirects off and a time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Time limit for the whole exchange, in milliseconds.
    pub timeout_ms: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl OutboundRequest {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: Method::Get,
            url: url.into(),
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
            timeout_ms: 10_000,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
}

/// A response as the edge received it (a 3xx is returned as is, never followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl InboundResponse {
    /// First value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why an outbound exchange produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FetchFailure {
    #[error("timed out")]
    Timeout,
    #[error("unreachable")]
    Unreachable,
}

/// Whether the host of an absolute URL as written (what follows `scheme://` and any user
/// info, up to the port, path, query or fragment) is ASCII. The worker carries no Unicode
/// tables (Cargo.toml, `idna_adapter`), so configuration naming an international host in
/// Unicode is refused with this check before `url` sees it, asking for the xn-- form.
pub fn written_host_is_ascii(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    host.is_ascii()
}

/// The length a `Content-Length` value declares; `None` when it is not a number. Read as a
/// `u64` and saturated: in the wasm a `usize` is 32 bits, and a length of 2^32 or more must
/// read as "too large", not as "no length".
pub fn declared_length(content_length: Option<&str>) -> Option<usize> {
    let v = content_length?.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = v.parse::<u64>().unwrap_or(u64::MAX);
    Some(usize::try_from(n).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod declared_length_tests {
    use super::declared_length;

    #[test]
    fn lengths_saturate_instead_of_vanishing() {
        assert_eq!(declared_length(None), None);
        assert_eq!(declared_length(Some("")), None);
        assert_eq!(declared_length(Some("-1")), None);
        assert_eq!(declared_length(Some("12a")), None);
        assert_eq!(declared_length(Some(" 0 ")), Some(0));
        assert_eq!(declared_length(Some("65537")), Some(65_537));
        let big = declared_length(Some("4294967296"));
        assert!(big.is_some_and(|n| n > 65_536), "{big:?}");
        assert_eq!(
            declared_length(Some("99999999999999999999999")),
            Some(usize::MAX)
        );
    }
}

#[cfg(test)]
mod written_host_tests {
    use super::written_host_is_ascii;

    #[test]
    fn only_the_host_counts() {
        assert!(written_host_is_ascii(
            "https://xn--bcher-kva.example/b\u{fc}cher?q=\u{fc}#\u{fc}"
        ));
        assert!(written_host_is_ascii("https://b\u{fc}cher@acme.example"));
        assert!(!written_host_is_ascii("https://b\u{fc}cher.example"));
        assert!(!written_host_is_ascii(
            "https://user@B\u{dc}CHER.example:443/"
        ));
        assert!(!written_host_is_ascii("b\u{fc}cher.example/path"));
    }
}
