//! Randomness and the clock: the two impure inputs the core takes as arguments.

use crate::core::secret::token_from_random;

pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // getrandom uses crypto.getRandomValues here; it cannot fail for small buffers in workerd.
    if getrandom::fill(&mut buf).is_err() {
        worker::console_error!("{{\"error\":\"rng_failure\"}}");
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
