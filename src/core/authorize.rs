//! Starting a login: the pending login kept in KV and the authorization redirect (OIDC Core
//! 3.1.2.1 with PKCE S256, RFC 7636).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::core::config::BASE_SCOPES;
use crate::core::secret::{token_from_random, BrowserId, Nonce, PkceVerifier, State};
use crate::core::step_up::StepUp;

/// How long a started login may take before its callback is refused.
pub const PENDING_LOGIN_TTL_SECS: u64 = 600;

/// Everything the callback needs to finish what `/login/sso` started.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLogin {
    pub tenant: String,
    /// Origin that served `/login/sso`, where the binding cookie lives.
    pub start_origin: String,
    pub redirect_uri: String,
    pub state: State,
    pub nonce: Nonce,
    pub verifier: PkceVerifier,
    pub browser: BrowserId,
    pub return_to: Option<String>,
    pub portal_state: Option<String>,
    pub created_at: u64,
    /// The `prompt`, `max_age` and `acr_values` sent, checked again at the callback.
    #[serde(default)]
    pub step_up: StepUp,
    /// Set when the Passport App started this login: it ends in a one-time code for the
    /// app, never in a session or a handoff page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppLogin>,
}

/// What `/app/login` was given, checked: where the code goes and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppLogin {
    /// The registered redirect URI, as the app sent it (a loopback one keeps its port).
    pub redirect_uri: String,
    /// The app's own `state`, echoed to it.
    pub state: String,
    /// RFC 7636 S256 challenge the redemption's verifier must match.
    pub code_challenge: String,
}

/// Fresh random material for one login, supplied by the edge.
pub struct LoginSeeds {
    pub state: [u8; 32],
    pub nonce: [u8; 32],
    pub verifier: [u8; 32],
}

/// What the member asked for on `/login/sso` (or the tile's `/login/initiate`, or the app's
/// `/app/login`), already sanitized: every entry point starts its login through this.
#[derive(Debug, Default)]
pub struct LoginRequest {
    pub return_to: Option<String>,
    pub portal_state: Option<String>,
    pub login_hint: Option<String>,
    pub step_up: StepUp,
    pub app: Option<AppLogin>,
}

impl PendingLogin {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tenant: &str,
        start_origin: &str,
        redirect_uri: &str,
        browser: BrowserId,
        seeds: &LoginSeeds,
        request: &LoginRequest,
        now: u64,
    ) -> Self {
        Self {
            tenant: tenant.to_string(),
            start_origin: start_origin.to_string(),
            redirect_uri: redirect_uri.to_string(),
            state: State::new(token_from_random(&seeds.state)),
            nonce: Nonce::new(token_from_random(&seeds.nonce)),
            verifier: PkceVerifier::new(token_from_random(&seeds.verifier)),
            browser,
            return_to: request.return_to.clone(),
            portal_state: request.portal_state.clone(),
            created_at: now,
            step_up: request.step_up.clone(),
            app: request.app.clone(),
        }
    }
}

impl PendingLogin {
    /// SPEC callback check 2: the binding cookie sent is this login's, compared in constant
    /// time.
    pub fn is_bound_to(&self, browser_cookie: Option<&str>) -> bool {
        browser_cookie.is_some_and(|c| self.browser.matches(c))
    }
}

/// RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))).
pub fn pkce_challenge(verifier: &PkceVerifier) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.secret().as_bytes()))
}

/// Parameters of the authorization request beyond the pending login.
pub struct AuthorizeParams<'a> {
    pub authorization_endpoint: &'a str,
    pub client_id: &'a str,
    pub idp: Option<&'a str>,
    pub login_hint: Option<&'a str>,
    /// The tenant's `extra_scopes`, requested after `openid email profile`.
    pub extra_scopes: &'a [String],
}

/// `openid email profile` and the tenant's extra scopes, space-separated.
pub fn scope(extra_scopes: &[String]) -> String {
    let mut scope = BASE_SCOPES.join(" ");
    for s in extra_scopes {
        scope.push(' ');
        scope.push_str(s);
    }
    scope
}

/// The URL the member's browser is sent to. The endpoint's own query, if any, is kept.
pub fn authorize_url(
    p: &AuthorizeParams<'_>,
    login: &PendingLogin,
) -> Result<String, url::ParseError> {
    let mut url = Url::parse(p.authorization_endpoint)?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("scope", &scope(p.extra_scopes))
            .append_pair("client_id", p.client_id)
            .append_pair("redirect_uri", &login.redirect_uri)
            .append_pair("state", login.state.secret())
            .append_pair("nonce", login.nonce.secret())
            .append_pair("code_challenge", &pkce_challenge(&login.verifier))
            .append_pair("code_challenge_method", "S256");
        if let Some(idp) = p.idp {
            q.append_pair("idp", idp);
        }
        if let Some(hint) = p.login_hint {
            q.append_pair("login_hint", hint);
        }
        let step_up = &login.step_up;
        if let Some(prompt) = &step_up.prompt {
            q.append_pair("prompt", prompt);
        }
        if let Some(max_age) = step_up.max_age {
            q.append_pair("max_age", &max_age.to_string());
        }
        if let Some(acr) = &step_up.acr_values {
            q.append_pair("acr_values", acr);
        }
    }
    Ok(url.into())
}

