//! Randomness and the clock: the two impure inputs the core takes as arguments.

use crate::core::secret::token_from_random;

/// Whether the runtime's CSPRNG answers; checked once per request before any token is made,
/// so a broken generator is a clean 503 rather than predictable secrets.
pub fn healthy() -> bool {
    getrandom::fill(&mut [0u8; 16]).is_ok()
}

pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // crypto.getRandomValues; `healthy()` was checked at the start of the request. Should it
    // fail anyway, the request is aborted: never hand out zeros as secrets.
    if getrandom::fill(&mut buf).is_err() {
        wasm_bindgen::throw_str("crypto.getRandomValues failed");
    }
    buf
}

/// base64url of 32 random bytes.
pub fn token() -> String {
    token_from_random(&bytes::<32>())
}

pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

pub fn now_secs() -> u64 {
    now_ms() / 1000
}
