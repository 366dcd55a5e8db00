//! The pages of a normal sign-in: the login page, the handoff to the portal, and the
//! signed-out page.

use super::{html_escape, safe_href, Document, Icon, Page, Problem, Tone};

/// What the login page offers a member of one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPage<'a> {
    /// The tenant's name as members know it.
    pub tenant: &'a str,
    /// The tenant's `sign_in_button_label`.
    pub button_label: &'a str,
    /// `/login/sso` with its query; `None` when the tenant has single sign-on switched off.
    pub sso_href: Option<&'a str>,
    /// `{portal_url}/login`; `None` when password login is disabled.
    pub password_href: Option<&'a str>,
}

/// `GET /login`: the button that starts single sign-on, and the password way round it.
pub fn login_page(p: &LoginPage, nonce: &str) -> Page {
    let mut body = Icon::Lock.badge(Tone::Brand);
    body.push_str(&format!(
        "<h1>Sign in</h1>\n<p class=\"lede\">to the <strong>{}</strong> members portal</p>\n",
        html_escape(p.tenant)
    ));
    let sso = p.sso_href.and_then(safe_href);
    let password = p.password_href.and_then(safe_href);
    match (&sso, &password) {
        (Some(sso), _) => {
            body.push_str(&format!(
                "<a class=\"button primary\" href=\"{sso}\">{}</a>\n\
                 <p class=\"hint\">You\u{2019}ll sign in on your organisation\u{2019}s \
                 page.</p>\n",
                html_escape(p.button_label)
            ));
            if let Some(password) = &password {
                body.push_str(&format!(
                    "<div class=\"divider\">or</div>\n\
                     <a class=\"button secondary\" href=\"{password}\">Use your password \
                     instead</a>\n"
                ));
            }
        }
        (None, Some(password)) => body.push_str(&format!(
            "<a class=\"button primary\" href=\"{password}\">Use your password to sign in</a>\n"
        )),
        (None, None) => body.push_str(
            "<p>Sign-in isn\u{2019}t available for this portal right now. Please let the \
             space\u{2019}s team know.</p>\n",
        ),
    }
    let title = format!("Sign in \u{2013} {}", p.tenant);
    Document {
        status: 200,
        title: &title,
        body,
        script: None,
        form_action: &[],
    }
    .render(nonce)
}

/// The handoff's only script: submit the form as soon as it exists.
const AUTO_SUBMIT: &str = "document.forms[0].submit()";

/// The last step of a sign-in: POST `assertion` to the portal's handoff URL. The form
/// submits itself; without scripts the member presses "Continue". The assertion travels
/// only in the body, never in a URL.
///
/// `action_url` comes from the tenant's validated config; one that is not an http(s) URL
/// gets the misconfiguration page instead of a form that the CSP would block anyway.
pub fn handoff_page(action_url: &str, assertion: &str, nonce: &str) -> Page {
    let Some((origin, host)) = web_origin(action_url) else {
        return super::problem_page(&Problem::Misconfigured, None, nonce);
    };
    render_handoff(&origin, &host, action_url, assertion, nonce)
}

/// `handoff_page` for a tenant's portal, without parsing a URL on every sign-in:
/// `portal_origin` is the config's `portal_url`, which the config parser stores as an http(s)
/// origin (`scheme://host[:port]`, WHATWG-serialized), and `handoff_path` its validated path.
/// So the CSP source is `portal_origin` itself and the host is read off it. Anything else gets
/// the misconfiguration page, as in `handoff_page`.
pub fn portal_handoff_page(
    portal_origin: &str,
    handoff_path: &str,
    assertion: &str,
    nonce: &str,
) -> Page {
    let authority = portal_origin
        .strip_prefix("https://")
        .or_else(|| portal_origin.strip_prefix("http://"));
    let host = authority.and_then(|a| match a.strip_prefix('[') {
        // An IPv6 literal keeps its brackets, as `Url::host_str` gives it.
        Some(rest) => rest.find(']').map(|end| &a[..end + 2]),
        None => a.split(':').next(),
    });
    match host {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '@']) => {
            let action = format!("{portal_origin}{handoff_path}");
            render_handoff(portal_origin, host, &action, assertion, nonce)
        }
        _ => super::problem_page(&Problem::Misconfigured, None, nonce),
    }
}

