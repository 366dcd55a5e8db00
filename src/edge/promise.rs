//! Awaiting a JavaScript promise with no new closure per await.
//!
//! `JsFuture` makes two wasm-bindgen closures for every promise it awaits (one for each
//! outcome), and each is registered with, then removed from, a `FinalizationRegistry` — about
//! eight calls across the boundary per await, and a login awaits eight promises. Here one
//! callback lives for the isolate's life; a one-line JavaScript helper hands each promise two
//! arrow functions that call it with the promise's slot number — one call from wasm per
//! await — and the outcome lands in that slot (`core::slots`, whose rules are tested there),
//! where the waiting future finds it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::core::slots::Slots;

// Both outcomes reach the one callback with the slot number, the rejection with bit 31 set
// (added, not OR-ed: JavaScript's `|` would make it a negative int32). The callback may poll
// the request right there (`executor`): anything it throws — a wasm trap — is thrown again
// from a microtask, where it reaches the global `error` listener of worker-build's shim (which
// then re-instantiates the module), as it did when every poll ran from a microtask. Thrown
// from the `then` callback itself it would only reject a promise nobody holds.
#[wasm_bindgen(inline_js = "function deliver(cb, slot, v) { \
    try { cb(slot, v); } catch (err) { queueMicrotask(() => { throw err; }); } } \
    export function settle_into(p, cb, slot) { \
    p.then((v) => deliver(cb, slot, v), (e) => deliver(cb, slot + 2147483648, e)); }")]
extern "C" {
    #[wasm_bindgen(catch)]
    fn settle_into(promise: &Promise, callback: &JsValue, slot: u32) -> Result<(), JsValue>;
}

/// The outcome bit the rejection handler adds to the slot number.
const REJECTED: u32 = 1 << 31;

type Outcome = Result<JsValue, JsValue>;

thread_local! {
    static SLOTS: RefCell<Slots<Outcome>> = const { RefCell::new(Slots::new()) };
    static CALLBACK: JsValue = Closure::<dyn FnMut(u32, JsValue)>::new(settled).into_js_value();
}

/// The one callback: `tagged` is the slot number, with `REJECTED` set for a rejection.
fn settled(tagged: u32, value: JsValue) {
    let index = (tagged & !REJECTED) as usize;
    let outcome = if tagged & REJECTED == 0 {
        Ok(value)
    } else {
        Err(value)
    };
    // Woken outside the borrow, the outcome in its slot: the task may be polled right away.
    if let Some(waker) = SLOTS.with(|s| s.borrow_mut().settle(index, outcome)) {
        super::executor::wake_now(waker);
    }
}

/// The outcome of `promise`: `Ok` with its value, `Err` with its rejection.
pub fn settle(promise: &Promise) -> Settle {
    let index = SLOTS.with(|s| s.borrow_mut().take());
    let handed = CALLBACK.with(|cb| settle_into(promise, cb, index as u32));
    if let Err(thrown) = handed {
        // Not a promise after all (`then` threw): nothing will call back, so answer now.
        SLOTS.with(|s| s.borrow_mut().settle(index, Err(thrown)));
    }
    Settle { index, done: false }
}

/// The bytes `promise` resolves to (an `ArrayBuffer` or a typed array), copied into wasm
/// memory; `Err` with its rejection.
pub async fn settle_bytes(promise: &Promise) -> Result<Vec<u8>, JsValue> {
    let value = settle(promise).await?;
    Ok(js_sys::Uint8Array::new(&value).to_vec())
}

/// The future `settle` returns.
pub struct Settle {
    index: usize,
    /// The outcome was taken: the slot may already serve another promise.
    done: bool,
}

impl Future for Settle {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(Err(JsValue::UNDEFINED));
        }
        let polled = SLOTS.with(|s| s.borrow_mut().poll(this.index, cx.waker()));
        match polled {
            Some(Poll::Pending) => Poll::Pending,
            Some(Poll::Ready(outcome)) => {
                this.done = true;
                Poll::Ready(outcome)
            }
            // Not reachable while `done` is false: answered as a rejection, never a panic.
            None => {
                this.done = true;
                Poll::Ready(Err(JsValue::UNDEFINED))
            }
        }
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if !self.done {
            SLOTS.with(|s| s.borrow_mut().abandon(self.index));
        }
    }
}
