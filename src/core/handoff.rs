//! Handing the signed-in member to the portal: the EdDSA assertion and the worker's JWKS.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::core::member::Member;

/// Lifetime of an assertion: the portal must consume it right away.
pub const ASSERTION_TTL_SECS: u64 = 120;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffKeyError {
    #[error("HANDOFF_SIGNING_KEY is not a JSON object")]
    NotJson,
    #[error("HANDOFF_SIGNING_KEY must have kty \"OKP\" and crv \"Ed25519\"")]
    WrongType,
    #[error("HANDOFF_SIGNING_KEY needs a non-empty kid")]
    NoKid,
    #[error("HANDOFF_SIGNING_KEY has a bad {0}")]
    BadField(&'static str),
    #[error("HANDOFF_SIGNING_KEY's x does not belong to its d")]
    Mismatch,
}

#[derive(Deserialize)]
struct OkpJwk {
    kty: String,
    crv: String,
    kid: Option<String>,
    x: String,
    d: Option<String>,
}

/// `HANDOFF_SIGNING_KEY` as written: the private key `d` and the public key `x` it claims.
/// Nothing signs with it until the runtime has derived the public key from `d` and `checked`
/// found it equal to `x` — a key whose `x` belongs to another `d` would publish a JWKS that
/// verifies none of the assertions. The derivation is the runtime's (WebCrypto imports `d`
/// and exports its public half), so no Ed25519 arithmetic ships in the wasm.
pub struct HandoffSecret {
    kid: String,
    seed: [u8; 32],
    x: [u8; 32],
}

impl std::fmt::Debug for HandoffSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HandoffSecret(kid={}, [redacted])", self.kid)
    }
}

/// The worker's signing key once checked: its `kid` and public key. The private half lives
/// in the runtime's non-extractable `CryptoKey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffKey {
    kid: String,
    x: [u8; 32],
}

/// A public key published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    pub kid: String,
    pub x: String,
}

fn parse_okp(json: &str) -> Result<OkpJwk, HandoffKeyError> {
    let jwk: OkpJwk = serde_json::from_str(json.trim()).map_err(|_| HandoffKeyError::NotJson)?;
    if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
        return Err(HandoffKeyError::WrongType);
    }
    if jwk.kid.as_deref().is_none_or(str::is_empty) {
        return Err(HandoffKeyError::NoKid);
    }
    Ok(jwk)
}

/// A base64url member of exactly 32 bytes (an Ed25519 seed or public key).
fn key_bytes(b64: &str, name: &'static str) -> Result<[u8; 32], HandoffKeyError> {
    let raw = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| HandoffKeyError::BadField(name))?;
    <[u8; 32]>::try_from(raw.as_slice()).map_err(|_| HandoffKeyError::BadField(name))
}

impl HandoffSecret {
    pub fn from_jwk(json: &str) -> Result<Self, HandoffKeyError> {
        let jwk = parse_okp(json)?;
        let seed = key_bytes(jwk.d.as_deref().unwrap_or_default(), "d")?;
        let x = key_bytes(&jwk.x, "x")?;
        Ok(Self {
            kid: jwk.kid.unwrap_or_default(),
            seed,
            x,
        })
    }

    /// The private key as PKCS #8 (RFC 8410), the form the runtime's WebCrypto imports an
    /// Ed25519 private key from. Every call site hands the secret to the runtime.
    pub fn pkcs8(&self) -> Vec<u8> {
        // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }
        const PREFIX: [u8; 16] = [
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        let mut der = PREFIX.to_vec();
        der.extend_from_slice(&self.seed);
        der
    }

    /// The key, once `derived_x` — the public key the runtime derived from `d` — is the `x`
    /// the JWK claims.
    pub fn checked(&self, derived_x: &[u8]) -> Result<HandoffKey, HandoffKeyError> {
        if derived_x != self.x.as_slice() {
            return Err(HandoffKeyError::Mismatch);
        }
        Ok(HandoffKey {
            kid: self.kid.clone(),
            x: self.x,
        })
    }
}

impl HandoffKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn published(&self) -> PublishedKey {
        PublishedKey {
            kid: self.kid.clone(),
            x: URL_SAFE_NO_PAD.encode(self.x),
        }
    }
}

