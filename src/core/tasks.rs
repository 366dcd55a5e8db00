//! The bookkeeping of the edge's request executor (`edge::executor`), kept here so its rules
//! are tested natively.
//!
//! Each request's future is a task. A task is polled right where it is woken — from the
//! callback that settles the promise it waits on — rather than from a microtask queued for
//! the purpose. While a task is being polled its future is out of the table, so a wake that
//! arrives then (from inside its own poll) cannot poll it a second time, re-entrantly: it is
//! noted, and the poll that is running goes round once more. A wake for a task that has
//! finished is ignored (a task number may be reused; a future may always be polled once more
//! than it needs).
//!
//! A request the client abandons may wait forever: the runtime cancels its I/O, and the
//! promises its future awaits never settle. Such a task is taken out of the table when the
//! request's abort signal fires (`abort`), by its number and generation — so an abort that
//! comes late, after the number went to another request, touches nothing.

enum Task<F> {
    Free,
    /// Waiting to be woken, its future in the table.
    Idle(F),
    /// Being polled: its future is with the poller; `woken` if a wake came meanwhile,
    /// `aborted` if its request was abandoned meanwhile.
    Polling {
        woken: bool,
        aborted: bool,
    },
}

/// A task's name: its place in the table and which use of that place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskId {
    pub index: u32,
    pub generation: u32,
}

pub struct Tasks<F> {
    tasks: Vec<(u32, Task<F>)>,
}

impl<F> Default for Tasks<F> {
    fn default() -> Self {
        Self::new()
    }
}

/// What the poller does once a poll of a task has returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterPoll {
    /// A wake came while it was polled: poll it again now.
    PollAgain,
    /// Wait for the next wake.
    Wait,
}

impl<F> Tasks<F> {
    pub const fn new() -> Self {
        Self { tasks: Vec::new() }
    }

    /// A new task, to be polled first by its creator (`start_poll`).
    pub fn insert(&mut self, future: F) -> TaskId {
        let index = match self.tasks.iter().position(|(_, t)| matches!(t, Task::Free)) {
            Some(i) => i,
            None => {
                self.tasks.push((0, Task::Free));
                self.tasks.len() - 1
            }
        };
        let (generation, task) = &mut self.tasks[index];
        *task = Task::Idle(future);
        TaskId {
            index: index as u32,
            generation: *generation,
        }
    }

    /// The future of task `index` to poll now, or `None`: the task has finished (or never
    /// was), or it is being polled already, in which case the wake is noted for that poll.
    /// Wakes name a task by its index alone: a stale one only costs a spurious poll.
    pub fn start_poll(&mut self, index: usize) -> Option<F> {
        let (_, task) = self.tasks.get_mut(index)?;
        match std::mem::replace(
            task,
            Task::Polling {
                woken: false,
                aborted: false,
            },
        ) {
            Task::Idle(future) => Some(future),
            Task::Polling { aborted, .. } => {
                *task = Task::Polling {
                    woken: true,
                    aborted,
                };
                None
            }
            Task::Free => {
                *task = Task::Free;
                None
            }
        }
    }

    /// Task `index`'s poll returned `Pending`: its future goes back into the table — unless
    /// its request was abandoned during the poll, in which case the future is handed back to
    /// be dropped (outside the borrow) and the task is over.
    pub fn pending(&mut self, index: usize, future: F) -> (AfterPoll, Option<F>) {
        let Some((_, task)) = self.tasks.get_mut(index) else {
            return (AfterPoll::Wait, Some(future));
        };
        match task {
            Task::Polling { aborted: true, .. } => {
                self.finished(index);
                (AfterPoll::Wait, Some(future))
            }
            Task::Polling { woken, .. } => {
                let again = *woken;
                *task = Task::Idle(future);
                let after = if again {
                    AfterPoll::PollAgain
                } else {
                    AfterPoll::Wait
                };
                (after, None)
            }
            _ => {
                *task = Task::Idle(future);
                (AfterPoll::Wait, None)
            }
        }
    }

    /// Task `index` finished: its place is free for another, under a new generation.
    pub fn finished(&mut self, index: usize) {
        if let Some((generation, task)) = self.tasks.get_mut(index) {
            *task = Task::Free;
            *generation = generation.wrapping_add(1);
        }
    }

    /// The request of task `id` was abandoned: its future, to drop outside the borrow (which
    /// releases whatever it awaits), or `None` when the task is over already or being polled
    /// (then that poll ends it).
    pub fn abort(&mut self, id: TaskId) -> Option<F> {
        let index = id.index as usize;
        let (generation, task) = self.tasks.get_mut(index)?;
        if *generation != id.generation {
            return None;
        }
        match task {
            Task::Idle(_) => match std::mem::replace(task, Task::Free) {
                Task::Idle(future) => {
                    *generation = generation.wrapping_add(1);
                    Some(future)
                }
                _ => None,
            },
            Task::Polling { aborted, .. } => {
                *aborted = true;
                None
            }
            Task::Free => None,
        }
    }

