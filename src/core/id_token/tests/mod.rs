//! Tests for `verify_id_token`: fixed-clock tokens signed here with test keys, checked by a
//! native verifier (`rsa`, `p256`) that exists only in the test build. One negative test
//! per `IdTokenError` variant, named after it.

use std::cell::Cell;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures::executor::block_on;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature as EcSignature, SigningKey as EcSigningKey, VerifyingKey};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::*;
use crate::core::jwks::{Jwk, Jwks, JwsAlg};
use crate::core::secret::Nonce;

// One negative test per `IdTokenError` variant, named after it: the token and its key in
// `structure`, the claims (OIDC Core 3.1.3.7 steps 2-11) in `claims`.
mod claims;
mod structure;

const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const ISSUER: &str = "https://acme.okta.com/oauth2/default";
const CLIENT: &str = "0oa1client";
const NONCE: &str = "n-0S6_WzA2Mj-secret-nonce";

/// A fixed 2048-bit test key: generating one in a debug build takes seconds.
const TEST_RSA_PEM: &str = "\
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAmeZan8lOI2/PembZGuIbt3lF2xows0mUDh5o5nDZJiGd6gIl
RIX2lhSfYOBeEZX7PQyFPoHrK0eY41G66Kqpvud0EmOYCP7cXFH7uoqNU7q+PXWz
kWQrJOM9dJXmONXu2gdOGJcU2JeJMhDJqxvuxtk7YG+dSafvrGljzH2rQM4AZ2Bf
DaAMjkCFPXs3Hmsl9bDTMxqTMRe0jjbpfxk0eMePcKAqZTJFBRwGAs1foWObBmac
V0MySFvG2hGnYEZqaAI2sgoHHE5TBkfbBX5HqobUQ/CAle10JMHBTCMwQ2Rc/pdF
dJMjWjgoED8NWuiAAFHTt9KMq4x+9qV6aIgCgwIDAQABAoIBAALUGYFLTVzYXrtU
rZPRaQn/uBl1S0TYStjRlUL6+vq47nKRFIdEYQpUGbPJm+D93S67jq1d7OkQOU6g
P2usS09faKI342Dy8jDeLt64Ui2iRoHRqnm3GhXk+UmtwZv0zp2COdy41iC+9D4P
0e0Lp+FOt8kndAAZDo4gJ73n52BbAZe9zs1EKwhJqIaF5LCn2WnSTuwMcr7qvNBt
87Fe4NYGqR4bEi37jg14UYkU4A0MTadIAINPAYQbcoYUoD6G558gTwt1cCRRnMym
q+qhU4t7IIfrHCXHmjiSiXGmm4SQJRhwvZDMMrac0bYH4QXSz2wyKpCd8MyD7L7o
pp7kSv0CgYEA0Kb3sGJiLThqi9QdR8bDSRiGoLgVOA+XheXD89RbE7vd3PyJSVBF
1A+CkxtR9I35CJUNYUARremLqstO3uNnsGMnVxN6SzraHQvnuYYqZtQQjqAmpA4e
E8zm2cg7vCDntkOV0yKCsnognSgQMX3Vm6hOV+yTf74dOWlnozOaM7cCgYEAvNK1
St4LVOCU3x/z8Lamrdtq3Nvb2UzBYbzLxhi3EfysqyuuQC4qY1oM2tsRVaBAqNjt
Tl2J+C25jYvOgofj5va8ccmajUfXpxj8pkS45u+ca3YrZs8QF+/57mH+XynkH27Y
o2iJel+bWkSeAQOvRDJE/t5fliEIj6fv1WQhX5UCgYB2JFRS9yIH4M3TZsM9hPnG
RbDVB+Zb29g75KFTSoZXYiR5oDRL4rvnGvEgQnPhORItHdh5nEFma7q9dmiuI6zu
XvZDg6/XMPeXQspubd1MY/8MAvpeIfA93eNIpOvN1gPdW99VsVC3phcZZTnmDA4L
GP1jI31Q82CwxVH9QpapeQKBgG6QlxWStWHq62FHjYiq+yicbZOLrc0s86NucIe7
mx8OLHFCb5MnNSzd4t8YHatc3d/AvhwAC7Tl2Vv3vGGUfq+UVL3wRe5qXe17ZR1a
6kZXkeke1cUqhArwOxIKEW/Z0LlTJ8lvgejFKOuPeFGxvaQaJ2px/dij2SZ9OKNk
MWKNAoGBAMt57FsISFHxcZb4mwGemABNLTTC6A5FRDtdAW43SHspdULbJ1UB7Hsh
I9om/31S5h3PDXKeyKfVCw+Nl6qlCommDHJFxh4txtf/rlJqaQYLK6pdi7fvkPOQ
g9a9zzpxxhYL+wCZQYh6XRE7CM915wkHiTRYUwChzDxKSO2W2YPJ
-----END RSA PRIVATE KEY-----";

