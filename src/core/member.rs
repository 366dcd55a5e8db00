//! The signed-in member: who the IdP says they are, after the ID token (and, when it lacked
//! email, name or the groups claim, userinfo) has been checked.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::id_token::VerifiedIdToken;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub sub: String,
    pub email: String,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub idp: Option<String>,
    /// The member's groups when the tenant sets `groups_claim` (empty when none were found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    pub auth: AuthFacts,
}

/// How the member authenticated, as the ID token says, handed on to the portal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Where the member's groups stand while identity is being gathered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Groups {
    /// The tenant sets no `groups_claim`.
    #[default]
    NotWanted,
    /// Wanted, and not in the ID token: userinfo is asked.
    Wanted(String),
    /// Found (or decided to be none).
    Known(Vec<String>),
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
    pub groups: Groups,
    pub auth: AuthFacts,
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

/// SPEC step 7, for the ID token and userinfo alike: `Some(true)` only for JSON `true`;
/// absent or `null` is `None`; anything else (`"true"`, `1`, `false`) is `Some(false)`.
pub fn verified_flag(v: Option<&Value>) -> Option<bool> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Bool(true)) => Some(true),
        Some(_) => Some(false),
    }
}

/// A groups claim's value: an array of strings, or one string; anything else (a number, an
/// array holding a non-string) counts as no groups.
pub fn groups_of(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

impl IdentityClaims {
    /// What the verified ID token says; `groups_claim` is the tenant's.
    pub fn from_token(t: &VerifiedIdToken, groups_claim: Option<&str>) -> Self {
        let groups = match groups_claim {
            None => Groups::NotWanted,
            Some(claim) => match t.claims().get(claim) {
                Some(v) => Groups::Known(groups_of(v)),
                None => Groups::Wanted(claim.to_owned()),
            },
        };
        Self {
            sub: t.sub().to_owned(),
            email: t.email().map(str::to_owned),
            email_verified: t.email_verified(),
            name: t.name().map(str::to_owned),
            given_name: t.given_name().map(str::to_owned),
            family_name: t.family_name().map(str::to_owned),
            idp: t.idp().map(str::to_owned),
            groups,
            auth: AuthFacts {
                auth_time: t.auth_time(),
                acr: t.acr().map(str::to_owned),
                amr: t.amr().map(<[String]>::to_vec),
                sid: t.sid().map(str::to_owned),
            },
        }
    }

    /// SPEC step 7: userinfo is fetched when the ID token lacks `email` or `name`, or the
    /// groups claim the tenant wants.
    pub fn needs_userinfo(&self) -> bool {
        self.email.is_none() || self.name.is_none() || matches!(self.groups, Groups::Wanted(_))
    }

    /// Only the name or the groups were missing: a userinfo failure then costs the member
    /// their name or groups (no groups fails `allowed_groups` closed), not the sign-in.
    pub fn can_do_without_userinfo(&self) -> bool {
        self.email.is_some()
    }

    /// Userinfo failed or was not offered: whatever it would have filled stays empty.
    pub fn without_userinfo(mut self) -> Self {
        if matches!(self.groups, Groups::Wanted(_)) {
            self.groups = Groups::Known(Vec::new());
        }
        self
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
            self.email_verified = verified_flag(info.get("email_verified"));
        } else if self.email_verified.is_none() {
            // Userinfo's verdict counts only for the address the ID token named.
            let same = text("email")
                .zip(self.email.as_deref())
                .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b));
            if same {
                self.email_verified = verified_flag(info.get("email_verified"));
            }
        }
        self.name = self.name.or_else(|| text("name"));
        self.given_name = self.given_name.or_else(|| text("given_name"));
        self.family_name = self.family_name.or_else(|| text("family_name"));
        if let Groups::Wanted(claim) = &self.groups {
            self.groups = Groups::Known(info.get(claim).map(groups_of).unwrap_or_default());
        }
        self
    }

    /// SPEC step 7: no email → refused; an explicit `email_verified: false` → refused unless
    /// the tenant allows unverified email.
    pub fn into_member(self, allow_unverified_email: bool) -> Result<Member, MemberError> {
        let email = self.email.ok_or(MemberError::NoEmail)?;
        if self.email_verified == Some(false) && !allow_unverified_email {
            return Err(MemberError::EmailUnverified);
        }
        let groups = match self.groups {
            Groups::NotWanted => None,
            Groups::Wanted(_) => Some(Vec::new()),
            Groups::Known(g) => Some(g),
        };
        Ok(Member {
            sub: self.sub,
            email,
            email_verified: self.email_verified,
            name: self.name,
            given_name: self.given_name,
            family_name: self.family_name,
            idp: self.idp,
            groups,
            auth: self.auth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> IdentityClaims {
        IdentityClaims {
            sub: "u1".into(),
            email: Some("a@b.c".into()),
            email_verified: Some(true),
            name: Some("Ada".into()),
            ..Default::default()
        }
    }

    fn info(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
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
        assert!(IdentityClaims {
            groups: Groups::Wanted("groups".into()),
            ..claims()
        }
        .needs_userinfo());
        assert!(!IdentityClaims {
            groups: Groups::Known(vec![]),
            ..claims()
        }
        .needs_userinfo());
    }

    #[test]
    fn userinfo_fills_gaps_but_never_overrides() {
        let merged = IdentityClaims {
            name: None,
            email_verified: None,
            ..claims()
        }
        .merge_userinfo(&info(
            json!({"sub":"u1","email":"A@B.C","name":"From Userinfo",
            "email_verified":true,"family_name":"L"}),
        ));
        assert_eq!(merged.email.as_deref(), Some("a@b.c"));
        assert_eq!(merged.name.as_deref(), Some("From Userinfo"));
        assert_eq!(merged.email_verified, Some(true), "same address, any case");
        assert_eq!(merged.family_name.as_deref(), Some("L"));
    }

    #[test]
    fn userinfo_verification_of_another_address_is_ignored() {
        let merged = IdentityClaims {
            name: None,
            email_verified: None,
            ..claims()
        }
        .merge_userinfo(&info(
            json!({"sub":"u1","email":"other@b.c","email_verified":true}),
        ));
        assert_eq!(merged.email.as_deref(), Some("a@b.c"));
        assert_eq!(
            merged.email_verified, None,
            "verified was said of other@b.c"
        );
        let no_email = IdentityClaims {
            name: None,
            email_verified: None,
            ..claims()
        }
        .merge_userinfo(&info(json!({"sub":"u1","email_verified":true})));
        assert_eq!(no_email.email_verified, None);
    }

    #[test]
    fn one_rule_for_email_verified_from_both_sources() {
        for (v, want) in [
            (json!(true), Some(true)),
            (json!(false), Some(false)),
            (json!("true"), Some(false)),
            (json!("false"), Some(false)),
            (json!("TRUE"), Some(false)),
            (json!(0), Some(false)),
            (json!(1), Some(false)),
            (json!(null), None),
        ] {
            assert_eq!(verified_flag(Some(&v)), want, "{v}");
            let merged = IdentityClaims {
                email: None,
                email_verified: None,
                ..claims()
            }
            .merge_userinfo(&info(
                json!({"sub":"u1","email":"a@b.c","email_verified":v}),
            ));
            assert_eq!(merged.email_verified, want, "userinfo {v}");
        }
        assert_eq!(verified_flag(None), None);
    }

    #[test]
    fn email_from_userinfo_takes_its_verification_from_userinfo() {
        let merged = IdentityClaims {
            email: None,
            email_verified: Some(true),
            ..claims()
        }
        .merge_userinfo(&info(json!({"sub":"u1","email":"a@b.c"})));
        assert_eq!(merged.email.as_deref(), Some("a@b.c"));
        assert_eq!(
            merged.email_verified, None,
            "the ID token's true was about no address at all"
        );
    }

    #[test]
    fn groups_from_userinfo_when_the_token_lacks_them() {
        let wanted = IdentityClaims {
            groups: Groups::Wanted("groups".into()),
            ..claims()
        };
        let merged = wanted
            .clone()
            .merge_userinfo(&info(json!({"sub":"u1","groups":["Members","Staff"]})));
        assert_eq!(
            merged.groups,
            Groups::Known(vec!["Members".into(), "Staff".into()])
        );
        let one = wanted
            .clone()
            .merge_userinfo(&info(json!({"sub":"u1","groups":"Members"})));
        assert_eq!(one.groups, Groups::Known(vec!["Members".into()]));
        for odd in [json!(["Members", 3]), json!(7), json!({"a":1}), json!(null)] {
            let m = wanted
                .clone()
                .merge_userinfo(&info(json!({"sub":"u1","groups":odd})));
            assert_eq!(m.groups, Groups::Known(vec![]), "{odd}");
        }
        let absent = wanted.clone().merge_userinfo(&info(json!({"sub":"u1"})));
        assert_eq!(absent.groups, Groups::Known(vec![]));
        assert_eq!(wanted.without_userinfo().groups, Groups::Known(vec![]));
        // The member's groups: Some when wanted (even empty), None when not.
        let m = absent.into_member(false).unwrap();
        assert_eq!(m.groups, Some(vec![]));
        assert_eq!(claims().into_member(false).unwrap().groups, None);
    }

    #[test]
    fn groups_claim_shapes() {
        assert_eq!(groups_of(&json!(["a", "b"])), ["a", "b"]);
        assert_eq!(groups_of(&json!("a")), ["a"]);
        assert!(groups_of(&json!(["a", null])).is_empty());
        assert!(groups_of(&json!(true)).is_empty());
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
