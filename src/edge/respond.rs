//! Turning outcomes into responses: the one `AppError` → status + page/JSON mapping, and the
//! small builders every handler uses. The detail of a failure goes to the log, never the body.
//!
//! Responses are the runtime's own `Response` objects, built in one go (headers, status, the
//! body as one string); `worker::Response` would hold the body in Rust and copy it into a new
//! `Uint8Array` and an init object field by field when the request ends.

pub use web_sys::Response;
use web_sys::{Headers, ResponseInit};

use crate::core::pages::{self, Page, Problem};

/// Everything a handler can fail with, already classified for the member or the admin.
#[derive(Debug)]
pub enum AppError {
    /// An HTML page for a member, with a stable log code and an operator-facing detail.
    Page {
        problem: Problem,
        start_again: Option<String>,
        code: &'static str,
        detail: Option<String>,
    },
    /// A JSON answer for the admin API.
    Json {
        status: u16,
        body: serde_json::Value,
        code: &'static str,
    },
    /// A bare status with no body worth showing (401 on the admin API).
    Bare { status: u16, code: &'static str },
    /// A JSON answer whose log line carries a detail.
    JsonDetailed {
        status: u16,
        body: serde_json::Value,
        code: &'static str,
        detail: String,
    },
    /// 405 with its `Allow` header, its body in the form of the route's other answers.
    MethodNotAllowed { allow: String, form: Form },
    /// 429 with `Retry-After`: a rate limit (SPEC "Deployment shape").
    TooMany { form: Form },
}

/// How a route answers errors: a page for members, JSON on the admin API, nothing at all in
/// forwarder mode (which never reflects anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Page,
    Json,
    Empty,
}

impl AppError {
    pub fn page(problem: Problem, code: &'static str) -> Self {
        Self::Page {
            problem,
            start_again: None,
            code,
            detail: None,
        }
    }

    pub fn with_detail(mut self, text: impl Into<String>) -> Self {
        if let Self::Page { detail, .. } = &mut self {
            *detail = Some(text.into());
        }
        self
    }

    pub fn start_again(mut self, href: impl Into<String>) -> Self {
        if let Self::Page { start_again, .. } = &mut self {
            *start_again = Some(href.into());
        }
        self
    }

    /// 405 allowing `allow` (e.g. `"GET, POST"`), answered in the route's `form`.
    pub fn method_not_allowed(allow: &str, form: Form) -> Self {
        Self::MethodNotAllowed {
            allow: allow.to_string(),
            form,
        }
    }

    pub fn json(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self::Json {
            status,
            body: serde_json::json!({ "error": code, "message": message.into() }),
            code,
        }
    }

    /// Keeps an operator-facing detail for the log line of a JSON error.
    pub fn with_detail_json(self, text: impl Into<String>) -> Self {
        match self {
            Self::Json { status, body, code } => Self::JsonDetailed {
                status,
                body,
                code,
                detail: text.into(),
            },
            other => other,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Page { code, .. }
            | Self::Json { code, .. }
            | Self::Bare { code, .. }
            | Self::JsonDetailed { code, .. } => code,
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::TooMany { .. } => "rate_limited",
        }
    }

    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Page { detail, .. } => detail.as_deref(),
            Self::JsonDetailed { detail, .. } => Some(detail),
            _ => None,
        }
    }

    pub fn into_response(self) -> Response {
        match self {
            Self::Page {
                problem,
                start_again,
                ..
            } => html(problem_page(&problem, start_again.as_deref())),
            Self::Json { status, body, .. } | Self::JsonDetailed { status, body, .. } => {
                json(status, &body)
            }
            Self::Bare { status, .. } => bare(status),
            Self::MethodNotAllowed { allow, form } => {
                let resp = match form {
                    Form::Page => html(problem_page(&Problem::MethodNotAllowed, None)),
                    Form::Json => json(
                        405,
                        &serde_json::json!({
                            "error": "method_not_allowed",
                            "message": format!("use {}", allow.replace(", ", " or ")),
                            "error_description": format!("use {}", allow.replace(", ", " or ")),
                        }),
                    ),
                    Form::Empty => bare(405),
                };
                let _ = super::js::set_header(&resp.headers(), "allow", &allow);
                resp
            }
            Self::TooMany { form } => {
                let resp = match form {
                    Form::Json => json(
                        429,
                        &serde_json::json!({
                            "error": "rate_limited",
                            "error_description": "too many requests; try again in a minute",
                        }),
                    ),
                    Form::Page => html(problem_page(&Problem::RateLimited, None)),
                    Form::Empty => bare(429),
                };
                let _ = super::js::set_header(&resp.headers(), "retry-after", "60");
                resp
            }
        }
    }
}

fn problem_page(problem: &Problem, start_again: Option<&str>) -> Page {
    pages::problem_page(problem, start_again, &super::rand::token())
}

/// A response from its parts. Header names and values are ours (never raw input), and the
/// statuses are ones we choose, so none of these calls fails in practice; should one, the
/// answer is a bare 500 rather than a panic.
fn build(status: u16, headers: &[(&str, &str)], body: Option<&str>) -> Response {
    let init = ResponseInit::new();
    init.set_status(status);
    if let Ok(h) = Headers::new() {
        for (k, v) in headers {
            let _ = super::js::append_header(&h, k, v);
        }
        init.set_headers(&h);
    }
    Response::new_with_opt_str_and_init(body, &init).unwrap_or_else(|_| {
        let fallback = ResponseInit::new();
        fallback.set_status(500);
        Response::new_with_opt_str_and_init(None, &fallback)
            // Not reachable: the runtime then answers its own bare 500.
            .unwrap_or_else(|_| {
                wasm_bindgen::JsCast::unchecked_into(wasm_bindgen::JsValue::UNDEFINED)
            })
    })
}

/// An HTML page with its security headers.
pub fn html(page: Page) -> Response {
    html_with(page, &[])
}

/// An HTML page with its security headers and `extra` ones (Set-Cookie…).
pub fn html_with(page: Page, extra: &[(&str, String)]) -> Response {
    let headers: Vec<(&str, &str)> = page
        .headers
        .iter()
        .map(|(k, v)| (&**k, &**v))
        .chain(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .collect();
    build(page.status, &headers, Some(&page.html))
}

pub fn json(status: u16, body: &serde_json::Value) -> Response {
    build(
        status,
        &[
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
        ],
        Some(&body.to_string()),
    )
}

pub fn text(status: u16, body: &str) -> Response {
    build(
        status,
        &[
            ("content-type", "text/plain; charset=utf-8"),
            ("x-content-type-options", "nosniff"),
        ],
        Some(body),
    )
}

pub fn bare(status: u16) -> Response {
    build(status, &[("cache-control", "no-store")], None)
}

/// A redirect with an empty body; `extra` headers (Set-Cookie…) appended.
pub fn redirect(status: u16, location: &str, extra: &[(&str, String)]) -> Response {
    let mut headers = vec![
        ("location", location),
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
    ];
    headers.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
    build(status, &headers, None)
}