// ---- keys, JWKS and token minting -------------------------------------------------------

fn rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::from_pkcs1_pem(TEST_RSA_PEM).expect("test key parses"))
}

fn ec_key() -> EcSigningKey {
    EcSigningKey::from_bytes(&[7u8; 32].into()).expect("fixed P-256 scalar")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn rsa_jwk(kid: Option<&str>) -> Value {
    let public = rsa_key().to_public_key();
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
           "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())})
}

pub(crate) fn ec_jwk(kid: Option<&str>) -> Value {
    let point = VerifyingKey::from(&ec_key()).to_encoded_point(false);
    let (x, y) = (point.x().expect("x"), point.y().expect("y"));
    json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(x), "y": b64(y)})
}

pub(crate) fn jwks(keys: Vec<Value>) -> Jwks {
    Jwks::parse(json!({ "keys": keys }).to_string().as_bytes()).expect("test JWKS")
}

/// The IdP's usual set: one RSA and one EC key.
pub(crate) fn idp_jwks() -> Jwks {
    jwks(vec![rsa_jwk(Some("rsa1")), ec_jwk(Some("ec1"))])
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": CLIENT, "sub": "00u1ada", "exp": NOW + 300, "iat": NOW - 5,
           "nonce": NONCE, "email": "ada@example.com", "email_verified": true,
           "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
           "idp": "0oa1idp", "auth_time": NOW - 10, "locale": "en-GB"})
}

fn rs_header() -> Value {
    json!({"alg": "RS256", "kid": "rsa1", "typ": "JWT"})
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// Signs with the test key matching the header's alg (RS256 or ES256).
pub(crate) fn mint(header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let signature = match header["alg"].as_str() {
        Some("ES256") => {
            let sig: EcSignature = ec_key().sign(input.as_bytes());
            sig.to_bytes().to_vec()
        }
        _ => rsa_key()
            .sign(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(input.as_bytes()),
            )
            .expect("RSA signing"),
    };
    format!("{input}.{}", b64(&signature))
}

fn rs256(claims: &Value) -> String {
    mint(&rs_header(), claims)
}

/// `claims()` with `edit` applied, signed RS256 with kid `rsa1`.
fn rs256_with(edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    let mut c = claims();
    edit(c.as_object_mut().expect("object"));
    rs256(&c)
}

// ---- the native verifier ------------------------------------------------------------------

/// Verifies with the pure-Rust crates and counts calls, so tests can prove that a token
/// was refused before any signature work.
#[derive(Default)]
pub(crate) struct NativeVerifier {
    calls: Cell<u32>,
}

fn material(value: Option<&str>) -> Result<Vec<u8>, VerifierError> {
    let value = value.ok_or_else(|| VerifierError::KeyRejected("missing member".into()))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|e| VerifierError::KeyRejected(e.to_string()))
}

