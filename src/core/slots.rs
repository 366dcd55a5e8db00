//! Outcomes waiting for their futures: the bookkeeping behind the edge's promise bridge
//! (`edge::promise`), kept here so its rules are tested natively.
//!
//! A slot is taken for each awaited promise; the promise's callback settles it, the future
//! polls it. A slot is free again only once its outcome has been taken, or once a future that
//! gave up on it (dropped early) has had its outcome arrive — so while a promise can still
//! answer, its slot number is never handed to another, and no outcome can reach a future it
//! was not meant for.

use std::task::{Poll, Waker};

enum Slot<T> {
    Free,
    Waiting(Option<Waker>),
    Settled(T),
    /// Its future was dropped before the outcome came; the outcome frees it.
    Abandoned,
}

pub struct Slots<T> {
    slots: Vec<Slot<T>>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slots<T> {
    pub const fn new() -> Self {
        Self { slots: Vec::new() }
    }

    /// A slot for one outcome: a free one, or a new one.
    pub fn take(&mut self) -> usize {
        if let Some(i) = self.slots.iter().position(|s| matches!(s, Slot::Free)) {
            self.slots[i] = Slot::Waiting(None);
            return i;
        }
        self.slots.push(Slot::Waiting(None));
        self.slots.len() - 1
    }

    /// Stores the outcome of slot `index`, returning the waker to wake (outside any borrow).
    /// An outcome for a slot not waiting (a second answer, or an unknown index) is dropped,
    /// and the first outcome stands.
    pub fn settle(&mut self, index: usize, outcome: T) -> Option<Waker> {
        let slot = self.slots.get_mut(index)?;
        match slot {
            Slot::Waiting(waker) => {
                let waker = waker.take();
                *slot = Slot::Settled(outcome);
                waker
            }
            Slot::Abandoned => {
                *slot = Slot::Free;
                None
            }
            Slot::Free | Slot::Settled(_) => None,
        }
    }

    /// The outcome of slot `index` once there (the slot is then free), or `Pending` with
    /// `waker` kept for `settle`. `None` for a slot that has no outcome to give: the caller
    /// polled after taking the outcome or after abandoning.
    pub fn poll(&mut self, index: usize, waker: &Waker) -> Option<Poll<T>> {
        let slot = self.slots.get_mut(index)?;
        match std::mem::replace(slot, Slot::Free) {
            Slot::Settled(outcome) => Some(Poll::Ready(outcome)),
            Slot::Waiting(_) => {
                *slot = Slot::Waiting(Some(waker.clone()));
                Some(Poll::Pending)
            }
            other => {
                *slot = other;
                None
            }
        }
    }

    /// The future of slot `index` is gone without its outcome: an outcome already there is
    /// dropped (freeing the slot), one still to come will free it.
    pub fn abandon(&mut self, index: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            match slot {
                Slot::Waiting(_) => *slot = Slot::Abandoned,
                Slot::Settled(_) => *slot = Slot::Free,
                Slot::Free | Slot::Abandoned => {}
            }
        }
    }

    /// Slots in use (waiting, settled or abandoned).
    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !matches!(s, Slot::Free))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn polled_then_settled_wakes_once_and_gives_the_outcome_once() {
        let (count, w) = waker();
        let mut s = Slots::new();
        let i = s.take();
        assert_eq!(s.poll(i, &w), Some(Poll::Pending));
        s.settle(i, "v").expect("a waker").wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(s.poll(i, &w), Some(Poll::Ready("v")));
        assert_eq!(s.poll(i, &w), None, "the outcome is given once");
        assert_eq!(s.in_use(), 0);
    }

    #[test]
    fn settled_before_any_poll_is_kept_for_the_first_poll() {
        let (_, w) = waker();
        let mut s = Slots::new();
        let i = s.take();
        assert!(s.settle(i, 1).is_none(), "nobody to wake yet");
        assert_eq!(s.poll(i, &w), Some(Poll::Ready(1)));
    }

    #[test]
    fn a_second_outcome_never_replaces_the_first() {
        let (_, w) = waker();
        let mut s = Slots::new();
        let i = s.take();
        s.settle(i, "first");
        assert!(s.settle(i, "second").is_none());
        assert_eq!(s.poll(i, &w), Some(Poll::Ready("first")));
    }

    #[test]
    fn a_slot_is_not_reused_while_its_promise_can_still_answer() {
        let (_, w) = waker();
        let mut s = Slots::new();
        let a = s.take();
        assert_eq!(s.poll(a, &w), Some(Poll::Pending));
        s.abandon(a); // the request went away; the promise has not answered
        let b = s.take();
        assert_ne!(a, b, "abandoned but unanswered: still reserved");
        // The late answer frees `a` and goes to no one; `b` is untouched.
        assert!(s.settle(a, "late").is_none());
        assert_eq!(s.poll(b, &w), Some(Poll::Pending));
        assert_eq!(s.take(), a, "free again once answered");
        assert!(s.settle(b, "b's").is_some());
        assert_eq!(s.poll(b, &w), Some(Poll::Ready("b's")));
    }

    #[test]
    fn abandoning_a_settled_slot_frees_it_and_drops_the_outcome() {
        let (_, w) = waker();
        let mut s = Slots::new();
        let i = s.take();
        s.settle(i, String::from("unread"));
        s.abandon(i);
        assert_eq!(s.in_use(), 0);
        assert_eq!(s.poll(i, &w), None, "nothing left to give");
        assert_eq!(s.take(), i, "and the slot serves the next promise");
    }

    #[test]
    fn concurrent_outcomes_reach_their_own_futures() {
        let (count, w) = waker();
        let mut s = Slots::new();
        let ids: Vec<usize> = (0..8).map(|_| s.take()).collect();
        for &i in &ids {
            assert_eq!(s.poll(i, &w), Some(Poll::Pending));
        }
        // Answered in reverse order.
        for &i in ids.iter().rev() {
            s.settle(i, i * 10).expect("waiting").wake();
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 8);
        for &i in &ids {
            assert_eq!(s.poll(i, &w), Some(Poll::Ready(i * 10)));
        }
        assert_eq!(s.in_use(), 0);
        assert_eq!(s.slots.len(), 8, "no growth beyond the peak");
    }

    #[test]
    fn unknown_indexes_are_ignored() {
        let (_, w) = waker();
        let mut s: Slots<u8> = Slots::new();
        assert!(s.settle(3, 1).is_none());
        assert_eq!(s.poll(3, &w), None);
        s.abandon(3);
        assert_eq!(s.in_use(), 0);
    }
}
