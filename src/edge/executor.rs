//! The fetch handler's own executor. wasm-bindgen's async export schedules every poll of the
//! request's future as a microtask (`queueMicrotask`, then a closure back into wasm); here a
//! request's future is polled where it is woken by our promise bridge — inside the callback
//! that has just put the promise's outcome in its slot (`promise::settled` → `wake_now`) — or,
//! the first time, inside the export call itself, as a JavaScript async function runs to its
//! first `await`. Any other wake (a `worker::Delay`, a `JsFuture`, a stream) is polled from a
//! microtask, as before: such wakers may run before their future's state is updated
//! (`Delay` wakes, then marks itself done), and a poll inside their wake would find it
//! unchanged and never be woken again. The rules (no poll re-entering its own task, late
//! wakes ignored) are `core::tasks`', tested there.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use crate::core::tasks::{AfterPoll, TaskId, Tasks};

type Task = Pin<Box<dyn Future<Output = ()>>>;

#[wasm_bindgen(
    inline_js = "export function poll_later(cb, id) { queueMicrotask(() => cb(id)); } \
    export function on_abort(signal, cb, index, gen) { \
    if (signal) signal.addEventListener('abort', () => cb(index, gen), { once: true }); }"
)]
extern "C" {
    fn poll_later(callback: &JsValue, id: u32);
    /// Calls `callback(index, gen)` when `signal` (the request's) aborts: the client went away.
    fn on_abort(signal: &JsValue, callback: &JsValue, index: u32, generation: u32);
}

thread_local! {
    static TASKS: RefCell<Tasks<Task>> = const { RefCell::new(Tasks::new()) };
    /// Set while `wake_now` runs a waker: the one wake that may poll right away.
    static POLL_NOW: Cell<bool> = const { Cell::new(false) };
    /// The isolate's one callback for polls deferred to a microtask.
    static LATER: JsValue = Closure::<dyn FnMut(u32)>::new(|id: u32| poll(id as usize)).into_js_value();
    /// The isolate's one callback for abandoned requests.
    static ABORTED: JsValue =
        Closure::<dyn FnMut(u32, u32)>::new(|index: u32, generation: u32| {
            abort(TaskId { index, generation })
        })
        .into_js_value();
}

/// Wakes `waker` allowing its task to be polled right away: only for a wake that comes once
/// the outcome the task waits for is in place.
pub fn wake_now(waker: Waker) {
    POLL_NOW.with(|p| p.set(true));
    waker.wake();
    POLL_NOW.with(|p| p.set(false));
}

/// A task's waker: its number (the task itself stays in the isolate's table).
struct TaskWaker(usize);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken, so that wakes from inside the poll it starts are deferred.
        if POLL_NOW.with(|p| p.replace(false)) {
            poll(self.0);
        } else {
            LATER.with(|cb| poll_later(cb, self.0 as u32));
        }
    }
}

/// A promise of `future`'s outcome; the future is first polled before this returns. When
/// `abort_signal` (the request's `signal`) fires — the client went away, and the runtime
/// will never settle the promises the future awaits — the future is dropped, releasing
/// everything it holds (docs/security.md: abandoned requests).
///
/// That first poll runs here, outside the `Promise` constructor: a wasm trap in it then
/// throws out of the export call, where worker-build's shim sees it and re-instantiates the
/// module for the next request (inside the constructor it would only reject this promise).
/// Later polls run inside promise callbacks, which hand a trap on the same way (`promise`).
pub fn promise(
    future: impl Future<Output = Result<JsValue, JsValue>> + 'static,
    abort_signal: &JsValue,
) -> Promise {
    let mut settle: Option<(Function, Function)> = None;
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        settle = Some((resolve, reject));
    });
    let Some((resolve, reject)) = settle else {
        return promise;
    };
    let task: Task = Box::pin(async move {
        // A settle function does not throw; should it, there is no one left to tell.
        let _ = match future.await {
            Ok(value) => resolve.call1(&JsValue::UNDEFINED, &value),
            Err(error) => reject.call1(&JsValue::UNDEFINED, &error),
        };
    });
    let id = TASKS.with(|t| t.borrow_mut().insert(task));
    ABORTED.with(|cb| on_abort(abort_signal, cb, id.index, id.generation));
    poll(id.index as usize);
    promise
}

/// Polls task `id` now, unless it is finished or already being polled (then that poll goes
/// round once more). The table is never borrowed while a future runs.
fn poll(id: usize) {
    loop {
        let Some(mut task) = TASKS.with(|t| t.borrow_mut().start_poll(id)) else {
            return;
        };
        let waker = Waker::from(Arc::new(TaskWaker(id)));
        if task
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            TASKS.with(|t| t.borrow_mut().finished(id));
            return; // `task` is dropped here, outside the borrow
        }
        let (after, abandoned) = TASKS.with(|t| t.borrow_mut().pending(id, task));
        drop(abandoned); // outside the borrow: dropping may release slots
        if after == AfterPoll::Wait {
            return;
        }
    }
}

/// The request of task `id` was abandoned: its future is dropped (outside the table's
/// borrow), which frees the promise slots it waited on.
fn abort(id: TaskId) {
    let abandoned = TASKS.with(|t| t.borrow_mut().abort(id));
    drop(abandoned);
}

/// Requests whose futures are still in the isolate's table (the diagnostics route's view).
pub fn live_tasks() -> usize {
    TASKS.with(|t| t.borrow().live())
}
