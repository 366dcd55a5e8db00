//! Abuse limits through the Workers Rate Limiting binding (`[[ratelimits]]` in
//! wrangler.toml): `limit({key})` counts every call and says whether the key is still under
//! its limit. Production counters are per location and approximate, which is what these
//! limits need: a flood must not turn into unbounded KV writes or token guesses, and one
//! office behind one address must never meet them.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::request::Request;
use super::respond::{AppError, Form};
use super::{settings, Ctx};

#[wasm_bindgen]
extern "C" {
    type RateLimiter;

    #[wasm_bindgen(method, catch)]
    fn limit(this: &RateLimiter, options: &JsValue) -> Result<Promise, JsValue>;
}

/// One limit: its binding and what its key is made of.
#[derive(Clone, Copy)]
pub enum Limit {
    /// Settings sign-in POSTs: 10 per IP a minute, counted before the token is compared.
    SettingsSignIn,
    /// `/app/token`: 60 per IP and tenant a minute.
    AppToken,
    /// Starting logins (`/login/sso`, `/login/initiate`, `/app/login`): 600 per IP and
    /// tenant a minute.
    LoginStart,
}

impl Limit {
    fn binding(self) -> &'static str {
        match self {
            Limit::SettingsSignIn => "SETTINGS_SIGNIN_LIMIT",
            Limit::AppToken => "APP_TOKEN_LIMIT",
            Limit::LoginStart => "LOGIN_START_LIMIT",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Limit::SettingsSignIn => "settings",
            Limit::AppToken => "token",
            Limit::LoginStart => "login",
        }
    }
}

/// What the binding said.
enum Verdict {
    Allowed,
    Limited,
    /// The binding is missing or failed: the caller fails closed (503), with this detail.
    Unavailable(&'static str),
}

/// The client's address as Cloudflare gives it (`CF-Connecting-IP`); a local test may send
/// the header itself to play several addresses (`wrangler dev` sets it only when absent).
pub fn client_ip(req: &Request) -> String {
    req.header("cf-connecting-ip")
        .filter(|ip| !ip.is_empty() && ip.len() <= 64)
        .unwrap_or_else(|| "unknown".into())
}

/// Counts one call of `limit` for `tenant` (if the limit is per tenant) and this client, and
/// answers a request over it with 429 and `Retry-After` in the route's `form`; a missing or
/// failing binding fails closed (503).
pub async fn enforce(
    ctx: &Ctx<'_>,
    req: &Request,
    limit: Limit,
    tenant: Option<&str>,
    form: Form,
) -> Result<(), AppError> {
    match check(ctx, req, limit, tenant).await {
        Verdict::Allowed => Ok(()),
        Verdict::Limited => Err(AppError::TooMany { form }),
        Verdict::Unavailable(why) if form == Form::Json => Err(AppError::JsonDetailed {
            status: 503,
            body: serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": "the worker is not configured",
            }),
            code: "misconfigured",
            detail: why.into(),
        }),
        Verdict::Unavailable(why) => Err(super::misconfigured(why)),
    }
}

async fn check(ctx: &Ctx<'_>, req: &Request, limit: Limit, tenant: Option<&str>) -> Verdict {
    let env = ctx.env;
    // SPEC: a var may switch the login-start limit off under `LOCAL_DEV` for benchmarks,
    // never in production.
    if matches!(limit, Limit::LoginStart)
        && ctx.settings.local_dev
        && settings::login_limit_off(env)
    {
        return Verdict::Allowed;
    }
    let Some(binding) = settings::binding(env, limit.binding()) else {
        return Verdict::Unavailable("a rate limiting binding is missing from wrangler.toml");
    };
    let key = match tenant {
        Some(t) => format!("{}:{t}:{}", limit.prefix(), client_ip(req)),
        None => format!("{}:{}", limit.prefix(), client_ip(req)),
    };
    let options = js_sys::Object::new();
    let _ = super::js::set(&options, "key", &JsValue::from_str(&key));
    let promise = match binding.unchecked_ref::<RateLimiter>().limit(&options) {
        Ok(p) => p,
        Err(_) => return Verdict::Unavailable("the rate limiting binding threw"),
    };
    match super::promise::settle(&promise).await {
        Ok(outcome) => match super::js::get(&outcome, "success")
            .ok()
            .and_then(|v| v.as_bool())
        {
            Some(true) => Verdict::Allowed,
            Some(false) => Verdict::Limited,
            None => Verdict::Unavailable("the rate limiting binding gave no verdict"),
        },
        Err(_) => Verdict::Unavailable("the rate limiting binding failed"),
    }
}
