//! Randomness and the clock: the two impure inputs the core takes as arguments. Random bytes
//! come from `crypto.getRandomValues` through a `RandomPool` redrawn at the start of every
//! HTTP request (`healthy`); the queue consumer draws a block when the pool runs short.

use std::cell::RefCell;

use crate::core::random::RandomPool;
use crate::core::secret::token_from_random;

thread_local! {
    static POOL: RefCell<RandomPool> = const { RefCell::new(RandomPool::new()) };
}

fn fill(buf: &mut [u8]) -> bool {
    getrandom::fill(buf).is_ok()
}

/// Draws this request's block. `false` when the runtime's CSPRNG does not answer: the request
/// is then refused with a clean 503 rather than handed predictable secrets.
pub fn healthy() -> bool {
    POOL.with(|pool| pool.borrow_mut().redraw(fill))
}

pub fn bytes<const N: usize>() -> [u8; N] {
    match POOL.with(|pool| pool.borrow_mut().take::<N>(fill)) {
        Some(bytes) => bytes,
        // `healthy()` was checked at the start of the request. Should the generator fail
        // anyway, the request is aborted: never hand out zeros as secrets.
        None => wasm_bindgen::throw_str("crypto.getRandomValues failed"),
    }
}

/// base64url of 32 random bytes.
pub fn token() -> String {
    token_from_random(&bytes::<32>())
}

/// `Date.now()`: one call, no `Date` object.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

pub fn now_secs() -> u64 {
    now_ms() / 1000
}