impl PublishedKey {
    /// The previous key during a rotation: only its public half is used (it may be given as
    /// the full private JWK).
    pub fn from_jwk(json: &str) -> Result<Self, HandoffKeyError> {
        let jwk = parse_okp(json)?;
        key_bytes(&jwk.x, "x")?;
        Ok(Self {
            kid: jwk.kid.unwrap_or_default(),
            x: jwk.x,
        })
    }
}

/// `/.well-known/jwks.json`: the current key and, during a rotation, the previous one.
pub fn jwks_document(keys: &[PublishedKey]) -> String {
    let keys: Vec<_> = keys
        .iter()
        .map(|k| serde_json::json!({"kty":"OKP","crv":"Ed25519","x":k.x,"kid":k.kid,"alg":"EdDSA","use":"sig"}))
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

/// Which client the assertion is for: the web portal's handoff page, or the app's token
/// endpoint. Portals accept only `web` at their handoff path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Web,
    App,
}

/// What the assertion says, beyond the member.
pub struct AssertionContext<'a> {
    pub channel: Channel,
    /// For `web`: the origin that serves the handoff page (the tenant origin or one of its
    /// custom domains), which the portal compares with the POST's `Origin`.
    pub origin: Option<&'a str>,
    /// The tenant origin (`https://{tenant}.{BASE_DOMAIN}`), also where the JWKS is served.
    pub issuer: &'a str,
    pub portal_url: &'a str,
    pub tenant: &'a str,
    pub now: u64,
    pub jti: &'a str,
    pub return_to: Option<&'a str>,
    pub portal_state: Option<&'a str>,
    pub provisioned: bool,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct AssertionClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub email: String,
    /// `false` unless the IdP said `true`: the same rule as the webhook's `email_verified`.
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    pub tenant: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portal_state: Option<String>,
    pub provisioned: bool,
    pub channel: Channel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the tenant sets `groups_claim`: the member's groups (possibly empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// The assertion's claims: one function for the web handoff and the app's token endpoint.
pub fn assertion_claims(member: &Member, ctx: &AssertionContext<'_>) -> AssertionClaims {
    AssertionClaims {
        iss: ctx.issuer.to_string(),
        aud: ctx.portal_url.to_string(),
        sub: member.sub.clone(),
        email: member.email.clone(),
        email_verified: member.email_verified.unwrap_or(false),
        name: member.name.clone(),
        given_name: member.given_name.clone(),
        family_name: member.family_name.clone(),
        idp: member.idp.clone(),
        tenant: ctx.tenant.to_string(),
        iat: ctx.now,
        exp: ctx.now + ASSERTION_TTL_SECS,
        jti: ctx.jti.to_string(),
        return_to: ctx.return_to.map(str::to_string),
        portal_state: ctx.portal_state.map(str::to_string),
        provisioned: ctx.provisioned,
        channel: ctx.channel,
        origin: ctx.origin.map(str::to_string),
        auth_time: member.auth.auth_time,
        acr: member.auth.acr.clone(),
        amr: member.auth.amr.clone(),
        sid: member.auth.sid.clone(),
        groups: member.groups.clone(),
    }
}

#[derive(Serialize)]
struct JwsHeader<'a> {
    alg: &'static str,
    kid: &'a str,
    typ: &'static str,
}

/// The JWS signing input of the assertion: base64url of the header
/// `{"alg":"EdDSA","kid":…,"typ":"JWT"}`, a dot, base64url of the claims.
pub fn assertion_signing_input(
    key: &HandoffKey,
    claims: &AssertionClaims,
) -> Result<String, serde_json::Error> {
    let header = serde_json::to_vec(&JwsHeader {
        alg: "EdDSA",
        kid: &key.kid,
        typ: "JWT",
    })?;
    let payload = serde_json::to_vec(claims)?;
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    ))
}