    /// Tasks not finished (the diagnostics route's view of the table).
    pub fn live(&self) -> usize {
        self.tasks
            .iter()
            .filter(|(_, t)| !matches!(t, Task::Free))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_polled_until_it_finishes() {
        let mut t = Tasks::new();
        let id = t.insert("f").index as usize;
        assert_eq!(t.start_poll(id), Some("f"));
        assert_eq!(t.pending(id, "f"), (AfterPoll::Wait, None));
        // Woken later: polled again, then done.
        assert_eq!(t.start_poll(id), Some("f"));
        t.finished(id);
        assert_eq!(t.live(), 0);
    }

    #[test]
    fn a_wake_during_its_own_poll_is_not_a_second_poll() {
        let mut t = Tasks::new();
        let id = t.insert(1).index as usize;
        let f = t.start_poll(id).unwrap();
        // Woken from inside the poll: nothing to poll now, noted instead.
        assert_eq!(t.start_poll(id), None);
        assert_eq!(t.start_poll(id), None);
        assert_eq!(t.pending(id, f), (AfterPoll::PollAgain, None));
        // The poll round that follows starts clean.
        let f = t.start_poll(id).unwrap();
        assert_eq!(t.pending(id, f), (AfterPoll::Wait, None));
    }

    #[test]
    fn wakes_for_finished_or_unknown_tasks_are_ignored() {
        let mut t: Tasks<u8> = Tasks::new();
        assert_eq!(t.start_poll(7), None);
        assert_eq!(t.pending(7, 1), (AfterPoll::Wait, Some(1)));
        let id = t.insert(1).index as usize;
        let _ = t.start_poll(id);
        t.finished(id);
        assert_eq!(t.start_poll(id), None, "a late wake after the end");
        assert_eq!(t.live(), 0);
    }

    #[test]
    fn numbers_are_reused_only_once_free() {
        let mut t = Tasks::new();
        let a = t.insert('a').index as usize;
        let b = t.insert('b').index as usize;
        assert_ne!(a, b);
        let _ = t.start_poll(a);
        // Being polled is not free.
        let c = t.insert('c').index as usize;
        assert!(c != a && c != b);
        t.finished(a);
        assert_eq!(t.insert('d').index as usize, a);
        // b is untouched by all of it.
        assert_eq!(t.start_poll(b), Some('b'));
        assert_eq!(t.live(), 3);
    }

    #[test]
    fn an_abandoned_request_leaves_the_table() {
        let mut t = Tasks::new();
        let id = t.insert("waiting on a promise that never settles");
        assert!(t.start_poll(id.index as usize).is_some_and(|f| {
            t.pending(id.index as usize, f);
            true
        }));
        assert_eq!(t.abort(id), Some("waiting on a promise that never settles"));
        assert_eq!(t.live(), 0);
        assert_eq!(t.abort(id), None, "once");
        assert_eq!(t.start_poll(id.index as usize), None);
    }

    #[test]
    fn a_late_abort_never_touches_the_next_request() {
        let mut t = Tasks::new();
        let old = t.insert('a');
        t.finished(old.index as usize); // answered; its client hangs up afterwards
        let new = t.insert('b');
        assert_eq!(new.index, old.index, "the place is reused");
        assert_eq!(t.abort(old), None);
        assert_eq!(t.live(), 1);
        assert_eq!(t.start_poll(new.index as usize), Some('b'));
    }

    #[test]
    fn an_abort_during_a_poll_ends_the_task_when_the_poll_returns() {
        let mut t = Tasks::new();
        let id = t.insert(5);
        let f = t.start_poll(id.index as usize).unwrap();
        assert_eq!(t.abort(id), None, "its future is with the poller");
        assert_eq!(t.pending(id.index as usize, f), (AfterPoll::Wait, Some(5)));
        assert_eq!(t.live(), 0);
    }

    #[test]
    fn thousands_of_abandoned_requests_leave_nothing() {
        let mut t = Tasks::new();
        for i in 0..5_000u32 {
            let id = t.insert(i);
            let f = t.start_poll(id.index as usize).unwrap();
            let _ = t.pending(id.index as usize, f);
            assert_eq!(t.abort(id), Some(i));
        }
        assert_eq!(t.live(), 0);
        assert_eq!(t.tasks.len(), 1);
    }
}
