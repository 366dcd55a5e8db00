//! "Test connection": what `POST /admin/tenants/{id}/check` answers in JSON and the settings
//! page says in words, from one report — discovery fetched and checked, the JWKS fetched, an
//! RS256 key in it, and warnings that do not stop sign-in but will surprise (an extra scope
//! the IdP does not list).

use serde_json::{json, Value};

use crate::core::discovery::ProviderMetadata;
use crate::core::jwks::{Jwks, JwsAlg};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckReport {
    Ok {
        meta: ProviderMetadata,
        /// (kid, alg) of each key.
        keys: Vec<(Option<String>, Option<String>)>,
        warnings: Vec<String>,
    },
    Problem {
        issuer: String,
        problem: String,
    },
}

/// The report once discovery and the JWKS are in hand.
pub fn report(meta: ProviderMetadata, jwks: &Jwks, extra_scopes: &[String]) -> CheckReport {
    if !jwks.has_key_for(JwsAlg::Rs256) {
        return CheckReport::Problem {
            issuer: meta.issuer,
            problem: "the JWKS has no RS256 signing key".into(),
        };
    }
    let warnings = match &meta.scopes_supported {
        Some(listed) => extra_scopes
            .iter()
            .filter(|s| !listed.contains(s))
            .map(|s| {
                format!(
                    "the extra scope \"{s}\" is not in the identity provider's scopes_supported: \
                     allow it on the authorization server, or sign-in will fail with invalid_scope"
                )
            })
            .collect(),
        None => Vec::new(),
    };
    let keys = jwks
        .keys
        .iter()
        .map(|k| (k.kid.clone(), k.alg.clone()))
        .collect();
    CheckReport::Ok {
        meta,
        keys,
        warnings,
    }
}

impl CheckReport {
    /// The admin API's JSON body (SPEC "Admin API", `check`).
    pub fn to_json(&self) -> Value {
        match self {
            CheckReport::Ok {
                meta,
                keys,
                warnings,
            } => json!({
                "ok": true,
                "issuer": meta.issuer,
                "endpoints": {
                    "authorization_endpoint": meta.authorization_endpoint,
                    "token_endpoint": meta.token_endpoint,
                    "jwks_uri": meta.jwks_uri,
                    "userinfo_endpoint": meta.userinfo_endpoint,
                    "end_session_endpoint": meta.end_session_endpoint,
                },
                "keys": keys.iter().map(|(kid, alg)| json!({"kid": kid, "alg": alg})).collect::<Vec<_>>(),
                "warnings": warnings,
            }),
            CheckReport::Problem { issuer, problem } => {
                json!({ "ok": false, "issuer": issuer, "problem": problem })
            }
        }
    }

    /// The settings page's sentences: a headline and the details under it.
    pub fn in_words(&self) -> (bool, String, Vec<String>) {
        match self {
            CheckReport::Ok {
                meta,
                keys,
                warnings,
            } => {
                let mut lines = vec![
                    format!("Issuer: {}", meta.issuer),
                    format!("Sign-in page: {}", meta.authorization_endpoint),
                    format!("Token endpoint: {}", meta.token_endpoint),
                    format!(
                        "Signing keys: {} published ({})",
                        keys.len(),
                        keys.iter()
                            .map(|(kid, alg)| format!(
                                "{} {}",
                                alg.as_deref().unwrap_or("?"),
                                kid.as_deref().unwrap_or("without a kid")
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ];
                lines.extend(warnings.iter().map(|w| format!("Warning: {w}")));
                let headline = if warnings.is_empty() {
                    "Connected: your identity provider answered and its settings are usable."
                } else {
                    "Connected, with warnings: read them before members sign in."
                };
                (true, headline.into(), lines)
            }
            CheckReport::Problem { issuer, problem } => (
                false,
                "The connection test failed.".into(),
                vec![
                    format!("Issuer tried: {issuer}"),
                    format!("Problem: {problem}"),
                ],
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(scopes: Option<&[&str]>) -> ProviderMetadata {
        ProviderMetadata {
            issuer: "https://acme.okta.com".into(),
            authorization_endpoint: "https://acme.okta.com/oauth2/v1/authorize".into(),
            token_endpoint: "https://acme.okta.com/oauth2/v1/token".into(),
            jwks_uri: "https://acme.okta.com/oauth2/v1/keys".into(),
            userinfo_endpoint: None,
            end_session_endpoint: None,
            scopes_supported: scopes.map(|s| s.iter().map(|x| x.to_string()).collect()),
        }
    }

    fn jwks(kty_alg: &[(&str, &str)]) -> Jwks {
        let keys: Vec<Value> = kty_alg
            .iter()
            .map(|(kty, alg)| match *kty {
                "RSA" => json!({"kty":"RSA","kid":"k1","alg":alg,"n":"AQAB","e":"AQAB"}),
                _ => json!({"kty":"EC","kid":"e1","crv":"P-256","x":"AQAB","y":"AQAB"}),
            })
            .collect();
        Jwks::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_usable_provider_reports_its_keys_and_endpoints() {
        let r = report(meta(None), &jwks(&[("RSA", "RS256")]), &[]);
        let j = r.to_json();
        assert_eq!(j["ok"], true);
        assert_eq!(j["keys"][0]["kid"], "k1");
        assert_eq!(j["warnings"], json!([]));
        let (ok, headline, lines) = r.in_words();
        assert!(ok && headline.starts_with("Connected"));
        assert!(lines.iter().any(|l| l.contains("RS256 k1")));
    }

    #[test]
    fn no_rs256_key_is_a_problem() {
        let r = report(meta(None), &jwks(&[("EC", "ES256")]), &[]);
        assert_eq!(r.to_json()["ok"], false);
        assert_eq!(r.to_json()["problem"], "the JWKS has no RS256 signing key");
        assert!(!r.in_words().0);
    }

    #[test]
    fn an_extra_scope_the_provider_does_not_list_is_a_warning() {
        let extra = vec!["groups".to_string(), "offline_access".to_string()];
        let r = report(
            meta(Some(&["openid", "offline_access"])),
            &jwks(&[("RSA", "RS256")]),
            &extra,
        );
        let w = r.to_json()["warnings"].clone();
        assert_eq!(w.as_array().unwrap().len(), 1);
        assert!(w[0].as_str().unwrap().contains("\"groups\""));
        assert!(r.in_words().1.contains("warnings"));
        // Without scopes_supported nothing can be said.
        let r = report(meta(None), &jwks(&[("RSA", "RS256")]), &extra);
        assert_eq!(r.to_json()["warnings"], json!([]));
    }
}
