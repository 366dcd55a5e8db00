//! The handoff assertion signed by the runtime's WebCrypto Ed25519 rather than by
//! `ed25519-compact` in wasm. Ed25519 (RFC 8032) is deterministic, so both give the same
//! signature for the same key and input: the Rust signature is the fallback should WebCrypto
//! fail, and the output never depends on which one ran.
//!
//! The imported key is cached per isolate, keyed by its public key (which the key's parser
//! checked against the private one); nothing is borrowed across an await.

use std::cell::RefCell;

use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::JsValue;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::core::handoff::{
    assertion_jws, assertion_signing_input, signature, AssertionClaims, HandoffKey,
};

use super::js;
use super::webcrypto::{imported_once, KeySlot};

thread_local! {
    static IMPORTED: KeySlot = const { RefCell::new(None) };
}

pub async fn sign_assertion(
    key: &HandoffKey,
    claims: &AssertionClaims,
) -> Result<String, serde_json::Error> {
    let input = assertion_signing_input(key, claims)?;
    let signed = match webcrypto_signature(key, &input).await {
        Some(sig) => sig,
        None => signature(key, &input).to_vec(),
    };
    Ok(assertion_jws(&input, &signed))
}

async fn webcrypto_signature(key: &HandoffKey, input: &str) -> Option<Vec<u8>> {
    let subtle = super::webcrypto::runtime_subtle()?;
    let crypto_key = imported(&subtle, key).await?;
    let promise = subtle
        .sign_with_object_and_u8_array(&algorithm().ok()?, &crypto_key, input.as_bytes())
        .ok()?;
    let out = super::promise::settle_bytes(&promise).await.ok()?;
    (out.len() == 64).then_some(out)
}

async fn imported(subtle: &SubtleCrypto, key: &HandoffKey) -> Option<CryptoKey> {
    imported_once(&IMPORTED, &key.published().x, || {
        let usages = Array::of1(&js::name("sign"));
        let der = Uint8Array::from(key.pkcs8().as_slice());
        subtle
            .import_key_with_str("pkcs8", &der, "Ed25519", false, &usages)
            .ok()
    })
    .await
}

/// `{ name: "Ed25519" }`, the algorithm `sign` takes.
fn algorithm() -> Result<Object, JsValue> {
    let params = Object::new();
    js::set(&params, "name", &js::name("Ed25519"))?;
    Ok(params)
}
