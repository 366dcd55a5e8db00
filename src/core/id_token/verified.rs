//! The verified ID token: what the rest of the worker may believe about the member.
//!
//! Constructed only by `verify_id_token` (the constructor is visible to `id_token` alone).

use serde_json::{Map, Value};

use super::Claims;
use crate::core::field::Field;

/// An ID token that passed every check. Only `verify_id_token` builds one.
#[derive(Clone, PartialEq)]
pub struct VerifiedIdToken {
    sub: String,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    idp: Option<String>,
    auth_time: Option<u64>,
    acr: Option<String>,
    amr: Option<Vec<String>>,
    sid: Option<String>,
    exp: u64,
    iat: u64,
    /// The payload as signed (decoded JSON), for `claims`.
    payload: Vec<u8>,
}

impl VerifiedIdToken {
    pub fn sub(&self) -> &str {
        &self.sub
    }
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    /// `Some(true)` only for JSON `true`; any other value present (`"true"`, `1`, `false`…)
    /// is `Some(false)`: one rule with userinfo's (`member::verified_flag`).
    pub fn email_verified(&self) -> Option<bool> {
        self.email_verified
    }
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    pub fn given_name(&self) -> Option<&str> {
        self.given_name.as_deref()
    }
    pub fn family_name(&self) -> Option<&str> {
        self.family_name.as_deref()
    }
    /// Okta's `idp` claim: the Identity Provider that authenticated the member.
    pub fn idp(&self) -> Option<&str> {
        self.idp.as_deref()
    }
    /// When the member last authenticated at the IdP, when it says (a NumericDate).
    pub fn auth_time(&self) -> Option<u64> {
        self.auth_time
    }
    pub fn acr(&self) -> Option<&str> {
        self.acr.as_deref()
    }
    /// Authentication methods, when sent as an array of strings.
    pub fn amr(&self) -> Option<&[String]> {
        self.amr.as_deref()
    }
    /// Okta's session id.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    pub fn exp(&self) -> u64 {
        self.exp
    }
    pub fn iat(&self) -> u64 {
        self.iat
    }
    /// Every claim as signed, for anything the getters don't cover. Parsed on each call:
    /// the sign-in itself reads only the getters above.
    pub fn claims(&self) -> Map<String, Value> {
        serde_json::from_slice(&self.payload).unwrap_or_default()
    }
}

// Claims are personal data; keep them out of Debug dumps.
impl std::fmt::Debug for VerifiedIdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedIdToken")
            .field("sub", &self.sub)
            .field("exp", &self.exp)
            .field("iat", &self.iat)
            .finish_non_exhaustive()
    }
}

/// Optional profile claims are read leniently: a wrong type or an empty string is "absent",
/// so the edge falls back to userinfo rather than failing the sign-in.
fn optional_string(claim: &Field) -> Option<String> {
    claim.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// SPEC step 7: true only when JSON `true`; absent or `null` is "not said"; anything else
/// (`"true"`, `1`, `false`) is "not verified" — the same rule as `member::verified_flag`.
fn email_verified(claim: &Field) -> Option<bool> {
    match claim {
        Field::Absent | Field::Null => None,
        Field::Bool(true) => Some(true),
        _ => Some(false),
    }
}

/// A NumericDate read leniently (only for facts handed on, never for checks of our own).
fn date(claim: &Field) -> Option<u64> {
    match claim {
        Field::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f as u64)
        }),
        _ => None,
    }
}

fn strings(claim: &Field) -> Option<Vec<String>> {
    match claim {
        Field::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

impl VerifiedIdToken {
    pub(super) fn from_checked_claims(
        sub: String,
        exp: u64,
        iat: u64,
        claims: &Claims,
        payload: Vec<u8>,
    ) -> Self {
        Self {
            sub,
            email: optional_string(&claims.email),
            email_verified: email_verified(&claims.email_verified),
            name: optional_string(&claims.name),
            given_name: optional_string(&claims.given_name),
            family_name: optional_string(&claims.family_name),
            idp: optional_string(&claims.idp),
            auth_time: date(&claims.auth_time),
            acr: optional_string(&claims.acr),
            amr: strings(&claims.amr),
            sid: optional_string(&claims.sid),
            exp,
            iat,
            payload,
        }
    }
}
