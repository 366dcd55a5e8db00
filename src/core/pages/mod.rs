//! Every HTML page the worker shows members, rendered as plain `Page` values.
//!
//! Pages own their security headers: each response carries a CSP built from the caller's
//! per-response nonce, so the inline stylesheet (and the handoff's one-line script) run
//! while anything injected cannot. Every value that did not come from this file is escaped.

mod member;
mod problem;
mod settings;
mod settings_form;
mod style;

pub use member::{
    continue_to_app_page, handoff_page, login_page, portal_handoff_page, signed_out_page, LoginPage,
};
pub use problem::{problem_page, Problem};
pub use settings::{
    delete_page, list_page, settings_problem_page, sign_in_page, Notice, TenantRow, Viewer,
};
pub use settings_form::{tenant_form_page, CheckWords, OktaSetup, TenantForm};

/// A rendered HTML response, ready for the edge to send as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub status: u16,
    pub html: String,
    pub headers: Vec<(&'static str, String)>,
}

/// Escapes text for HTML element content and quoted attribute values alike.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML element content only (never an attribute value): quotes stay as they
/// are, so the page's own copy reads as written ("your identity provider's answer").
pub fn text_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// The Content-Security-Policy for one page. Nothing loads from anywhere; only the nonced
/// `<style>` (and, when `with_script`, the nonced `<script>`) run. `form_action` lists the
/// sources a form may post to; empty means no form may submit at all.
pub fn csp(nonce: &str, with_script: bool, form_action: &[&str]) -> String {
    let mut policy = format!("default-src 'none'; style-src 'nonce-{nonce}'; ");
    if with_script {
        policy.push_str(&format!("script-src 'nonce-{nonce}'; "));
    }
    policy.push_str("form-action ");
    if form_action.is_empty() {
        policy.push_str("'none'");
    } else {
        policy.push_str(&form_action.join(" "));
    }
    policy.push_str("; base-uri 'none'; frame-ancestors 'none'");
    policy
}

/// Security headers for an HTML response under the given CSP. Every member page is
/// per-member or per-attempt, so none may be cached or framed.
pub fn security_headers(csp: String) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", "text/html; charset=utf-8".into()),
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff".into()),
        ("Referrer-Policy", "no-referrer".into()),
        ("X-Frame-Options", "DENY".into()),
        ("Cache-Control", "no-store".into()),
    ]
}

/// One page before it is wrapped in the shared document shell.
struct Document<'a> {
    status: u16,
    /// Plain text; escaped when rendered.
    title: &'a str,
    /// Trusted markup built in this module, with every outside value already escaped.
    body: String,
    /// A script written in this module (never outside data), run under the nonce.
    script: Option<&'static str>,
    form_action: &'a [&'a str],
}

impl Document<'_> {
    fn render(self, nonce: &str) -> Page {
        let nonce_attr = html_escape(nonce);
        let script = match self.script {
            Some(js) => format!("<script nonce=\"{nonce_attr}\">{js}</script>\n"),
            None => String::new(),
        };
        let html = format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"color-scheme\" content=\"light dark\">\n\
             <meta name=\"robots\" content=\"noindex, nofollow\">\n\
             <title>{title}</title>\n<style nonce=\"{nonce_attr}\">{css}</style>\n</head>\n\
             <body>\n<main>\n{body}</main>\n{script}</body>\n</html>\n",
            title = html_escape(self.title),
            css = style::STYLESHEET,
            body = self.body,
        );
        let policy = csp(nonce, self.script.is_some(), self.form_action);
        Page {
            status: self.status,
            html,
            headers: security_headers(policy),
        }
    }
}

/// A link target fit for an `href`: a same-origin path or an absolute http(s) URL.
/// Anything else (`javascript:`, `//evil`, data) yields `None`, so the link is left out
/// rather than rendered; the CSP would block script URLs anyway, this keeps them out.
fn safe_href(href: &str) -> Option<String> {
    let is_path = href.starts_with('/') && !href.starts_with("//") && !href.contains('\\');
    let is_web_url =
        url::Url::parse(href).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
    let clean = !href.chars().any(char::is_control);
    ((is_path || is_web_url) && clean).then(|| html_escape(href))
}

/// Decorative icons, drawn inline (inline SVG needs no `img-src`) and hidden from screen
/// readers, since the heading beside each says the same thing.
#[derive(Clone, Copy)]
enum Icon {
    Lock,
    Alert,
    Clock,
    Check,
    Compass,
}

impl Icon {
    fn svg(self) -> &'static str {
        match self {
            Icon::Lock => {
                "<rect x=\"5\" y=\"10.5\" width=\"14\" height=\"10\" rx=\"2.5\"/>\
                <path d=\"M8.5 10.5V8a3.5 3.5 0 0 1 7 0v2.5\"/><path d=\"M12 14.5v2\"/>"
            }
            Icon::Alert => {
                "<path d=\"M10.3 4.2 2.9 17a2 2 0 0 0 1.7 3h14.8a2 2 0 0 0 1.7-3L13.7 \
                4.2a2 2 0 0 0-3.4 0Z\"/><path d=\"M12 9.5v4\"/><path d=\"M12 17h.01\"/>"
            }
            Icon::Clock => "<circle cx=\"12\" cy=\"12\" r=\"9\"/><path d=\"M12 7.5V12l3 2\"/>",
            Icon::Check => {
                "<circle cx=\"12\" cy=\"12\" r=\"9\"/><path d=\"m8.5 12.3 2.4 2.4 4.8-5\"/>"
            }
            Icon::Compass => {
                "<circle cx=\"12\" cy=\"12\" r=\"9\"/>\
                <path d=\"m15.5 8.5-2 5-5 2 2-5 5-2Z\"/>"
            }
        }
    }

    /// The badge above a page's heading, coloured by `tone`.
    fn badge(self, tone: Tone) -> String {
        let tone = tone.class();
        format!(
            "<div class=\"badge tone-{tone}\"><svg viewBox=\"0 0 24 24\" fill=\"none\" \
             stroke=\"currentColor\" stroke-width=\"2\" stroke-linecap=\"round\" \
             stroke-linejoin=\"round\" aria-hidden=\"true\" focusable=\"false\">{}</svg></div>\n",
            self.svg()
        )
    }
}

/// A badge's colour, one `tone-*` class of the stylesheet each.
#[derive(Clone, Copy)]
enum Tone {
    Brand,
    Warn,
    Wait,
    Ok,
    Neutral,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Brand => "brand",
            Tone::Warn => "warn",
            Tone::Wait => "wait",
            Tone::Ok => "ok",
            Tone::Neutral => "neutral",
        }
    }
}

#[cfg(test)]
mod settings_tests;
#[cfg(test)]
pub(crate) mod tests;
