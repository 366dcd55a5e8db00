//! The settings page (SPEC "Settings page"): server-rendered forms on the apex, in the
//! product's look, that work without JavaScript (a nonced script only turns on the copy
//! buttons). Sent with `Referrer-Policy: same-origin` — so same-origin POSTs carry their
//! `Origin` — and `Cache-Control: no-store`. The tenant form is `settings_form`.

use super::{csp, html_escape, style, Page};

/// The only script: copy buttons, shown once it runs.
const COPY_SCRIPT: &str = "document.querySelectorAll('button[data-copy]').forEach(function(b){\
b.hidden=false;b.addEventListener('click',function(){var t=document.getElementById(b.dataset.copy);\
if(!t||!navigator.clipboard)return;navigator.clipboard.writeText(t.textContent).then(function(){\
b.textContent='Copied';setTimeout(function(){b.textContent='Copy'},2000)})})})";

/// Who the pages are for, as the header shows it.
pub struct Viewer<'a> {
    /// "Platform staff" or the Access email.
    pub who: &'a str,
    /// The staff's sign-out form needs the CSRF token; Access admins sign out at Access.
    pub sign_out_csrf: Option<&'a str>,
}

/// A settings page body before the shell.
pub(super) struct SettingsDoc<'a> {
    pub status: u16,
    pub title: &'a str,
    pub viewer: Option<&'a Viewer<'a>>,
    pub body: String,
    pub copy_buttons: bool,
}

impl SettingsDoc<'_> {
    pub(super) fn render(self, nonce: &str) -> Page {
        let n = html_escape(nonce);
        let header = match self.viewer {
            Some(v) => {
                let sign_out = v.sign_out_csrf.map_or(String::new(), |csrf| {
                    format!(
                        "<form method=\"post\" action=\"/settings/sign-out\" class=\"inline\">\
                         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                         <button class=\"link-button\" type=\"submit\">Sign out</button></form>",
                        html_escape(csrf)
                    )
                });
                format!(
                    "<header class=\"bar\"><a class=\"brand\" href=\"/settings\">Settings \u{203a} \
                     Integrations \u{203a} Okta</a><span class=\"who\">{}</span>{sign_out}</header>\n",
                    html_escape(v.who)
                )
            }
            None => "<header class=\"bar\"><span class=\"brand\">Settings \u{203a} \
                     Integrations \u{203a} Okta</span></header>\n"
                .into(),
        };
        let script = if self.copy_buttons {
            format!("<script nonce=\"{n}\">{COPY_SCRIPT}</script>\n")
        } else {
            String::new()
        };
        let html = format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"color-scheme\" content=\"light dark\">\n\
             <meta name=\"robots\" content=\"noindex, nofollow\">\n\
             <title>{title} \u{2013} Okta settings</title>\n\
             <style nonce=\"{n}\">{css}{settings_css}</style>\n</head>\n\
             <body class=\"settings\">\n{header}<main>\n{body}</main>\n{script}</body>\n</html>\n",
            title = html_escape(self.title),
            css = style::STYLESHEET,
            settings_css = style::SETTINGS_STYLESHEET,
            body = self.body,
        );
        let policy = csp(nonce, self.copy_buttons, &["'self'"]);
        let mut headers = super::security_headers(policy);
        for (k, v) in headers.iter_mut() {
            if *k == "Referrer-Policy" {
                *v = "same-origin".into();
            }
        }
        Page {
            status: self.status,
            html,
            headers,
        }
    }
}

