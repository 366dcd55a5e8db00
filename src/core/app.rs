//! App sign-in (SPEC "App sign-in", RFC 8252 with PKCE): the `/app/login` request, the
//! redirects back to the app, the one-time code's record, and `/app/token`'s checks. The
//! code itself is kept strictly single-use by the edge's Durable Object; everything decided
//! about it is decided here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::form_urlencoded;

use crate::core::authorize::AppLogin;
use crate::core::config::find_app_redirect;
use crate::core::member::Member;
use crate::core::pages::Problem;
use crate::core::secret::{constant_time_eq, PkceVerifier};
use crate::core::step_up::parse_prompt;

/// How long a one-time code may wait for its redemption.
pub const CODE_TTL_SECS: u64 = 60;
/// How long the "Continue to the app" page may wait for its click.
pub const CONTINUE_TTL_SECS: u64 = 300;
/// Largest `/app/token` body.
pub const MAX_TOKEN_BODY_BYTES: usize = 8 * 1024;

/// RFC 3986 unreserved characters: what `state` and `code_verifier` are made of.
fn unreserved(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

/// Why `/app/login` is refused before its `redirect_uri` is known to be registered: a page,
/// never a redirect (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppStartError {
    #[error("redirect_uri is missing")]
    MissingRedirect,
    #[error("redirect_uri is not one of the tenant's app_redirect_uris")]
    UnregisteredRedirect,
    #[error("{0} appears more than once")]
    Repeated(&'static str),
    /// Known good redirect, bad other parameter: the app hears `invalid_request`.
    #[error("invalid request: {description}")]
    Invalid {
        redirect_uri: String,
        state: Option<String>,
        description: &'static str,
    },
}

impl AppStartError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingRedirect => "app_redirect_missing",
            Self::UnregisteredRedirect => "app_redirect_unregistered",
            Self::Repeated(_) => "repeated_parameter",
            Self::Invalid { .. } => "app_invalid_request",
        }
    }
}

/// What a valid `/app/login` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStart {
    pub app: AppLogin,
    pub login_hint: Option<String>,
    pub prompt: Option<String>,
}

const APP_PARAMS: [&str; 6] = [
    "redirect_uri",
    "state",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
    "prompt",
];

/// Reads `/app/login`'s query against the tenant's registered redirect URIs.
pub fn parse_app_login(query: &str, registered: &[String]) -> Result<AppStart, AppStartError> {
    let mut values: [Option<String>; 6] = Default::default();
    let mut repeated = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let Some(i) = APP_PARAMS.iter().position(|p| *p == k) else {
            continue;
        };
        if values[i].is_some() {
            repeated = repeated.or(Some(APP_PARAMS[i]));
            if i == 0 {
                // Which of two redirect URIs is meant is not ours to guess.
                return Err(AppStartError::Repeated("redirect_uri"));
            }
        }
        values[i] = Some(v.into_owned());
    }
    let [redirect_uri, state, challenge, method, login_hint, prompt] = values;
    let given = redirect_uri
        .filter(|r| !r.is_empty())
        .ok_or(AppStartError::MissingRedirect)?;
    let redirect_uri = find_app_redirect(registered, &given)
        .map(|_| given.clone())
        .ok_or(AppStartError::UnregisteredRedirect)?;
    // From here on the app is told, at its registered redirect URI.
    // The app's `state` has portal_state's rule: 1–256 unreserved characters.
    let state_ok = |s: &String| crate::core::authorize::sanitize_portal_state(s).is_some();
    let invalid = |state: Option<String>, description| AppStartError::Invalid {
        redirect_uri: redirect_uri.clone(),
        state,
        description,
    };
    if repeated.is_some() {
        return Err(invalid(None, "a parameter appears more than once"));
    }
    let state = match state {
        Some(s) if state_ok(&s) => s,
        Some(_) => {
            return Err(invalid(
                None,
                "state must be 1-256 characters of A-Z a-z 0-9 . _ ~ -",
            ))
        }
        None => return Err(invalid(None, "state is required")),
    };
    let challenge = match challenge {
        Some(c) if c.len() == 43 && URL_SAFE_NO_PAD.decode(&c).is_ok_and(|d| d.len() == 32) => c,
        _ => {
            return Err(invalid(
                Some(state),
                "code_challenge must be 43 characters of base64url (S256)",
            ))
        }
    };
    if method.as_deref() != Some("S256") {
        return Err(invalid(Some(state), "code_challenge_method must be S256"));
    }
    let prompt = match prompt {
        None => None,
        Some(p) => match parse_prompt(&p) {
            Ok(p) => Some(p),
            Err(_) => return Err(invalid(Some(state), "prompt is not valid")),
        },
    };
    Ok(AppStart {
        app: AppLogin {
            redirect_uri,
            state,
            code_challenge: challenge,
        },
        login_hint: login_hint
            .as_deref()
            .and_then(crate::core::authorize::sanitize_login_hint),
        prompt,
    })
}

