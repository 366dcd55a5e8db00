//! The identity provider's signing keys (its JWKS) and the choice of one key for a token.
//!
//! Parsing is lenient per key (an IdP may publish encryption keys, other key types or fields
//! we don't know; one odd key must not take sign-in down) but strict about the set's size.
//! Which algorithm a key may serve is decided here, never by the token alone.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

/// A JWKS body larger than this is refused (Okta's are a few KiB).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// A JWKS with more entries than this is refused.
pub const MAX_JWKS_KEYS: usize = 100;

/// The usable public keys of one issuer: RSA and EC keys that parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One public key (RFC 7517). Key material stays base64url text, as the IdP sent it:
/// the verifier (WebCrypto at the edge) imports it in that form.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Jwk {
    #[serde(default)]
    pub kid: Option<String>,
    pub kty: String,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default)]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default)]
    pub e: Option<String>,
    /// EC curve name, e.g. `P-256`.
    #[serde(default)]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default)]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default)]
    pub y: Option<String>,
}

/// The only JWS algorithms the worker accepts for ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlg {
    Rs256,
    Es256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("JWKS body is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("JWKS body is not a JSON object")]
    NotJson,
    #[error("JWKS has no \"keys\" array")]
    NoKeysArray,
    #[error("JWKS lists more than {MAX_JWKS_KEYS} keys")]
    TooManyKeys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeySelectError {
    #[error("no key in the JWKS has the token's kid")]
    UnknownKid,
    #[error("the key with the token's kid does not fit the token's algorithm")]
    KeyMismatch,
    #[error("token has no kid and several keys fit its algorithm")]
    AmbiguousKey,
    #[error("no key in the JWKS fits the token's algorithm")]
    NoKey,
}

impl JwsAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlg::Rs256 => "RS256",
            JwsAlg::Es256 => "ES256",
        }
    }

    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            JwsAlg::Rs256 => "RS256",
            JwsAlg::Es256 => "ES256",
        }
    }

    /// Exact, case-sensitive match: `none`, `HS256`, `rs256`, `PS256`… are all `None`.
    pub fn from_header(alg: &str) -> Option<Self> {
        match alg {
            "RS256" => Some(JwsAlg::Rs256),
            "ES256" => Some(JwsAlg::Es256),
            _ => None,
        }
    }
}

impl Jwks {
    /// Parses the body of the issuer's `jwks_uri`, keeping only keys we could ever use.
    pub fn parse(body: &[u8]) -> Result<Self, JwksError> {
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| JwksError::NotJson)?;
        let serde_json::Value::Object(mut top) = value else {
            return Err(JwksError::NotJson);
        };
        let Some(serde_json::Value::Array(entries)) = top.remove("keys") else {
            return Err(JwksError::NoKeysArray);
        };
        if entries.len() > MAX_JWKS_KEYS {
            return Err(JwksError::TooManyKeys);
        }
        let keys = entries
            .into_iter()
            .filter_map(|entry| serde_json::from_value::<Jwk>(entry).ok())
            .filter(Jwk::is_usable)
            .collect();
        Ok(Jwks { keys })
    }

    /// Whether any key could verify a token signed with `alg` (the admin check's question).
    pub fn has_key_for(&self, alg: JwsAlg) -> bool {
        self.keys.iter().any(|k| k.fits(alg))
    }
}

