//! The `return_to` rule (SPEC "Rules that hold everywhere"): a path on the portal that the
//! member lands on after the handoff. Anything that could leave the portal's origin, or
//! smuggle a header or a scheme through a later decode, is dropped — never followed.
//!
//! Decisions beyond SPEC's words:
//! - The value is returned unchanged when accepted; the portal decodes it as it likes,
//!   which is why every decoded form must pass the same checks.
//! - "A scheme" is looked for anywhere, not only at the start: a name of scheme characters
//!   (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`, RFC 3986 §3.1) followed by `:`, starting
//!   where the value or a non-scheme character starts it. So `/go?next=https://evil.example`
//!   is dropped (a portal that redirects on `next` would follow it), and so is the odd honest
//!   `/search?q=note:x`; a time such as `/book?at=2026-01-01T10:30` passes (its name starts
//!   with a digit).
//! - A fragment (`/a/b#frag`) is kept: it cannot change the origin, and single-page portals
//!   route with it.
//! - Decoding runs until the value is stable, at most [`MAX_DECODE_ROUNDS`] times; a value
//!   still changing after that, or one that decodes to invalid UTF-8 (overlong encodings
//!   such as `%C0%AF` for `/` hide there), is dropped.

/// SPEC: "At most 2 KiB".
pub const MAX_RETURN_TO_BYTES: usize = 2048;

/// Enough for any honest double-encoding (a value passed through two redirects).
pub const MAX_DECODE_ROUNDS: usize = 4;

/// The accepted `return_to`, unchanged, or `None` when it must be dropped.
pub fn sanitize_return_to(raw: &str) -> Option<String> {
    if raw.len() > MAX_RETURN_TO_BYTES || !is_safe_path(raw) {
        return None;
    }
    let mut current = raw.to_owned();
    for _ in 0..MAX_DECODE_ROUNDS {
        let decoded = percent_decode(&current)?;
        if decoded == current {
            return Some(raw.to_owned());
        }
        if !is_safe_path(&decoded) {
            return None;
        }
        current = decoded;
    }
    None
}

/// One form of the value: a single leading `/`, no `\` (browsers read it as `/`), no
/// control character (header splitting, and browsers strip tab/newline so `/\t/evil`
/// becomes `//evil`), and no scheme anywhere in it.
fn is_safe_path(value: &str) -> bool {
    value.starts_with('/')
        && !value.starts_with("//")
        && !value.contains('\\')
        && !value.chars().any(is_forbidden_char)
        && !contains_scheme(value)
}

/// A `scheme:` anywhere: for each `:`, the run of scheme characters just before it, when it
/// is not empty and starts with a letter.
fn contains_scheme(value: &str) -> bool {
    let bytes = value.as_bytes();
    let is_scheme_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.');
    bytes.iter().enumerate().any(|(colon, &b)| {
        if b != b':' {
            return false;
        }
        let start = bytes[..colon]
            .iter()
            .rposition(|&c| !is_scheme_char(c))
            .map_or(0, |i| i + 1);
        bytes.get(start).is_some_and(|c| c.is_ascii_alphabetic())
    })
}

