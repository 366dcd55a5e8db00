//! Awaiting a JavaScript promise with no new closure per await.
//!
//! `JsFuture` makes two wasm-bindgen closures for every promise it awaits (one for each
//! outcome), and each is registered with, then removed from, a `FinalizationRegistry` — about
//! eight calls across the boundary per await, and a login awaits eight promises. Here one
//! callback lives for the isolate's life; each promise gets it twice through
//! `Function.prototype.bind` (the slot number and the outcome bound in), and the outcome lands
//! in that slot (`core::slots`, whose rules are tested there), where the waiting future finds it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::js;
use crate::core::slots::Slots;

#[wasm_bindgen]
extern "C" {
    /// A promise, seen only for its `then`.
    type Thenable;
    #[wasm_bindgen(method, catch, js_name = then)]
    fn then_both(this: &Thenable, resolve: &JsValue, reject: &JsValue) -> Result<JsValue, JsValue>;
}

/// The outcome bit, bound into the rejection copy of the callback.
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
    // Woken outside the borrow: the executor may poll right away.
    if let Some(waker) = SLOTS.with(|s| s.borrow_mut().settle(index, outcome)) {
        waker.wake();
    }
}

/// The outcome of `promise`: `Ok` with its value, `Err` with its rejection.
pub fn settle(promise: &Promise) -> Settle {
    let index = SLOTS.with(|s| s.borrow_mut().take());
    let tag = index as u32;
    let handed = CALLBACK.with(|cb| {
        let resolve = js::bind(cb, &JsValue::NULL, &JsValue::from(tag));
        let reject = js::bind(cb, &JsValue::NULL, &JsValue::from(tag | REJECTED));
        promise
            .unchecked_ref::<Thenable>()
            .then_both(&resolve, &reject)
    });
    if let Err(thrown) = handed {
        // Not a promise after all (`then` threw): nothing will call back, so answer now.
        SLOTS.with(|s| s.borrow_mut().settle(index, Err(thrown)));
    }
    Settle { index, done: false }
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