/// The compact JWS: the signing input, a dot, base64url of the 64-byte Ed25519 signature.
pub fn assertion_jws(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_compact::{KeyPair, Seed};
    use jwt_compact::{alg::Ed25519, AlgorithmExt, Claims, Header, UntrustedToken};

    // RFC 8037 Appendix A.1 key.
    const JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"handoff-1"}"#;

    /// The key pair of `secret`'s `d`, derived natively as the runtime's WebCrypto does at the
    /// edge (import PKCS #8, export the public half).
    fn keypair(secret: &HandoffSecret) -> KeyPair {
        KeyPair::from_seed(Seed::from_slice(&secret.pkcs8()[16..]).unwrap())
    }

    /// The checked key and its native key pair, for signing here as WebCrypto signs there.
    fn checked(jwk: &str) -> (HandoffKey, KeyPair) {
        let secret = HandoffSecret::from_jwk(jwk).unwrap();
        let pair = keypair(&secret);
        (secret.checked(pair.pk.as_slice()).unwrap(), pair)
    }

    fn member() -> Member {
        Member {
            sub: "00u1".into(),
            email: "ada@example.com".into(),
            email_verified: Some(true),
            name: Some("Ada".into()),
            given_name: None,
            family_name: None,
            idp: Some("0oaIDP".into()),
            groups: None,
            auth: crate::core::member::AuthFacts::default(),
        }
    }

    #[test]
    fn rfc8037_key_parses_and_publishes() {
        let secret = HandoffSecret::from_jwk(JWK).unwrap();
        assert!(!format!("{secret:?}").contains("nWGx"));
        let (key, _) = checked(JWK);
        assert_eq!(
            key.published().x,
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&jwks_document(&[key.published()])).unwrap();
        assert_eq!(doc["keys"][0]["kid"], "handoff-1");
        assert!(
            doc["keys"][0].get("d").is_none(),
            "never publish the private part"
        );
        assert!(!format!("{key:?}").contains("nWGx"));
    }

    /// RFC 8032 section 7.1, test 1 (empty message), for the RFC 8037 key: the PKCS #8 the
    /// runtime imports carries exactly `d`, and Ed25519 is deterministic, so the signature
    /// WebCrypto makes from it is this one.
    #[test]
    fn rfc8032_signature_and_pkcs8() {
        let secret = HandoffSecret::from_jwk(JWK).unwrap();
        let der = secret.pkcs8();
        assert_eq!(der.len(), 48);
        assert_eq!(
            URL_SAFE_NO_PAD.encode(&der[16..]),
            "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
        );
        let sig = keypair(&secret).sk.sign(b"", None);
        let hex: String = sig.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        let parse = |j: &str| HandoffSecret::from_jwk(j).unwrap_err();
        assert_eq!(parse("nope"), HandoffKeyError::NotJson);
        assert_eq!(parse(&JWK.replace("OKP", "EC")), HandoffKeyError::WrongType);
        assert_eq!(parse(&JWK.replace("handoff-1", "")), HandoffKeyError::NoKid);
        // d and x must be 32 bytes of base64url.
        assert_eq!(
            parse(&JWK.replace("nWGx", "nWG")),
            HandoffKeyError::BadField("d")
        );
        let no_d = JWK.replace("\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\",", "");
        assert_eq!(parse(&no_d), HandoffKeyError::BadField("d"));
        assert_eq!(
            parse(&JWK.replace("11qY", "11qY11qY")),
            HandoffKeyError::BadField("x")
        );
        assert_eq!(
            parse(&JWK.replace("11qY", "11q+")),
            HandoffKeyError::BadField("x")
        );
        assert!(PublishedKey::from_jwk(JWK).is_ok());
        assert!(
            PublishedKey::from_jwk(&no_d).is_ok(),
            "the public half is enough"
        );
        assert_eq!(
            PublishedKey::from_jwk(&JWK.replace("11qY", "11qY11qY")).unwrap_err(),
            HandoffKeyError::BadField("x")
        );
    }

    /// An `x` that is not the public half of `d` parses, and is refused once the runtime's
    /// derived public key is compared: nothing signs or publishes it.
    #[test]
    fn x_of_another_key_is_refused() {
        let other = KeyPair::from_seed(Seed::new([9; 32]));
        let swapped = JWK.replace(
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            &URL_SAFE_NO_PAD.encode(other.pk.as_slice()),
        );
        let secret = HandoffSecret::from_jwk(&swapped).unwrap();
        let derived = keypair(&secret).pk;
        assert_eq!(
            secret.checked(derived.as_slice()).unwrap_err(),
            HandoffKeyError::Mismatch
        );
        // A flipped bit, a short or an empty derivation are mismatches too.
        let good = HandoffSecret::from_jwk(JWK).unwrap();
        let mut flipped = keypair(&good).pk.as_slice().to_vec();
        flipped[31] ^= 1;
        for derived in [&flipped[..], &flipped[..31], &[][..]] {
            assert_eq!(
                good.checked(derived).unwrap_err(),
                HandoffKeyError::Mismatch
            );
        }
    }

    #[test]
    fn assertion_is_signed_and_carries_claims() {
        let (key, pair) = checked(JWK);
        let ctx = AssertionContext {
            issuer: "https://acme.example.com",
            portal_url: "https://portal.acme.com",
            tenant: "acme",
            now: 1_700_000_000,
            jti: "j1",
            return_to: Some("/bookings"),
            portal_state: None,
            provisioned: true,
            channel: Channel::Web,
            origin: Some("https://acme.example.com"),
        };
        let input = assertion_signing_input(&key, &assertion_claims(&member(), &ctx)).unwrap();
        let jwt = assertion_jws(&input, pair.sk.sign(input.as_bytes(), None).as_ref());
        let token = UntrustedToken::new(&jwt).unwrap();
        assert_eq!(token.algorithm(), "EdDSA");
        assert_eq!(token.header().key_id.as_deref(), Some("handoff-1"));
        Ed25519
            .validator::<serde_json::Value>(&pair.pk)
            .validate(&token)
            .unwrap();
        let payload = jwt.split('.').nth(1).unwrap();
        let c: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(c["iss"], "https://acme.example.com");
        assert_eq!(c["aud"], "https://portal.acme.com");
        assert_eq!(c["exp"], 1_700_000_120u64);
        assert_eq!(c["return_to"], "/bookings");
        assert_eq!(c["provisioned"], true);
        assert!(c.get("portal_state").is_none());
        assert_eq!(c["channel"], "web");
        assert_eq!(c["origin"], "https://acme.example.com");
        for absent in ["auth_time", "acr", "amr", "sid", "groups"] {
            assert!(c.get(absent).is_none(), "{absent} when the IdP gave none");
        }
        // jwt-compact writes the same header and payload for these claims.
        let theirs = Ed25519
            .token(
                &Header::empty()
                    .with_key_id("handoff-1".to_string())
                    .with_token_type("JWT"),
                &Claims::new(assertion_claims(&member(), &ctx)),
                &pair.sk,
            )
            .unwrap();
        let signed_part = |t: &str| t.rsplit_once('.').unwrap().0.to_string();
        assert_eq!(signed_part(&jwt), signed_part(&theirs));
        // A signature by another key does not validate.
        let other = KeyPair::from_seed(Seed::new([9; 32]));
        assert!(Ed25519
            .validator::<serde_json::Value>(&other.pk)
            .validate(&token)
            .is_err());
    }
}