impl Jwk {
    /// Whether this key may verify a token signed with `alg`. A key that states its
    /// `alg` or `use` is taken at its word: an `enc` key never verifies a signature.
    pub fn fits(&self, alg: JwsAlg) -> bool {
        if self.alg.as_deref().is_some_and(|a| a != alg.as_str()) {
            return false;
        }
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return false;
        }
        match alg {
            JwsAlg::Rs256 => self.kty == "RSA" && self.n.is_some() && self.e.is_some(),
            JwsAlg::Es256 => {
                self.kty == "EC"
                    && self.crv.as_deref() == Some("P-256")
                    && is_p256_coordinate(self.x.as_deref())
                    && is_p256_coordinate(self.y.as_deref())
            }
        }
    }

    /// A supported key type whose material is present and is valid base64url. Anything
    /// else (`oct`, `OKP`, broken material) is dropped at parse time so it can never be
    /// "the one key that fits".
    fn is_usable(&self) -> bool {
        match self.kty.as_str() {
            "RSA" => is_b64url(self.n.as_deref()) && is_b64url(self.e.as_deref()),
            "EC" => {
                self.crv.is_some() && is_b64url(self.x.as_deref()) && is_b64url(self.y.as_deref())
            }
            _ => false,
        }
    }
}

fn is_b64url(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.is_empty() && URL_SAFE_NO_PAD.decode(v).is_ok())
}

fn is_p256_coordinate(value: Option<&str>) -> bool {
    value
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        .is_some_and(|bytes| bytes.len() == 32)
}

