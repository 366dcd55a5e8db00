//! ID token verification (OpenID Connect Core 1.0 §3.1.3.7): an untrusted compact JWS in,
//! a `VerifiedIdToken` out, and nothing in between trusted that the IdP did not sign.
//!
//! The JWS is parsed by hand (base64 + serde_json) rather than with jwt-compact: we need the
//! raw header to pin `alg` and refuse `crit` before any key lookup, the signature check is
//! delegated to the runtime's WebCrypto, and the claims are checked here one by one, so a
//! library would add a layer without removing any of this code.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::core::field::{members, Field};
use crate::core::jwks::{select_key, Jwk, Jwks, JwsAlg, KeySelectError};
use crate::core::secret::Nonce;

mod verified;
pub use verified::VerifiedIdToken;

/// A compact ID token longer than this is refused before any parsing.
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;
/// Clock skew tolerated on `exp`, `iat` and `nbf`, in seconds.
pub const CLOCK_SKEW_SECS: u64 = 120;

/// Checks a JWS signature. The edge implements it with WebCrypto; tests with native crates.
#[allow(async_fn_in_trait)]
pub trait SignatureVerifier {
    /// Verifies `signature` over `signing_input` with `key` for `alg`; Ok(false) = bad signature.
    async fn verify(
        &self,
        alg: JwsAlg,
        key: &Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<bool, VerifierError>;
}

/// The verifier could not give a yes/no answer (not the same as a bad signature).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifierError {
    /// The key material was refused (e.g. WebCrypto's `importKey` threw).
    #[error("key refused by the verifier: {0}")]
    KeyRejected(String),
    /// The verifier itself failed (no `crypto.subtle`, `verify` threw…).
    #[error("signature verifier failed: {0}")]
    Runtime(String),
}

/// What the token must say, from the pending login and the tenant's config.
#[derive(Debug)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a Nonce,
    /// Unix seconds, read by the edge.
    pub now: u64,
}

/// Why an ID token was refused. Messages never contain the token or the nonce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("ID token is larger than {MAX_ID_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("ID token is malformed: {0}")]
    Malformed(&'static str),
    #[error("ID token algorithm {0:?} is not accepted (RS256 or ES256 only)")]
    UnsupportedAlg(String),
    #[error("ID token header has a crit parameter, which we do not support")]
    CritHeader,
    #[error("ID token kid is not in the issuer's JWKS")]
    UnknownKid,
    #[error("ID token has no kid and several keys fit")]
    AmbiguousKey,
    #[error("no key in the issuer's JWKS fits the ID token's algorithm")]
    NoKey,
    #[error("the key named by the ID token's kid does not fit its algorithm")]
    KeyMismatch,
    #[error("ID token signature is invalid")]
    BadSignature,
    #[error(transparent)]
    Verifier(#[from] VerifierError),
    #[error("ID token issuer {found:?} is not the expected {expected:?}")]
    WrongIssuer { expected: String, found: String },
    #[error("ID token audience does not contain our client_id")]
    WrongAudience,
    #[error("ID token azp is missing or is not our client_id")]
    AzpMismatch,
    #[error("ID token has no exp")]
    MissingExp,
    #[error("ID token has expired")]
    Expired,
    #[error("ID token is not valid yet (nbf)")]
    NotYetValid,
    #[error("ID token has no iat")]
    MissingIat,
    #[error("ID token was issued in the future")]
    IssuedInFuture,
    #[error("ID token has no nonce")]
    MissingNonce,
    #[error("ID token nonce does not match the login's")]
    NonceMismatch,
    #[error("ID token has no sub")]
    MissingSub,
}

impl IdTokenError {
    /// Stable snake_case code for the request's log line.
    pub fn code(&self) -> &'static str {
        match self {
            IdTokenError::TooLarge => "id_token_too_large",
            IdTokenError::Malformed(_) => "id_token_malformed",
            IdTokenError::UnsupportedAlg(_) => "id_token_unsupported_alg",
            IdTokenError::CritHeader => "id_token_crit_header",
            IdTokenError::UnknownKid => "id_token_unknown_kid",
            IdTokenError::AmbiguousKey => "id_token_ambiguous_key",
            IdTokenError::NoKey => "id_token_no_key",
            IdTokenError::KeyMismatch => "id_token_key_mismatch",
            IdTokenError::BadSignature => "id_token_bad_signature",
            IdTokenError::Verifier(_) => "id_token_verifier_failed",
            IdTokenError::WrongIssuer { .. } => "id_token_wrong_issuer",
            IdTokenError::WrongAudience => "id_token_wrong_audience",
            IdTokenError::AzpMismatch => "id_token_azp_mismatch",
            IdTokenError::MissingExp => "id_token_missing_exp",
            IdTokenError::Expired => "id_token_expired",
            IdTokenError::NotYetValid => "id_token_not_yet_valid",
            IdTokenError::MissingIat => "id_token_missing_iat",
            IdTokenError::IssuedInFuture => "id_token_issued_in_future",
            IdTokenError::MissingNonce => "id_token_missing_nonce",
            IdTokenError::NonceMismatch => "id_token_nonce_mismatch",
            IdTokenError::MissingSub => "id_token_missing_sub",
        }
    }
}