#[cfg(test)]
mod rev3_tests {
    use super::*;
    use crate::core::member::AuthFacts;

    #[test]
    fn app_assertions_say_app_and_carry_the_login_facts() {
        let member = Member {
            sub: "00u1".into(),
            email: "ada@example.com".into(),
            email_verified: None,
            name: None,
            given_name: None,
            family_name: None,
            idp: None,
            groups: Some(vec!["Members".into()]),
            auth: AuthFacts {
                auth_time: Some(1_699_999_990),
                acr: Some("urn:okta:loa:2fa:any".into()),
                amr: Some(vec!["pwd".into(), "mfa".into()]),
                sid: Some("idx123".into()),
            },
        };
        let ctx = AssertionContext {
            channel: Channel::App,
            origin: None,
            issuer: "https://acme.example.com",
            portal_url: "https://portal.acme.com",
            tenant: "acme",
            now: 1_700_000_000,
            jti: "j",
            return_to: None,
            portal_state: None,
            provisioned: false,
        };
        let c = serde_json::to_value(assertion_claims(&member, &ctx)).unwrap();
        assert_eq!(c["channel"], "app");
        assert!(c.get("origin").is_none());
        assert_eq!(c["email_verified"], false);
        assert_eq!(c["auth_time"], 1_699_999_990u64);
        assert_eq!(c["acr"], "urn:okta:loa:2fa:any");
        assert_eq!(c["amr"], serde_json::json!(["pwd", "mfa"]));
        assert_eq!(c["sid"], "idx123");
        assert_eq!(c["groups"], serde_json::json!(["Members"]));
        let empty = Member {
            groups: Some(vec![]),
            ..member
        };
        let c = serde_json::to_value(assertion_claims(&empty, &ctx)).unwrap();
        assert_eq!(
            c["groups"],
            serde_json::json!([]),
            "wanted but none: an empty list"
        );
    }
}