/// Picks the key for a token. With a `kid` only that key may be used; without one the
/// token is accepted only when exactly one key fits, so a rotation window (two keys) can
/// never make us guess.
pub fn select_key<'a>(
    jwks: &'a Jwks,
    kid: Option<&str>,
    alg: JwsAlg,
) -> Result<&'a Jwk, KeySelectError> {
    match kid {
        Some(kid) => {
            let mut named = jwks
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .peekable();
            if named.peek().is_none() {
                return Err(KeySelectError::UnknownKid);
            }
            named
                .find(|k| k.fits(alg))
                .ok_or(KeySelectError::KeyMismatch)
        }
        None => {
            let mut fitting = jwks.keys.iter().filter(|k| k.fits(alg));
            match (fitting.next(), fitting.next()) {
                (Some(key), None) => Ok(key),
                (Some(_), Some(_)) => Err(KeySelectError::AmbiguousKey),
                (None, _) => Err(KeySelectError::NoKey),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn rsa(kid: &str) -> serde_json::Value {
        serde_json::json!({"kty":"RSA","kid":kid,"n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"})
    }

    fn ec(kid: &str) -> serde_json::Value {
        serde_json::json!({"kty":"EC","kid":kid,"crv":"P-256","x":X,"y":Y})
    }

    fn jwks(keys: Vec<serde_json::Value>) -> Jwks {
        let body = serde_json::json!({ "keys": keys }).to_string();
        Jwks::parse(body.as_bytes()).expect("test JWKS parses")
    }

    #[test]
    fn alg_names_are_exact() {
        assert_eq!(JwsAlg::from_header("RS256"), Some(JwsAlg::Rs256));
        assert_eq!(JwsAlg::from_header("ES256"), Some(JwsAlg::Es256));
        for other in [
            "none", "HS256", "rs256", "PS256", "RS384", "ES384", "EdDSA", "",
        ] {
            assert_eq!(JwsAlg::from_header(other), None, "{other}");
        }
        assert_eq!(JwsAlg::Rs256.as_str(), "RS256");
        assert_eq!(JwsAlg::Es256.as_str(), "ES256");
    }

    #[test]
    fn odd_keys_are_skipped_not_fatal() {
        let set = jwks(vec![
            serde_json::json!({"kty":"oct","k":"c2VjcmV0"}),
            serde_json::json!({"kty":"OKP","crv":"Ed25519","x":X}),
            serde_json::json!({"kty":"RSA","kid":"no-n","e":"AQAB"}),
            serde_json::json!({"kty":"RSA","kid":"bad-b64","n":"!!!","e":"AQAB"}),
            serde_json::json!({"kid":"no-kty"}),
            serde_json::json!("not an object"),
            serde_json::json!({"kty":"RSA","kid":42,"n":"AQAB","e":"AQAB"}),
            rsa("good"),
            ec("ec"),
        ]);
        let kids: Vec<_> = set.keys.iter().map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, vec![Some("good"), Some("ec")]);
    }

    #[test]
    fn refuses_oversized_or_shapeless_sets() {
        let big = vec![b' '; MAX_JWKS_BYTES + 1];
        assert_eq!(Jwks::parse(&big), Err(JwksError::TooLarge));
        assert_eq!(Jwks::parse(b"nope"), Err(JwksError::NotJson));
        assert_eq!(Jwks::parse(b"[]"), Err(JwksError::NotJson));
        assert_eq!(Jwks::parse(b"{}"), Err(JwksError::NoKeysArray));
        assert_eq!(Jwks::parse(br#"{"keys":{}}"#), Err(JwksError::NoKeysArray));
        let many = serde_json::json!({ "keys": vec![rsa("k"); MAX_JWKS_KEYS + 1] }).to_string();
        assert_eq!(Jwks::parse(many.as_bytes()), Err(JwksError::TooManyKeys));
        let max = serde_json::json!({ "keys": vec![rsa("k"); MAX_JWKS_KEYS] }).to_string();
        assert_eq!(
            Jwks::parse(max.as_bytes()).map(|s| s.keys.len()),
            Ok(MAX_JWKS_KEYS)
        );
    }

    #[test]
    fn fits_follows_kty_crv_alg_and_use() {
        let set = jwks(vec![rsa("r"), ec("e")]);
        let (r, e) = (&set.keys[0], &set.keys[1]);
        assert!(r.fits(JwsAlg::Rs256) && !r.fits(JwsAlg::Es256));
        assert!(e.fits(JwsAlg::Es256) && !e.fits(JwsAlg::Rs256));

        let mut stated = r.clone();
        stated.alg = Some("RS256".into());
        stated.use_ = Some("sig".into());
        assert!(stated.fits(JwsAlg::Rs256));
        stated.alg = Some("RS384".into());
        assert!(!stated.fits(JwsAlg::Rs256));

        let mut enc = r.clone();
        enc.use_ = Some("enc".into());
        assert!(!enc.fits(JwsAlg::Rs256));

        let mut p384 = e.clone();
        p384.crv = Some("P-384".into());
        assert!(!p384.fits(JwsAlg::Es256));
        let mut short = e.clone();
        short.x = Some("AQAB".into());
        assert!(!short.fits(JwsAlg::Es256));
    }

    #[test]
    fn select_by_kid() {
        let set = jwks(vec![rsa("a"), rsa("b"), ec("e")]);
        let got = select_key(&set, Some("b"), JwsAlg::Rs256).map(|k| k.kid.as_deref());
        assert_eq!(got, Ok(Some("b")));
        assert_eq!(
            select_key(&set, Some("zz"), JwsAlg::Rs256),
            Err(KeySelectError::UnknownKid)
        );
        assert_eq!(
            select_key(&set, Some("e"), JwsAlg::Rs256),
            Err(KeySelectError::KeyMismatch)
        );
        assert_eq!(
            select_key(&set, Some("a"), JwsAlg::Es256),
            Err(KeySelectError::KeyMismatch)
        );
    }

    #[test]
    fn select_without_kid_needs_exactly_one_fit() {
        let one = jwks(vec![rsa("a"), ec("e")]);
        let got = select_key(&one, None, JwsAlg::Rs256).map(|k| k.kid.as_deref());
        assert_eq!(got, Ok(Some("a")));
        let two = jwks(vec![rsa("a"), rsa("b")]);
        assert_eq!(
            select_key(&two, None, JwsAlg::Rs256),
            Err(KeySelectError::AmbiguousKey)
        );
        assert_eq!(
            select_key(&two, None, JwsAlg::Es256),
            Err(KeySelectError::NoKey)
        );
        assert_eq!(
            select_key(&Jwks::default(), None, JwsAlg::Rs256),
            Err(KeySelectError::NoKey)
        );
        assert!(two.has_key_for(JwsAlg::Rs256) && !two.has_key_for(JwsAlg::Es256));
    }
}