impl From<KeySelectError> for IdTokenError {
    fn from(e: KeySelectError) -> Self {
        match e {
            KeySelectError::UnknownKid => IdTokenError::UnknownKid,
            KeySelectError::KeyMismatch => IdTokenError::KeyMismatch,
            KeySelectError::AmbiguousKey => IdTokenError::AmbiguousKey,
            KeySelectError::NoKey => IdTokenError::NoKey,
        }
    }
}

/// Verifies a compact-serialized ID token, OIDC Core §3.1.3.7 step by step.
///
/// The signature (steps 6–7) is checked before any claim (steps 2–5 and 9–11), so every
/// claim error is about a token the IdP really signed, and a forgery always reads as
/// `BadSignature`, whatever it claims.
pub async fn verify_id_token<V: SignatureVerifier + ?Sized>(
    raw: &str,
    jwks: &Jwks,
    expect: &Expectations<'_>,
    verifier: &V,
) -> Result<VerifiedIdToken, IdTokenError> {
    // Step 1: we never register for encrypted ID tokens, so a JWE (5 segments) is malformed.
    let token = SignedJws::parse(raw)?;
    let claims = Claims::parse(&token.payload).ok_or(IdTokenError::Malformed(
        "payload is not a JSON object with unique members",
    ))?;
    // Steps 6–7: the signature by a key of the issuer's, under an algorithm we chose.
    check_signature(&token, jwks, &[JwsAlg::Rs256, JwsAlg::Es256], verifier).await?;

    // Step 2: the issuer, exactly (no trailing-slash or case leniency).
    let iss = string_claim(&claims.iss, "iss")?.unwrap_or_default();
    if iss != expect.issuer {
        let (expected, found) = (expect.issuer.to_owned(), iss.chars().take(256).collect());
        return Err(IdTokenError::WrongIssuer { expected, found });
    }

    // Steps 3–5: we are an audience; with several, `azp` must name us; if stated, it must.
    check_audience(&claims, expect.client_id)?;

    // Steps 9–10: exp in the future and iat not in the future, each within the skew.
    let (exp, iat) = check_times(&claims, expect.now)?;

    // Step 11: the nonce we sent, compared in constant time.
    let nonce = string_claim(&claims.nonce, "nonce")?.ok_or(IdTokenError::MissingNonce)?;
    if !expect.nonce.matches(nonce) {
        return Err(IdTokenError::NonceMismatch);
    }

    // §2: sub is REQUIRED and is the member's identity at this issuer.
    let sub = string_claim(&claims.sub, "sub")?.filter(|s| !s.is_empty());
    let sub = sub.ok_or(IdTokenError::MissingSub)?.to_owned();

    // Step 8 does not apply (no HMAC algorithms); steps 12–13 (acr, auth_time) depend on
    // what the login asked for and are `step_up::check_requirements`, run on the result.
    Ok(VerifiedIdToken::from_checked_claims(
        sub,
        exp,
        iat,
        &claims,
        token.payload,
    ))
}

