//! The runtime adapter: routing, KV, fetch, queue, secrets, clock and randomness. Handlers are
//! straight lines — load → core → I/O → core → respond — and every request logs one JSON line.

mod admin;
mod app;
mod app_code;
mod body;
mod callback;
mod check;
mod executor;
mod finish;
mod forward;
mod idp;
mod js;
mod kv;
mod login;
mod logout;
mod outbound;
mod promise;
mod provision;
mod rand;
mod ratelimit;
mod request;
mod respond;
mod sealing;
mod settings;
mod settings_page;
mod signing;
mod tenant_store;
mod tenants;
mod webcrypto;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use wasm_bindgen::JsCast;

use request::Request;
use respond::Response;
use worker::{event, Context, Env, Method};

use crate::core::config::ConfigContext;
use crate::core::cookies;
use crate::core::log::RequestLog;
use crate::core::pages::Problem;
use crate::core::tenant::{classify_host, request_origin, HostKind};
use crate::core::tenant_record::Tenant;
use respond::AppError;
use settings::Settings;

/// Largest URL we read at all (the callback has its own 8 KiB query limit).
const MAX_URL_BYTES: usize = 16 * 1024;

/// What every handler knows about the request beyond the `Request` itself.
pub struct Ctx<'a> {
    pub env: &'a Env,
    /// The request's execution context, for work that may outlive the response.
    pub wait: &'a Context,
    pub settings: Settings,
    /// Origin of this request, as the browser sees it (scheme, host, port).
    pub origin: String,
    pub url: url::Url,
    pub now_ms: u64,
}

impl Ctx<'_> {
    pub fn now(&self) -> u64 {
        self.now_ms / 1000
    }

    pub fn config_context(&self) -> ConfigContext<'_> {
        ConfigContext {
            local_dev: self.settings.local_dev,
            base_domain: &self.settings.base_domain,
        }
    }

    pub fn kv(&self) -> Result<kv::Kv, AppError> {
        kv::Kv::from_env(self.env).ok_or_else(|| misconfigured("the KV binding is missing"))
    }

    /// A cookie of this request by its base name (the `__Host-` prefix applied outside
    /// local dev).
    pub fn cookie(&self, req: &Request, base: &str) -> Option<String> {
        let header = req.header("cookie");
        cookies::read(header.as_deref(), base, self.settings.local_dev).map(str::to_string)
    }

    /// The tenant origin used as the handoff assertion's `iss`: `{scheme}://{tenant}.{BASE_DOMAIN}[:port]`.
    pub fn tenant_origin(&self, tenant: &str) -> String {
        let port = self.url.port().map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            "{}://{tenant}.{}{port}",
            self.url.scheme(),
            self.settings.base_domain
        )
    }
}

pub fn misconfigured(detail: impl Into<String>) -> AppError {
    AppError::page(Problem::Misconfigured, "misconfigured").with_detail(detail)
}

/// Our own storage failed: 503 "temporarily unavailable", never "not found".
pub fn storage_unavailable() -> AppError {
    AppError::page(Problem::Misconfigured, "kv_unavailable").with_detail("a KV operation failed")
}

/// A route's future, awaited through a box the optimiser cannot see into, so that its code
/// stays in wasm functions of its own instead of being inlined into its caller's state
/// machine. The runtime compiles a wasm function when it is first called, whole: inlined,
/// every route's code was compiled by an isolate's first request, whatever it asked for
/// (bench/FINDINGS.md). Costs one allocation per route taken.
fn own_code<'a, T>(fut: impl Future<Output = T> + 'a) -> Pin<Box<dyn Future<Output = T> + 'a>> {
    std::hint::black_box(Box::pin(fut))
}

/// The fetch handler, as the runtime calls it (through worker-build's shim): a promise of the
/// response, driven by `executor` rather than wasm-bindgen's async export.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> js_sys::Promise {
    // With `enable_request_signal` (wrangler.toml) the signal aborts when the client goes away.
    let signal = js::get(req.as_ref(), "signal").unwrap_or(wasm_bindgen::JsValue::UNDEFINED);
    executor::promise(
        async move {
            let resp = handle(req, env, Context::new(ctx)).await;
            Ok(wasm_bindgen::JsValue::from(resp))
        },
        &signal,
    )
}

async fn handle(req: web_sys::Request, env: Env, wait: Context) -> Response {
    let req = Request::new(req);
    let now_ms = rand::now_ms();
    let mut log = RequestLog {
        route: "unknown",
        method: req.method_name().chars().take(32).collect(),
        ..Default::default()
    };
    let result = if !rand::healthy() {
        Err(misconfigured("crypto.getRandomValues failed"))
    } else {
        let settings = Settings::from_env(&env);
        if settings.forward_to.is_some() {
            own_code(forward::handle(req, settings, &mut log)).await
        } else {
            own_code(route(req, &env, &wait, settings, now_ms, &mut log)).await
        }
    };
    let resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            log.error = Some(err.code());
            log.detail = err.detail().map(str::to_string);
            err.into_response()
        }
    };
    log.status = resp.status();
    if log.outcome.is_empty() {
        log.outcome = if log.status < 400 { "ok" } else { "refused" };
    }
    log.duration_ms = rand::now_ms().saturating_sub(now_ms);
    js::log_line(&log.line());
    resp
}

