//! Cloudflare Access in front of the settings page (SPEC "Settings page"): the
//! `Cf-Access-Jwt-Assertion` each request carries, verified like an ID token — RS256 only, a
//! key from the team's certs chosen by `kid`, the signature through the runtime's WebCrypto —
//! then `iss` (the team's origin), `aud` (contains `ACCESS_AUD`), `exp`/`iat`/`nbf` with the
//! usual skew, and the `email` the settings page authorizes by.

use crate::core::config::{is_loopback_host, okta_domain_rule};
use crate::core::field::{members, Field};
use crate::core::id_token::{
    check_signature, check_times_of, IdTokenError, SignatureVerifier, SignedJws,
};
use crate::core::jwks::{Jwks, JwsAlg};

/// How the settings page authenticates, from `ACCESS_TEAM_DOMAIN` and `ACCESS_AUD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsAuth {
    /// Neither var is set: platform staff sign in with the `ADMIN_TOKEN`.
    Token,
    /// Both are set: operators' admins through Cloudflare Access.
    Access(AccessConfig),
    /// One without the other, or a team domain that is not a host: every `/settings`
    /// request answers 503 (never a fall back to the token).
    Misconfigured(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// `https://{team domain}` (`http` for a loopback one under `LOCAL_DEV`): the tokens'
    /// `iss`, and where the certs are.
    pub team_origin: String,
    pub aud: String,
}

impl AccessConfig {
    pub fn certs_url(&self) -> String {
        format!("{}/cdn-cgi/access/certs", self.team_origin)
    }
}

impl SettingsAuth {
    pub fn from_vars(team: Option<&str>, aud: Option<&str>, local_dev: bool) -> Self {
        match (team.map(str::trim), aud.map(str::trim)) {
            (None, None) => Self::Token,
            (Some(team), Some(aud)) if !aud.is_empty() => match okta_domain_rule(team, local_dev) {
                Ok(host) => {
                    let scheme = if local_dev && is_loopback_host(&host) {
                        "http"
                    } else {
                        "https"
                    };
                    Self::Access(AccessConfig {
                        team_origin: format!("{scheme}://{host}"),
                        aud: aud.to_owned(),
                    })
                }
                Err(why) => Self::Misconfigured(format!("ACCESS_TEAM_DOMAIN {why}")),
            },
            (Some(_), _) => Self::Misconfigured(
                "ACCESS_TEAM_DOMAIN is set without ACCESS_AUD: set both for Cloudflare Access, \
                 or neither for ADMIN_TOKEN sign-in"
                    .into(),
            ),
            (None, Some(_)) => Self::Misconfigured(
                "ACCESS_AUD is set without ACCESS_TEAM_DOMAIN: set both for Cloudflare Access, \
                 or neither for ADMIN_TOKEN sign-in"
                    .into(),
            ),
        }
    }
}

/// Who an Access token says is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessIdentity {
    pub email: String,
    /// Access's stable id for the user: what the settings page's CSRF token is derived from.
    pub sub: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("no Cf-Access-Jwt-Assertion header")]
    Missing,
    #[error("Access token: {0}")]
    Token(#[from] IdTokenError),
    #[error("Access token iss is not the team domain")]
    WrongIssuer,
    #[error("Access token aud does not contain ACCESS_AUD")]
    WrongAudience,
    #[error("Access token has no email or sub")]
    NoIdentity,
    /// Not the token's fault: the team's certs (or the store) could not be reached (503).
    #[error("{0}")]
    Unavailable(&'static str),
}

impl AccessError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "access_token_missing",
            Self::Token(e) => match e {
                IdTokenError::UnknownKid => "access_unknown_kid",
                IdTokenError::BadSignature => "access_bad_signature",
                IdTokenError::Expired => "access_expired",
                _ => "access_token_invalid",
            },
            Self::WrongIssuer => "access_wrong_issuer",
            Self::WrongAudience => "access_wrong_audience",
            Self::NoIdentity => "access_no_identity",
            Self::Unavailable(_) => "access_certs_unavailable",
        }
    }
}

/// Verifies an Access token against the team's certs.
pub async fn verify_access_token<V: SignatureVerifier + ?Sized>(
    raw: &str,
    certs: &Jwks,
    config: &AccessConfig,
    now: u64,
    verifier: &V,
) -> Result<AccessIdentity, AccessError> {
    let token = SignedJws::parse(raw)?;
    let [iss, aud, exp, nbf, iat, email, sub] = members(
        &token.payload,
        ["iss", "aud", "exp", "nbf", "iat", "email", "sub"],
    )
    .ok_or(IdTokenError::Malformed(
        "payload is not a JSON object with unique members",
    ))?;
    check_signature(&token, certs, &[JwsAlg::Rs256], verifier).await?;
    if iss.as_str() != Some(config.team_origin.as_str()) {
        return Err(AccessError::WrongIssuer);
    }
    let audience = match &aud {
        Field::Str(a) => *a == config.aud,
        Field::Array(list) => list.iter().any(|a| a.as_str() == Some(config.aud.as_str())),
        _ => false,
    };
    if !audience {
        return Err(AccessError::WrongAudience);
    }
    check_times_of(&exp, &nbf, &iat, now)?;
    match (email.as_str(), sub.as_str()) {
        (Some(e), Some(s)) if !e.is_empty() && !s.is_empty() => Ok(AccessIdentity {
            email: e.to_owned(),
            sub: s.to_owned(),
        }),
        _ => Err(AccessError::NoIdentity),
    }
}

#[cfg(test)]
mod tests;
