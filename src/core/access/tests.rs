use futures::executor::block_on;
use serde_json::{json, Value};

use super::*;
use crate::core::id_token::tests::{ec_jwk, jwks, mint, rsa_jwk, NativeVerifier};

const NOW: u64 = 1_767_225_600;
const TEAM: &str = "https://acme.cloudflareaccess.com";
const AUD: &str = "a1b2c3d4e5f6";

fn config() -> AccessConfig {
    AccessConfig {
        team_origin: TEAM.into(),
        aud: AUD.into(),
    }
}

fn claims() -> Value {
    json!({"iss": TEAM, "aud": [AUD], "email": "ada@example.com", "sub": "7335d417-61da",
           "exp": NOW + 300, "iat": NOW - 5, "nbf": NOW - 5, "type": "app"})
}

fn token(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut c = claims();
    edit(c.as_object_mut().unwrap());
    mint(&json!({"alg": "RS256", "kid": "rsa1"}), &c)
}

fn certs() -> Jwks {
    jwks(vec![rsa_jwk(Some("rsa1")), ec_jwk(Some("ec1"))])
}

fn verify(raw: &str) -> Result<AccessIdentity, AccessError> {
    block_on(verify_access_token(
        raw,
        &certs(),
        &config(),
        NOW,
        &NativeVerifier::default(),
    ))
}

#[test]
fn a_valid_token_names_the_admin() {
    let id = verify(&token(|_| {})).unwrap();
    assert_eq!(id.email, "ada@example.com");
    assert_eq!(id.sub, "7335d417-61da");
    // aud as a single string is fine too.
    assert!(verify(&token(|c| drop(c.insert("aud".into(), json!(AUD))))).is_ok());
}

#[test]
fn each_check_refuses_on_its_own() {
    let code = |raw: String| verify(&raw).unwrap_err().code();
    assert_eq!(
        code(token(|c| drop(c.insert(
            "iss".into(),
            json!("https://evil.cloudflareaccess.com")
        )))),
        "access_wrong_issuer"
    );
    assert_eq!(
        code(token(|c| drop(
            c.insert("iss".into(), json!(format!("{TEAM}/")))
        ))),
        "access_wrong_issuer"
    );
    assert_eq!(
        code(token(|c| drop(
            c.insert("aud".into(), json!(["other-aud"]))
        ))),
        "access_wrong_audience"
    );
    assert_eq!(
        code(token(|c| drop(c.insert("aud".into(), json!(7))))),
        "access_wrong_audience"
    );
    assert_eq!(
        code(token(|c| drop(c.insert("exp".into(), json!(NOW - 600))))),
        "access_expired"
    );
    assert_eq!(
        code(token(|c| drop(c.remove("email")))),
        "access_no_identity"
    );
    assert_eq!(code(token(|c| drop(c.remove("sub")))), "access_no_identity");
    // Signed by a key the team does not publish under a published kid: a forgery.
    let mut forged = token(|_| {});
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(code(forged), "access_bad_signature");
    // An unknown kid (the edge then refetches the certs once).
    let unknown = mint(&json!({"alg": "RS256", "kid": "rotated"}), &claims());
    assert_eq!(code(unknown), "access_unknown_kid");
    // ES256 is not what Access signs with: refused before any key is used.
    let es = mint(&json!({"alg": "ES256", "kid": "ec1"}), &claims());
    assert_eq!(code(es), "access_token_invalid");
    assert_eq!(code("not.a.jwt".into()), "access_token_invalid");
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims().to_string().as_bytes())
    );
    assert_eq!(code(none), "access_token_invalid");
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn the_two_vars_together_or_neither() {
    assert_eq!(
        SettingsAuth::from_vars(None, None, false),
        SettingsAuth::Token
    );
    assert!(matches!(
        SettingsAuth::from_vars(Some("acme.cloudflareaccess.com"), None, false),
        SettingsAuth::Misconfigured(_)
    ));
    assert!(matches!(
        SettingsAuth::from_vars(None, Some(AUD), false),
        SettingsAuth::Misconfigured(_)
    ));
    assert!(matches!(
        SettingsAuth::from_vars(Some("https://acme.cloudflareaccess.com"), Some(AUD), false),
        SettingsAuth::Misconfigured(_)
    ));
    assert_eq!(
        SettingsAuth::from_vars(Some("acme.cloudflareaccess.com"), Some(AUD), false),
        SettingsAuth::Access(config())
    );
    // A loopback team domain is reached over http only in local development.
    let SettingsAuth::Access(local) =
        SettingsAuth::from_vars(Some("127.0.0.1:9000"), Some(AUD), true)
    else {
        panic!("local team domain")
    };
    assert_eq!(local.team_origin, "http://127.0.0.1:9000");
    assert_eq!(
        local.certs_url(),
        "http://127.0.0.1:9000/cdn-cgi/access/certs"
    );
    assert!(matches!(
        SettingsAuth::from_vars(Some("127.0.0.1:9000"), Some(AUD), false),
        SettingsAuth::Misconfigured(_)
    ));
}