/// Steps 6–7 of §3.1.3.7 for any JWS we verify (ID tokens, Cloudflare Access tokens): the
/// algorithm is ours to choose among `allowed` — nothing the header invents, checked before
/// any key lookup so `none` and HS* never meet a key —, no `crit` we cannot honour, the key
/// from the JWKS by `kid` (never from `jku`/`x5u`/`jwk` headers), then the signature.
pub(crate) async fn check_signature<V: SignatureVerifier + ?Sized>(
    token: &SignedJws<'_>,
    jwks: &Jwks,
    allowed: &[JwsAlg],
    verifier: &V,
) -> Result<(), IdTokenError> {
    let alg = token.pinned_alg()?;
    if !allowed.contains(&alg) {
        return Err(IdTokenError::UnsupportedAlg(alg.name().to_owned()));
    }
    // RFC 7515 §4.1.11: we understand no JWS extension, so any `crit` means refuse.
    if token.header.crit != Field::Absent {
        return Err(IdTokenError::CritHeader);
    }
    let key = select_key(jwks, token.kid()?, alg)?;
    if alg == JwsAlg::Es256 && token.signature.len() != 64 {
        return Err(IdTokenError::Malformed(
            "ES256 signature is not 64 bytes (r||s)",
        ));
    }
    if !verifier
        .verify(alg, key, token.signing_input.as_bytes(), &token.signature)
        .await?
    {
        return Err(IdTokenError::BadSignature);
    }
    Ok(())
}

/// The JOSE header members we read. Any other is skipped; `crit` only has to be there.
struct Header {
    alg: Field,
    kid: Field,
    crit: Field,
}

impl Header {
    fn parse(json: &[u8]) -> Option<Self> {
        let [alg, kid, crit] = members(json, ["alg", "kid", "crit"])?;
        Some(Self { alg, kid, crit })
    }
}

/// The claims we check or hand on; the rest of the payload is skipped.
struct Claims {
    iss: Field,
    sub: Field,
    aud: Field,
    azp: Field,
    nonce: Field,
    exp: Field,
    iat: Field,
    nbf: Field,
    email: Field,
    email_verified: Field,
    name: Field,
    given_name: Field,
    family_name: Field,
    idp: Field,
    auth_time: Field,
    acr: Field,
    amr: Field,
    sid: Field,
}

impl Claims {
    fn parse(json: &[u8]) -> Option<Self> {
        let [iss, sub, aud, azp, nonce, exp, iat, nbf, email, email_verified, name, given_name, family_name, idp, auth_time, acr, amr, sid] =
            members(
                json,
                [
                    "iss",
                    "sub",
                    "aud",
                    "azp",
                    "nonce",
                    "exp",
                    "iat",
                    "nbf",
                    "email",
                    "email_verified",
                    "name",
                    "given_name",
                    "family_name",
                    "idp",
                    "auth_time",
                    "acr",
                    "amr",
                    "sid",
                ],
            )?;
        Some(Self {
            iss,
            sub,
            aud,
            azp,
            nonce,
            exp,
            iat,
            nbf,
            email,
            email_verified,
            name,
            given_name,
            family_name,
            idp,
            auth_time,
            acr,
            amr,
            sid,
        })
    }
}

/// A compact JWS split and decoded, not yet trusted.
pub(crate) struct SignedJws<'a> {
    header: Header,
    /// The decoded payload, for the caller's claims.
    pub(crate) payload: Vec<u8>,
    /// `header.payload` exactly as received: re-encoding could change the signed bytes.
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl<'a> SignedJws<'a> {
    pub(crate) fn parse(raw: &'a str) -> Result<Self, IdTokenError> {
        if raw.len() > MAX_ID_TOKEN_BYTES {
            return Err(IdTokenError::TooLarge);
        }
        let segments: Vec<&str> = raw.split('.').collect();
        let [header, payload, signature] = segments[..] else {
            return Err(IdTokenError::Malformed("not three dot-separated segments"));
        };
        let signing_input = &raw[..header.len() + 1 + payload.len()];
        let header = b64(header, "header is not base64url")?;
        let header = Header::parse(&header).ok_or(IdTokenError::Malformed(
            "header is not a JSON object with unique members",
        ))?;
        let payload = b64(payload, "payload is not base64url")?;
        Ok(Self {
            header,
            payload,
            signing_input,
            signature: b64(signature, "signature is not base64url")?,
        })
    }

    fn pinned_alg(&self) -> Result<JwsAlg, IdTokenError> {
        match &self.header.alg {
            Field::Str(alg) => JwsAlg::from_header(alg)
                .ok_or_else(|| IdTokenError::UnsupportedAlg(alg.chars().take(32).collect())),
            Field::Absent => Err(IdTokenError::Malformed("header has no alg")),
            _ => Err(IdTokenError::Malformed("header alg is not a string")),
        }
    }

    fn kid(&self) -> Result<Option<&str>, IdTokenError> {
        match &self.header.kid {
            Field::Absent => Ok(None),
            Field::Str(kid) => Ok(Some(kid)),
            _ => Err(IdTokenError::Malformed("header kid is not a string")),
        }
    }
}

