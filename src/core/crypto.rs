//! Secrets at rest: AES-256-GCM under `CONFIG_KEY`, with `CONFIG_KEY_PREVIOUS` still able to
//! decrypt during a rotation. The associated data binds each value to its place (tenant id,
//! field), so a ciphertext copied to another tenant's record does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce as GcmNonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

const PREFIX: &str = "v1.";

/// HMAC-SHA256 of `parts` (concatenated) under `key`: the settings session cookie and the
/// app's Continue form sign with it. HMAC takes a key of any length, so this cannot fail.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            for p in parts {
                mac.update(p);
            }
            mac.finalize().into_bytes().into()
        }
        // Unreachable (see above); a digest of the key is then the key.
        Err(_) => hmac_sha256(&Sha256::digest(key), parts),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("CONFIG_KEY must be standard base64 of exactly 32 bytes")]
    BadKey,
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not decrypt under any configured key")]
    Undecryptable,
}

/// The current config key and, during a rotation, the previous one.
pub struct KeyRing {
    current: Aes256Gcm,
    previous: Option<Aes256Gcm>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing([redacted])")
    }
}

/// The 32 key bytes of a `CONFIG_KEY` value (standard base64).
pub fn decode_key(b64: &str) -> Result<[u8; 32], CryptoError> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| CryptoError::BadKey)?;
    bytes.try_into().map_err(|_| CryptoError::BadKey)
}

fn parse_key(b64: &str) -> Result<Aes256Gcm, CryptoError> {
    Aes256Gcm::new_from_slice(&decode_key(b64)?).map_err(|_| CryptoError::BadKey)
}

/// The sealed text of an AES-256-GCM `ciphertext || tag` under `nonce`: `v1.` and base64url
/// of `nonce || ciphertext || tag`. Shared by `KeyRing::seal` and the edge, which may encrypt
/// the same way through the runtime's WebCrypto; `KeyRing::open` reads both.
pub fn envelope(nonce: &[u8; 12], ciphertext_and_tag: &[u8]) -> String {
    let mut out = Vec::with_capacity(12 + ciphertext_and_tag.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(ciphertext_and_tag);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
}

/// What `open` found: the plaintext, and whether it was sealed under the previous key and so
/// should be re-sealed when next written.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    pub plaintext: Vec<u8>,
    pub under_previous_key: bool,
}

impl KeyRing {
    pub fn new(current_b64: &str, previous_b64: Option<&str>) -> Result<Self, CryptoError> {
        Ok(Self {
            current: parse_key(current_b64)?,
            previous: match previous_b64 {
                Some(p) if !p.trim().is_empty() => Some(parse_key(p)?),
                _ => None,
            },
        })
    }

    /// Encrypts under the current key. `nonce` must be fresh random bytes for every call.
    pub fn seal(&self, plaintext: &[u8], aad: &str, nonce: [u8; 12]) -> String {
        let payload = Payload {
            msg: plaintext,
            aad: aad.as_bytes(),
        };
        // Encryption with a valid key and in-memory buffers cannot fail for our sizes; if it
        // ever did, an empty ciphertext would simply never decrypt.
        let ct = self
            .current
            .encrypt(&GcmNonce::from(nonce), payload)
            .unwrap_or_default();
        envelope(&nonce, &ct)
    }

    pub fn open(&self, sealed: &str, aad: &str) -> Result<Opened, CryptoError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(CryptoError::Malformed)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CryptoError::Malformed)?;
        if raw.len() < 12 + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        let nonce = GcmNonce::from(nonce);
        let attempt = |key: &Aes256Gcm| {
            key.decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .ok()
        };
        if let Some(plaintext) = attempt(&self.current) {
            return Ok(Opened {
                plaintext,
                under_previous_key: false,
            });
        }
        match self.previous.as_ref().and_then(attempt) {
            Some(plaintext) => Ok(Opened {
                plaintext,
                under_previous_key: true,
            }),
            None => Err(CryptoError::Undecryptable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "HxwdHhscGRoXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

    #[test]
    fn round_trip() {
        let ring = KeyRing::new(K1, None).unwrap();
        let sealed = ring.seal(b"s3cret", "tenant:acme:client_secret", [7; 12]);
        assert!(!sealed.contains("s3cret"));
        let opened = ring.open(&sealed, "tenant:acme:client_secret").unwrap();
        assert_eq!(opened.plaintext, b"s3cret");
        assert!(!opened.under_previous_key);
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let ring = KeyRing::new(K1, None).unwrap();
        let sealed = ring.seal(b"s3cret", "a", [1; 12]);
        let mut raw = URL_SAFE_NO_PAD.decode(&sealed[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("v1.{}", URL_SAFE_NO_PAD.encode(raw));
        assert_eq!(ring.open(&tampered, "a"), Err(CryptoError::Undecryptable));
    }

    #[test]
    fn other_associated_data_is_refused() {
        let ring = KeyRing::new(K1, None).unwrap();
        let sealed = ring.seal(b"s3cret", "tenant:acme", [1; 12]);
        assert_eq!(
            ring.open(&sealed, "tenant:evil"),
            Err(CryptoError::Undecryptable)
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        let ring = KeyRing::new(K1, None).unwrap();
        assert_eq!(ring.open("plain", "a"), Err(CryptoError::Malformed));
        assert_eq!(ring.open("v1.!!!", "a"), Err(CryptoError::Malformed));
        assert_eq!(ring.open("v1.AAAA", "a"), Err(CryptoError::Malformed));
    }

    #[test]
    fn previous_key_still_opens_and_flags_rewrap() {
        let old = KeyRing::new(K2, None).unwrap();
        let sealed = old.seal(b"x", "a", [3; 12]);
        let rotated = KeyRing::new(K1, Some(K2)).unwrap();
        let opened = rotated.open(&sealed, "a").unwrap();
        assert!(opened.under_previous_key);
        assert_eq!(
            KeyRing::new(K1, None).unwrap().open(&sealed, "a"),
            Err(CryptoError::Undecryptable)
        );
    }

    /// The layout WebCrypto's AES-GCM `encrypt` returns (`ciphertext || tag`) opens: NIST's
    /// GCM test case 14 (AES-256, zero key and IV, one zero block, no associated data).
    #[test]
    fn envelope_of_a_known_answer_opens() {
        let zero_key = STANDARD.encode([0u8; 32]);
        assert_eq!(decode_key(&zero_key), Ok([0u8; 32]));
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let ct_and_tag = hex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
        let sealed = envelope(&[0; 12], &ct_and_tag);
        let ring = KeyRing::new(&zero_key, None).unwrap();
        assert_eq!(ring.open(&sealed, "").unwrap().plaintext, vec![0u8; 16]);
        assert_eq!(ring.seal(&[0u8; 16], "", [0; 12]), sealed);
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(
            KeyRing::new("short", None).unwrap_err(),
            CryptoError::BadKey
        );
        assert_eq!(KeyRing::new("AAAA", None).unwrap_err(), CryptoError::BadKey);
        assert_eq!(decode_key("AAAA"), Err(CryptoError::BadKey));
        assert_eq!(
            KeyRing::new(K1, Some("nope!")).unwrap_err(),
            CryptoError::BadKey
        );
    }
}