/// Control characters (C0, DEL, C1) plus the Unicode line and paragraph separators, which
/// some parsers treat as line breaks.
fn is_forbidden_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// One round of `%XX` decoding. A `%` not followed by two hex digits stays as is (so
/// `/100%` is stable); `None` when the bytes are not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let pair = bytes.get(i + 1).zip(bytes.get(i + 2));
        match (bytes[i], pair) {
            (b'%', Some((&hi, &lo))) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                out.push(hex_value(hi) << 4 | hex_value(lo));
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attacks_are_dropped() {
        let long_query = format!("/{}", "a".repeat(MAX_RETURN_TO_BYTES));
        let attacks = [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "http:evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "%2F%2Fevil",
            "/%5Cevil",
            "/%5cevil",
            "/%252F%252Fevil",
            "/%25252F%25252Fevil",
            "/%2525252F%2525252Fevil",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>",
            "/redirect?to=https://elsewhere.example",
            "/go?next=javascript:alert(1)",
            "/go?next=%6Aavascript%3Aalert(1)",
            "/go?next=https%253A%252F%252Fevil.example",
            "/x#data:text/html,x",
            "/search?q=note:x",
            "/foo%0d%0aSet-Cookie:x",
            "/foo\r\nSet-Cookie:x",
            "/foo%250d%250aSet-Cookie:x",
            "/\t/evil.example",
            "/%09/evil.example",
            "/a\nb",
            "/a\u{0}b",
            "/a%00b",
            "/a%7Fb",
            "/a\u{85}b",
            "/a\u{2028}b",
            "/%C0%AFevil",
            "/%E9t%E9",
            "",
            " /leading-space",
            "evil.example",
            "?x=1",
            "#frag",
            &long_query,
        ];
        for attack in attacks {
            assert_eq!(
                sanitize_return_to(attack),
                None,
                "{attack:?} must be dropped"
            );
        }
    }

    #[test]
    fn honest_paths_pass_unchanged() {
        let at_limit = format!("/{}", "a".repeat(MAX_RETURN_TO_BYTES - 1));
        let good = [
            "/",
            "/bookings",
            "/bookings?from=2026-01-01&x=1",
            "/a/b#frag",
            "/search?q=a%20b&next=%2Fbookings",
            "/100%",
            "/100%25",
            "/caf%C3%A9",
            "/café",
            "/a/./b/../c",
            "/a//b",
            "/book?at=2026-01-01T10:30",
            "/t?from=10:30&to=11:00",
            "/:x",
            "/1a:b",
            &at_limit,
        ];
        for path in good {
            assert_eq!(sanitize_return_to(path).as_deref(), Some(path), "{path:?}");
        }
    }

    #[test]
    fn limit_is_in_bytes() {
        // 1 + 1024 * 2 bytes of 'é' = 2049 bytes but only 1025 chars.
        let multibyte = format!("/{}", "é".repeat(1024));
        assert_eq!(multibyte.len(), 2049);
        assert_eq!(sanitize_return_to(&multibyte), None);
    }

    #[test]
    fn decoding_is_bounded() {
        // Encoded deeper than the rounds allow: never stable, so dropped even if harmless.
        let mut deep = "/%41".to_owned();
        for _ in 0..MAX_DECODE_ROUNDS {
            deep = deep.replace('%', "%25");
        }
        assert_eq!(sanitize_return_to(&deep), None);
        // One level less is fine.
        let shallow = "/%252541";
        assert_eq!(sanitize_return_to(shallow).as_deref(), Some(shallow));
    }

    #[test]
    fn percent_decode_keeps_stray_percent() {
        assert_eq!(percent_decode("/a%2").as_deref(), Some("/a%2"));
        assert_eq!(percent_decode("/a%zz%").as_deref(), Some("/a%zz%"));
        assert_eq!(percent_decode("/%41%62").as_deref(), Some("/Ab"));
        assert_eq!(percent_decode("/%FF"), None);
    }

    proptest::proptest! {
        /// Biased towards the characters attacks are made of; whatever passes must keep
        /// the invariant in every decoded form.
        #[test]
        fn accepted_values_stay_on_the_origin(raw in "[/%\\\\25FfCc0aA:.\t\r\n ]{0,24}") {
            if let Some(accepted) = sanitize_return_to(&raw) {
                proptest::prop_assert_eq!(&accepted, &raw);
                let mut form = raw.clone();
                while let Some(next) = percent_decode(&form).filter(|n| *n != form) {
                    proptest::prop_assert!(is_safe_path(&next), "{:?} -> {:?}", raw, next);
                    form = next;
                }
            }
        }

        #[test]
        fn never_panics(raw in proptest::prelude::any::<String>()) {
            let _ = sanitize_return_to(&raw);
        }
    }
}
