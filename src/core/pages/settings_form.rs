//! The tenant form of the settings page: the seed's fields first, the rest under "Advanced",
//! each error next to its field, the URIs to register in Okta ready to copy, "Test
//! connection", and — for staff — webhook-secret rotation and delete.

use super::settings::{notice_html, Notice, SettingsDoc, Viewer};
use super::{html_escape, Page};
use crate::core::settings::form::{Kind, FIELDS};

/// What to register in Okta for one tenant, computed from its config and the host names.
pub struct OktaSetup {
    pub sign_in_redirect_uri: String,
    pub sign_out_redirect_uri: String,
    pub initiate_login_uri: String,
}

/// The result of "Test connection", in words.
pub struct CheckWords {
    pub ok: bool,
    pub headline: String,
    pub lines: Vec<String>,
}

pub struct TenantForm<'a> {
    pub viewer: &'a Viewer<'a>,
    pub csrf: &'a str,
    /// `None`: the create form (with a tenant id field holding `typed_id`).
    pub id: Option<&'a str>,
    pub typed_id: &'a str,
    pub values: &'a [(&'static str, String)],
    /// Errors by form field (`None`: about the form as a whole or the tenant id).
    pub errors: &'a [(Option<&'static str>, String)],
    pub staff: bool,
    pub setup: Option<&'a OktaSetup>,
    pub notice: Option<Notice<'a>>,
    /// A webhook secret to show once (after a create or a rotation).
    pub new_webhook_secret: Option<&'a str>,
    pub check: Option<&'a CheckWords>,
    pub status: u16,
}