/// Whether the redirect URI a login recorded is still one of the tenant's: an admin who
/// removes one (a scheme a rogue app claimed, say) stops codes and errors going there from
/// logins already under way, and codes already issued from being redeemed.
pub fn still_registered(registered: &[String], redirect_uri: &str) -> bool {
    find_app_redirect(registered, redirect_uri).is_some()
}

/// `redirect_uri` with `params` added: after `&` when it has a query already (RFC 6749
/// §3.1.2). Registered URIs carry no fragment.
pub fn app_redirect(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{sep}{}", query.finish())
}

/// The error redirect to the app (RFC 6749 §4.1.2.1, RFC 9207 `iss`).
pub fn app_error_redirect(
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
    iss: &str,
) -> String {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", iss));
    app_redirect(redirect_uri, &params)
}

/// What a web failure after callback checks 1–2 becomes for the app: the IdP's own error
/// code when it sent one, `access_denied` for what is a 403 on the web,
/// `temporarily_unavailable` for provisioning's 503, `server_error` for the rest — with a
/// short description that names no secret.
pub fn app_error_for(problem: &Problem) -> (String, &'static str) {
    let is_token = |e: &str| {
        !e.is_empty() && e.len() <= 64 && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    };
    match problem {
        Problem::AccessDenied { .. } => (
            "access_denied".into(),
            "the identity provider refused the sign-in",
        ),
        Problem::IdpError { error, .. } if is_token(error) => {
            (error.clone(), "the identity provider reported an error")
        }
        Problem::ProvisioningPending => (
            "temporarily_unavailable".into(),
            "the account could not be set up yet; try again in a minute",
        ),
        p if p.status() == 403 => ("access_denied".into(), "this account may not sign in here"),
        _ => ("server_error".into(), "the sign-in could not be completed"),
    }
}

/// A private-use scheme or a loopback `redirect_uri` does not prove which app receives the
/// code (RFC 8252 §8.6): the member confirms first. An `https` app link does.
pub fn needs_continue(redirect_uri: &str) -> bool {
    !redirect_uri.starts_with("https://")
}

/// The CSP `form-action` source the "Continue" form needs besides `'self'`: browsers apply
/// `form-action` to the redirect that follows the POST, so the app's redirect URI must be
/// allowed — its scheme for a private-use scheme (`com.example.app:`), its origin for a
/// loopback `http` one. `None` when there is nothing safe to name (the form then fails
/// closed in the browser).
pub fn continue_form_target(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    let scheme = url.scheme();
    let scheme_ok = scheme
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'));
    match scheme {
        "http" | "https" => {
            let origin = url.origin().ascii_serialization();
            (origin != "null").then_some(origin)
        }
        _ if scheme_ok => Some(format!("{scheme}:")),
        _ => None,
    }
}

/// The one-time code's record, kept in its Durable Object: the verified member, never the
/// IdP's tokens, bound to its tenant, redirect URI and PKCE challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCodeRecord {
    pub tenant: String,
    /// The tenant origin: the assertion's `iss`, taken from here, never from the Host.
    pub iss: String,
    /// The tenant's `portal_url`: the assertion's `aud`.
    pub aud: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub member: Member,
    pub provisioned: bool,
    pub expires_at: u64,
}

