//! `verify_id_token` refusing tokens for what they claim: issuer, audience, `azp`, times,
//! nonce and subject.

use super::*;

#[test]
fn wrong_issuer() {
    for iss in [
        json!("https://acme.okta.com"),
        json!(format!("{ISSUER}/")),
        json!(null),
    ] {
        let raw = rs256_with(|c| {
            c.insert("iss".into(), iss.clone());
        });
        let found = iss.as_str().unwrap_or_default().to_owned();
        let expected = IdTokenError::WrongIssuer {
            expected: ISSUER.into(),
            found,
        };
        assert_eq!(check(&raw), Err(expected));
    }
}

#[test]
fn wrong_audience() {
    for aud in [
        Some(json!("0oa1other")),
        Some(json!(["0oa1other", "api"])),
        Some(json!([])),
        None,
    ] {
        let raw = rs256_with(|c| match &aud {
            Some(aud) => {
                c.insert("aud".into(), aud.clone());
            }
            None => {
                c.remove("aud");
            }
        });
        assert_eq!(check(&raw), Err(IdTokenError::WrongAudience), "{aud:?}");
    }
}

#[test]
fn azp_mismatch() {
    let several = json!([CLIENT, "api://default"]);
    let cases = [
        (several.clone(), None),
        (several.clone(), Some("0oa1other")),
        (json!(CLIENT), Some("0oa1other")),
        (json!([CLIENT]), Some("0oa1other")),
    ];
    for (aud, azp) in cases {
        let raw = rs256_with(|c| {
            c.insert("aud".into(), aud.clone());
            if let Some(azp) = azp {
                c.insert("azp".into(), json!(azp));
            }
        });
        assert_eq!(check(&raw), Err(IdTokenError::AzpMismatch), "{aud} {azp:?}");
    }
    for (aud, azp) in [
        (several, Some(CLIENT)),
        (json!(CLIENT), Some(CLIENT)),
        (json!([CLIENT]), None),
    ] {
        let raw = rs256_with(|c| {
            c.insert("aud".into(), aud.clone());
            if let Some(azp) = azp {
                c.insert("azp".into(), json!(azp));
            }
        });
        assert!(check(&raw).is_ok(), "{aud} {azp:?}");
    }
}

fn with_date(name: &str, value: u64) -> Result<VerifiedIdToken, IdTokenError> {
    check(&rs256_with(|c| {
        c.insert(name.into(), json!(value));
    }))
}

#[test]
fn missing_exp() {
    assert_eq!(
        check(&rs256_with(|c| drop(c.remove("exp")))),
        Err(IdTokenError::MissingExp)
    );
}

#[test]
fn expired_beyond_skew_and_accepted_within() {
    assert_eq!(
        with_date("exp", NOW - 121).map(|_| ()),
        Err(IdTokenError::Expired)
    );
    assert_eq!(
        with_date("exp", NOW - 120).map(|_| ()),
        Err(IdTokenError::Expired)
    );
    assert!(with_date("exp", NOW - 119).is_ok(), "within the 120 s skew");
    assert!(with_date("exp", NOW + 1).is_ok());
}

#[test]
fn not_yet_valid() {
    assert_eq!(
        with_date("nbf", NOW + 121).map(|_| ()),
        Err(IdTokenError::NotYetValid)
    );
    assert!(with_date("nbf", NOW + 120).is_ok());
}

#[test]
fn missing_iat() {
    assert_eq!(
        check(&rs256_with(|c| drop(c.remove("iat")))),
        Err(IdTokenError::MissingIat)
    );
}

#[test]
fn issued_in_future_beyond_skew() {
    assert_eq!(
        with_date("iat", NOW + 121).map(|_| ()),
        Err(IdTokenError::IssuedInFuture)
    );
    assert!(with_date("iat", NOW + 120).is_ok(), "within the 120 s skew");
}

#[test]
fn missing_nonce() {
    let raw = rs256_with(|c| drop(c.remove("nonce")));
    assert_eq!(check(&raw), Err(IdTokenError::MissingNonce));
}

#[test]
fn nonce_mismatch() {
    for other in ["n-0S6_WzA2Mj", "another-login's-nonce", ""] {
        let raw = rs256_with(|c| {
            c.insert("nonce".into(), json!(other));
        });
        assert_eq!(check(&raw), Err(IdTokenError::NonceMismatch), "{other}");
    }
}

#[test]
fn missing_sub() {
    assert_eq!(
        check(&rs256_with(|c| drop(c.remove("sub")))),
        Err(IdTokenError::MissingSub)
    );
    let empty = rs256_with(|c| {
        c.insert("sub".into(), json!(""));
    });
    assert_eq!(check(&empty), Err(IdTokenError::MissingSub));
}
