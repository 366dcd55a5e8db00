//! Step-up and re-authentication for one login (OIDC Core 3.1.2.1 `prompt`, `max_age`,
//! `acr_values`): what a request may ask for, what is sent to the IdP once merged with the
//! tenant's own requirements, and the callback's check of the ID token against what was sent
//! (OIDC Core 3.1.3.7 steps 12–13).
//!
//! The rule that matters: a request can make a login stricter, never weaker. The smaller
//! `max_age` is sent; a tenant's `acr_values` can only be repeated, never replaced; a value
//! that is malformed is refused, never silently dropped (a dropped step-up is a silent
//! downgrade).

use serde::{Deserialize, Serialize};

use crate::core::id_token::CLOCK_SKEW_SECS;

/// The largest `max_age`, in seconds (one year): tenant config and requests alike.
pub const MAX_AGE_LIMIT: u64 = 31_536_000;
/// Longest `acr_values` accepted, from a tenant or a request.
pub const MAX_ACR_VALUES_LEN: usize = 256;

/// `prompt` values a portal may ask for. `none` is not one: a login that must not show the
/// member anything cannot be a sign-in through this worker.
const PROMPTS: [&str; 3] = ["login", "consent", "select_account"];

/// `acr_values`: 1–256 printable ASCII characters, space-separated values (no empty one).
pub fn parse_acr_values(input: &str) -> Result<String, String> {
    if input.is_empty() || input.len() > MAX_ACR_VALUES_LEN {
        return Err(format!(
            "must be 1–{MAX_ACR_VALUES_LEN} printable ASCII characters"
        ));
    }
    if !input.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err("must be printable ASCII".into());
    }
    if input.split(' ').any(str::is_empty) {
        return Err("must be values separated by single spaces".into());
    }
    Ok(input.to_owned())
}

/// `max_age` as a request sends it: a whole number of seconds, 0 to one year.
pub fn parse_max_age(input: &str) -> Result<u64, String> {
    let ok = !input.is_empty() && input.len() <= 10 && input.bytes().all(|b| b.is_ascii_digit());
    match input.parse::<u64>() {
        Ok(n) if ok && n <= MAX_AGE_LIMIT => Ok(n),
        _ => Err(format!(
            "must be a whole number of seconds from 0 to {MAX_AGE_LIMIT}"
        )),
    }
}

/// `prompt`: a space-separated list of `login`, `consent`, `select_account`.
pub fn parse_prompt(input: &str) -> Result<String, String> {
    let values: Vec<&str> = input.split(' ').collect();
    if input.is_empty() || values.iter().any(|v| !PROMPTS.contains(v)) {
        return Err("must be login, consent or select_account (space-separated)".into());
    }
    Ok(input.to_owned())
}

/// What a request asked for, as received (each `None` when absent).
#[derive(Debug, Default, Clone, Copy)]
pub struct StepUpRequest<'a> {
    pub prompt: Option<&'a str>,
    pub max_age: Option<&'a str>,
    pub acr_values: Option<&'a str>,
}

/// What is sent on the authorize request and checked at the callback; kept in the pending
/// login.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepUp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
}

/// Why a request's step-up parameters were refused (a 400 page, never dropped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepUpError {
    #[error("prompt {0}")]
    Prompt(String),
    #[error("max_age {0}")]
    MaxAge(String),
    #[error("acr_values {0}")]
    AcrValues(String),
    #[error("acr_values differ from the tenant's own, which every login must use")]
    AcrWeaker,
}

impl StepUpError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Prompt(_) => "bad_prompt",
            Self::MaxAge(_) => "bad_max_age",
            Self::AcrValues(_) => "bad_acr_values",
            Self::AcrWeaker => "acr_values_weaker",
        }
    }
}

