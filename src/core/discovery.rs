//! The IdP's metadata: discovery document and the rules that make it trustworthy.
//!
//! The issuer is never taken from what the admin typed alone: discovery must name exactly the
//! expected issuer, and every endpoint must live on the issuer's origin, so no secret or code
//! is ever sent anywhere else.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::core::http::{InboundResponse, OutboundRequest};

/// Largest discovery document or JWKS we read.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<String>,
    pub end_session_endpoint: Option<String>,
    /// The scopes the IdP lists, when it does (`check` warns about an extra scope it lacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("the discovery document could not be fetched: {0}")]
    Unreachable(String),
    #[error("the discovery document answered HTTP {0}")]
    Status(u16),
    #[error("the discovery document is not JSON")]
    NotJson,
    #[error(
        "issuer mismatch: expected \"{expected}\" but the discovery document says \"{found}\" \
         (check the Okta domain, custom domain and authorization server; Okta's issuer setting \
         must match the domain entered here)"
    )]
    IssuerMismatch { expected: String, found: String },
    #[error("the discovery document has no {0}")]
    MissingEndpoint(&'static str),
    #[error("{name} ({url}) is not on the issuer's origin; refusing to send anything there")]
    ForeignEndpoint { name: &'static str, url: String },
}

impl DiscoveryError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "discovery_unreachable",
            Self::Status(_) => "discovery_status",
            Self::NotJson => "discovery_not_json",
            Self::IssuerMismatch { .. } => "issuer_mismatch",
            Self::MissingEndpoint(_) => "discovery_missing_endpoint",
            Self::ForeignEndpoint { .. } => "discovery_foreign_endpoint",
        }
    }
}

pub fn discovery_request(issuer: &str) -> OutboundRequest {
    OutboundRequest::get(format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
}

/// Origin of a URL as scheme://host:port with the port made explicit.
fn origin_of(url: &str) -> Option<(String, String, u16)> {
    let u = Url::parse(url).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    Some((u.scheme().to_string(), host, u.port_or_known_default()?))
}

/// Parses and checks a discovery response against the issuer we expect.
pub fn parse_discovery(
    resp: &InboundResponse,
    expected_issuer: &str,
) -> Result<ProviderMetadata, DiscoveryError> {
    if resp.status != 200 {
        return Err(DiscoveryError::Status(resp.status));
    }
    if resp.body.len() > MAX_METADATA_BYTES {
        return Err(DiscoveryError::NotJson);
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&resp.body).map_err(|_| DiscoveryError::NotJson)?;
    let obj = doc.as_object().ok_or(DiscoveryError::NotJson)?;
    let text = |name: &'static str| obj.get(name).and_then(|v| v.as_str()).map(str::to_string);
    let found = text("issuer").unwrap_or_default();
    if found != expected_issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: expected_issuer.to_string(),
            found,
        });
    }
    let issuer_origin =
        origin_of(expected_issuer).ok_or(DiscoveryError::MissingEndpoint("issuer"))?;
    let on_issuer = |name: &'static str, url: String| -> Result<String, DiscoveryError> {
        match origin_of(&url) {
            Some(o) if o == issuer_origin => Ok(url),
            _ => Err(DiscoveryError::ForeignEndpoint { name, url }),
        }
    };
    let required = |name: &'static str| text(name).ok_or(DiscoveryError::MissingEndpoint(name));
    let optional = |name: &'static str| text(name).map(|u| on_issuer(name, u)).transpose();
    Ok(ProviderMetadata {
        issuer: found,
        authorization_endpoint: on_issuer(
            "authorization_endpoint",
            required("authorization_endpoint")?,
        )?,
        token_endpoint: on_issuer("token_endpoint", required("token_endpoint")?)?,
        jwks_uri: on_issuer("jwks_uri", required("jwks_uri")?)?,
        userinfo_endpoint: optional("userinfo_endpoint")?,
        end_session_endpoint: optional("end_session_endpoint")?,
        scopes_supported: obj.get("scopes_supported").and_then(|v| {
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect()
        }),
    })
}

