//! The callback's input: parameters from the query or a `form_post` body, bounded in size.

use url::form_urlencoded;

use crate::core::authorize::{PendingLogin, PENDING_LOGIN_TTL_SECS};

/// Largest query or body the callback reads (SPEC: 414/413 beyond).
pub const MAX_CALLBACK_BYTES: usize = 8 * 1024;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The first of these names that appeared more than once (RFC 6749 §3.1: "parameters MUST
    /// NOT be included more than once"); such a callback is refused before anything else.
    pub repeated: Option<&'static str>,
}

/// Parses `application/x-www-form-urlencoded` parameters. Empty values count as absent; a
/// name of ours given twice (even once empty) is noted in `repeated`, for a refusal: which of
/// two `iss` or `state` values the checks saw would otherwise be a parsing detail.
pub fn parse_callback(raw: &str) -> CallbackParams {
    let mut p = CallbackParams::default();
    let mut seen = [false; 5];
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let (i, name, slot) = match k.as_ref() {
            "code" => (0, "code", &mut p.code),
            "state" => (1, "state", &mut p.state),
            "iss" => (2, "iss", &mut p.iss),
            "error" => (3, "error", &mut p.error),
            "error_description" => (4, "error_description", &mut p.error_description),
            _ => continue,
        };
        if seen[i] {
            p.repeated = p.repeated.or(Some(name));
            continue;
        }
        seen[i] = true;
        if !v.is_empty() {
            *slot = Some(v.into_owned());
        }
    }
    p
}

/// Why a callback whose pending login was found is refused before any code exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("the browser-binding cookie does not match the pending login (login CSRF)")]
    BrowserMismatch,
    #[error("the identity provider answered error={error}")]
    Idp {
        error: String,
        description: Option<String>,
    },
    #[error("the iss parameter is not the issuer (RFC 9207)")]
    IssuerMismatch,
    #[error("the callback has no code")]
    MissingCode,
}

impl CallbackError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BrowserMismatch => "browser_mismatch",
            Self::Idp { error, .. } if error == "access_denied" => "idp_access_denied",
            Self::Idp { .. } => "idp_error",
            Self::IssuerMismatch => "iss_param_mismatch",
            Self::MissingCode => "missing_code",
        }
    }
}

/// A longer `state` is not one of ours (ours are 43 characters): unknown, without a KV read.
pub const MAX_STATE_CHARS: usize = 128;

/// SPEC callback check 1, before the KV read: the key of the pending login `state` names, or
/// `None` when there is no usable `state` (the "expired — start again" page).
pub fn pending_key(params: &CallbackParams) -> Option<String> {
    params
        .state
        .as_deref()
        .filter(|s| s.len() <= MAX_STATE_CHARS)
        .map(|s| format!("pending:{s}"))
}

/// SPEC callback check 1, after the KV read: what to do with the pending login found.
#[derive(Debug, PartialEq, Eq)]
pub enum PendingRoute {
    /// No pending login, one past its 10 minutes, or one of another tenant than this host's.
    Expired,
    /// Started on another host: the callback goes on there, where the binding cookie is
    /// (302 with the same query for GET, 307 with none for a `form_post`, re-posted as is).
    Relay { status: u16, location: String },
    /// Ours: consume it and go on with checks 2–4.
    Here,
}

/// `pending` as read from KV (`None`: absent or unreadable), for a callback that arrived on
/// `origin` (serving `tenant_here`, `None` on the apex) at `now`, with the raw query or body.
pub fn route_pending(
    pending: Option<&PendingLogin>,
    now: u64,
    origin: &str,
    tenant_here: Option<&str>,
    raw: &str,
    is_post: bool,
) -> PendingRoute {
    // The KV TTL is the main bound; `created_at` guards against a TTL that lingers.
    let Some(p) = pending.filter(|p| now <= p.created_at.saturating_add(PENDING_LOGIN_TTL_SECS))
    else {
        return PendingRoute::Expired;
    };
    // Only the apex passes on any tenant's login; a tenant host (its subdomain or a custom
    // domain) only its own tenant's, so no tenant's host bounces another's members onward.
    if tenant_here.is_some_and(|here| here != p.tenant) {
        return PendingRoute::Expired;
    }
    if p.start_origin != origin {
        let target = format!("{}/authorization-code/callback", p.start_origin);
        return if is_post {
            PendingRoute::Relay {
                status: 307,
                location: target,
            }
        } else {
            PendingRoute::Relay {
                status: 302,
                location: format!("{target}?{raw}"),
            }
        };
    }
    if tenant_here.is_some() {
        PendingRoute::Here
    } else {
        // The start origin is the apex itself: no login starts there.
        PendingRoute::Expired
    }
}

