//! The one-time codes of app sign-in, strictly single-use: one Durable Object per code, found
//! by name (a digest of the code). A Durable Object runs one event at a time and keeps its
//! input gate closed while it reads or writes its storage, so of two redemptions that arrive
//! at once — on two machines — one takes the record and deletes it, and the other finds
//! nothing. An alarm at expiry deletes a code nobody redeemed, so nothing accumulates.

use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, State,
};

use crate::core::app::{code_object_name, AppCodeRecord};

/// The binding (`[[durable_objects.bindings]]` in wrangler.toml).
const BINDING: &str = "APP_CODES";
const RECORD: &str = "record";

#[durable_object]
pub struct AppCode {
    state: State,
}

impl DurableObject for AppCode {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    /// `PUT /` stores the record and sets the expiry alarm; `DELETE /` takes it (the answer
    /// is the record, or 404 when there is none: redeemed, expired or never issued).
    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let storage = self.state.storage();
        match req.method() {
            Method::Put => {
                let text = req.text().await?;
                let record: AppCodeRecord = match serde_json::from_str(&text) {
                    Ok(r) => r,
                    Err(_) => return Response::error("bad record", 400),
                };
                if storage.get::<String>(RECORD).await?.is_some() {
                    // 32 random bytes do not collide; should they, the first code stands.
                    return Response::error("taken", 409);
                }
                storage.put(RECORD, text).await?;
                // At the record's expiry, as a point in time (an integer would be read as an
                // offset from now).
                let at = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
                    record.expires_at as f64 * 1000.0,
                ));
                storage.set_alarm(worker::ScheduledTime::new(at)).await?;
                Response::empty().map(|r| r.with_status(204))
            }
            Method::Delete => match storage.get::<String>(RECORD).await? {
                Some(text) => {
                    storage.delete_all().await?;
                    storage.delete_alarm().await?;
                    Response::ok(text)
                }
                None => Response::error("no such code", 404),
            },
            _ => Response::error("method not allowed", 405),
        }
    }

    /// Expiry: the code goes, redeemed or not.
    async fn alarm(&self) -> Result<Response> {
        self.state.storage().delete_all().await?;
        Response::empty()
    }
}

/// Why the code store could not be used.
#[derive(Debug)]
pub struct CodeStoreFailure;

fn stub(env: &Env, code: &str) -> std::result::Result<worker::Stub, CodeStoreFailure> {
    env.durable_object(BINDING)
        .and_then(|ns| ns.get_by_name(&code_object_name(code)))
        .map_err(|_| CodeStoreFailure)
}

async fn call(
    env: &Env,
    code: &str,
    method: Method,
    body: Option<String>,
) -> std::result::Result<Response, CodeStoreFailure> {
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    let req = Request::new_with_init("https://app-code.internal/", &init)
        .map_err(|_| CodeStoreFailure)?;
    stub(env, code)?
        .fetch_with_request(req)
        .await
        .map_err(|_| CodeStoreFailure)
}

/// Stores `record` under `code` (a fresh 32-byte token).
pub async fn store(
    env: &Env,
    code: &str,
    record: &AppCodeRecord,
) -> std::result::Result<(), CodeStoreFailure> {
    let body = serde_json::to_string(record).map_err(|_| CodeStoreFailure)?;
    let resp = call(env, code, Method::Put, Some(body)).await?;
    if resp.status_code() == 204 {
        Ok(())
    } else {
        Err(CodeStoreFailure)
    }
}

/// Takes the record of `code` out of its object: `Ok(None)` when there is none. Whatever the
/// caller then finds wrong, the code is used up.
pub async fn take(
    env: &Env,
    code: &str,
) -> std::result::Result<Option<AppCodeRecord>, CodeStoreFailure> {
    let mut resp = call(env, code, Method::Delete, None).await?;
    match resp.status_code() {
        200 => {
            let text = resp.text().await.map_err(|_| CodeStoreFailure)?;
            Ok(serde_json::from_str(&text).ok())
        }
        404 => Ok(None),
        _ => Err(CodeStoreFailure),
    }
}