impl StepUp {
    /// The tenant's own requirements (`/login/initiate` and the app take no others).
    pub fn of_tenant(max_age: Option<u64>, acr_values: Option<&str>) -> Self {
        Self {
            prompt: None,
            max_age,
            acr_values: acr_values.map(str::to_owned),
        }
    }

    /// The tenant's requirements made stricter by a request: the smaller `max_age`; the
    /// request's `acr_values` only where the tenant sets none, or equal to the tenant's.
    pub fn merge(
        tenant_max_age: Option<u64>,
        tenant_acr: Option<&str>,
        req: &StepUpRequest<'_>,
    ) -> Result<Self, StepUpError> {
        let prompt = req
            .prompt
            .map(parse_prompt)
            .transpose()
            .map_err(StepUpError::Prompt)?;
        let asked_age = req
            .max_age
            .map(parse_max_age)
            .transpose()
            .map_err(StepUpError::MaxAge)?;
        let asked_acr = req
            .acr_values
            .map(parse_acr_values)
            .transpose()
            .map_err(StepUpError::AcrValues)?;
        let max_age = match (tenant_max_age, asked_age) {
            (Some(t), Some(r)) => Some(t.min(r)),
            (t, r) => t.or(r),
        };
        let acr_values = match (tenant_acr, asked_acr) {
            (Some(t), Some(r)) if t != r => return Err(StepUpError::AcrWeaker),
            (Some(t), _) => Some(t.to_owned()),
            (None, r) => r,
        };
        Ok(Self {
            prompt,
            max_age,
            acr_values,
        })
    }

    fn asks_fresh_login(&self) -> bool {
        self.prompt
            .as_deref()
            .is_some_and(|p| p.split(' ').any(|v| v == "login"))
    }
}

/// Why a verified ID token does not meet what the login asked for (a 403 page).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    #[error("max_age or prompt=login was sent but the ID token has no auth_time")]
    MissingAuthTime,
    #[error("the member authenticated longer ago than max_age allows")]
    AuthTooOld,
    #[error("prompt=login was sent but the member authenticated before this login started")]
    NotReauthenticated,
    #[error("the ID token's auth_time is in the future")]
    AuthTimeInFuture,
    #[error("acr_values was sent but the ID token has no acr")]
    MissingAcr,
    #[error("the ID token's acr is not one of the acr_values sent")]
    AcrNotRequested,
}

impl RequirementError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthTime => "auth_time_missing",
            Self::AuthTooOld => "auth_time_too_old",
            Self::NotReauthenticated => "auth_time_before_login",
            Self::AuthTimeInFuture => "auth_time_in_future",
            Self::MissingAcr => "acr_missing",
            Self::AcrNotRequested => "acr_not_requested",
        }
    }
}

