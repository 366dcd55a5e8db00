//! The handoff key in the runtime's WebCrypto. `HANDOFF_SIGNING_KEY`'s `d` is imported once
//! per isolate; before anything is signed or published, the public key WebCrypto derives from
//! `d` (an extractable copy, exported as a JWK and dropped) must be the JWK's `x`
//! (`HandoffSecret::checked`). Assertions are signed with a second, non-extractable import.
//! No Ed25519 arithmetic ships in the wasm: without WebCrypto there is no signature, and the
//! request answers "misconfigured" rather than falling back to anything.
//!
//! Nothing is borrowed across an await: the cache is read, then filled, in separate steps.

use std::cell::RefCell;
use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::JsValue;
use web_sys::{CryptoKey, SubtleCrypto};
use worker::Env;

use crate::core::handoff::{
    assertion_jws, assertion_signing_input, AssertionClaims, HandoffKey, HandoffSecret,
    PublishedKey,
};

use super::js;
use super::promise::{settle, settle_bytes};
use super::settings::{self, Misconfigured};

/// The checked key and the runtime's signing key for it.
#[derive(Clone)]
pub struct Signer {
    pub key: Rc<HandoffKey>,
    crypto_key: CryptoKey,
}

thread_local! {
    /// The signer of the last `HANDOFF_SIGNING_KEY` text seen (a rotated secret is new text,
    /// so it is imported and checked afresh).
    static SIGNER: RefCell<Option<(String, Signer)>> = const { RefCell::new(None) };
}

/// The handoff key of `env`, checked; parsed, imported and checked once per isolate.
pub async fn signer(env: &Env) -> Result<Signer, Misconfigured> {
    let text = settings::handoff_signing_key(env)?;
    let hit = SIGNER.with(|s| {
        s.borrow()
            .as_ref()
            .filter(|(known, _)| *known == text)
            .map(|(_, signer)| signer.clone())
    });
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let signer = load(&text).await?;
    SIGNER.with(|s| *s.borrow_mut() = Some((text, signer.clone())));
    Ok(signer)
}

async fn load(text: &str) -> Result<Signer, Misconfigured> {
    let secret = HandoffSecret::from_jwk(text).map_err(|e| Misconfigured(e.to_string()))?;
    let subtle = super::webcrypto::runtime_subtle()
        .ok_or_else(|| Misconfigured("crypto.subtle is missing".into()))?;
    let refused = || Misconfigured("HANDOFF_SIGNING_KEY: WebCrypto did not import d".into());
    let der = Uint8Array::from(secret.pkcs8().as_slice());
    let derived = derived_public_key(&subtle, &der)
        .await
        .ok_or_else(refused)?;
    let key = secret
        .checked(&derived)
        .map_err(|e| Misconfigured(e.to_string()))?;
    let crypto_key = import(&subtle, &der, false).await.ok_or_else(refused)?;
    Ok(Signer {
        key: Rc::new(key),
        crypto_key,
    })
}

/// `d` imported as PKCS #8 for signing.
async fn import(subtle: &SubtleCrypto, der: &Uint8Array, extractable: bool) -> Option<CryptoKey> {
    let usages = Array::of1(&js::name("sign"));
    let promise = subtle
        .import_key_with_str("pkcs8", der, "Ed25519", extractable, &usages)
        .ok()?;
    settle(&promise).await.ok().map(JsValue::into)
}

/// The public key the runtime derives from `d`: the `x` of an extractable import's JWK.
async fn derived_public_key(subtle: &SubtleCrypto, der: &Uint8Array) -> Option<Vec<u8>> {
    let extractable = import(subtle, der, true).await?;
    let jwk = settle(&subtle.export_key("jwk", &extractable).ok()?)
        .await
        .ok()?;
    let x = js::get(&jwk, "x").ok()?.as_string()?;
    URL_SAFE_NO_PAD.decode(x).ok()
}

/// The assertion as a compact JWS signed by the runtime; `None` when WebCrypto fails.
pub async fn sign_assertion(signer: &Signer, claims: &AssertionClaims) -> Option<String> {
    let input = assertion_signing_input(&signer.key, claims).ok()?;
    let subtle = super::webcrypto::runtime_subtle()?;
    let params = Object::new();
    js::set(&params, "name", &js::name("Ed25519")).ok()?;
    let promise = subtle
        .sign_with_object_and_u8_array(&params, &signer.crypto_key, input.as_bytes())
        .ok()?;
    let signature = settle_bytes(&promise).await.ok()?;
    (signature.len() == 64).then(|| assertion_jws(&input, &signature))
}

/// The public keys to publish: the current one (checked), then the previous one during a
/// rotation. A broken previous key is reported (second value) but never hides the current.
pub async fn published_keys(
    env: &Env,
) -> Result<(Vec<PublishedKey>, Option<String>), Misconfigured> {
    let current = signer(env).await?.key.published();
    let mut problem = None;
    let mut keys = vec![current];
    if let Some(prev) = settings::previous_handoff_signing_key(env) {
        match PublishedKey::from_jwk(&prev) {
            Ok(prev) if !keys.iter().any(|k| k.kid == prev.kid) => keys.push(prev),
            Ok(_) => {}
            Err(e) => problem = Some(format!("HANDOFF_SIGNING_KEY_PREVIOUS: {e}")),
        }
    }
    Ok((keys, problem))
}
