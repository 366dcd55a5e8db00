//! Strings into JavaScript without a copy per use.
//!
//! Every `&str` handed to JavaScript is decoded from wasm memory into a new JS string (a
//! `TextDecoder` call): a login passed ~55 of them, most the same few dozen names and values
//! every time (header names, `no-store`, `expirationTtl`, `AES-GCM`…). `name` makes each such
//! string once per isolate and hands out the same JS string afterwards. Only for names and
//! short fixed values — never a secret or a per-member value, which would then stay in the
//! isolate's memory: the cache is small, and once full it stops growing (further strings are
//! decoded as before), so the value passed is always exactly the one asked for.

use std::cell::RefCell;

use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use web_sys::Headers;

/// Strings longer than this are never kept.
const MAX_INTERNED_LEN: usize = 48;
/// The cache stops growing at this many strings.
const MAX_INTERNED: usize = 96;

thread_local! {
    static INTERNED: RefCell<Vec<(Box<str>, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// `s` as a JavaScript string, made once per isolate when `s` is short.
pub fn name(s: &str) -> JsValue {
    if s.len() > MAX_INTERNED_LEN {
        return JsValue::from_str(s);
    }
    INTERNED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((_, v)) = cache.iter().find(|(k, _)| **k == *s) {
            return v.clone();
        }
        let v = JsValue::from_str(s);
        if cache.len() < MAX_INTERNED {
            cache.push((s.into(), v.clone()));
        }
        v
    })
}

/// Headers whose values are fixed strings of ours (`no-store`, `nosniff`, a content type…),
/// so worth interning. Any other value — a cookie, a `Location`, an `Authorization` — is
/// decoded for its one use: no per-member value or secret is kept in the isolate's cache.
const FIXED_VALUE_HEADERS: [&str; 8] = [
    "accept",
    "allow",
    "cache-control",
    "content-type",
    "referrer-policy",
    "retry-after",
    "x-content-type-options",
    "x-frame-options",
];

/// A header's value as a JS string: interned for the headers above, decoded otherwise.
fn header_value(name: &str, value: &str) -> JsValue {
    if FIXED_VALUE_HEADERS
        .iter()
        .any(|fixed| fixed.eq_ignore_ascii_case(name))
    {
        self::name(value)
    } else {
        JsValue::from_str(value)
    }
}

#[wasm_bindgen]
extern "C" {
    /// `Headers`, with its methods taking JS strings rather than `&str`.
    type HeadersByValue;

    #[wasm_bindgen(method, catch, js_name = append)]
    fn append_js(this: &HeadersByValue, name: &JsValue, value: &JsValue) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_name = set)]
    fn set_js(this: &HeadersByValue, name: &JsValue, value: &JsValue) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_js(this: &HeadersByValue, name: &JsValue) -> Result<Option<String>, JsValue>;
}

fn by_value(headers: &Headers) -> &HeadersByValue {
    headers.unchecked_ref()
}

/// `headers.append(name, value)`.
pub fn append_header(headers: &Headers, name: &str, value: &str) -> Result<(), JsValue> {
    by_value(headers).append_js(&self::name(name), &header_value(name, value))
}

/// `headers.set(name, value)`.
pub fn set_header(headers: &Headers, name: &str, value: &str) -> Result<(), JsValue> {
    by_value(headers).set_js(&self::name(name), &header_value(name, value))
}

/// `headers.get(name)`: `None` when absent (or should the runtime throw).
pub fn get_header(headers: &Headers, name: &str) -> Option<String> {
    by_value(headers).get_js(&self::name(name)).ok().flatten()
}

/// `target[name] = value`.
pub fn set(target: &JsValue, name: &str, value: &JsValue) -> Result<(), JsValue> {
    Reflect::set(target, &self::name(name), value).map(|_| ())
}

/// `target[name]`.
pub fn get(target: &JsValue, name: &str) -> Result<JsValue, JsValue> {
    Reflect::get(target, &self::name(name))
}

#[wasm_bindgen(inline_js = "export function log_line(line) { \
    queueMicrotask(() => console.log(line)); }")]
extern "C" {
    /// `console.log(line)`, from a microtask of its own rather than from inside the wasm.
    ///
    /// With a debugger attached (`wrangler dev` always has one) the runtime takes a stack
    /// trace for every console message, and one taken through wasm frames cost ~0.02 ms more
    /// per request than the same line logged from JavaScript. From a microtask the stack is
    /// the arrow function alone. The line is still written during the request.
    pub fn log_line(line: &str);
}