impl SignatureVerifier for NativeVerifier {
    async fn verify(
        &self,
        alg: JwsAlg,
        key: &Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<bool, VerifierError> {
        self.calls.set(self.calls.get() + 1);
        let rejected = |e: String| VerifierError::KeyRejected(e);
        match alg {
            JwsAlg::Rs256 => {
                let n = BigUint::from_bytes_be(&material(key.n.as_deref())?);
                let e = BigUint::from_bytes_be(&material(key.e.as_deref())?);
                let public = RsaPublicKey::new(n, e).map_err(|e| rejected(e.to_string()))?;
                let digest = Sha256::digest(signing_input);
                Ok(public
                    .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
                    .is_ok())
            }
            JwsAlg::Es256 => {
                let (x, y) = (material(key.x.as_deref())?, material(key.y.as_deref())?);
                let coordinate =
                    |c: Vec<u8>| <[u8; 32]>::try_from(c).map_err(|_| rejected("size".into()));
                let (x, y) = (coordinate(x)?.into(), coordinate(y)?.into());
                let point = p256::EncodedPoint::from_affine_coordinates(&x, &y, false);
                let key = VerifyingKey::from_encoded_point(&point)
                    .map_err(|e| rejected(e.to_string()))?;
                let Ok(sig) = EcSignature::from_slice(signature) else {
                    return Ok(false);
                };
                Ok(key.verify(signing_input, &sig).is_ok())
            }
        }
    }
}

/// A verifier whose runtime is broken.
struct BrokenVerifier;

impl SignatureVerifier for BrokenVerifier {
    async fn verify(&self, _: JwsAlg, _: &Jwk, _: &[u8], _: &[u8]) -> Result<bool, VerifierError> {
        Err(VerifierError::Runtime(
            "crypto.subtle is not available".into(),
        ))
    }
}

fn check_with<V: SignatureVerifier>(
    raw: &str,
    keys: &Jwks,
    v: &V,
) -> Result<VerifiedIdToken, IdTokenError> {
    let nonce = Nonce::new(NONCE);
    let expect = Expectations {
        issuer: ISSUER,
        client_id: CLIENT,
        nonce: &nonce,
        now: NOW,
    };
    block_on(verify_id_token(raw, keys, &expect, v))
}

fn check_against(raw: &str, keys: &Jwks) -> Result<VerifiedIdToken, IdTokenError> {
    check_with(raw, keys, &NativeVerifier::default())
}

fn check(raw: &str) -> Result<VerifiedIdToken, IdTokenError> {
    check_against(raw, &idp_jwks())
}

/// Asserts the token is refused before the verifier is ever asked.
fn refused_unsigned(raw: &str, keys: &Jwks) -> IdTokenError {
    let verifier = NativeVerifier::default();
    let err = check_with(raw, keys, &verifier).expect_err("must be refused");
    assert_eq!(verifier.calls.get(), 0, "verifier was called for {err:?}");
    err
}

// ---- happy paths ---------------------------------------------------------------------------

#[test]
fn rs256_happy_path_returns_the_claims() {
    let token = check(&rs256(&claims())).expect("valid token");
    assert_eq!(token.sub(), "00u1ada");
    assert_eq!(token.email(), Some("ada@example.com"));
    assert_eq!(token.email_verified(), Some(true));
    assert_eq!(token.name(), Some("Ada Lovelace"));
    assert_eq!(token.given_name(), Some("Ada"));
    assert_eq!(token.family_name(), Some("Lovelace"));
    assert_eq!(token.idp(), Some("0oa1idp"));
    assert_eq!((token.exp(), token.iat()), (NOW + 300, NOW - 5));
    assert_eq!(token.claims().get("auth_time"), Some(&json!(NOW - 10)));
    let shown = format!("{token:?}");
    assert!(
        !shown.contains("ada@example.com") && !shown.contains(NONCE),
        "{shown}"
    );
}

#[test]
fn es256_happy_path() {
    let raw = mint(&json!({"alg": "ES256", "kid": "ec1"}), &claims());
    assert_eq!(
        check(&raw).map(|t| t.sub().to_owned()),
        Ok("00u1ada".into())
    );
}

#[test]
fn optional_claims_are_lenient() {
    let token = check(&rs256_with(|c| {
        for k in [
            "email",
            "name",
            "given_name",
            "family_name",
            "idp",
            "email_verified",
        ] {
            c.remove(k);
        }
        c.insert("name".into(), json!(""));
        c.insert("exp".into(), json!(NOW as f64 + 300.75));
    }))
    .expect("valid token");
    assert_eq!(
        (token.email(), token.name(), token.idp()),
        (None, None, None)
    );
    assert_eq!(token.email_verified(), None);
    assert_eq!(token.exp(), NOW + 300);
}

#[test]
fn email_verified_is_true_only_for_json_true() {
    let cases = [
        (json!(true), Some(true)),
        (json!("true"), Some(false)),
        (json!("TRUE"), Some(false)),
        (json!(0), Some(false)),
        (json!("false"), Some(false)),
        (json!(false), Some(false)),
        (json!(null), None),
        (json!(1), Some(false)),
        (json!("yes"), Some(false)),
    ];
    for (value, expected) in cases {
        let raw = rs256_with(|c| {
            c.insert("email_verified".into(), value.clone());
        });
        assert_eq!(
            check(&raw).map(|t| t.email_verified()),
            Ok(expected),
            "{value}"
        );
    }
}

// ---- error hygiene --------------------------------------------------------------------------

#[test]
fn errors_never_show_the_token_or_the_nonce() {
    let raws = [
        rs256_with(|c| drop(c.insert("nonce".into(), json!("wrong")))),
        rs256_with(|c| drop(c.insert("iss".into(), json!("https://other")))),
        mint(&json!({"alg": "none"}), &claims()),
        format!("{}x", rs256(&claims())),
    ];
    for raw in raws {
        let err = check(&raw).expect_err("refused");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(NONCE) && !shown.contains(&raw), "{shown}");
        }
    }
}

