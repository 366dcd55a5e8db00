//! Vars, secrets and bindings, read from the environment and parsed into types.
//!
//! The runtime hands an isolate the same `env` object for every request of its life (new vars
//! or secrets come with a new deployment, so a new isolate), so each value is read across the
//! wasm boundary once per isolate and then served from memory. Each read first checks that
//! `env` is still that object (`Object.is`, one call without strings); should the runtime ever
//! pass another, the memory starts over, so a changed value is never served stale.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;
use worker::Env;

use crate::core::crypto::KeyRing;

/// Plain vars: needed by every route.
#[derive(Clone)]
pub struct Settings {
    pub base_domain: String,
    pub local_dev: bool,
    pub forward_to: Option<String>,
}

/// What this isolate has read from `env`, and the `env` it was read from.
#[derive(Default)]
struct EnvMemo {
    env: Option<JsValue>,
    strings: Vec<(&'static str, Option<String>)>,
    bindings: Vec<(&'static str, JsValue)>,
    settings: Option<Settings>,
}

thread_local! {
    static MEMO: RefCell<EnvMemo> = RefCell::new(EnvMemo::default());
}

/// Runs `f` on the memo of this `env`, emptied first if `env` is not the object it was read
/// from. The borrow ends with `f`: nothing is held across an await.
fn with_memo<R>(env: &Env, f: impl FnOnce(&mut EnvMemo) -> R) -> R {
    let env: &JsValue = env.as_ref();
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        if !memo.env.as_ref().is_some_and(|e| Object::is(e, env)) {
            *memo = EnvMemo {
                env: Some(env.clone()),
                ..EnvMemo::default()
            };
        }
        f(&mut memo)
    })
}