fn b64(segment: &str, problem: &'static str) -> Result<Vec<u8>, IdTokenError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| IdTokenError::Malformed(problem))
}

/// Steps 3–5 of §3.1.3.7.
fn check_audience(claims: &Claims, client_id: &str) -> Result<(), IdTokenError> {
    let audiences: Vec<&str> = match &claims.aud {
        Field::Absent => Vec::new(),
        Field::Str(aud) => vec![aud.as_str()],
        Field::Array(list) => list
            .iter()
            .map(|a| {
                a.as_str()
                    .ok_or(IdTokenError::Malformed("aud has a non-string entry"))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(IdTokenError::Malformed(
                "aud is neither a string nor an array",
            ))
        }
    };
    if !audiences.contains(&client_id) {
        return Err(IdTokenError::WrongAudience);
    }
    match string_claim(&claims.azp, "azp")? {
        Some(azp) if azp != client_id => Err(IdTokenError::AzpMismatch),
        None if audiences.len() > 1 => Err(IdTokenError::AzpMismatch),
        _ => Ok(()),
    }
}

/// Steps 9–10 of §3.1.3.7, returning (exp, iat).
fn check_times(claims: &Claims, now: u64) -> Result<(u64, u64), IdTokenError> {
    check_times_of(&claims.exp, &claims.nbf, &claims.iat, now)
}

/// `exp` in the future and `iat` present and not in the future, each within the skew; `nbf`
/// honoured when present. Returns (exp, iat). Shared with the Access token check.
pub(crate) fn check_times_of(
    exp: &Field,
    nbf: &Field,
    iat: &Field,
    now: u64,
) -> Result<(u64, u64), IdTokenError> {
    // Step 9: exp must be after now, give or take the skew.
    let exp = numeric_date(exp, "exp")?.ok_or(IdTokenError::MissingExp)?;
    if exp.saturating_add(CLOCK_SKEW_SECS) <= now {
        return Err(IdTokenError::Expired);
    }
    // RFC 7519 §4.1.5: nbf is optional in OIDC, but honoured when the IdP sets it.
    let latest_start = now.saturating_add(CLOCK_SKEW_SECS);
    if numeric_date(nbf, "nbf")?.is_some_and(|nbf| nbf > latest_start) {
        return Err(IdTokenError::NotYetValid);
    }
    // Step 10: iat is REQUIRED (§2); a token from the future means a broken clock somewhere.
    let iat = numeric_date(iat, "iat")?.ok_or(IdTokenError::MissingIat)?;
    if iat > latest_start {
        return Err(IdTokenError::IssuedInFuture);
    }
    Ok((exp, iat))
}

/// A string claim: absent or null is `None`, any other type is malformed.
fn string_claim<'c>(claim: &'c Field, name: &'static str) -> Result<Option<&'c str>, IdTokenError> {
    match claim {
        Field::Absent | Field::Null => Ok(None),
        Field::Str(s) => Ok(Some(s)),
        _ => Err(IdTokenError::Malformed(match name {
            "iss" => "iss is not a string",
            "azp" => "azp is not a string",
            "nonce" => "nonce is not a string",
            "sub" => "sub is not a string",
            _ => "a string claim has another type",
        })),
    }
}

/// A NumericDate (RFC 7519 §2): non-negative seconds, fractions allowed and truncated.
fn numeric_date(claim: &Field, name: &'static str) -> Result<Option<u64>, IdTokenError> {
    let malformed = || {
        IdTokenError::Malformed(match name {
            "exp" => "exp is not a non-negative number",
            "iat" => "iat is not a non-negative number",
            "nbf" => "nbf is not a non-negative number",
            _ => "a date claim is not a non-negative number",
        })
    };
    match claim {
        Field::Absent => Ok(None),
        Field::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(secs), _) => Ok(Some(secs)),
            (None, Some(f)) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
                Ok(Some(f as u64))
            }
            _ => Err(malformed()),
        },
        _ => Err(malformed()),
    }
}

#[cfg(test)]
pub(crate) mod tests;