#[test]
fn codes_are_stable_and_distinct() {
    let all = [
        IdTokenError::TooLarge,
        IdTokenError::Malformed("x"),
        IdTokenError::UnsupportedAlg("x".into()),
        IdTokenError::CritHeader,
        IdTokenError::UnknownKid,
        IdTokenError::AmbiguousKey,
        IdTokenError::NoKey,
        IdTokenError::KeyMismatch,
        IdTokenError::BadSignature,
        IdTokenError::Verifier(VerifierError::Runtime("x".into())),
        IdTokenError::WrongIssuer {
            expected: "a".into(),
            found: "b".into(),
        },
        IdTokenError::WrongAudience,
        IdTokenError::AzpMismatch,
        IdTokenError::MissingExp,
        IdTokenError::Expired,
        IdTokenError::NotYetValid,
        IdTokenError::MissingIat,
        IdTokenError::IssuedInFuture,
        IdTokenError::MissingNonce,
        IdTokenError::NonceMismatch,
        IdTokenError::MissingSub,
    ];
    let codes: std::collections::BTreeSet<_> = all.iter().map(IdTokenError::code).collect();
    assert_eq!(codes.len(), all.len());
    for code in codes {
        assert!(code.starts_with("id_token_"), "{code}");
        assert!(
            code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{code}"
        );
    }
    assert_eq!(IdTokenError::BadSignature.code(), "id_token_bad_signature");
}

#[test]
fn login_facts_are_read_for_the_portal() {
    let raw = rs256_with(|c| {
        c.insert("acr".into(), json!("urn:okta:loa:2fa:any"));
        c.insert("amr".into(), json!(["pwd", "mfa"]));
        c.insert("sid".into(), json!("idx1"));
    });
    let t = check(&raw).unwrap();
    assert_eq!(t.auth_time(), Some(NOW - 10));
    assert_eq!(t.acr(), Some("urn:okta:loa:2fa:any"));
    assert_eq!(t.amr(), Some(&["pwd".to_string(), "mfa".to_string()][..]));
    assert_eq!(t.sid(), Some("idx1"));
    // Of another type, each reads as absent (the callback's checks then fail closed).
    let odd = rs256_with(|c| {
        c.insert("auth_time".into(), json!("yesterday"));
        c.insert("acr".into(), json!(2));
        c.insert("amr".into(), json!(["pwd", 1]));
    });
    let t = check(&odd).unwrap();
    assert_eq!((t.auth_time(), t.acr(), t.amr()), (None, None, None));
}