/// A var or secret, when set and not blank. The runtime hands both to the worker the same way
/// — string properties of `env` — so the worker cannot tell which one a value came from:
/// production sets the secrets with `wrangler secret put` (docs/deploy.md). `Env::var` /
/// `Env::secret` would also look up each value's constructor name and format an error for
/// every absent optional one.
fn string(env: &Env, name: &'static str) -> Option<String> {
    with_memo(env, |memo| {
        if let Some((_, value)) = memo.strings.iter().find(|(n, _)| *n == name) {
            return value.clone();
        }
        let value = Reflect::get(env, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
            .filter(|v| !v.trim().is_empty());
        memo.strings.push((name, value.clone()));
        value
    })
}

/// A binding (an object property of `env`, such as the KV namespace), when present.
pub fn binding(env: &Env, name: &'static str) -> Option<JsValue> {
    with_memo(env, |memo| {
        if let Some((_, value)) = memo.bindings.iter().find(|(n, _)| *n == name) {
            return Some(value.clone()).filter(|v| !v.is_undefined() && !v.is_null());
        }
        let value = Reflect::get(env, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        memo.bindings.push((name, value.clone()));
        Some(value).filter(|v| !v.is_undefined() && !v.is_null())
    })
}

fn var(env: &Env, name: &'static str) -> Option<String> {
    string(env, name)
}

fn secret(env: &Env, name: &'static str) -> Option<String> {
    string(env, name)
}

impl Settings {
    /// Parsed once per isolate (see the module's note on `env`).
    pub fn from_env(env: &Env) -> Self {
        if let Some(hit) = with_memo(env, |memo| memo.settings.clone()) {
            return hit;
        }
        let parsed = Self::parse(env);
        with_memo(env, |memo| memo.settings = Some(parsed.clone()));
        parsed
    }

    fn parse(env: &Env) -> Self {
        Self {
            // A port in BASE_DOMAIN ("localhost:8787") is ignored: hosts are compared without
            // ports, and the request's own port is used when the worker builds an origin.
            base_domain: var(env, "BASE_DOMAIN")
                .map(|b| b.trim().to_ascii_lowercase())
                .map(|b| match b.rsplit_once(':') {
                    Some((host, port))
                        if !host.is_empty() && port.bytes().all(|c| c.is_ascii_digit()) =>
                    {
                        host.to_string()
                    }
                    _ => b,
                })
                .unwrap_or_else(|| "localhost".into()),
            local_dev: var(env, "LOCAL_DEV").is_some_and(|v| v.trim() == "true"),
            forward_to: var(env, "FORWARD_TO"),
        }
    }
}

/// `ACCESS_TEAM_DOMAIN` and `ACCESS_AUD`: the settings page behind Cloudflare Access.
pub fn access_vars(env: &Env) -> (Option<String>, Option<String>) {
    (var(env, "ACCESS_TEAM_DOMAIN"), var(env, "ACCESS_AUD"))
}

/// `LOGIN_RATE_LIMIT_OFF="true"`: the benchmark's switch for the login-start limit, honoured
/// only under `LOCAL_DEV` (`ratelimit`).
pub fn login_limit_off(env: &Env) -> bool {
    var(env, "LOGIN_RATE_LIMIT_OFF").is_some_and(|v| v.trim() == "true")
}

/// Why the worker cannot serve a route that needs a secret: says which, never its value.
#[derive(Debug)]
pub struct Misconfigured(pub String);

pub fn admin_token(env: &Env) -> Result<String, Misconfigured> {
    secret(env, "ADMIN_TOKEN").ok_or_else(|| Misconfigured("ADMIN_TOKEN is not set".into()))
}

/// Parsed keys are kept per isolate, keyed by the secret text they came from, so a warm
/// request does not re-run the AES key schedule — and a rotated secret (new text) is parsed
/// afresh. (The handoff key is kept the same way by `signing`.)
struct Parsed<T> {
    source: String,
    value: Rc<T>,
}

thread_local! {
    static KEYRING: RefCell<Option<Parsed<KeyRing>>> = const { RefCell::new(None) };
}

fn cached<T>(
    slot: &'static std::thread::LocalKey<RefCell<Option<Parsed<T>>>>,
    source: String,
    parse: impl FnOnce(&str) -> Result<T, Misconfigured>,
) -> Result<Rc<T>, Misconfigured> {
    if let Some(hit) = slot.with(|s| {
        s.borrow()
            .as_ref()
            .filter(|p| p.source == source)
            .map(|p| p.value.clone())
    }) {
        return Ok(hit);
    }
    let value = Rc::new(parse(&source)?);
    slot.with(|s| {
        *s.borrow_mut() = Some(Parsed {
            source,
            value: value.clone(),
        })
    });
    Ok(value)
}

/// The current `CONFIG_KEY` text, for the WebCrypto copy of the key (`sealing`).
pub fn config_key(env: &Env) -> Option<String> {
    secret(env, "CONFIG_KEY")
}

pub fn keyring(env: &Env) -> Result<Rc<KeyRing>, Misconfigured> {
    let current =
        secret(env, "CONFIG_KEY").ok_or_else(|| Misconfigured("CONFIG_KEY is not set".into()))?;
    let previous = secret(env, "CONFIG_KEY_PREVIOUS").unwrap_or_default();
    // Base64 has no newline: the pair is told apart from any other pair.
    let mut source = current.clone();
    source.push('\n');
    source.push_str(&previous);
    cached(&KEYRING, source, |_| {
        let previous = Some(previous.as_str()).filter(|p| !p.is_empty());
        KeyRing::new(&current, previous)
            .map_err(|e| Misconfigured(format!("CONFIG_KEY / CONFIG_KEY_PREVIOUS: {e}")))
    })
}

/// `HANDOFF_SIGNING_KEY`'s text (parsed and checked by `signing`).
pub fn handoff_signing_key(env: &Env) -> Result<String, Misconfigured> {
    secret(env, "HANDOFF_SIGNING_KEY")
        .ok_or_else(|| Misconfigured("HANDOFF_SIGNING_KEY is not set".into()))
}

/// `HANDOFF_SIGNING_KEY_PREVIOUS`'s text, during a rotation.
pub fn previous_handoff_signing_key(env: &Env) -> Option<String> {
    secret(env, "HANDOFF_SIGNING_KEY_PREVIOUS")
}
