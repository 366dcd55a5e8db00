//! The callback's input: parameters from the query or a `form_post` body, bounded in size.

use url::form_urlencoded;

/// Largest query or body the callback reads (SPEC: 414/413 beyond).
pub const MAX_CALLBACK_BYTES: usize = 8 * 1024;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Parses `application/x-www-form-urlencoded` parameters; the first occurrence wins and empty
/// values count as absent.
pub fn parse_callback(raw: &str) -> CallbackParams {
    let mut p = CallbackParams::default();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let slot = match k.as_ref() {
            "code" => &mut p.code,
            "state" => &mut p.state,
            "iss" => &mut p.iss,
            "error" => &mut p.error,
            "error_description" => &mut p.error_description,
            _ => continue,
        };
        if slot.is_none() && !v.is_empty() {
            *slot = Some(v.into_owned());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_parameters() {
        let p = parse_callback("code=abc&state=s%2B1&iss=https%3A%2F%2Fa.example&x=y");
        assert_eq!(p.code.as_deref(), Some("abc"));
        assert_eq!(p.state.as_deref(), Some("s+1"));
        assert_eq!(p.iss.as_deref(), Some("https://a.example"));
    }

    #[test]
    fn first_wins_and_empty_is_absent() {
        let p = parse_callback("state=a&state=b&code=&error=access_denied&error_description=%3Cscript%3E");
        assert_eq!(p.state.as_deref(), Some("a"));
        assert_eq!(p.code, None);
        assert_eq!(p.error.as_deref(), Some("access_denied"));
        assert_eq!(p.error_description.as_deref(), Some("<script>"));
    }

    #[test]
    fn garbage_is_harmless() {
        assert_eq!(parse_callback("%%%&&&==="), CallbackParams::default());
        assert_eq!(parse_callback(""), CallbackParams::default());
    }
}