fn value<'v>(values: &'v [(&'static str, String)], name: &str) -> &'v str {
    values
        .iter()
        .find(|(k, _)| *k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn copyable(id: &str, label: &str, text: &str) -> String {
    format!(
        "<div class=\"copy\"><span class=\"copy-label\">{label}</span>\
         <code id=\"{id}\">{text}</code>\
         <button type=\"button\" class=\"button secondary small\" data-copy=\"{id}\" hidden>Copy</button></div>\n",
        label = html_escape(label),
        text = html_escape(text),
    )
}

fn okta_steps(setup: &OktaSetup) -> String {
    format!(
        "<section class=\"panel\" aria-labelledby=\"okta-setup\">\n\
         <h2 id=\"okta-setup\">What to do in Okta</h2>\n{}{}{}\
         <ol>\n\
         <li>In the Okta Admin Console, go to Applications \u{2192} Create App Integration \u{2192} \
         OIDC \u{2013} OpenID Connect \u{2192} Web Application, with the Authorization Code grant \
         and a client secret.</li>\n\
         <li>Enter the sign-in redirect URI and the sign-out redirect URI above.</li>\n\
         <li>For the Okta dashboard tile: Login initiated by \u{201c}Either Okta or App\u{201d}, \
         Initiate login URI as above, and the tile option \u{201c}Redirect to app to initiate \
         login (OIDC Compliant)\u{201d}.</li>\n\
         <li>Assign the people or groups who may sign in.</li>\n\
         <li>Copy the Client ID and Client secret into this form, and the Okta domain without \
         https://.</li>\n\
         <li>Save, then Test connection.</li>\n</ol>\n</section>\n",
        copyable("sign-in-redirect-uri", "Sign-in redirect URI", &setup.sign_in_redirect_uri),
        copyable("sign-out-redirect-uri", "Sign-out redirect URI", &setup.sign_out_redirect_uri),
        copyable("initiate-login-uri", "Initiate login URI", &setup.initiate_login_uri),
    )
}

fn check_panel(check: &CheckWords) -> String {
    let class = if check.ok { "ok" } else { "bad" };
    let mut html = format!(
        "<section class=\"panel check {class}\" role=\"status\" aria-labelledby=\"check-result\">\n\
         <h2 id=\"check-result\">Test connection</h2>\n<p><strong>{}</strong></p>\n<ul>\n",
        html_escape(&check.headline)
    );
    for l in &check.lines {
        html.push_str(&format!("<li>{}</li>\n", html_escape(l)));
    }
    html.push_str("</ul>\n</section>\n");
    html
}

fn field_html(
    f: &crate::core::settings::form::FieldSpec,
    shown: &str,
    errors: &[String],
) -> String {
    let name = f.name;
    let err_id = format!("{name}-error");
    let help_id = format!("{name}-help");
    let invalid = if errors.is_empty() {
        String::new()
    } else {
        format!(" aria-invalid=\"true\" aria-describedby=\"{err_id} {help_id}\"")
    };
    let described = if errors.is_empty() {
        format!(" aria-describedby=\"{help_id}\"")
    } else {
        String::new()
    };
    let errors_html = if errors.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"field-error\" id=\"{err_id}\">{}</p>\n",
            html_escape(&errors.join("; "))
        )
    };
    let help = format!(
        "<p class=\"help\" id=\"{help_id}\">{}</p>\n",
        html_escape(f.help)
    );
    let label = html_escape(f.label);
    let v = html_escape(shown);
    let control = match f.kind {
        Kind::Checkbox => {
            let checked = if shown.is_empty() { "" } else { " checked" };
            return format!(
                "<div class=\"field check-field\"><input type=\"checkbox\" id=\"{name}\" name=\"{name}\"{checked}{invalid}{described}>\
                 <label for=\"{name}\">{label}</label>\n{help}{errors_html}</div>\n"
            );
        }
        Kind::Secret => format!(
            "<input id=\"{name}\" name=\"{name}\" type=\"password\" autocomplete=\"new-password\" \
             value=\"\"{invalid}{described}>"
        ),
        Kind::Select(options) => {
            let mut s = format!("<select id=\"{name}\" name=\"{name}\"{invalid}{described}>");
            for o in options {
                let sel = if *o == shown { " selected" } else { "" };
                s.push_str(&format!("<option value=\"{o}\"{sel}>{o}</option>"));
            }
            s.push_str("</select>");
            s
        }
        Kind::Lines => format!(
            "<textarea id=\"{name}\" name=\"{name}\" rows=\"3\"{invalid}{described}>{v}</textarea>"
        ),
        Kind::Number => format!(
            "<input id=\"{name}\" name=\"{name}\" inputmode=\"numeric\" value=\"{v}\"{invalid}{described}>"
        ),
        Kind::Text | Kind::Words => format!(
            "<input id=\"{name}\" name=\"{name}\" type=\"text\" value=\"{v}\"{invalid}{described}>"
        ),
    };
    format!(
        "<div class=\"field\"><label for=\"{name}\">{label}</label>\n{control}\n{help}{errors_html}</div>\n"
    )
}

/// The create or edit form.
pub fn tenant_form_page(p: &TenantForm<'_>, nonce: &str) -> Page {
    let action = match p.id {
        Some(id) => format!("/settings/tenants/{}", html_escape(id)),
        None => "/settings/new".into(),
    };
    let title = match p.id {
        Some(id) => format!("Tenant {id}"),
        None => "New tenant".into(),
    };
    let mut body = format!(
        "<h1>{}</h1>\n{}",
        html_escape(&title),
        notice_html(p.notice.as_ref())
    );
    let general: Vec<&String> = p
        .errors
        .iter()
        .filter(|(f, _)| f.is_none())
        .map(|(_, m)| m)
        .collect();
    if !p.errors.is_empty() {
        body.push_str(
            "<p class=\"notice bad\" role=\"alert\">Nothing was saved: fix the fields marked below.</p>\n",
        );
    }
    if let Some(secret) = p.new_webhook_secret {
        body.push_str(&format!(
            "<section class=\"panel secret\" aria-labelledby=\"webhook-secret\">\n\
             <h2 id=\"webhook-secret\">Webhook signing secret</h2>\n\
             <p>Copy it now into your webhook receiver: it is shown only this once.</p>\n{}</section>\n",
            copyable("new-webhook-secret", "Webhook secret", secret)
        ));
    }
    if let Some(check) = p.check {
        body.push_str(&check_panel(check));
    }
    if let Some(setup) = p.setup {
        body.push_str(&okta_steps(setup));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"{action}\" class=\"tenant-form\" novalidate>\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\n",
        html_escape(p.csrf)
    ));
    if p.id.is_none() {
        let err = general.iter().map(|s| s.as_str()).collect::<Vec<_>>();
        let errors_html = if err.is_empty() {
            String::new()
        } else {
            format!(
                "<p class=\"field-error\" id=\"id-error\">{}</p>\n",
                html_escape(&err.join("; "))
            )
        };
        let described = if err.is_empty() {
            "aria-describedby=\"id-help\""
        } else {
            "aria-invalid=\"true\" aria-describedby=\"id-error id-help\""
        };
        body.push_str(&format!(
            "<div class=\"field\"><label for=\"id\">Tenant id</label>\n\
             <input id=\"id\" name=\"id\" type=\"text\" value=\"{}\" {described}>\n\
             <p class=\"help\" id=\"id-help\">Lower-case letters, digits and hyphens: members sign in \
             at {{id}}.your-domain.</p>\n{errors_html}</div>\n",
            html_escape(p.typed_id)
        ));
    } else if !general.is_empty() {
        body.push_str(&format!(
            "<p class=\"field-error\">{}</p>\n",
            html_escape(
                &general
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        ));
    }
    let errors_for = |name: &str| -> Vec<String> {
        p.errors
            .iter()
            .filter(|(f, _)| *f == Some(name))
            .map(|(_, m)| m.clone())
            .collect()
    };
    let advanced_has_error = FIELDS
        .iter()
        .any(|f| f.advanced && !errors_for(f.name).is_empty());
    for f in FIELDS.iter().filter(|f| !f.advanced) {
        body.push_str(&field_html(f, value(p.values, f.name), &errors_for(f.name)));
    }
    body.push_str(&format!(
        "<details{}>\n<summary>Advanced</summary>\n",
        if advanced_has_error { " open" } else { "" }
    ));
    for f in FIELDS
        .iter()
        .filter(|f| f.advanced && (p.staff || !f.staff_only))
    {
        body.push_str(&field_html(f, value(p.values, f.name), &errors_for(f.name)));
    }
    body.push_str("</details>\n<button class=\"button primary narrow\" type=\"submit\">Save</button>\n</form>\n");
    if let Some(id) = p.id {
        let id = html_escape(id);
        let csrf = html_escape(p.csrf);
        body.push_str(&format!(
            "<div class=\"actions\">\n\
             <form method=\"post\" action=\"/settings/tenants/{id}/check\" class=\"inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button class=\"button secondary\" type=\"submit\">Test connection</button></form>\n"
        ));
        if p.staff {
            body.push_str(&format!(
                "<form method=\"post\" action=\"/settings/tenants/{id}/webhook-secret\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button class=\"button secondary\" type=\"submit\">Rotate webhook secret</button></form>\n\
                 <a class=\"button danger\" href=\"/settings/tenants/{id}/delete\">Delete tenant</a>\n"
            ));
        }
        body.push_str("</div>\n");
    }
    body.push_str("<p><a href=\"/settings\">All tenants</a></p>\n");
    SettingsDoc {
        status: p.status,
        title: &title,
        viewer: Some(p.viewer),
        body,
        copy_buttons: p.setup.is_some() || p.new_webhook_secret.is_some(),
    }
    .render(nonce)
}
