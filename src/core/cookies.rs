//! The two cookies: the browser binding (which pending logins belong to this browser) and the
//! worker session. Production uses `__Host-` names and `Secure`; `LOCAL_DEV` drops both.

pub const BROWSER: &str = "portal_sso_browser";
pub const SESSION: &str = "portal_sso_session";

/// The cookie name as sent, with the `__Host-` prefix outside local dev.
pub fn name(base: &str, local_dev: bool) -> String {
    if local_dev {
        base.to_string()
    } else {
        format!("__Host-{base}")
    }
}

/// `Set-Cookie` for the browser binding: `SameSite=None` so a `form_post` callback (a
/// cross-site POST) still carries it; `Lax` in local dev where `Secure` is unavailable.
pub fn browser_cookie(value: &str, local_dev: bool) -> String {
    let attrs = if local_dev {
        "SameSite=Lax"
    } else {
        "Secure; SameSite=None"
    };
    format!(
        "{}={value}; Path=/; HttpOnly; {attrs}; Max-Age=2592000",
        name(BROWSER, local_dev)
    )
}

pub fn session_cookie(value: &str, max_age: u64, local_dev: bool) -> String {
    let secure = if local_dev { "" } else { "Secure; " };
    format!(
        "{}={value}; Path=/; HttpOnly; {secure}SameSite=Lax; Max-Age={max_age}",
        name(SESSION, local_dev)
    )
}

pub fn clear_session_cookie(local_dev: bool) -> String {
    session_cookie("", 0, local_dev)
}

/// A cookie's value from a `Cookie` header; tolerant of junk, first occurrence wins.
pub fn read<'a>(header: Option<&'a str>, base: &str, local_dev: bool) -> Option<&'a str> {
    let wanted = name(base, local_dev);
    header?
        .split(';')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(k, _)| *k == wanted)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_cookies_are_host_prefixed_and_secure() {
        let c = browser_cookie("abc", false);
        assert!(c.starts_with("__Host-portal_sso_browser=abc;"));
        assert!(
            c.contains("Secure")
                && c.contains("SameSite=None")
                && c.contains("HttpOnly")
                && c.contains("Path=/")
        );
        assert!(!c.contains("Domain"));
        let s = session_cookie("s", 60, false);
        assert!(
            s.starts_with("__Host-portal_sso_session=s;")
                && s.contains("SameSite=Lax")
                && s.contains("Secure")
        );
    }

    #[test]
    fn local_dev_cookies_drop_prefix_and_secure() {
        let c = browser_cookie("abc", true);
        assert!(c.starts_with("portal_sso_browser=abc;"));
        assert!(!c.contains("Secure") && c.contains("SameSite=Lax"));
    }

    #[test]
    fn reads_named_cookie() {
        let h = Some("a=1; __Host-portal_sso_browser=xyz; portal_sso_browser=local");
        assert_eq!(read(h, BROWSER, false), Some("xyz"));
        assert_eq!(read(h, BROWSER, true), Some("local"));
        assert_eq!(read(Some("junk;;=;"), BROWSER, true), None);
        assert_eq!(read(None, BROWSER, true), None);
    }
}