fn render_handoff(
    origin: &str,
    host: &str,
    action_url: &str,
    assertion: &str,
    nonce: &str,
) -> Page {
    let body = format!(
        "<div class=\"spinner\" aria-hidden=\"true\"></div>\n\
         <h1>Signing you in\u{2026}</h1>\n\
         <p class=\"lede\" role=\"status\">Taking you to <strong>{host}</strong></p>\n\
         <form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"assertion\" value=\"{assertion}\">\n\
         <button class=\"button primary\" type=\"submit\">Continue</button>\n\
         </form>\n\
         <p class=\"note\">Not moving on? Press Continue.</p>\n",
        host = html_escape(host),
        action = html_escape(action_url),
        assertion = html_escape(assertion),
    );
    // SPEC: the handoff page's CSP has `form-action {portal origin}` (nothing else may be
    // posted from it).
    let form_action = [origin];
    let mut page = Document {
        status: 200,
        title: "Signing you in\u{2026}",
        body,
        script: Some(AUTO_SUBMIT),
        form_action: &form_action,
    }
    .render(nonce);
    // SPEC: this page alone sends `strict-origin`, so the browser's POST to the portal carries
    // the `Origin` that served it (the assertion's `origin` claim); with `no-referrer` it
    // would carry `Origin: null` and a replay from an attacker's page would look the same.
    set_header(&mut page, "Referrer-Policy", "strict-origin");
    page
}

fn set_header(page: &mut Page, name: &'static str, value: &str) {
    match page
        .headers
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
    {
        Some(h) => h.1 = value.to_string(),
        None => page.headers.push((name, value.to_string())),
    }
}

/// RFC 8252 §8.6: before a one-time code goes to a private-use scheme or loopback redirect
/// (which any app could claim), the member confirms. The form carries the waiting sign-in's
/// id and a CSRF token bound to the browser's binding cookie; nothing else leaves the page.
/// `app_target` is the CSP source of the app's redirect URI (`core::app::continue_form_target`):
/// the browser checks `form-action` against the redirect the POST answers with too.
pub fn continue_to_app_page(
    email: &str,
    continue_id: &str,
    csrf: &str,
    app_target: Option<&str>,
    nonce: &str,
) -> Page {
    let mut body = Icon::Lock.badge(Tone::Brand);
    body.push_str(&format!(
        "<h1>Continue to the app as {email}?</h1>\n\
         <p class=\"lede\">The app on this device asked to sign you in. Continue only if you \
         started this sign-in from the app.</p>\n\
         <form method=\"post\" action=\"/app/continue\">\n\
         <input type=\"hidden\" name=\"continue\" value=\"{id}\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <button class=\"button primary\" type=\"submit\">Continue</button>\n\
         </form>\n\
         <p class=\"note\">Didn\u{2019}t start this? Close this window.</p>\n",
        email = html_escape(email),
        id = html_escape(continue_id),
        csrf = html_escape(csrf),
    ));
    let mut form_action = vec!["'self'"];
    form_action.extend(app_target);
    Document {
        status: 200,
        title: "Continue to the app?",
        body,
        script: None,
        form_action: &form_action,
    }
    .render(nonce)
}

/// The origin of an http(s) URL, as a CSP source, and its host for display.
fn web_origin(action_url: &str) -> Option<(String, String)> {
    let url = url::Url::parse(action_url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_string();
    Some((url.origin().ascii_serialization(), host))
}

/// `GET /login/logout` without a known logout state: the member is signed out here.
pub fn signed_out_page(portal_href: Option<&str>, nonce: &str) -> Page {
    let mut body = Icon::Check.badge(Tone::Ok);
    body.push_str("<h1>You are signed out</h1>\n");
    match portal_href.and_then(safe_href) {
        Some(href) => body.push_str(&format!(
            "<p class=\"lede\">Your single sign-on session has ended: you are signed out.</p>\n\
             <a class=\"button primary\" href=\"{href}\">Back to your portal</a>\n"
        )),
        None => body.push_str(
            "<p class=\"lede\">Your single sign-on session has ended: you are signed out. You \
             can close this window.</p>\n",
        ),
    }
    Document {
        status: 200,
        title: "Signed out",
        body,
        script: None,
        form_action: &[],
    }
    .render(nonce)
}