/// A note at the top of a page.
pub enum Notice<'a> {
    Info(&'a str),
    Error(&'a str),
}

pub(super) fn notice_html(notice: Option<&Notice<'_>>) -> String {
    match notice {
        Some(Notice::Info(t)) => format!(
            "<p class=\"notice ok\" role=\"status\">{}</p>\n",
            html_escape(t)
        ),
        Some(Notice::Error(t)) => format!(
            "<p class=\"notice bad\" role=\"alert\">{}</p>\n",
            html_escape(t)
        ),
        None => String::new(),
    }
}

/// Platform staff's sign-in: the `ADMIN_TOKEN`, posted to `/settings/sign-in`.
pub fn sign_in_page(error: Option<&str>, status: u16, nonce: &str) -> Page {
    let error = error.map(Notice::Error);
    let body = format!(
        "<h1>Sign in to the settings</h1>\n\
         <p class=\"lede\">Platform staff sign in with the admin token.</p>\n{notice}\
         <form method=\"post\" action=\"/settings/sign-in\" class=\"stack\">\n\
         <label for=\"token\">Admin token</label>\n\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" \
         required autofocus>\n\
         <button class=\"button primary\" type=\"submit\">Sign in</button>\n</form>\n",
        notice = notice_html(error.as_ref()),
    );
    SettingsDoc {
        status,
        title: "Sign in",
        viewer: None,
        body,
        copy_buttons: false,
    }
    .render(nonce)
}

/// One row of the tenant list.
pub struct TenantRow<'a> {
    pub id: &'a str,
    pub okta_domain: &'a str,
    pub enabled: bool,
    pub button_label: &'a str,
}

/// The tenants this operator may edit; staff may also create one.
pub fn list_page(
    viewer: &Viewer<'_>,
    rows: &[TenantRow<'_>],
    can_create: bool,
    notice: Option<&Notice<'_>>,
    nonce: &str,
) -> Page {
    let mut body = format!(
        "<h1>Okta sign-in for your tenants</h1>\n{}",
        notice_html(notice)
    );
    if rows.is_empty() {
        body.push_str("<p>No tenants yet.</p>\n");
    } else {
        body.push_str(
            "<table>\n<caption class=\"sr-only\">Tenants</caption>\n<thead><tr>\
             <th scope=\"col\">Tenant</th><th scope=\"col\">Okta domain</th>\
             <th scope=\"col\">Okta integration</th><th scope=\"col\">Sign in button label</th>\
             </tr></thead>\n<tbody>\n",
        );
        for r in rows {
            let id = html_escape(r.id);
            body.push_str(&format!(
                "<tr><th scope=\"row\"><a href=\"/settings/tenants/{id}\">{id}</a></th>\
                 <td>{domain}</td><td>{state}</td><td>{label}</td></tr>\n",
                domain = html_escape(r.okta_domain),
                state = if r.enabled { "On" } else { "Off" },
                label = html_escape(r.button_label),
            ));
        }
        body.push_str("</tbody>\n</table>\n");
    }
    if can_create {
        body.push_str(
            "<p><a class=\"button primary narrow\" href=\"/settings/new\">New tenant</a></p>\n",
        );
    }
    SettingsDoc {
        status: 200,
        title: "Tenants",
        viewer: Some(viewer),
        body,
        copy_buttons: false,
    }
    .render(nonce)
}

/// The confirmation step before a tenant is deleted.
pub fn delete_page(viewer: &Viewer<'_>, id: &str, csrf: &str, nonce: &str) -> Page {
    let id = html_escape(id);
    let body = format!(
        "<h1>Delete {id}?</h1>\n\
         <p class=\"lede\">Members of {id} will no longer be able to sign in with Okta, and its \
         custom domains are released. This cannot be undone.</p>\n\
         <form method=\"post\" action=\"/settings/tenants/{id}/delete\" class=\"stack\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <button class=\"button danger\" type=\"submit\">Delete {id}</button>\n</form>\n\
         <p><a href=\"/settings/tenants/{id}\">Keep it</a></p>\n",
        csrf = html_escape(csrf),
    );
    SettingsDoc {
        status: 200,
        title: "Delete tenant",
        viewer: Some(viewer),
        body,
        copy_buttons: false,
    }
    .render(nonce)
}

/// A settings-page refusal (403, 404, 503…), in the settings shell.
pub fn settings_problem_page(status: u16, title: &str, sentence: &str, nonce: &str) -> Page {
    let body = format!(
        "<h1>{}</h1>\n<p class=\"lede\">{}</p>\n<p><a href=\"/settings\">Back to the settings</a></p>\n",
        html_escape(title),
        html_escape(sentence)
    );
    SettingsDoc {
        status,
        title,
        viewer: None,
        body,
        copy_buttons: false,
    }
    .render(nonce)
}
