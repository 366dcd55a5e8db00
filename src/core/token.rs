//! The code exchange (RFC 6749 §4.1.3 with PKCE) and the userinfo fallback, as plain values.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use url::form_urlencoded;

use crate::core::config::ClientAuthMethod;
use crate::core::field::{members, Field};
use crate::core::http::{FetchFailure, InboundResponse, Method, OutboundRequest};
use crate::core::secret::{AccessToken, ClientSecret, PkceVerifier, RawIdToken};

/// Time limit for every request to the IdP.
pub const IDP_TIMEOUT_MS: u32 = 10_000;
/// Largest token or userinfo response we read.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

pub struct TokenRequest<'a> {
    pub token_endpoint: &'a str,
    pub auth: ClientAuthMethod,
    pub client_id: &'a str,
    pub client_secret: &'a ClientSecret,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub verifier: &'a PkceVerifier,
}

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The token request. With `client_secret_basic` the id and secret are form-encoded before
/// base64 (RFC 6749 §2.3.1), which matters for secrets containing `:` `+` `%` or spaces.
pub fn token_request(t: &TokenRequest<'_>) -> OutboundRequest {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", t.code)
        .append_pair("redirect_uri", t.redirect_uri)
        .append_pair("code_verifier", t.verifier.secret());
    let mut headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("accept".to_string(), "application/json".to_string()),
    ];
    match t.auth {
        ClientAuthMethod::ClientSecretBasic => {
            let pair = format!(
                "{}:{}",
                form_encode(t.client_id),
                form_encode(t.client_secret.secret())
            );
            headers.push((
                "authorization".to_string(),
                format!("Basic {}", STANDARD.encode(pair)),
            ));
        }
        ClientAuthMethod::ClientSecretPost => {
            form.append_pair("client_id", t.client_id)
                .append_pair("client_secret", t.client_secret.secret());
        }
    }
    OutboundRequest {
        method: Method::Post,
        url: t.token_endpoint.to_string(),
        headers,
        body: Some(form.finish().into_bytes()),
        timeout_ms: IDP_TIMEOUT_MS,
    }
}

#[derive(Debug)]
pub struct TokenResponse {
    pub id_token: RawIdToken,
    pub access_token: Option<AccessToken>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// An OAuth error response (RFC 6749 §5.2): the member's request was refused.
    #[error("token endpoint refused the code: {error}")]
    OAuth {
        error: String,
        description: Option<String>,
    },
    #[error("token endpoint answered HTTP {0}")]
    Status(u16),
    #[error("token endpoint redirected (HTTP {0}); redirects are never followed")]
    Redirect(u16),
    #[error("token endpoint answer is not JSON")]
    NotJson,
    #[error("token endpoint answer has no id_token")]
    NoIdToken,
    #[error("token endpoint timed out")]
    Timeout,
    #[error("token endpoint unreachable")]
    Unreachable,
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::OAuth { .. } => "token_oauth_error",
            Self::Status(_) => "token_status",
            Self::Redirect(_) => "token_redirect",
            Self::NotJson => "token_not_json",
            Self::NoIdToken => "token_no_id_token",
            Self::Timeout => "token_timeout",
            Self::Unreachable => "token_unreachable",
        }
    }
}

