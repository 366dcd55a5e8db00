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

enum Task<F> {
    Free,
    /// Waiting to be woken, its future in the table.
    Idle(F),
    /// Being polled: its future is with the poller; `woken` if a wake came meanwhile.
    Polling {
        woken: bool,
    },
}

pub struct Tasks<F> {
    tasks: Vec<Task<F>>,
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
    pub fn insert(&mut self, future: F) -> usize {
        let task = Task::Idle(future);
        if let Some(i) = self.tasks.iter().position(|t| matches!(t, Task::Free)) {
            self.tasks[i] = task;
            return i;
        }
        self.tasks.push(task);
        self.tasks.len() - 1
    }

    /// The future of task `id` to poll now, or `None`: the task has finished (or never was),
    /// or it is being polled already, in which case the wake is noted for that poll.
    pub fn start_poll(&mut self, id: usize) -> Option<F> {
        let task = self.tasks.get_mut(id)?;
        match std::mem::replace(task, Task::Polling { woken: false }) {
            Task::Idle(future) => Some(future),
            Task::Polling { .. } => {
                *task = Task::Polling { woken: true };
                None
            }
            Task::Free => {
                *task = Task::Free;
                None
            }
        }
    }

    /// Task `id`'s poll returned `Pending`: its future goes back into the table.
    pub fn pending(&mut self, id: usize, future: F) -> AfterPoll {
        let Some(task) = self.tasks.get_mut(id) else {
            return AfterPoll::Wait;
        };
        let woken = matches!(task, Task::Polling { woken: true });
        *task = Task::Idle(future);
        if woken {
            AfterPoll::PollAgain
        } else {
            AfterPoll::Wait
        }
    }

    /// Task `id` finished: its number is free for another.
    pub fn finished(&mut self, id: usize) {
        if let Some(task) = self.tasks.get_mut(id) {
            *task = Task::Free;
        }
    }

    /// Tasks not finished (the tests' view of the table).
    #[cfg(test)]
    pub fn live(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| !matches!(t, Task::Free))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_polled_until_it_finishes() {
        let mut t = Tasks::new();
        let id = t.insert("f");
        assert_eq!(t.start_poll(id), Some("f"));
        assert_eq!(t.pending(id, "f"), AfterPoll::Wait);
        // Woken later: polled again, then done.
        assert_eq!(t.start_poll(id), Some("f"));
        t.finished(id);
        assert_eq!(t.live(), 0);
    }

    #[test]
    fn a_wake_during_its_own_poll_is_not_a_second_poll() {
        let mut t = Tasks::new();
        let id = t.insert(1);
        let f = t.start_poll(id).unwrap();
        // Woken from inside the poll: nothing to poll now, noted instead.
        assert_eq!(t.start_poll(id), None);
        assert_eq!(t.start_poll(id), None);
        assert_eq!(t.pending(id, f), AfterPoll::PollAgain);
        // The poll round that follows starts clean.
        let f = t.start_poll(id).unwrap();
        assert_eq!(t.pending(id, f), AfterPoll::Wait);
    }

    #[test]
    fn wakes_for_finished_or_unknown_tasks_are_ignored() {
        let mut t: Tasks<u8> = Tasks::new();
        assert_eq!(t.start_poll(7), None);
        assert_eq!(t.pending(7, 1), AfterPoll::Wait);
        let id = t.insert(1);
        let _ = t.start_poll(id);
        t.finished(id);
        assert_eq!(t.start_poll(id), None, "a late wake after the end");
        assert_eq!(t.live(), 0);
    }

    #[test]
    fn numbers_are_reused_only_once_free() {
        let mut t = Tasks::new();
        let a = t.insert('a');
        let b = t.insert('b');
        assert_ne!(a, b);
        let _ = t.start_poll(a);
        // Being polled is not free.
        let c = t.insert('c');
        assert!(c != a && c != b);
        t.finished(a);
        assert_eq!(t.insert('d'), a);
        // b is untouched by all of it.
        assert_eq!(t.start_poll(b), Some('b'));
        assert_eq!(t.live(), 3);
    }
}
