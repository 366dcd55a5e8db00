//! The signed-in member: who the IdP says they are, after the ID token (and, when it lacked
//! email or name, userinfo) has been checked.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub sub: String,
    pub email: String,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub idp: Option<String>,
}

/// Identity claims as the ID token carried them (email may be missing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityClaims {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub idp: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    #[error("the identity provider supplied no email address")]
    NoEmail,
    #[error("the identity provider says the email address is not verified")]
    EmailUnverified,
}

impl MemberError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoEmail => "no_email",
            Self::EmailUnverified => "email_unverified",
        }
    }
}

impl IdentityClaims {
    /// SPEC step 7: userinfo is fetched when the ID token lacks `email` or `name`.
    pub fn needs_userinfo(&self) -> bool {
        self.email.is_none() || self.name.is_none()
    }

    /// Fills what the ID token lacked from userinfo (whose `sub` the caller has checked).
    pub fn merge_userinfo(mut self, info: &Map<String, Value>) -> Self {
        let text = |k: &str| {
            info.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        if self.email.is_none() {
            // An email from userinfo is only as verified as userinfo says: the ID token's
            // `email_verified` spoke about a different (absent) address.
            self.email = text("email");
            self.email_verified = info.get("email_verified").and_then(bool_claim);
        } else if self.email_verified.is_none() {
            self.email_verified = info.get("email_verified").and_then(bool_claim);
        }
        self.name = self.name.or_else(|| text("name"));
        self.given_name = self.given_name.or_else(|| text("given_name"));
        self.family_name = self.family_name.or_else(|| text("family_name"));
        self
    }

    /// SPEC step 7: no email → refused; an explicit `email_verified: false` → refused unless
    /// the tenant allows unverified email.
    pub fn into_member(self, allow_unverified_email: bool) -> Result<Member, MemberError> {
        let email = self.email.ok_or(MemberError::NoEmail)?;
        if self.email_verified == Some(false) && !allow_unverified_email {
            return Err(MemberError::EmailUnverified);
        }
        Ok(Member {
            sub: self.sub,
            email,
            email_verified: self.email_verified,
            name: self.name,
            given_name: self.given_name,
            family_name: self.family_name,
            idp: self.idp,
        })
    }
}

/// `email_verified` as a JSON bool, or the strings "true"/"false" some IdPs send.
pub fn bool_claim(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> IdentityClaims {
        IdentityClaims {
            sub: "u1".into(),
            email: Some("a@b.c".into()),
            email_verified: Some(true),
            name: Some("Ada".into()),
            ..Default::default()
        }
    }

    #[test]
    fn complete_claims_need_no_userinfo() {
        assert!(!claims().needs_userinfo());
        assert!(IdentityClaims {
            name: None,
            ..claims()
        }
        .needs_userinfo());
        assert!(IdentityClaims {
            email: None,
            ..claims()
        }
        .needs_userinfo());
    }

    #[test]
    fn userinfo_fills_gaps_but_never_overrides() {
        let info = serde_json::json!({"sub":"u1","email":"other@b.c","name":"From Userinfo","email_verified":"true","family_name":"L"});
        let merged = IdentityClaims {
            name: None,
            email_verified: None,
            ..claims()
        }
        .merge_userinfo(info.as_object().unwrap());
        assert_eq!(merged.email.as_deref(), Some("a@b.c"));
        assert_eq!(merged.name.as_deref(), Some("From Userinfo"));
        assert_eq!(merged.email_verified, Some(true));
        assert_eq!(merged.family_name.as_deref(), Some("L"));
    }

    #[test]
    fn email_from_userinfo_takes_its_verification_from_userinfo() {
        let info = serde_json::json!({"sub":"u1","email":"a@b.c"});
        let merged = IdentityClaims {
            email: None,
            email_verified: Some(true),
            ..claims()
        }
        .merge_userinfo(info.as_object().unwrap());
        assert_eq!(merged.email.as_deref(), Some("a@b.c"));
        assert_eq!(
            merged.email_verified, None,
            "the ID token's true was about no address at all"
        );
    }

    #[test]
    fn email_rules() {
        assert_eq!(
            IdentityClaims {
                email: None,
                ..claims()
            }
            .into_member(false),
            Err(MemberError::NoEmail)
        );
        let unverified = IdentityClaims {
            email_verified: Some(false),
            ..claims()
        };
        assert_eq!(
            unverified.clone().into_member(false),
            Err(MemberError::EmailUnverified)
        );
        assert!(unverified.into_member(true).is_ok());
        // Absent email_verified is not an explicit false.
        assert!(IdentityClaims {
            email_verified: None,
            ..claims()
        }
        .into_member(false)
        .is_ok());
    }
}
