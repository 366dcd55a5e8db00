//! The verified ID token: what the rest of the worker may believe about the member.
//!
//! Constructed only by `verify_id_token` (the constructor is visible to `id_token` alone).

use serde_json::{Map, Value};

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
    claims: Map<String, Value>,
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
    /// Every claim as signed, for anything the getters don't cover.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
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
fn optional_string(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Some IdPs send `email_verified` as a string. Anything unrecognised counts as unverified.
fn email_verified(claims: &Map<String, Value>) -> Option<bool> {
    match claims.get("email_verified") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => Some(s.eq_ignore_ascii_case("true")),
        Some(_) => Some(false),
    }
}

impl VerifiedIdToken {
    pub(super) fn from_checked_claims(
        sub: String,
        exp: u64,
        iat: u64,
        claims: Map<String, Value>,
    ) -> Self {
        Self {
            sub,
            email: optional_string(&claims, "email"),
            email_verified: email_verified(&claims),
            name: optional_string(&claims, "name"),
            given_name: optional_string(&claims, "given_name"),
            family_name: optional_string(&claims, "family_name"),
            idp: optional_string(&claims, "idp"),
            exp,
            iat,
            claims,
        }
    }
}
