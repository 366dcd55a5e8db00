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
    /// `Some(false)` also for a value that is neither a bool nor "true"/"false": an email
    /// is treated as verified only when the IdP clearly says so.
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

/// Some IdPs send `email_verified` as a string. Anything unrecognised counts as unverified.
fn email_verified(claim: &Field) -> Option<bool> {
    match claim {
        Field::Absent | Field::Null => None,
        Field::Bool(b) => Some(*b),
        Field::Str(s) => Some(s.eq_ignore_ascii_case("true")),
        _ => Some(false),
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
            exp,
            iat,
            payload,
        }
    }
}
