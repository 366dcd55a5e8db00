//! `GET|POST /login/initiate` — third-party-initiated login (OIDC Core §4): the Okta
//! dashboard tile's "Initiate login URI". Okta names its issuer; the worker checks that it is
//! this tenant's, takes `login_hint` and a `target_link_uri` on the tenant's own portal, and
//! then starts the ordinary login. Nothing else is taken from this route: no `portal_state`
//! and no per-request step-up (the tenant's own `max_age` and `acr_values` still apply).

use url::{form_urlencoded, Url};

use crate::core::authorize::{sanitize_login_hint, LoginRequest};
use crate::core::return_to::sanitize_return_to;
use crate::core::step_up::StepUp;

/// Largest form body (or query) read.
pub const MAX_INITIATE_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitiateError {
    #[error("iss is missing")]
    MissingIssuer,
    #[error("iss is not this tenant's issuer")]
    WrongIssuer,
    #[error("{0} appears more than once")]
    Repeated(&'static str),
}

impl InitiateError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingIssuer => "initiate_missing_iss",
            Self::WrongIssuer => "initiate_wrong_iss",
            Self::Repeated(_) => "repeated_parameter",
        }
    }
}

/// The tenant facts `/login/initiate` is judged against.
pub struct InitiateContext<'a> {
    /// The tenant's issuer (its authorization server).
    pub issuer: &'a str,
    /// The Okta org's issuer, which a dashboard tile may send instead.
    pub org_issuer: &'a str,
    /// The tenant's `portal_url` (an origin, as stored).
    pub portal_url: &'a str,
    pub max_age: Option<u64>,
    pub acr_values: Option<&'a str>,
}

/// The login to start for `raw` (the query, or the form body of a POST).
pub fn initiate_request(
    raw: &str,
    ctx: &InitiateContext<'_>,
) -> Result<LoginRequest, InitiateError> {
    const NAMES: [&str; 3] = ["iss", "login_hint", "target_link_uri"];
    let mut values: [Option<String>; 3] = Default::default();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if let Some(i) = NAMES.iter().position(|n| *n == k) {
            if values[i].is_some() {
                return Err(InitiateError::Repeated(NAMES[i]));
            }
            values[i] = Some(v.into_owned());
        }
    }
    let [iss, login_hint, target] = values;
    let iss = iss
        .filter(|i| !i.is_empty())
        .ok_or(InitiateError::MissingIssuer)?;
    // Exactly: no trailing slash, case or scheme leniency (the tile and the tenant's Okta
    // must agree on the issuer, as the ID token's `iss` later must).
    if iss != ctx.issuer && iss != ctx.org_issuer {
        return Err(InitiateError::WrongIssuer);
    }
    Ok(LoginRequest {
        return_to: target
            .as_deref()
            .and_then(|t| return_to_of(t, ctx.portal_url)),
        login_hint: login_hint.as_deref().and_then(sanitize_login_hint),
        step_up: StepUp::of_tenant(ctx.max_age, ctx.acr_values),
        ..LoginRequest::default()
    })
}

/// A `target_link_uri` on the portal's own origin becomes `return_to` (its path and query,
/// under the usual rules); any other value is ignored.
fn return_to_of(target: &str, portal_url: &str) -> Option<String> {
    let url = Url::parse(target).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.origin().ascii_serialization() != portal_url
    {
        return None;
    }
    let path_and_query = &url[url::Position::BeforePath..url::Position::AfterQuery];
    sanitize_return_to(path_and_query)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://acme.okta.com/oauth2/default";
    const ORG: &str = "https://acme.okta.com";
    const PORTAL: &str = "https://portal.acme.example";

    fn ctx() -> InitiateContext<'static> {
        InitiateContext {
            issuer: ISS,
            org_issuer: ORG,
            portal_url: PORTAL,
            max_age: Some(600),
            acr_values: Some("urn:okta:loa:2fa:any"),
        }
    }

    fn form(pairs: &[(&str, &str)]) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish()
    }

    #[test]
    fn the_tenants_issuer_or_its_org_issuer_exactly() {
        for iss in [ISS, ORG] {
            assert!(
                initiate_request(&form(&[("iss", iss)]), &ctx()).is_ok(),
                "{iss}"
            );
        }
        assert_eq!(
            initiate_request(&form(&[("login_hint", "a")]), &ctx()).unwrap_err(),
            InitiateError::MissingIssuer
        );
        assert_eq!(
            initiate_request(&form(&[("iss", "")]), &ctx()).unwrap_err(),
            InitiateError::MissingIssuer
        );
        for wrong in [
            "https://acme.okta.com/",
            "https://acme.okta.com/oauth2/default/",
            "https://beta.okta.com",
            "http://acme.okta.com",
            "https://ACME.okta.com",
            "https://acme.okta.com/oauth2/other",
        ] {
            assert_eq!(
                initiate_request(&form(&[("iss", wrong)]), &ctx()).unwrap_err(),
                InitiateError::WrongIssuer,
                "{wrong}"
            );
        }
        let twice = format!("{}&iss=x", form(&[("iss", ISS)]));
        assert_eq!(
            initiate_request(&twice, &ctx()).unwrap_err().code(),
            "repeated_parameter"
        );
    }

    #[test]
    fn target_link_uri_only_on_the_portal_origin() {
        let target = |t: &str| {
            initiate_request(&form(&[("iss", ISS), ("target_link_uri", t)]), &ctx())
                .unwrap()
                .return_to
        };
        assert_eq!(
            target("https://portal.acme.example/bookings?day=mon").as_deref(),
            Some("/bookings?day=mon")
        );
        assert_eq!(target("https://portal.acme.example").as_deref(), Some("/"));
        for ignored in [
            "https://evil.example/bookings",
            "https://portal.acme.example.evil.io/x",
            "http://portal.acme.example/x",
            "https://portal.acme.example:8443/x",
            "javascript:alert(1)",
            "//portal.acme.example/x",
            "/bookings",
            "https://portal.acme.example/go?next=https://evil.example",
            "https://portal.acme.example//evil.example",
        ] {
            assert_eq!(target(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn the_tenants_own_step_up_applies_and_nothing_else_is_taken() {
        let raw = form(&[
            ("iss", ISS),
            ("login_hint", "ada@example.com"),
            ("portal_state", "x"),
            ("max_age", "99999"),
            ("prompt", "login"),
            ("acr_values", "weak"),
        ]);
        let r = initiate_request(&raw, &ctx()).unwrap();
        assert_eq!(r.login_hint.as_deref(), Some("ada@example.com"));
        assert_eq!(r.portal_state, None);
        assert_eq!(
            r.step_up,
            StepUp::of_tenant(Some(600), Some("urn:okta:loa:2fa:any"))
        );
        assert!(r.app.is_none());
    }
}