/// SPEC callback checks 2–4, after step 1 found (and consumed) the pending login:
/// 2. the browser-binding cookie matches (constant time); 3. no `error` from the IdP;
/// 4. an RFC 9207 `iss`, when present, equals the issuer. Returns the code to exchange.
pub fn check_callback<'a>(
    params: &'a CallbackParams,
    pending: &PendingLogin,
    browser_cookie: Option<&str>,
    issuer: &str,
) -> Result<&'a str, CallbackError> {
    // 2. Login CSRF: the callback must come from the browser that started the login.
    if !pending.is_bound_to(browser_cookie) {
        return Err(CallbackError::BrowserMismatch);
    }
    // 3. The IdP reported an error instead of a code.
    if let Some(error) = &params.error {
        return Err(CallbackError::Idp {
            error: error.clone(),
            description: params.error_description.clone(),
        });
    }
    // 4. RFC 9207 mix-up defence.
    if params.iss.as_deref().is_some_and(|iss| iss != issuer) {
        return Err(CallbackError::IssuerMismatch);
    }
    params.code.as_deref().ok_or(CallbackError::MissingCode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::authorize::{LoginRequest, LoginSeeds};
    use crate::core::secret::BrowserId;

    const ISS: &str = "https://acme.okta.com";

    fn pending() -> PendingLogin {
        let seeds = LoginSeeds {
            state: [1; 32],
            nonce: [2; 32],
            verifier: [3; 32],
        };
        let req = LoginRequest::default();
        PendingLogin::new(
            "acme",
            "https://acme.example.com",
            "https://acme.example.com/cb",
            BrowserId::new("browser-1"),
            &seeds,
            &req,
            0,
        )
    }

    #[test]
    fn a_repeated_parameter_is_noted() {
        assert_eq!(parse_callback("code=c&state=s&iss=i").repeated, None);
        assert_eq!(parse_callback("code=c&state=s&x=1&x=2").repeated, None);
        for raw in [
            "iss=&code=c&state=s&iss=https%3A%2F%2Fa",
            "code=c&state=s&iss=a&iss=b",
        ] {
            assert_eq!(parse_callback(raw).repeated, Some("iss"), "{raw}");
        }
        assert_eq!(
            parse_callback("state=a&code=c&state=b").repeated,
            Some("state")
        );
        assert_eq!(
            parse_callback("code=c&code=d&state=a&state=b").repeated,
            Some("code")
        );
        // The first value is still the one kept.
        assert_eq!(parse_callback("code=c&code=d").code.as_deref(), Some("c"));
    }

    #[test]
    fn state_must_be_present_and_short() {
        assert_eq!(pending_key(&parse_callback("code=c")), None);
        assert_eq!(pending_key(&parse_callback("code=c&state=")), None);
        let at_limit = format!("state={}", "s".repeat(MAX_STATE_CHARS));
        assert!(pending_key(&parse_callback(&at_limit)).is_some());
        let over = format!("state={}", "s".repeat(MAX_STATE_CHARS + 1));
        assert_eq!(pending_key(&parse_callback(&over)), None);
        assert_eq!(
            pending_key(&parse_callback("state=abc&state=def")).as_deref(),
            Some("pending:abc")
        );
    }

    #[test]
    fn pending_login_routes() {
        let p = pending();
        let here = "https://acme.example.com";
        let route = |pending: Option<&PendingLogin>, now, origin, tenant, post| {
            route_pending(pending, now, origin, tenant, "code=c&state=s", post)
        };
        assert_eq!(
            route(Some(&p), 10, here, Some("acme"), false),
            PendingRoute::Here
        );
        assert_eq!(
            route(None, 10, here, Some("acme"), false),
            PendingRoute::Expired
        );
        // Past its 10 minutes even if KV still has it.
        let late = PENDING_LOGIN_TTL_SECS + 1;
        assert_eq!(
            route(Some(&p), late, here, Some("acme"), false),
            PendingRoute::Expired
        );
        assert_eq!(
            route(Some(&p), PENDING_LOGIN_TTL_SECS, here, Some("acme"), false),
            PendingRoute::Here
        );
        // Another tenant's login arriving on this host, or on the apex with the start origin.
        assert_eq!(
            route(Some(&p), 10, here, Some("beta"), false),
            PendingRoute::Expired
        );
        assert_eq!(
            route(Some(&p), 10, here, None, false),
            PendingRoute::Expired
        );
        // Another tenant's login on this tenant's other host (a custom domain, say) is
        // unknown here, not relayed: only the apex bounces across tenants.
        let custom = "https://members.acme.example";
        assert_eq!(
            route(Some(&p), 10, custom, Some("beta"), false),
            PendingRoute::Expired
        );
        assert_eq!(
            route(Some(&p), 10, custom, Some("beta"), true),
            PendingRoute::Expired
        );
        // The same tenant's other host relays to where the login started.
        assert_eq!(
            route(Some(&p), 10, custom, Some("acme"), false),
            PendingRoute::Relay {
                status: 302,
                location: "https://acme.example.com/authorization-code/callback?code=c&state=s"
                    .into()
            }
        );
        // Started elsewhere: relayed there, the query kept for GET, the body re-posted.
        let apex = "https://example.com";
        assert_eq!(
            route(Some(&p), 10, apex, None, false),
            PendingRoute::Relay {
                status: 302,
                location: "https://acme.example.com/authorization-code/callback?code=c&state=s"
                    .into()
            }
        );
        assert_eq!(
            route(Some(&p), 10, apex, None, true),
            PendingRoute::Relay {
                status: 307,
                location: "https://acme.example.com/authorization-code/callback".into()
            }
        );
    }

    #[test]
    fn good_callback_yields_the_code() {
        let p = parse_callback("code=c1&state=s&iss=https%3A%2F%2Facme.okta.com");
        assert_eq!(
            check_callback(&p, &pending(), Some("browser-1"), ISS),
            Ok("c1")
        );
        let without_iss = parse_callback("code=c1&state=s");
        assert_eq!(
            check_callback(&without_iss, &pending(), Some("browser-1"), ISS),
            Ok("c1")
        );
    }

    #[test]
    fn another_browser_is_refused_first() {
        let p = parse_callback("code=c1&state=s&error=access_denied");
        assert_eq!(
            check_callback(&p, &pending(), Some("browser-2"), ISS),
            Err(CallbackError::BrowserMismatch)
        );
        assert_eq!(
            check_callback(&p, &pending(), None, ISS),
            Err(CallbackError::BrowserMismatch)
        );
        assert_eq!(
            check_callback(&p, &pending(), Some("browser-1x"), ISS),
            Err(CallbackError::BrowserMismatch)
        );
    }

    #[test]
    fn idp_error_is_reported_with_its_description() {
        let p = parse_callback("state=s&error=access_denied&error_description=%3Cscript%3E");
        let err = check_callback(&p, &pending(), Some("browser-1"), ISS).unwrap_err();
        assert_eq!(
            err,
            CallbackError::Idp {
                error: "access_denied".into(),
                description: Some("<script>".into())
            }
        );
        assert_eq!(err.code(), "idp_access_denied");
        let other = parse_callback("state=s&error=server_error");
        assert_eq!(
            check_callback(&other, &pending(), Some("browser-1"), ISS)
                .unwrap_err()
                .code(),
            "idp_error"
        );
    }

    #[test]
    fn rfc9207_iss_mismatch_is_refused() {
        for iss in [
            "https%3A%2F%2Fevil.example",
            "https%3A%2F%2Facme.okta.com%2F",
            "http%3A%2F%2Facme.okta.com",
        ] {
            let p = parse_callback(&format!("code=c&state=s&iss={iss}"));
            assert_eq!(
                check_callback(&p, &pending(), Some("browser-1"), ISS),
                Err(CallbackError::IssuerMismatch),
                "{iss}"
            );
        }
    }

    #[test]
    fn missing_code_is_refused() {
        let p = parse_callback("state=s");
        assert_eq!(
            check_callback(&p, &pending(), Some("browser-1"), ISS),
            Err(CallbackError::MissingCode)
        );
    }

    #[test]
    fn parses_known_parameters() {
        let p = parse_callback("code=abc&state=s%2B1&iss=https%3A%2F%2Fa.example&x=y");
        assert_eq!(p.code.as_deref(), Some("abc"));
        assert_eq!(p.state.as_deref(), Some("s+1"));
        assert_eq!(p.iss.as_deref(), Some("https://a.example"));
    }

    #[test]
    fn first_wins_and_empty_is_absent() {
        let p = parse_callback(
            "state=a&state=b&code=&error=access_denied&error_description=%3Cscript%3E",
        );
        assert_eq!(p.state.as_deref(), Some("a"));
        assert_eq!(p.code, None);
        assert_eq!(p.error.as_deref(), Some("access_denied"));
        assert_eq!(p.error_description.as_deref(), Some("<script>"));
    }

    #[test]
    fn garbage_is_harmless() {
        assert_eq!(parse_callback("%%%&&&==="), CallbackParams::default());
        assert_eq!(parse_callback(""), CallbackParams::default());
    }
}
