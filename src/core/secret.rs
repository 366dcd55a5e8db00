//! Secret newtypes: values that must never reach a log, a page or a `Debug` dump.
//!
//! Each has a redacted `Debug`, no `Display`, and a `.secret()` accessor that makes every
//! read of the raw value visible in review. `PkceVerifier` is deliberately not `Clone`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The raw value; every call site is a place where the secret leaves its box.
            pub fn secret(&self) -> &str {
                &self.0
            }
            /// Constant-time comparison with an untrusted candidate.
            pub fn matches(&self, candidate: &str) -> bool {
                constant_time_eq(self.0.as_bytes(), candidate.as_bytes())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// The tenant's OAuth client secret.
    ClientSecret
);
secret_type!(
    /// A tenant's Standard Webhooks signing secret, `whsec_` + base64 of 32 bytes.
    WebhookSecret
);
secret_type!(
    /// The PKCE code verifier (RFC 7636); never cloned, sent once to the token endpoint.
    PkceVerifier
);
secret_type!(
    /// The OpenID Connect `nonce` bound into the ID token.
    Nonce
);
secret_type!(
    /// The OAuth `state` that names a pending login.
    State
);
secret_type!(
    /// A random browser id held in the browser-binding cookie.
    BrowserId
);
secret_type!(
    /// An OAuth access token (used once for userinfo).
    AccessToken
);
secret_type!(
    /// The raw, compact-serialized ID token as received.
    RawIdToken
);
secret_type!(
    /// A session id held in the session cookie.
    SessionId
);

impl Clone for ClientSecret {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
impl Clone for WebhookSecret {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
impl Clone for Nonce {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
impl Clone for State {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
impl Clone for BrowserId {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// base64url (no padding) of 32 random bytes: the shape of every token we mint.
pub fn token_from_random(bytes: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time byte comparison (length is not hidden, which is fine for our tokens).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = ClientSecret::new("hunter2-very-secret");
        let shown = format!("{s:?}");
        assert_eq!(shown, "ClientSecret([redacted])");
        assert!(!shown.contains("hunter2"));
        let v = PkceVerifier::new("verifier-value");
        assert!(!format!("{v:?}").contains("verifier-value"));
    }

    #[test]
    fn matches_is_exact() {
        let n = Nonce::new("abc");
        assert!(n.matches("abc"));
        assert!(!n.matches("abd"));
        assert!(!n.matches("ab"));
        assert!(!n.matches(""));
    }

    #[test]
    fn token_is_43_chars_base64url() {
        let t = token_from_random(&[0xfb; 32]);
        assert_eq!(t.len(), 43);
        assert!(t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