/// `portal_state`: at most 256 characters of `[A-Za-z0-9._~-]`; anything else is dropped.
pub fn sanitize_portal_state(raw: &str) -> Option<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 256
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
    ok.then(|| raw.to_string())
}

/// `login_hint`: passed on to the IdP when it is a plausible user name (≤ 256 chars, no
/// control characters); anything else is dropped rather than refused.
pub fn sanitize_login_hint(raw: &str) -> Option<String> {
    let ok = !raw.trim().is_empty() && raw.len() <= 256 && !raw.chars().any(char::is_control);
    ok.then(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> PendingLogin {
        let seeds = LoginSeeds {
            state: [1; 32],
            nonce: [2; 32],
            verifier: [3; 32],
        };
        let req = LoginRequest {
            return_to: Some("/x".into()),
            ..Default::default()
        };
        PendingLogin::new(
            "acme",
            "https://acme.example.com",
            "https://acme.example.com/authorization-code/callback",
            BrowserId::new("b"),
            &seeds,
            &req,
            1_700_000_000,
        )
    }

    #[test]
    fn rfc7636_appendix_b_vector() {
        let v = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce_challenge(&v),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn seeds_become_distinct_43_char_tokens() {
        let l = login();
        assert_eq!(l.state.secret().len(), 43);
        assert_ne!(l.state.secret(), l.nonce.secret());
        assert_ne!(l.nonce.secret(), l.verifier.secret());
    }

    #[test]
    fn authorize_url_carries_every_parameter() {
        let l = login();
        let p = AuthorizeParams {
            authorization_endpoint: "https://acme.okta.com/oauth2/v1/authorize?foo=bar",
            client_id: "0oa123",
            idp: Some("0oaIDP"),
            login_hint: Some("ada@example.com"),
            extra_scopes: &[],
        };
        let url = Url::parse(&authorize_url(&p, &l).unwrap()).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["foo"], "bar");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "openid email profile");
        assert_eq!(q["client_id"], "0oa123");
        assert_eq!(
            q["redirect_uri"],
            "https://acme.example.com/authorization-code/callback"
        );
        assert_eq!(q["state"], l.state.secret());
        assert_eq!(q["nonce"], l.nonce.secret());
        assert_eq!(q["code_challenge"], pkce_challenge(&l.verifier));
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["idp"], "0oaIDP");
        assert_eq!(q["login_hint"], "ada@example.com");
        assert!(!q.contains_key("response_mode"));
        assert!(
            !url.as_str().contains(l.verifier.secret()),
            "verifier never leaves"
        );
    }

    #[test]
    fn optional_parameters_are_omitted() {
        let p = AuthorizeParams {
            authorization_endpoint: "https://a.example/authorize",
            client_id: "c",
            idp: None,
            login_hint: None,
            extra_scopes: &[],
        };
        let url = authorize_url(&p, &login()).unwrap();
        assert!(!url.contains("idp=") && !url.contains("login_hint="));
        for absent in ["prompt=", "max_age=", "acr_values="] {
            assert!(!url.contains(absent), "{absent}");
        }
    }

    #[test]
    fn portal_state_and_login_hint_rules() {
        assert_eq!(
            sanitize_portal_state("abc.DEF_~-9").as_deref(),
            Some("abc.DEF_~-9")
        );
        assert_eq!(sanitize_portal_state(""), None);
        assert_eq!(sanitize_portal_state("a b"), None);
        assert_eq!(sanitize_portal_state("<script>"), None);
        assert_eq!(sanitize_portal_state(&"a".repeat(257)), None);
        assert!(sanitize_portal_state(&"a".repeat(256)).is_some());
        assert_eq!(
            sanitize_login_hint("ada@example.com").as_deref(),
            Some("ada@example.com")
        );
        assert_eq!(sanitize_login_hint("a\r\nb"), None);
        assert_eq!(sanitize_login_hint(" "), None);
    }

    #[test]
    fn extra_scopes_and_step_up_are_sent() {
        let mut l = login();
        l.step_up = StepUp {
            prompt: Some("login".into()),
            max_age: Some(0),
            acr_values: Some("urn:okta:loa:2fa:any".into()),
        };
        let extra = ["groups".to_string(), "offline_access".to_string()];
        let p = AuthorizeParams {
            authorization_endpoint: "https://a.example/authorize",
            client_id: "c",
            idp: None,
            login_hint: None,
            extra_scopes: &extra,
        };
        let url = Url::parse(&authorize_url(&p, &l).unwrap()).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["scope"], "openid email profile groups offline_access");
        assert_eq!(q["prompt"], "login");
        assert_eq!(q["max_age"], "0");
        assert_eq!(q["acr_values"], "urn:okta:loa:2fa:any");
    }

    #[test]
    fn pending_logins_of_before_rev_3_still_read() {
        let mut json: serde_json::Value = serde_json::to_value(login()).unwrap();
        let obj = json.as_object_mut().unwrap();
        obj.remove("step_up");
        obj.remove("app");
        let back: PendingLogin = serde_json::from_value(json).unwrap();
        assert_eq!(back.step_up, StepUp::default());
        assert_eq!(back.app, None);
    }

    #[test]
    fn pending_login_round_trips_through_json() {
        let l = login();
        let json = serde_json::to_string(&l).unwrap();
        let back: PendingLogin = serde_json::from_str(&json).unwrap();
        assert_eq!(back.state, l.state);
        assert_eq!(back.verifier, l.verifier);
    }
}
