//! Every deadline of the event loop, in one structure the loop consults for
//! how long it may wait.
//!
//! A thread waits for one socket with a timeout of its own; a loop waits
//! for every socket at once, in one call, so it can give that call only one
//! timeout: the time until the earliest deadline of all. So every deadline
//! (a client's idle deadline, its write deadline, the end of its lingering
//! close, the end of a pause in accepting) goes into one ordered set, keyed
//! by when it passes and by whose it is. The first entry is the next to
//! pass; the loop sleeps at most until then, and afterwards takes out every
//! entry whose time has come.
//!
//! A `BTreeSet<(Instant, Token)>`: adding, removing and finding the first
//! entry each cost O(log n), and the token makes two deadlines at the same
//! instant two entries. (A `BinaryHeap` with lazy deletion would do as well;
//! the set can remove an entry exactly, which keeps it the size of the
//! number of clients.)

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mio::Token;

// ANCHOR: timers
/// The armed deadlines, earliest first.
#[derive(Debug, Default)]
pub struct Timers {
    armed: BTreeSet<(Instant, Token)>,
}

impl Timers {
    /// Arms a deadline for `token` at `at`.
    pub fn arm(&mut self, at: Instant, token: Token) {
        self.armed.insert((at, token));
    }

    /// Takes out a deadline armed earlier (nothing if there is none).
    pub fn disarm(&mut self, at: Instant, token: Token) {
        self.armed.remove(&(at, token));
    }

    /// How long the loop may wait for its sockets: until the earliest
    /// deadline (zero if it has passed), or for ever (`None`) if there is none.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        let &(first, _) = self.armed.first()?;
        Some(first.saturating_duration_since(now))
    }

    /// Takes out the earliest deadline if it has passed by `now`.
    pub fn pop_passed(&mut self, now: Instant) -> Option<(Instant, Token)> {
        let &(first, _) = self.armed.first()?;
        if first > now {
            return None;
        }
        self.armed.pop_first()
    }
}
// ANCHOR_END: timers

impl Timers {
    /// How many deadlines are armed.
    pub fn len(&self) -> usize {
        self.armed.len()
    }

    /// True when no deadline is armed.
    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_deadline_sets_the_timeout_and_passes_first() {
        let now = Instant::now();
        let mut timers = Timers::default();
        assert_eq!(timers.timeout(now), None);
        timers.arm(now + Duration::from_secs(3), Token(1));
        timers.arm(now + Duration::from_secs(1), Token(2));
        timers.arm(now + Duration::from_secs(1), Token(3));
        assert_eq!(timers.timeout(now), Some(Duration::from_secs(1)));
        assert_eq!(timers.pop_passed(now), None);
        let later = now + Duration::from_secs(2);
        assert_eq!(timers.timeout(later), Some(Duration::ZERO));
        let passed: Vec<Token> = std::iter::from_fn(|| timers.pop_passed(later))
            .map(|(_, token)| token)
            .collect();
        assert_eq!(passed, [Token(2), Token(3)]);
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn a_disarmed_deadline_never_passes() {
        let now = Instant::now();
        let mut timers = Timers::default();
        timers.arm(now, Token(7));
        timers.disarm(now, Token(7));
        assert!(timers.is_empty());
        assert_eq!(timers.pop_passed(now + Duration::from_secs(9)), None);
    }
}
