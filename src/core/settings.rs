//! The settings page's decisions (SPEC "Settings page"): who is signed in, what they may see
//! and change, the platform staff's stateless session cookie, and the CSRF token every POST
//! after sign-in carries. The form itself is `form`; the pages are `pages::settings`.
//!
//! The staff cookie holds a random id, its expiry and an HMAC over both, keyed from
//! `ADMIN_TOKEN` (never the token itself): it works at every location at once, and dies when
//! the token is rotated.

pub mod form;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::core::crypto::hmac_sha256;
use crate::core::secret::constant_time_eq;
use crate::core::tenant_record::Tenant;

/// The staff session cookie's base name (`__Host-` prefixed outside local dev).
pub const STAFF_COOKIE: &str = "portal_sso_settings";
/// How long a staff sign-in lasts.
pub const STAFF_SESSION_SECS: u64 = 8 * 3600;

/// Who is using the settings page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// Platform staff, signed in with the `ADMIN_TOKEN`: every tenant, create and delete.
    Staff { session: String },
    /// An operator's admin through Cloudflare Access: the tenants that list their email.
    Admin { email: String, sub: String },
}

impl Operator {
    pub fn is_staff(&self) -> bool {
        matches!(self, Operator::Staff { .. })
    }

    /// What the CSRF token is derived from: the session id, or the Access `sub`.
    fn subject(&self) -> String {
        match self {
            Operator::Staff { session } => format!("staff:{session}"),
            Operator::Admin { sub, .. } => format!("access:{sub}"),
        }
    }

    /// Staff see every tenant; an admin those whose `settings_admins` lists their email
    /// (ASCII case-insensitively).
    pub fn may_edit(&self, tenant: &Tenant) -> bool {
        match self {
            Operator::Staff { .. } => true,
            Operator::Admin { email, .. } => tenant
                .config
                .settings_admins
                .iter()
                .any(|a| a.eq_ignore_ascii_case(email)),
        }
    }

    /// The CSRF token of this operator's forms.
    pub fn csrf_token(&self, admin_token: &str) -> String {
        let key = hmac_sha256(admin_token.as_bytes(), &[b"portal-sso settings csrf v1"]);
        URL_SAFE_NO_PAD.encode(hmac_sha256(&key, &[self.subject().as_bytes()]))
    }

    /// Whether `given` is this operator's CSRF token (constant time).
    pub fn csrf_matches(&self, admin_token: &str, given: Option<&str>) -> bool {
        given.is_some_and(|g| {
            constant_time_eq(g.as_bytes(), self.csrf_token(admin_token).as_bytes())
        })
    }
}

fn cookie_key(admin_token: &str) -> [u8; 32] {
    hmac_sha256(admin_token.as_bytes(), &[b"portal-sso settings cookie v1"])
}

fn cookie_mac(admin_token: &str, id: &str, expires: u64) -> String {
    let mac = hmac_sha256(
        &cookie_key(admin_token),
        &[id.as_bytes(), b".", expires.to_string().as_bytes()],
    );
    URL_SAFE_NO_PAD.encode(mac)
}

/// A new staff session: the cookie's value, `{id}.{expiry}.{hmac}`.
pub fn staff_cookie_value(admin_token: &str, random: &[u8; 32], now: u64) -> String {
    let id = URL_SAFE_NO_PAD.encode(random);
    let expires = now + STAFF_SESSION_SECS;
    format!("{id}.{expires}.{}", cookie_mac(admin_token, &id, expires))
}

/// The staff operator a cookie value proves, if its HMAC is right under the current
/// `ADMIN_TOKEN` and it has not expired.
pub fn staff_from_cookie(value: &str, admin_token: &str, now: u64) -> Option<Operator> {
    let mut parts = value.split('.');
    let (id, expires, mac) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || id.len() != 43 {
        return None;
    }
    let expires: u64 = expires.parse().ok()?;
    let good = constant_time_eq(
        mac.as_bytes(),
        cookie_mac(admin_token, id, expires).as_bytes(),
    );
    (good && now < expires).then(|| Operator::Staff {
        session: id.to_owned(),
    })
}