#[event(queue)]
async fn queue(
    batch: worker::MessageBatch<crate::core::webhook::ProvisioningDelivery>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    provision::consume(batch, &env).await;
    Ok(())
}

/// Refuses a method outside `allowed` with 405 and an `Allow` header; HEAD counts as GET.
pub fn allow(req: &Request, allowed: &[Method]) -> Result<(), AppError> {
    check_method(req, allowed, true)
}

/// Like `allow`, but HEAD is not taken as GET: for routes with side effects.
pub fn allow_exact(req: &Request, allowed: &[Method]) -> Result<(), AppError> {
    check_method(req, allowed, false)
}

fn check_method(req: &Request, allowed: &[Method], head_as_get: bool) -> Result<(), AppError> {
    let m = req.method();
    if allowed.contains(&m) || (head_as_get && m == Method::Head && allowed.contains(&Method::Get))
    {
        return Ok(());
    }
    let names: Vec<String> = allowed.iter().map(|m| m.to_string()).collect();
    Err(AppError::method_not_allowed(
        &names.join(", "),
        respond::Form::Page,
    ))
}

async fn route(
    req: Request,
    env: &Env,
    wait: &Context,
    settings: Settings,
    now_ms: u64,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    let url =
        url::Url::parse(&req.url()).map_err(|_| AppError::page(Problem::BadRequest, "bad_url"))?;
    if url.as_str().len() > MAX_URL_BYTES {
        return Err(AppError::page(Problem::UriTooLong, "uri_too_long"));
    }
    let path = url.path().to_string();
    let host = url.host_str().unwrap_or_default().to_string();
    let ctx = Ctx {
        env,
        wait,
        settings,
        origin: request_origin(&url),
        url,
        now_ms,
    };
    match path.as_str() {
        "/healthz" => {
            log.route = "/healthz";
            allow(&req, &[Method::Get])?;
            return Ok(respond::text(200, "ok"));
        }
        "/.well-known/jwks.json" => {
            log.route = "/.well-known/jwks.json";
            allow(&req, &[Method::Get])?;
            return own_code(jwks(&ctx, log)).await;
        }
        _ => {}
    }
    match classify_host(&host, &ctx.settings.base_domain) {
        HostKind::Apex => own_code(apex(req, &ctx, &path, log)).await,
        HostKind::Tenant(id) => {
            own_code(tenant_routes(req, &ctx, id.as_str(), None, &path, log)).await
        }
        HostKind::Other(h) => {
            // No custom domain can sit under BASE_DOMAIN, nor be anything but a DNS name
            // (an over-long Host would not even fit a KV key): answer without a KV read.
            if h.ends_with(&format!(".{}", ctx.settings.base_domain))
                || !crate::core::config::is_dns_name(&h)
            {
                return Err(AppError::page(Problem::NotFound, "unknown_host"));
            }
            let kv = ctx.kv()?;
            match own_code(tenants::owner_of_domain(&kv, &h, now_ms))
                .await
                .map_err(|_| storage_unavailable())?
            {
                Some(id) => own_code(tenant_routes(req, &ctx, &id, Some(&h), &path, log)).await,
                None => Err(AppError::page(Problem::NotFound, "unknown_host")),
            }
        }
    }
}

async fn jwks(ctx: &Ctx<'_>, log: &mut RequestLog) -> Result<Response, AppError> {
    let (keys, problem) = signing::published_keys(ctx.env)
        .await
        .map_err(|e| misconfigured(e.0))?;
    if let Some(p) = problem {
        // The current key is still published; the operator learns from the log line.
        log.error = Some("handoff_previous_key_invalid");
        log.detail = Some(p);
    }
    let resp = respond::text(200, &crate::core::handoff::jwks_document(&keys));
    let headers = resp.headers();
    let _ = js::set_header(&headers, "content-type", "application/json");
    let _ = js::set_header(&headers, "cache-control", "public, max-age=300");
    Ok(resp)
}

