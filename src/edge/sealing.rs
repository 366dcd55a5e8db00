//! Session sealing through the runtime's WebCrypto AES-GCM: the same `v1.` envelope as
//! `KeyRing::seal` (which `KeyRing::open` reads at logout), but encrypted natively instead of by
//! the software AES and GHASH that wasm32 gets from the `aes-gcm` crate.
//!
//! The imported `CONFIG_KEY` is cached per isolate, keyed by its text; nothing is borrowed
//! across an await. Any runtime failure falls back to `KeyRing::seal`: same output format.

use std::cell::RefCell;

use js_sys::{Array, Object, Uint8Array};
use web_sys::{CryptoKey, SubtleCrypto};

use crate::core::crypto::{decode_key, envelope, KeyRing};

use super::js;
use super::webcrypto::{imported_once, KeySlot};

thread_local! {
    static IMPORTED: KeySlot = const { RefCell::new(None) };
}

/// Seals `plaintext` under the current `CONFIG_KEY` (`key_text`, already validated by the
/// `KeyRing` built from it) with associated data `aad`.
pub async fn seal(
    key_text: &str,
    ring: &KeyRing,
    plaintext: &[u8],
    aad: &str,
    nonce: [u8; 12],
) -> String {
    match encrypt(key_text, plaintext, aad, &nonce).await {
        Some(ct) => envelope(&nonce, &ct),
        None => ring.seal(plaintext, aad, nonce),
    }
}

async fn encrypt(key_text: &str, plaintext: &[u8], aad: &str, nonce: &[u8; 12]) -> Option<Vec<u8>> {
    let subtle = super::webcrypto::runtime_subtle()?;
    let key = imported(&subtle, key_text).await?;
    let params = Object::new();
    js::set(&params, "name", &js::name("AES-GCM")).ok()?;
    js::set(&params, "iv", &Uint8Array::from(&nonce[..])).ok()?;
    js::set(&params, "additionalData", &Uint8Array::from(aad.as_bytes())).ok()?;
    let promise = subtle
        .encrypt_with_object_and_u8_array(&params, &key, plaintext)
        .ok()?;
    let out = super::promise::settle_bytes(&promise).await.ok()?;
    // ciphertext || 16-byte tag: anything else is not what we asked for.
    (out.len() == plaintext.len() + 16).then_some(out)
}

async fn imported(subtle: &SubtleCrypto, key_text: &str) -> Option<CryptoKey> {
    imported_once(&IMPORTED, key_text, || {
        let raw = decode_key(key_text).ok()?;
        let usages = Array::of1(&js::name("encrypt"));
        let data = Uint8Array::from(&raw[..]);
        subtle
            .import_key_with_str("raw", &data, "AES-GCM", false, &usages)
            .ok()
    })
    .await
}
