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