/// `Set-Cookie` for the staff session: `HttpOnly`, `SameSite=Strict`, `Path=/`, 8 h;
/// `__Host-` and `Secure` outside local dev.
pub fn staff_cookie_header(value: &str, local_dev: bool) -> String {
    let (name, secure) = if local_dev {
        (STAFF_COOKIE.to_string(), "")
    } else {
        (format!("__Host-{STAFF_COOKIE}"), "Secure; ")
    };
    format!(
        "{name}={value}; Path=/; HttpOnly; {secure}SameSite=Strict; Max-Age={STAFF_SESSION_SECS}"
    )
}

/// `Set-Cookie` that ends the staff session.
pub fn clear_staff_cookie_header(local_dev: bool) -> String {
    staff_cookie_header("", local_dev)
        .replace(&format!("Max-Age={STAFF_SESSION_SECS}"), "Max-Age=0")
}

/// SPEC: every POST must carry `Origin` equal to the apex origin.
pub fn same_origin(origin_header: Option<&str>, apex_origin: &str) -> bool {
    origin_header == Some(apex_origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "admin-token-value";
    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_staff_cookie_proves_a_session_until_it_expires() {
        let v = staff_cookie_value(TOKEN, &[7; 32], NOW);
        assert!(!v.contains(TOKEN));
        let op = staff_from_cookie(&v, TOKEN, NOW + 10).expect("valid");
        assert!(op.is_staff());
        assert!(
            staff_from_cookie(&v, TOKEN, NOW + STAFF_SESSION_SECS).is_none(),
            "expired"
        );
    }

    #[test]
    fn a_cookie_with_a_bad_hmac_or_from_before_a_rotation_is_refused() {
        let v = staff_cookie_value(TOKEN, &[7; 32], NOW);
        assert!(staff_from_cookie(&v, "rotated-token", NOW).is_none());
        let (id, rest) = v.split_once('.').unwrap();
        let (_, mac) = rest.split_once('.').unwrap();
        // A later expiry under the same MAC.
        let stretched = format!("{id}.{}.{mac}", NOW + 99 * STAFF_SESSION_SECS);
        assert!(staff_from_cookie(&stretched, TOKEN, NOW).is_none());
        let mut flipped = v.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == 'A' { 'B' } else { 'A' });
        assert!(staff_from_cookie(&flipped, TOKEN, NOW).is_none());
        for junk in ["", "a.b", "a.b.c.d", &format!("{id}.x.{mac}")] {
            assert!(staff_from_cookie(junk, TOKEN, NOW).is_none(), "{junk}");
        }
    }

    #[test]
    fn cookie_attributes() {
        let h = staff_cookie_header("v", false);
        assert!(h.starts_with("__Host-portal_sso_settings=v;"));
        for a in [
            "Path=/",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Max-Age=28800",
        ] {
            assert!(h.contains(a), "{a}");
        }
        let local = staff_cookie_header("v", true);
        assert!(local.starts_with("portal_sso_settings=v;"));
        assert!(!local.contains("Secure") && local.contains("SameSite=Strict"));
        assert!(clear_staff_cookie_header(true).contains("Max-Age=0"));
    }

    #[test]
    fn csrf_tokens_are_per_session_and_per_admin() {
        let a = Operator::Staff {
            session: "s1".into(),
        };
        let b = Operator::Staff {
            session: "s2".into(),
        };
        let c = Operator::Admin {
            email: "ada@example.com".into(),
            sub: "s1".into(),
        };
        let t = a.csrf_token(TOKEN);
        assert!(a.csrf_matches(TOKEN, Some(&t)));
        assert!(!b.csrf_matches(TOKEN, Some(&t)), "another session's token");
        assert!(
            !c.csrf_matches(TOKEN, Some(&t)),
            "an Access sub equal to a session id"
        );
        assert!(!a.csrf_matches("rotated", Some(&t)));
        assert!(!a.csrf_matches(TOKEN, None));
        assert!(!a.csrf_matches(TOKEN, Some("")));
    }

    #[test]
    fn origin_must_be_the_apex_exactly() {
        assert!(same_origin(
            Some("https://example.com"),
            "https://example.com"
        ));
        for bad in [
            None,
            Some("null"),
            Some("https://evil.example"),
            Some("https://example.com/"),
            Some("http://example.com"),
        ] {
            assert!(!same_origin(bad, "https://example.com"), "{bad:?}");
        }
    }
}