/// The Durable Object's name for a code: a digest, so the raw code is no object's name.
pub fn code_object_name(code: &str) -> String {
    let digest = Sha256::digest(code.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A member waiting on the "Continue to the app" page, kept single-use in its own Durable
/// Object (`continue_object_name`) that only the form's CSRF token — bound to the member's
/// browser — can take it from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingContinue {
    pub record: AppCodeRecord,
    pub app_state: String,
    pub created_at: u64,
}

/// The name the waiting sign-in `id` of `tenant` is kept under (never a code's: the prefix
/// differs). The tenant is part of it, so a click on another tenant's host finds nothing and
/// takes nothing.
pub fn continue_object_name(tenant: &str, id: &str) -> String {
    format!("continue:{tenant}:{id}")
}

/// The Continue form's CSRF token: bound to the binding cookie and the waiting member.
pub fn continue_csrf(browser: &str, continue_id: &str) -> String {
    let mac = crate::core::crypto::hmac_sha256(
        browser.as_bytes(),
        &[b"portal-sso continue:", continue_id.as_bytes()],
    );
    URL_SAFE_NO_PAD.encode(mac)
}

/// `/app/token`'s refusals (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRequestError {
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("grant_type must be authorization_code")]
    UnsupportedGrantType,
    #[error("{0}")]
    InvalidGrant(&'static str),
}

impl TokenRequestError {
    pub fn error(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidGrant(_) => "invalid_grant",
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.error(), "error_description": self.to_string() })
    }
}

/// A parsed `/app/token` form. `code` is `Some` whenever the form named one — that code is
/// used up whatever else is wrong. Its `Debug` leaves the code and the verifier out.
#[derive(Default, PartialEq, Eq)]
pub struct TokenForm {
    pub code: Option<String>,
    pub problem: Option<TokenRequestError>,
    pub redirect_uri: String,
    pub verifier: String,
}

impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenForm")
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("problem", &self.problem)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// Longest code accepted in a form (ours are 43 characters).
const MAX_CODE_CHARS: usize = 128;

/// Reads the form body of `/app/token` (its content type already checked).
pub fn parse_token_form(body: &[u8]) -> TokenForm {
    const NAMES: [&str; 4] = ["grant_type", "code", "redirect_uri", "code_verifier"];
    let mut values: [Option<String>; 4] = Default::default();
    let mut repeated = false;
    for (k, v) in form_urlencoded::parse(body) {
        if let Some(i) = NAMES.iter().position(|n| *n == k) {
            repeated |= values[i].is_some();
            values[i] = Some(v.into_owned());
        }
    }
    let [grant, code, redirect_uri, verifier] = values;
    let code = code.filter(|c| !c.is_empty() && c.len() <= MAX_CODE_CHARS && unreserved(c));
    let problem = if repeated {
        Some(TokenRequestError::InvalidRequest(
            "a parameter appears more than once",
        ))
    } else if grant.is_none() || code.is_none() || redirect_uri.is_none() || verifier.is_none() {
        Some(TokenRequestError::InvalidRequest(
            "grant_type, code, redirect_uri and code_verifier are required",
        ))
    } else if grant.as_deref() != Some("authorization_code") {
        Some(TokenRequestError::UnsupportedGrantType)
    } else if !verifier
        .as_deref()
        .is_some_and(|v| (43..=128).contains(&v.len()) && unreserved(v))
    {
        Some(TokenRequestError::InvalidRequest(
            "code_verifier must be 43-128 characters of A-Z a-z 0-9 . _ ~ -",
        ))
    } else {
        None
    };
    TokenForm {
        code,
        problem,
        redirect_uri: redirect_uri.unwrap_or_default(),
        verifier: verifier.unwrap_or_default(),
    }
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) equals the challenge, compared in constant
/// time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = crate::core::authorize::pkce_challenge(&PkceVerifier::new(verifier));
    constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// The checks on a code already taken out of its Durable Object (so used up): made for this
/// tenant, not expired, for this `redirect_uri`, and the verifier matches its challenge.
pub fn redeem(
    record: &AppCodeRecord,
    tenant_here: &str,
    registered: &[String],
    form: &TokenForm,
    now: u64,
) -> Result<(), TokenRequestError> {
    let bad = TokenRequestError::InvalidGrant;
    if record.tenant != tenant_here {
        return Err(bad("the code was not issued here"));
    }
    if !still_registered(registered, &record.redirect_uri) {
        return Err(bad("the redirect_uri is no longer registered"));
    }
    if now >= record.expires_at {
        return Err(bad("the code has expired"));
    }
    if record.redirect_uri != form.redirect_uri {
        return Err(bad(
            "redirect_uri differs from the one the code was issued to",
        ));
    }
    if !pkce_matches(&form.verifier, &record.code_challenge) {
        return Err(bad("code_verifier does not match the code_challenge"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