fn json_object(body: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    if body.len() > MAX_TOKEN_RESPONSE_BYTES {
        return None;
    }
    match serde_json::from_slice(body).ok()? {
        serde_json::Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The members of a token endpoint answer we read (RFC 6749 §5.1 and §5.2, OIDC Core §3.1.3.3).
struct TokenBody {
    id_token: Field,
    access_token: Field,
    error: Field,
    error_description: Field,
}

impl TokenBody {
    fn parse(body: &[u8]) -> Option<Self> {
        if body.len() > MAX_TOKEN_RESPONSE_BYTES {
            return None;
        }
        let names = ["id_token", "access_token", "error", "error_description"];
        let [id_token, access_token, error, error_description] = members(body, names)?;
        Some(Self {
            id_token,
            access_token,
            error,
            error_description,
        })
    }
}

/// A non-empty string member.
fn member(field: &Field) -> Option<String> {
    field.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn text(m: &serde_json::Map<String, serde_json::Value>, k: &str) -> Option<String> {
    m.get(k)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub fn parse_token_response(
    result: Result<&InboundResponse, FetchFailure>,
) -> Result<TokenResponse, TokenError> {
    let resp = match result {
        Ok(r) => r,
        Err(FetchFailure::Timeout) => return Err(TokenError::Timeout),
        Err(FetchFailure::Unreachable) => return Err(TokenError::Unreachable),
    };
    if (300..400).contains(&resp.status) {
        return Err(TokenError::Redirect(resp.status));
    }
    // Only the members above are kept; a repeated one makes the answer "not JSON".
    let body = TokenBody::parse(&resp.body);
    if (400..500).contains(&resp.status) {
        if let Some(error) = body.as_ref().and_then(|b| member(&b.error)) {
            let description = body.as_ref().and_then(|b| member(&b.error_description));
            return Err(TokenError::OAuth { error, description });
        }
    }
    if resp.status != 200 {
        return Err(TokenError::Status(resp.status));
    }
    let body = body.ok_or(TokenError::NotJson)?;
    let id_token = member(&body.id_token).ok_or(TokenError::NoIdToken)?;
    Ok(TokenResponse {
        id_token: RawIdToken::new(id_token),
        access_token: member(&body.access_token).map(AccessToken::new),
    })
}

pub fn userinfo_request(endpoint: &str, token: &AccessToken) -> OutboundRequest {
    OutboundRequest {
        timeout_ms: IDP_TIMEOUT_MS,
        ..OutboundRequest::get(endpoint)
    }
    .header("authorization", format!("Bearer {}", token.secret()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserinfoError {
    #[error("userinfo answered HTTP {0}")]
    Status(u16),
    #[error("userinfo answer is not a JSON object")]
    NotJson,
    #[error("userinfo sub differs from the ID token's")]
    SubMismatch,
    #[error("userinfo unreachable or timed out")]
    Unreachable,
}

impl UserinfoError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Status(_) => "userinfo_status",
            Self::NotJson => "userinfo_not_json",
            Self::SubMismatch => "userinfo_sub_mismatch",
            Self::Unreachable => "userinfo_unreachable",
        }
    }
}

/// Userinfo claims, accepted only when their `sub` equals the ID token's (OIDC Core 5.3.2).
pub fn parse_userinfo(
    result: Result<&InboundResponse, FetchFailure>,
    expected_sub: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, UserinfoError> {
    let resp = result.map_err(|_| UserinfoError::Unreachable)?;
    if resp.status != 200 {
        return Err(UserinfoError::Status(resp.status));
    }
    let body = json_object(&resp.body).ok_or(UserinfoError::NotJson)?;
    if text(&body, "sub").as_deref() != Some(expected_sub) {
        return Err(UserinfoError::SubMismatch);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(
        auth: ClientAuthMethod,
        secret: &ClientSecret,
        verifier: &PkceVerifier,
    ) -> OutboundRequest {
        token_request(&TokenRequest {
            token_endpoint: "https://acme.okta.com/oauth2/v1/token",
            auth,
            client_id: "client:id",
            client_secret: secret,
            code: "the-code",
            redirect_uri: "https://acme.example.com/authorization-code/callback",
            verifier,
        })
    }

    fn form(r: &OutboundRequest) -> Vec<(String, String)> {
        form_urlencoded::parse(r.body.as_deref().unwrap())
            .into_owned()
            .collect()
    }

    #[test]
    fn basic_auth_form_encodes_before_base64() {
        let secret = ClientSecret::new("p@ss:w+rd %");
        let verifier = PkceVerifier::new("v");
        let r = req(ClientAuthMethod::ClientSecretBasic, &secret, &verifier);
        let auth = r
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1
            .clone();
        let decoded = String::from_utf8(
            STANDARD
                .decode(auth.strip_prefix("Basic ").unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(decoded, "client%3Aid:p%40ss%3Aw%2Brd+%25");
        let f = form(&r);
        assert!(f.contains(&("grant_type".into(), "authorization_code".into())));
        assert!(f.contains(&("code_verifier".into(), "v".into())));
        assert!(f.contains(&(
            "redirect_uri".into(),
            "https://acme.example.com/authorization-code/callback".into()
        )));
        assert!(!f.iter().any(|(k, _)| k == "client_secret"));
    }

    #[test]
    fn post_auth_puts_credentials_in_body() {
        let secret = ClientSecret::new("s");
        let verifier = PkceVerifier::new("v");
        let r = req(ClientAuthMethod::ClientSecretPost, &secret, &verifier);
        assert!(!r.headers.iter().any(|(k, _)| k == "authorization"));
        let f = form(&r);
        assert!(f.contains(&("client_id".into(), "client:id".into())));
        assert!(f.contains(&("client_secret".into(), "s".into())));
    }

    fn resp(status: u16, body: &str) -> InboundResponse {
        InboundResponse {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn token_responses_are_classified() {
        let ok = parse_token_response(Ok(&resp(
            200,
            r#"{"id_token":"a.b.c","access_token":"at"}"#,
        )))
        .unwrap();
        assert_eq!(ok.id_token.secret(), "a.b.c");
        let e = |s, b: &str| parse_token_response(Ok(&resp(s, b))).unwrap_err();
        assert!(
            matches!(e(400, r#"{"error":"invalid_grant"}"#), TokenError::OAuth { error, .. } if error == "invalid_grant")
        );
        assert_eq!(
            e(500, r#"{"error":"server_error"}"#),
            TokenError::Status(500)
        );
        assert_eq!(e(400, "nope"), TokenError::Status(400));
        assert_eq!(e(302, ""), TokenError::Redirect(302));
        assert_eq!(e(200, "<html>"), TokenError::NotJson);
        assert_eq!(e(200, r#"{"access_token":"x"}"#), TokenError::NoIdToken);
        assert_eq!(e(200, r#"["id_token", "a.b.c"]"#), TokenError::NotJson);
        assert_eq!(e(200, r#"{"id_token":7}"#), TokenError::NoIdToken);
        assert_eq!(e(200, r#"{"id_token":""}"#), TokenError::NoIdToken);
        // Which of two id_tokens was verified must not depend on the parser: neither is.
        assert_eq!(
            e(200, r#"{"id_token":"a.b.c","id_token":"d.e.f"}"#),
            TokenError::NotJson
        );
        let big = format!(
            r#"{{"id_token":"a.b.c","pad":"{}"}}"#,
            "x".repeat(MAX_TOKEN_RESPONSE_BYTES)
        );
        assert_eq!(e(200, &big), TokenError::NotJson);
        let extra = r#"{"token_type":"Bearer","scope":"openid","expires_in":3600,"id_token":"a.b.c","x":{"y":[1,{"z":null}]}}"#;
        let ok = parse_token_response(Ok(&resp(200, extra))).unwrap();
        assert_eq!(ok.id_token.secret(), "a.b.c");
        assert!(ok.access_token.is_none());
        assert_eq!(
            parse_token_response(Err(FetchFailure::Timeout)).unwrap_err(),
            TokenError::Timeout
        );
    }

    #[test]
    fn userinfo_requires_same_sub() {
        let r = userinfo_request("https://a.example/userinfo", &AccessToken::new("tok"));
        assert!(r
            .headers
            .contains(&("authorization".into(), "Bearer tok".into())));
        assert!(parse_userinfo(Ok(&resp(200, r#"{"sub":"u1","email":"a@b.c"}"#)), "u1").is_ok());
        assert_eq!(
            parse_userinfo(Ok(&resp(200, r#"{"sub":"u2"}"#)), "u1").unwrap_err(),
            UserinfoError::SubMismatch
        );
        assert_eq!(
            parse_userinfo(Ok(&resp(200, r#"{"email":"x"}"#)), "u1").unwrap_err(),
            UserinfoError::SubMismatch
        );
        assert_eq!(
            parse_userinfo(Ok(&resp(401, "")), "u1").unwrap_err(),
            UserinfoError::Status(401)
        );
    }
}
