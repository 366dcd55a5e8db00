//! Outcomes waiting for their futures: the bookkeeping behind the edge's promise bridge
//! (`edge::promise`), kept here so its rules are tested natively.
//!
//! A slot is taken for each awaited promise and named by its index and a generation; the
//! promise's callback settles it by that name, the future polls it. A future dropped early
//! (its request abandoned) frees its slot at once and moves the slot to the next generation,
//! so the promise's late answer — if it ever comes; a cancelled request's may never — is
//! dropped instead of reaching a future it was not meant for. No slot is held for a promise
//! that may never settle: the table stays as large as the most awaits ever in flight at once.

use std::task::{Poll, Waker};

enum Slot<T> {
    Free,
    Waiting(Option<Waker>),
    Settled(T),
}

/// A slot's name: where it is, and which use of that place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotId {
    pub index: u32,
    pub generation: u32,
}

pub struct Slots<T> {
    slots: Vec<(u32, Slot<T>)>,
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
    pub fn take(&mut self) -> SlotId {
        let index = match self.slots.iter().position(|(_, s)| matches!(s, Slot::Free)) {
            Some(i) => i,
            None => {
                self.slots.push((0, Slot::Free));
                self.slots.len() - 1
            }
        };
        let (generation, slot) = &mut self.slots[index];
        *slot = Slot::Waiting(None);
        SlotId {
            index: index as u32,
            generation: *generation,
        }
    }

    fn get_mut(&mut self, id: SlotId) -> Option<&mut Slot<T>> {
        match self.slots.get_mut(id.index as usize) {
            Some((generation, slot)) if *generation == id.generation => Some(slot),
            _ => None,
        }
    }

    /// Stores the outcome of slot `id`, returning the waker to wake (outside any borrow). An
    /// outcome for a slot not waiting (a second answer, an earlier generation's late answer,
    /// an unknown slot) is dropped, and the first outcome stands.
    pub fn settle(&mut self, id: SlotId, outcome: T) -> Option<Waker> {
        let slot = self.get_mut(id)?;
        match slot {
            Slot::Waiting(waker) => {
                let waker = waker.take();
                *slot = Slot::Settled(outcome);
                waker
            }
            Slot::Free | Slot::Settled(_) => None,
        }
    }

    /// The outcome of slot `id` once there (the slot is then free), or `Pending` with `waker`
    /// kept for `settle`. `None` for a slot that has no outcome to give: the caller polled
    /// after taking the outcome or after abandoning.
    pub fn poll(&mut self, id: SlotId, waker: &Waker) -> Option<Poll<T>> {
        let slot = self.get_mut(id)?;
        match std::mem::replace(slot, Slot::Free) {
            Slot::Settled(outcome) => {
                self.release(id);
                Some(Poll::Ready(outcome))
            }
            Slot::Waiting(_) => {
                *slot = Slot::Waiting(Some(waker.clone()));
                Some(Poll::Pending)
            }
            Slot::Free => None,
        }
    }

    /// The future of slot `id` is gone without its outcome: the slot is free at once, and an
    /// outcome still to come is dropped when it arrives.
    pub fn abandon(&mut self, id: SlotId) {
        if let Some(slot) = self.get_mut(id) {
            *slot = Slot::Free;
            self.release(id);
        }
    }

    /// Frees the place of `id` for the next generation.
    fn release(&mut self, id: SlotId) {
        if let Some((generation, _)) = self.slots.get_mut(id.index as usize) {
            *generation = generation.wrapping_add(1);
        }
    }

    /// Slots in use (waiting or settled).
    pub fn in_use(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| !matches!(s, Slot::Free))
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
    fn an_abandoned_slot_is_free_at_once_and_its_late_answer_goes_nowhere() {
        let (_, w) = waker();
        let mut s = Slots::new();
        let a = s.take();
        assert_eq!(s.poll(a, &w), Some(Poll::Pending));
        s.abandon(a); // the request went away; the promise has not answered (and may never)
        assert_eq!(s.in_use(), 0);
        let b = s.take();
        assert_eq!(b.index, a.index, "the place is reused at once");
        assert_ne!(b.generation, a.generation, "under a new name");
        // The late answer of `a` is dropped; `b` is untouched.
        assert!(s.settle(a, "late").is_none());
        assert_eq!(s.poll(b, &w), Some(Poll::Pending));
        assert!(s.settle(b, "b's").is_some());
        assert_eq!(s.poll(b, &w), Some(Poll::Ready("b's")));
        assert_eq!(s.poll(a, &w), None);
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
        assert_eq!(
            s.take().index,
            i.index,
            "and the place serves the next promise"
        );
    }

    #[test]
    fn promises_that_never_answer_leave_nothing_behind() {
        let (_, w) = waker();
        let mut s: Slots<u8> = Slots::new();
        for _ in 0..10_000 {
            let i = s.take();
            assert_eq!(s.poll(i, &w), Some(Poll::Pending));
            s.abandon(i);
        }
        assert_eq!(s.in_use(), 0);
        assert_eq!(s.slots.len(), 1, "one place, reused ten thousand times");
    }

    #[test]
    fn concurrent_outcomes_reach_their_own_futures() {
        let (count, w) = waker();
        let mut s = Slots::new();
        let ids: Vec<SlotId> = (0..8).map(|_| s.take()).collect();
        for &i in &ids {
            assert_eq!(s.poll(i, &w), Some(Poll::Pending));
        }
        // Answered in reverse order.
        for &i in ids.iter().rev() {
            s.settle(i, i.index * 10).expect("waiting").wake();
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 8);
        for &i in &ids {
            assert_eq!(s.poll(i, &w), Some(Poll::Ready(i.index * 10)));
        }
        assert_eq!(s.in_use(), 0);
        assert_eq!(s.slots.len(), 8, "no growth beyond the peak");
    }

    #[test]
    fn unknown_slots_are_ignored() {
        let (_, w) = waker();
        let mut s: Slots<u8> = Slots::new();
        let ghost = SlotId {
            index: 3,
            generation: 0,
        };
        assert!(s.settle(ghost, 1).is_none());
        assert_eq!(s.poll(ghost, &w), None);
        s.abandon(ghost);
        assert_eq!(s.in_use(), 0);
    }
}
