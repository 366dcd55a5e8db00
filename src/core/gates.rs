//! Who may sign in to a tenant at all (SPEC step 7, after identity): the email-domain gate
//! and the groups gate, each on its own, both before provisioning — so an Okta that brokers
//! Google cannot create contacts for any Gmail user, and a member outside the tenant's groups
//! is never delivered to the webhook.

use crate::core::config::TenantConfig;
use crate::core::member::Member;

/// Why a verified member is refused (one 403 page for all; the reason goes to the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    #[error("the member's email domain is not in allowed_email_domains")]
    EmailDomain,
    #[error("allowed_email_domains needs a verified email, and this one is not verified")]
    EmailNotVerified,
    #[error("the member is in none of allowed_groups")]
    NotInGroup,
}

impl GateError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmailDomain => "email_domain_not_allowed",
            Self::EmailNotVerified => "email_domain_unverified",
            Self::NotInGroup => "group_not_allowed",
        }
    }
}

/// The domain of an email address in ASCII lower case: what follows the last `@`.
pub fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.rsplit_once('@')?;
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

/// Both gates, each only when the tenant sets it. `allowed_email_domains` also requires
/// `email_verified` to be true, whatever `allow_unverified_email` says (an unverified address
/// at an allowed domain is anyone's claim to it).
pub fn check_gates(cfg: &TenantConfig, member: &Member) -> Result<(), GateError> {
    if !cfg.allowed_email_domains.is_empty() {
        let allowed = email_domain(&member.email)
            .is_some_and(|d| cfg.allowed_email_domains.iter().any(|a| *a == d));
        if !allowed {
            return Err(GateError::EmailDomain);
        }
        if member.email_verified != Some(true) {
            return Err(GateError::EmailNotVerified);
        }
    }
    if !cfg.allowed_groups.is_empty() {
        let groups = member.groups.as_deref().unwrap_or_default();
        if !groups.iter().any(|g| cfg.allowed_groups.contains(g)) {
            return Err(GateError::NotInGroup);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{ConfigContext, RawTenantConfig};
    use crate::core::member::AuthFacts;
    use serde_json::json;

    fn config(patch: serde_json::Value) -> TenantConfig {
        let mut body = json!({"okta_domain":"acme.okta.com","client_id":"c",
            "portal_url":"https://p.example.org"});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let ctx = ConfigContext {
            local_dev: false,
            base_domain: "example.com",
        };
        TenantConfig::parse(RawTenantConfig(body.as_object().unwrap().clone()), &ctx).unwrap()
    }

    fn member(email: &str, verified: Option<bool>, groups: Option<&[&str]>) -> Member {
        Member {
            sub: "u".into(),
            email: email.into(),
            email_verified: verified,
            name: None,
            given_name: None,
            family_name: None,
            idp: None,
            groups: groups.map(|g| g.iter().map(|s| s.to_string()).collect()),
            auth: AuthFacts::default(),
        }
    }

    #[test]
    fn no_gates_no_refusal() {
        assert_eq!(
            check_gates(&config(json!({})), &member("x@gmail.com", None, None)),
            Ok(())
        );
    }

    #[test]
    fn email_domains_match_exactly_in_lower_case() {
        let cfg = config(json!({"allowed_email_domains": ["example.com"]}));
        assert_eq!(
            check_gates(&cfg, &member("ada@Example.COM", Some(true), None)),
            Ok(())
        );
        assert_eq!(
            check_gates(&cfg, &member("ada@example.com", Some(true), None)),
            Ok(())
        );
        for other in [
            "ada@evil-example.com",
            "ada@example.com.evil.io",
            "ada@sub.example.com",
            "ada@example.co",
            "example.com@evil.io",
            "ada",
            "ada@",
        ] {
            assert_eq!(
                check_gates(&cfg, &member(other, Some(true), None)),
                Err(GateError::EmailDomain),
                "{other}"
            );
        }
    }

    #[test]
    fn an_allowed_domain_needs_a_verified_email_even_when_unverified_is_allowed() {
        let cfg = config(json!({"allowed_email_domains": ["example.com"],
            "allow_unverified_email": true}));
        for verified in [None, Some(false)] {
            assert_eq!(
                check_gates(&cfg, &member("ada@example.com", verified, None)),
                Err(GateError::EmailNotVerified),
                "{verified:?}"
            );
        }
    }

    #[test]
    fn groups_must_meet_allowed_groups_exactly() {
        let cfg = config(json!({"groups_claim": "groups", "allowed_groups": ["Members", "Staff"]}));
        let ok = member("a@b.c", Some(true), Some(&["Guests", "Staff"]));
        assert_eq!(check_gates(&cfg, &ok), Ok(()));
        for groups in [
            Some(&["members"][..]),
            Some(&["Member"][..]),
            Some(&[][..]),
            None,
        ] {
            assert_eq!(
                check_gates(&cfg, &member("a@b.c", Some(true), groups)),
                Err(GateError::NotInGroup),
                "{groups:?}"
            );
        }
    }

    #[test]
    fn each_gate_on_its_own() {
        let cfg = config(
            json!({"groups_claim": "groups", "allowed_groups": ["Members"],
            "allowed_email_domains": ["example.com"]}),
        );
        assert_eq!(
            check_gates(
                &cfg,
                &member("a@example.com", Some(true), Some(&["Members"]))
            ),
            Ok(())
        );
        assert_eq!(
            check_gates(&cfg, &member("a@gmail.com", Some(true), Some(&["Members"]))),
            Err(GateError::EmailDomain)
        );
        assert_eq!(
            check_gates(&cfg, &member("a@example.com", Some(true), Some(&["Other"]))),
            Err(GateError::NotInGroup)
        );
    }
}