async fn apex(
    req: Request,
    ctx: &Ctx<'_>,
    path: &str,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    if path == "/admin" || path.starts_with("/admin/") {
        log.route = "/admin";
        return own_code(admin::handle(req, ctx, path, log)).await;
    }
    if path == "/settings" || path.starts_with("/settings/") {
        log.route = "/settings";
        let resp = match own_code(settings_page::handle(req, ctx, path, log)).await {
            Ok(resp) => resp,
            Err(err) => {
                log.error = Some(err.code());
                log.detail = err.detail().map(str::to_string);
                err.into_response()
            }
        };
        // SPEC: settings pages, their refusals included, are sent with `same-origin`.
        let _ = js::set_header(&resp.headers(), "referrer-policy", "same-origin");
        return Ok(resp);
    }
    match path {
        "/authorization-code/callback" => {
            log.route = "/authorization-code/callback";
            allow_exact(&req, &[Method::Get, Method::Post])?;
            own_code(callback::handle(req, ctx, None, log)).await
        }
        // Local development and tests only: what this isolate holds for requests in flight,
        // so a test can show that abandoned requests leave nothing behind (docs/security.md).
        "/__diag/isolate" if ctx.settings.local_dev => {
            log.route = "/__diag/isolate";
            allow(&req, &[Method::Get])?;
            let memory = wasm_bindgen::memory()
                .dyn_into::<js_sys::WebAssembly::Memory>()
                .ok()
                .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
                .map_or(0, |b| b.byte_length());
            let body = serde_json::json!({
                "tasks": executor::live_tasks(),
                "slots": promise::slots_in_use(),
                "wasm_memory_bytes": memory,
            });
            Ok(respond::json(200, &body))
        }
        "/login/logout" => {
            log.route = "/login/logout";
            allow(&req, &[Method::Get])?;
            own_code(logout::landing(ctx, None, log)).await
        }
        _ => Err(AppError::page(Problem::NotFound, "not_found")),
    }
}

async fn load_tenant(ctx: &Ctx<'_>, id: &str) -> Result<Rc<Tenant>, AppError> {
    let kv = ctx.kv()?;
    let keys = settings::keyring(ctx.env).map_err(|e| misconfigured(e.0))?;
    match tenants::load(&kv, &keys, &ctx.config_context(), id, ctx.now_ms).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(AppError::page(Problem::NotFound, "unknown_tenant")),
        Err(tenants::LoadError::Kv) => Err(storage_unavailable()),
        Err(e) => Err(misconfigured(format!("tenant {id}: {e}"))),
    }
}

/// Routes on a tenant's host; `custom_domain` when the host is one of its custom domains.
async fn tenant_routes(
    req: Request,
    ctx: &Ctx<'_>,
    id: &str,
    custom_domain: Option<&str>,
    path: &str,
    log: &mut RequestLog,
) -> Result<Response, AppError> {
    log.tenant = Some(id.to_string());
    let route: &'static str = match path {
        "/login" => "/login",
        "/login/sso" => "/login/sso",
        "/login/initiate" => "/login/initiate",
        "/authorization-code/callback" => "/authorization-code/callback",
        "/logout" => "/logout",
        "/login/logout" => "/login/logout",
        "/app/login" => "/app/login",
        "/app/continue" => "/app/continue",
        "/app/token" => "/app/token",
        _ => return Err(AppError::page(Problem::NotFound, "not_found")),
    };
    log.route = route;
    // An unknown tenant is a 404 whatever the method.
    let tenant = own_code(load_tenant(ctx, id)).await?;
    // A domain mapping is trusted only while the owner's config still lists the host.
    if custom_domain.is_some_and(|h| !tenant.config.custom_domains.iter().any(|d| d == h)) {
        return Err(AppError::page(Problem::NotFound, "unknown_host"));
    }
    match route {
        // Only GET shows the login page; HEAD must not start logins, exchange codes or end sessions.
        "/login" | "/login/logout" => allow(&req, &[Method::Get])?,
        "/authorization-code/callback" | "/login/initiate" => {
            allow_exact(&req, &[Method::Get, Method::Post])?
        }
        "/app/continue" => allow_exact(&req, &[Method::Post])?,
        "/app/token" => {
            if req.method() != Method::Post {
                return Err(AppError::method_not_allowed("POST", respond::Form::Json));
            }
        }
        _ => allow_exact(&req, &[Method::Get])?,
    }
    match route {
        "/login" => login::page(&req, ctx, &tenant),
        "/login/sso" => own_code(login::sso(&req, ctx, &tenant, log)).await,
        "/login/initiate" => own_code(login::initiate(&req, ctx, &tenant, log)).await,
        "/authorization-code/callback" => {
            own_code(callback::handle(req, ctx, Some(tenant), log)).await
        }
        "/logout" => own_code(logout::start(&req, ctx, &tenant, log)).await,
        "/app/login" => own_code(app::login(&req, ctx, &tenant, log)).await,
        "/app/continue" => own_code(app::continue_post(&req, ctx, &tenant, log)).await,
        "/app/token" => own_code(app::token(&req, ctx, &tenant, log)).await,
        _ => own_code(logout::landing(ctx, Some(&tenant), log)).await,
    }
}
