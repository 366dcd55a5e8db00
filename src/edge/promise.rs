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

use crate::core::slots::{SlotId, Slots};

// Both outcomes reach the one callback with the slot's index and generation, and whether it
// is a rejection. The callback may poll the request right there (`executor`): anything it
// throws — a wasm trap — is thrown again from a microtask, where it reaches the global `error`
// listener of worker-build's shim (which then re-instantiates the module), as it did when
// every poll ran from a microtask. Thrown from the `then` callback itself it would only reject
// a promise nobody holds.
#[wasm_bindgen(inline_js = "function deliver(cb, slot, gen, rejected, v) { \
    try { cb(slot, gen, rejected, v); } catch (err) { queueMicrotask(() => { throw err; }); } } \
    export function settle_into(p, cb, slot, gen) { \
    p.then((v) => deliver(cb, slot, gen, 0, v), (e) => deliver(cb, slot, gen, 1, e)); }")]
extern "C" {
    #[wasm_bindgen(catch)]
    fn settle_into(
        promise: &Promise,
        callback: &JsValue,
        slot: u32,
        generation: u32,
    ) -> Result<(), JsValue>;
}

type Outcome = Result<JsValue, JsValue>;

thread_local! {
    static SLOTS: RefCell<Slots<Outcome>> = const { RefCell::new(Slots::new()) };
    static CALLBACK: JsValue =
        Closure::<dyn FnMut(u32, u32, u32, JsValue)>::new(settled).into_js_value();
}

/// The one callback: the slot's name, and `rejected` (1) or not (0).
fn settled(index: u32, generation: u32, rejected: u32, value: JsValue) {
    let id = SlotId { index, generation };
    let outcome = if rejected == 0 { Ok(value) } else { Err(value) };
    // Woken outside the borrow, the outcome in its slot: the task may be polled right away.
    if let Some(waker) = SLOTS.with(|s| s.borrow_mut().settle(id, outcome)) {
        super::executor::wake_now(waker);
    }
}

/// The outcome of `promise`: `Ok` with its value, `Err` with its rejection.
pub fn settle(promise: &Promise) -> Settle {
    let id = SLOTS.with(|s| s.borrow_mut().take());
    let handed = CALLBACK.with(|cb| settle_into(promise, cb, id.index, id.generation));
    if let Err(thrown) = handed {
        // Not a promise after all (`then` threw): nothing will call back, so answer now.
        SLOTS.with(|s| s.borrow_mut().settle(id, Err(thrown)));
    }
    Settle { id, done: false }
}

/// The bytes `promise` resolves to (an `ArrayBuffer` or a typed array), copied into wasm
/// memory; `Err` with its rejection.
pub async fn settle_bytes(promise: &Promise) -> Result<Vec<u8>, JsValue> {
    let value = settle(promise).await?;
    Ok(js_sys::Uint8Array::new(&value).to_vec())
}

/// The future `settle` returns.
pub struct Settle {
    id: SlotId,
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
        let polled = SLOTS.with(|s| s.borrow_mut().poll(this.id, cx.waker()));
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
            SLOTS.with(|s| s.borrow_mut().abandon(self.id));
        }
    }
}

/// Slots held for promises not yet settled or taken (the diagnostics route's view).
pub fn slots_in_use() -> usize {
    SLOTS.with(|s| s.borrow().in_use())
}
