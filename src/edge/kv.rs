//! Workers KV through the binding's own `get` / `put` / `delete` / `list`.
//!
//! `worker::kv::KvStore` looks up the binding and five of its methods on every use, builds
//! each options object through `serde_wasm_bindgen`, and reads JSON as a JavaScript object
//! that is then walked field by field across the boundary. Here a value is read as text and
//! parsed in Rust, and an options object is two property writes.

use js_sys::{Array, Object, Promise};
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// A `KVNamespace` binding.
    #[derive(Clone)]
    type KvNamespace;

    #[wasm_bindgen(method, catch, js_name = get)]
    fn js_get(this: &KvNamespace, key: &str, options: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = put)]
    fn js_put(
        this: &KvNamespace,
        key: &str,
        value: &str,
        options: &JsValue,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = delete)]
    fn js_delete(this: &KvNamespace, key: &str) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = list)]
    fn js_list(this: &KvNamespace, options: &JsValue) -> Result<Promise, JsValue>;
}

/// A KV operation failed: storage trouble, never "not found".
#[derive(Debug, Clone, Copy)]
pub struct KvFailure;

#[derive(Clone)]
pub struct Kv(KvNamespace);

/// One page of `list`: the key names, and the cursor of the next page if there is one.
pub struct KeyPage {
    pub names: Vec<String>,
    pub next: Option<String>,
}

fn options(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = super::js::set(&o, k, v);
    }
    o.into()
}

async fn settle(promise: Result<Promise, JsValue>) -> Result<JsValue, KvFailure> {
    super::promise::settle(&promise.map_err(|_| KvFailure)?)
        .await
        .map_err(|_| KvFailure)
}

impl Kv {
    /// The `KV` binding, if the worker has one.
    pub fn from_env(env: &worker::Env) -> Option<Self> {
        super::settings::binding(env, "KV").map(|b| Kv(b.unchecked_into()))
    }

    pub async fn get_text(&self, key: &str) -> Result<Option<String>, KvFailure> {
        Ok(settle(self.0.js_get(key, &super::js::name("text")))
            .await?
            .as_string())
    }

    /// A read that may be served from the edge cache for `cache_ttl` seconds (30 at least).
    pub async fn get_text_cached(
        &self,
        key: &str,
        cache_ttl: u64,
    ) -> Result<Option<String>, KvFailure> {
        let opts = options(&[
            ("type", super::js::name("text")),
            ("cacheTtl", (cache_ttl as f64).into()),
        ]);
        Ok(settle(self.0.js_get(key, &opts)).await?.as_string())
    }

    /// A JSON value; one that does not parse as `T` reads as absent.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, KvFailure> {
        Ok(self
            .get_text(key)
            .await?
            .and_then(|raw| serde_json::from_str(&raw).ok()))
    }

    /// Writes `value`, to expire after `ttl_secs` (60 at least) when given.
    pub async fn put(
        &self,
        key: &str,
        value: &str,
        ttl_secs: Option<u64>,
    ) -> Result<(), KvFailure> {
        let opts = match ttl_secs {
            Some(ttl) => options(&[("expirationTtl", (ttl as f64).into())]),
            None => JsValue::UNDEFINED,
        };
        settle(self.0.js_put(key, value, &opts)).await.map(|_| ())
    }

    pub async fn delete(&self, key: &str) -> Result<(), KvFailure> {
        settle(self.0.js_delete(key)).await.map(|_| ())
    }

    /// Starts a delete the request does not wait for: the runtime finishes it past the
    /// response (`waitUntil`), and no wasm runs when it settles. Only for deletes whose failure
    /// changes nothing for this request.
    pub fn delete_in_background(&self, key: &str, ctx: &worker::Context) {
        if let Ok(promise) = self.0.js_delete(key) {
            let _ = ctx.as_ref().wait_until(&promise);
        }
    }

    /// One page of the keys under `prefix`.
    pub async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<KeyPage, KvFailure> {
        let mut pairs = vec![("prefix", JsValue::from_str(prefix))];
        if let Some(c) = cursor {
            pairs.push(("cursor", JsValue::from_str(c)));
        }
        let page = settle(self.0.js_list(&options(&pairs))).await?;
        let field = |o: &JsValue, name: &str| super::js::get(o, name);
        let keys: Array = field(&page, "keys")
            .map_err(|_| KvFailure)?
            .dyn_into()
            .map_err(|_| KvFailure)?;
        let names = keys
            .iter()
            .map(|k| field(&k, "name").ok().and_then(|n| n.as_string()))
            .collect::<Option<Vec<String>>>()
            .ok_or(KvFailure)?;
        let complete = field(&page, "list_complete")
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        let next = field(&page, "cursor").ok().and_then(|v| v.as_string());
        Ok(KeyPage {
            names,
            next: next.filter(|c| !complete && !c.is_empty()),
        })
    }
}
