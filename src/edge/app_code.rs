//! What app sign-in keeps strictly single-use — the one-time codes, and the sign-ins waiting
//! on their "Continue" click — one Durable Object per value, found by name (a digest of the
//! value). A Durable Object runs one event at a time and keeps its input gate closed while it
//! reads or writes its storage, so of two takes that arrive at once — on two machines — one
//! gets the record and deletes it, and the other finds nothing. An alarm at the record's
//! expiry deletes one nobody took, so nothing accumulates.

use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, State,
};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::core::app::code_object_name;
use crate::core::secret::constant_time_eq;

/// The binding (`[[durable_objects.bindings]]` in wrangler.toml).
const BINDING: &str = "APP_CODES";
const RECORD: &str = "record";
const EXPIRES_HEADER: &str = "x-expires-at";
/// Optional on `PUT`: the digest a `DELETE` must present for the record to be taken (the
/// Continue step's CSRF token, bound to the member's browser); a wrong one takes nothing.
const TAKE_KEY_HEADER: &str = "x-take-key";
const TAKE_KEY: &str = "take-key";

#[durable_object]
pub struct AppCode {
    state: State,
}

impl DurableObject for AppCode {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    /// `PUT /` stores the body until the time in `x-expires-at` (epoch seconds) and sets the
    /// alarm for then; `DELETE /` takes it (the answer is the record, or 404 when there is
    /// none: taken, expired or never stored).
    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let storage = self.state.storage();
        match req.method() {
            Method::Put => {
                let expires_at = req
                    .headers()
                    .get(EXPIRES_HEADER)?
                    .and_then(|v| v.parse::<u64>().ok());
                let Some(expires_at) = expires_at else {
                    return Response::error("no expiry", 400);
                };
                let take_key = req.headers().get(TAKE_KEY_HEADER)?;
                let text = req.text().await?;
                if storage.get::<String>(RECORD).await?.is_some() {
                    // 32 random bytes do not collide; should they, the first record stands.
                    return Response::error("taken", 409);
                }
                // The alarm first: a record is never stored without the alarm that ends it. At
                // the expiry as a point in time (an integer would be read as an offset).
                let at =
                    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(expires_at as f64 * 1000.0));
                storage.set_alarm(worker::ScheduledTime::new(at)).await?;
                if let Some(key) = take_key {
                    storage.put(TAKE_KEY, key).await?;
                }
                storage.put(RECORD, text).await?;
                Response::empty().map(|r| r.with_status(204))
            }
            Method::Delete => {
                let Some(text) = storage.get::<String>(RECORD).await? else {
                    return Response::error("no such record", 404);
                };
                if let Some(expected) = storage.get::<String>(TAKE_KEY).await? {
                    let given = req.headers().get(TAKE_KEY_HEADER)?.unwrap_or_default();
                    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                        return Response::error("not yours to take", 403);
                    }
                }
                storage.delete_all().await?;
                storage.delete_alarm().await?;
                Response::ok(text)
            }
            _ => Response::error("method not allowed", 405),
        }
    }

    /// Expiry: the record goes, taken or not.
    async fn alarm(&self) -> Result<Response> {
        self.state.storage().delete_all().await?;
        Response::empty()
    }
}

/// Why the store could not be used.
#[derive(Debug)]
pub struct CodeStoreFailure;

fn stub(env: &Env, name: &str) -> std::result::Result<worker::Stub, CodeStoreFailure> {
    env.durable_object(BINDING)
        .and_then(|ns| ns.get_by_name(&code_object_name(name)))
        .map_err(|_| CodeStoreFailure)
}

async fn call(
    env: &Env,
    name: &str,
    method: Method,
    body: Option<(String, u64)>,
    take_key: Option<&str>,
) -> std::result::Result<Response, CodeStoreFailure> {
    let mut init = RequestInit::new();
    init.with_method(method);
    let headers = worker::Headers::new();
    if let Some(key) = take_key {
        let digest = crate::core::app::code_object_name(key);
        headers
            .set(TAKE_KEY_HEADER, &digest)
            .map_err(|_| CodeStoreFailure)?;
    }
    if let Some((text, expires_at)) = body {
        headers
            .set(EXPIRES_HEADER, &expires_at.to_string())
            .map_err(|_| CodeStoreFailure)?;
        init.with_body(Some(text.into()));
    }
    init.with_headers(headers);
    let req = Request::new_with_init("https://app-code.internal/", &init)
        .map_err(|_| CodeStoreFailure)?;
    stub(env, name)?
        .fetch_with_request(req)
        .await
        .map_err(|_| CodeStoreFailure)
}

/// Stores `record` under `name` (a fresh 32-byte token, or one with a prefix of its kind)
/// until `expires_at`; with `take_key`, only a take that presents the same key gets it.
pub async fn store<T: Serialize>(
    env: &Env,
    name: &str,
    record: &T,
    expires_at: u64,
    take_key: Option<&str>,
) -> std::result::Result<(), CodeStoreFailure> {
    let body = serde_json::to_string(record).map_err(|_| CodeStoreFailure)?;
    let resp = call(env, name, Method::Put, Some((body, expires_at)), take_key).await?;
    if resp.status_code() == 204 {
        Ok(())
    } else {
        Err(CodeStoreFailure)
    }
}

/// What a take found.
pub enum Taken<T> {
    /// The record, now gone from the store (whatever the caller then finds wrong with it).
    Record(T),
    /// None there: taken before, expired, never stored (or not readable as a `T`).
    Nothing,
    /// There is one, and `take_key` was not its key: nothing was taken.
    NotYours,
}

/// Takes the record of `name` out of its object.
pub async fn take<T: DeserializeOwned>(
    env: &Env,
    name: &str,
    take_key: Option<&str>,
) -> std::result::Result<Taken<T>, CodeStoreFailure> {
    let mut resp = call(env, name, Method::Delete, None, take_key).await?;
    match resp.status_code() {
        200 => {
            let text = resp.text().await.map_err(|_| CodeStoreFailure)?;
            Ok(serde_json::from_str(&text).map_or(Taken::Nothing, Taken::Record))
        }
        403 => Ok(Taken::NotYours),
        404 => Ok(Taken::Nothing),
        _ => Err(CodeStoreFailure),
    }
}