/// OIDC Core 3.1.3.7 steps 12–13 for what `sent` asked, on a token that passed every other
/// check: `auth_time` within `max_age` (with the clock skew), after the login started when
/// `prompt=login` was sent, and `acr` one of the values sent.
pub fn check_requirements(
    sent: &StepUp,
    auth_time: Option<u64>,
    acr: Option<&str>,
    login_created_at: u64,
    now: u64,
) -> Result<(), RequirementError> {
    if sent.max_age.is_some() || sent.asks_fresh_login() {
        let auth_time = auth_time.ok_or(RequirementError::MissingAuthTime)?;
        // A time ahead of the clock (beyond the skew) would pass any max_age: refused.
        if auth_time > now.saturating_add(CLOCK_SKEW_SECS) {
            return Err(RequirementError::AuthTimeInFuture);
        }
        if let Some(max_age) = sent.max_age {
            if now
                > auth_time
                    .saturating_add(max_age)
                    .saturating_add(CLOCK_SKEW_SECS)
            {
                return Err(RequirementError::AuthTooOld);
            }
        }
        if sent.asks_fresh_login() && auth_time < login_created_at.saturating_sub(CLOCK_SKEW_SECS) {
            return Err(RequirementError::NotReauthenticated);
        }
    }
    if let Some(values) = &sent.acr_values {
        let acr = acr.ok_or(RequirementError::MissingAcr)?;
        if !values.split(' ').any(|v| v == acr) {
            return Err(RequirementError::AcrNotRequested);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MFA: &str = "urn:okta:loa:2fa:any";

    fn req<'a>(
        prompt: Option<&'a str>,
        max_age: Option<&'a str>,
        acr: Option<&'a str>,
    ) -> StepUpRequest<'a> {
        StepUpRequest {
            prompt,
            max_age,
            acr_values: acr,
        }
    }

    #[test]
    fn malformed_values_are_refused_not_dropped() {
        for (r, code) in [
            (req(Some("none"), None, None), "bad_prompt"),
            (req(Some(""), None, None), "bad_prompt"),
            (req(Some("login none"), None, None), "bad_prompt"),
            (req(Some("login  consent"), None, None), "bad_prompt"),
            (req(Some("LOGIN"), None, None), "bad_prompt"),
            (req(None, Some("-1"), None), "bad_max_age"),
            (req(None, Some("abc"), None), "bad_max_age"),
            (req(None, Some(""), None), "bad_max_age"),
            (req(None, Some("1e3"), None), "bad_max_age"),
            (req(None, Some("31536001"), None), "bad_max_age"),
            (req(None, Some("99999999999999999999"), None), "bad_max_age"),
            (req(None, None, Some("")), "bad_acr_values"),
            (req(None, None, Some("a\u{7f}")), "bad_acr_values"),
            (req(None, None, Some("é")), "bad_acr_values"),
            (req(None, None, Some(" a")), "bad_acr_values"),
            (req(None, None, Some(&"a".repeat(257))), "bad_acr_values"),
        ] {
            let err = StepUp::merge(None, None, &r).unwrap_err();
            assert_eq!(err.code(), code, "{r:?}");
        }
    }

    #[test]
    fn good_values_are_sent() {
        let s = StepUp::merge(
            None,
            None,
            &req(Some("login select_account"), Some("0"), Some("a b")),
        )
        .unwrap();
        assert_eq!(s.prompt.as_deref(), Some("login select_account"));
        assert_eq!(s.max_age, Some(0));
        assert_eq!(s.acr_values.as_deref(), Some("a b"));
        assert_eq!(
            StepUp::merge(None, None, &req(None, Some("31536000"), None))
                .unwrap()
                .max_age,
            Some(MAX_AGE_LIMIT)
        );
    }

    #[test]
    fn a_request_can_tighten_but_never_loosen() {
        // The smaller max_age wins, whichever side sets it.
        let s = StepUp::merge(Some(300), None, &req(None, Some("3600"), None)).unwrap();
        assert_eq!(s.max_age, Some(300), "raising the tenant's max_age");
        let s = StepUp::merge(Some(3600), None, &req(None, Some("60"), None)).unwrap();
        assert_eq!(s.max_age, Some(60));
        let s = StepUp::merge(Some(3600), None, &req(None, None, None)).unwrap();
        assert_eq!(
            s.max_age,
            Some(3600),
            "the tenant's stays without a request"
        );
        // The tenant's acr_values cannot be dropped or replaced, only repeated.
        let s = StepUp::merge(None, Some(MFA), &req(None, None, None)).unwrap();
        assert_eq!(s.acr_values.as_deref(), Some(MFA));
        assert_eq!(
            StepUp::merge(
                None,
                Some(MFA),
                &req(None, None, Some("urn:okta:loa:1fa:any"))
            ),
            Err(StepUpError::AcrWeaker)
        );
        assert!(StepUp::merge(None, Some(MFA), &req(None, None, Some(MFA))).is_ok());
        // Without the tenant's, a request's own acr_values are sent.
        let s = StepUp::merge(None, None, &req(None, None, Some(MFA))).unwrap();
        assert_eq!(s.acr_values.as_deref(), Some(MFA));
    }

    fn sent(prompt: Option<&str>, max_age: Option<u64>, acr: Option<&str>) -> StepUp {
        StepUp {
            prompt: prompt.map(str::to_owned),
            max_age,
            acr_values: acr.map(str::to_owned),
        }
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn nothing_sent_nothing_checked() {
        assert_eq!(
            check_requirements(&StepUp::default(), None, None, 0, NOW),
            Ok(())
        );
        let consent = sent(Some("consent"), None, None);
        assert_eq!(check_requirements(&consent, None, None, 0, NOW), Ok(()));
    }

    #[test]
    fn max_age_needs_a_recent_auth_time() {
        let s = sent(None, Some(600), None);
        assert_eq!(
            check_requirements(&s, None, None, NOW, NOW),
            Err(RequirementError::MissingAuthTime)
        );
        assert_eq!(
            check_requirements(&s, Some(NOW - 600), None, NOW, NOW),
            Ok(())
        );
        // Within the 120 s skew, then just past it.
        assert_eq!(
            check_requirements(&s, Some(NOW - 720), None, NOW, NOW),
            Ok(())
        );
        assert_eq!(
            check_requirements(&s, Some(NOW - 721), None, NOW, NOW),
            Err(RequirementError::AuthTooOld)
        );
        // max_age=0 still allows the skew: the member has just authenticated.
        let zero = sent(None, Some(0), None);
        assert_eq!(
            check_requirements(&zero, Some(NOW - 5), None, NOW, NOW),
            Ok(())
        );
    }

    #[test]
    fn an_auth_time_ahead_of_the_clock_is_refused() {
        let s = sent(Some("login"), Some(600), None);
        assert_eq!(
            check_requirements(&s, Some(NOW + 120), None, NOW, NOW),
            Ok(()),
            "skew"
        );
        for ahead in [NOW + 121, u64::MAX] {
            assert_eq!(
                check_requirements(&s, Some(ahead), None, NOW, NOW),
                Err(RequirementError::AuthTimeInFuture)
            );
        }
    }

    #[test]
    fn prompt_login_needs_authentication_after_the_start() {
        let s = sent(Some("login"), None, None);
        let started = NOW - 30;
        assert_eq!(
            check_requirements(&s, None, None, started, NOW),
            Err(RequirementError::MissingAuthTime)
        );
        assert_eq!(
            check_requirements(&s, Some(NOW - 10), None, started, NOW),
            Ok(())
        );
        assert_eq!(
            check_requirements(&s, Some(started - 120), None, started, NOW),
            Ok(()),
            "within the skew"
        );
        assert_eq!(
            check_requirements(&s, Some(started - 121), None, started, NOW),
            Err(RequirementError::NotReauthenticated)
        );
        let with_consent = sent(Some("consent login"), None, None);
        assert_eq!(
            check_requirements(&with_consent, Some(started - 3600), None, started, NOW),
            Err(RequirementError::NotReauthenticated)
        );
    }

    #[test]
    fn acr_must_be_one_of_the_values_sent() {
        let s = sent(None, None, Some("urn:a urn:b"));
        assert_eq!(check_requirements(&s, None, Some("urn:b"), 0, NOW), Ok(()));
        assert_eq!(
            check_requirements(&s, None, None, 0, NOW),
            Err(RequirementError::MissingAcr)
        );
        for weaker in ["urn:c", "urn:a urn:b", "URN:A", "urn:", ""] {
            assert_eq!(
                check_requirements(&s, None, Some(weaker), 0, NOW),
                Err(RequirementError::AcrNotRequested),
                "{weaker}"
            );
        }
    }

    #[test]
    fn pending_logins_without_step_up_read_as_none() {
        let s: StepUp = serde_json::from_str("{}").unwrap();
        assert_eq!(s, StepUp::default());
        assert_eq!(serde_json::to_string(&StepUp::default()).unwrap(), "{}");
    }
}