/// How long IdP metadata may be cached: the response's max-age clamped to 5 min – 24 h,
/// 1 h when absent (SPEC "Rules that hold everywhere").
pub fn cache_ttl_secs(cache_control: Option<&str>) -> u64 {
    const MIN: u64 = 300;
    const MAX: u64 = 86_400;
    let max_age = cache_control.and_then(|cc| {
        cc.split(',').find_map(|d| {
            let (k, v) = d.trim().split_once('=')?;
            if k.trim().eq_ignore_ascii_case("max-age") {
                v.trim().trim_matches('"').parse::<u64>().ok()
            } else {
                None
            }
        })
    });
    max_age.map_or(3_600, |s| s.clamp(MIN, MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://acme.okta.com/oauth2/default";

    fn resp(body: serde_json::Value) -> InboundResponse {
        InboundResponse {
            status: 200,
            headers: vec![],
            body: body.to_string().into_bytes(),
        }
    }

    fn doc() -> serde_json::Value {
        serde_json::json!({
            "issuer": ISS,
            "authorization_endpoint": "https://acme.okta.com/oauth2/default/v1/authorize",
            "token_endpoint": "https://acme.okta.com/oauth2/default/v1/token",
            "jwks_uri": "https://acme.okta.com:443/oauth2/default/v1/keys",
            "userinfo_endpoint": "https://acme.okta.com/oauth2/default/v1/userinfo",
            "end_session_endpoint": "https://acme.okta.com/oauth2/default/v1/logout"
        })
    }

    #[test]
    fn good_document_parses() {
        let m = parse_discovery(&resp(doc()), ISS).unwrap();
        assert_eq!(
            m.token_endpoint,
            "https://acme.okta.com/oauth2/default/v1/token"
        );
        assert!(m.end_session_endpoint.is_some());
    }

    #[test]
    fn issuer_mismatch_names_both() {
        let err = parse_discovery(&resp(doc()), "https://acme.okta.com").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("https://acme.okta.com/oauth2/default")
                && text.contains("expected \"https://acme.okta.com\"")
        );
        assert_eq!(err.code(), "issuer_mismatch");
        // A trailing slash is a different issuer.
        assert!(parse_discovery(&resp(doc()), "https://acme.okta.com/oauth2/default/").is_err());
    }

    #[test]
    fn foreign_endpoints_are_refused() {
        for (field, url) in [
            ("token_endpoint", "https://evil.example/token"),
            ("jwks_uri", "https://acme.okta.com:8443/keys"),
            ("authorization_endpoint", "http://acme.okta.com/authorize"),
            (
                "userinfo_endpoint",
                "https://acme.okta.com.evil.example/userinfo",
            ),
            ("end_session_endpoint", "not a url"),
        ] {
            let mut d = doc();
            d[field] = serde_json::json!(url);
            let err = parse_discovery(&resp(d), ISS).unwrap_err();
            assert!(
                matches!(err, DiscoveryError::ForeignEndpoint { name, .. } if name == field),
                "{field}"
            );
        }
    }

    #[test]
    fn missing_and_broken_documents() {
        let mut d = doc();
        d.as_object_mut().unwrap().remove("token_endpoint");
        assert_eq!(
            parse_discovery(&resp(d), ISS).unwrap_err(),
            DiscoveryError::MissingEndpoint("token_endpoint")
        );
        let html = InboundResponse {
            status: 200,
            headers: vec![],
            body: b"<html>".to_vec(),
        };
        assert_eq!(
            parse_discovery(&html, ISS).unwrap_err(),
            DiscoveryError::NotJson
        );
        let arr = InboundResponse {
            status: 200,
            headers: vec![],
            body: b"[1]".to_vec(),
        };
        assert_eq!(
            parse_discovery(&arr, ISS).unwrap_err(),
            DiscoveryError::NotJson
        );
        let down = InboundResponse {
            status: 503,
            headers: vec![],
            body: vec![],
        };
        assert_eq!(
            parse_discovery(&down, ISS).unwrap_err(),
            DiscoveryError::Status(503)
        );
    }

    #[test]
    fn ttl_is_clamped() {
        assert_eq!(cache_ttl_secs(None), 3600);
        assert_eq!(cache_ttl_secs(Some("public, max-age=60")), 300);
        assert_eq!(cache_ttl_secs(Some("max-age=7200, must-revalidate")), 7200);
        assert_eq!(cache_ttl_secs(Some("max-age=9999999")), 86_400);
        assert_eq!(cache_ttl_secs(Some("no-cache")), 3600);
    }
}
