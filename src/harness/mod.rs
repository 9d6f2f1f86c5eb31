//! Driving a server from outside, the way its clients do: what the
//! end-to-end tests and the exercises' checks share.
//!
//! | module | what it is for |
//! |---|---|
//! | [`process`] | start a server program on port 0, learn its port from its listening line, watch its console, stop it |
//! | [`client`] | talk to it as each lesson's client does, with a deadline on every wait |
//! | [`counter`], [`echo`], [`queue`] | each lesson's promises, as checks that run against any server of that lesson |
//! | [`hostile`] | the hostile clients every server must survive, as checks that run against any server |
//! | [`faults`] | what the machine throws at a server (no thread, stopped, a full disk, no descriptors, resets), as checks |
//!
//! A check runs against a [`Target`]: a program, the protocol it speaks, and
//! how to ask it to stop. `tests/hostile.rs` runs every hostile check against
//! every server in the repository; the exercises run the same checks against
//! the learner's own server. So a learner's server is graded by the very
//! clients that prove the real ones.
//!
//! A failed check panics with a message in plain words: what was expected,
//! and what happened. `cargo test` shows it as the test's failure; the
//! exercises' runner catches it and shows it with a hint. Every wait has a
//! deadline ([`DEADLINE`]): a server that hangs fails the check, it does not
//! hang it.

/// `expect_eq!(got, expected)`, or with a format string after them for more
/// context: like `assert_eq!`, but the failure says, in plain words, what was
/// expected and what came instead.
macro_rules! expect_eq {
    ($got:expr, $expected:expr $(,)?) => {
        match (&$got, &$expected) {
            (got, expected) => assert!(
                *got == *expected,
                "expected: {}\n     got: {}",
                $crate::harness::shown(expected),
                $crate::harness::shown(got)
            ),
        }
    };
    ($got:expr, $expected:expr, $($context:tt)+) => {
        match (&$got, &$expected) {
            (got, expected) => assert!(
                *got == *expected,
                "expected: {}\n     got: {}\n{}",
                $crate::harness::shown(expected),
                $crate::harness::shown(got),
                format!($($context)+)
            ),
        }
    };
}

pub mod client;
pub mod counter;
pub mod echo;
pub mod faults;
pub mod hostile;
pub mod process;
pub mod queue;

pub use client::*;
pub use process::*;

use std::time::Duration;

/// The longest any single wait may take before the check fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// How a failure message shows a value: as `{:?}` does, cut after
/// [`SHOWN_CHARS`] characters. A check that sends 100,000 bytes should
/// fail with a readable message, not 100 KB of it.
pub fn shown(value: &impl std::fmt::Debug) -> String {
    let full = format!("{value:?}");
    let count = full.chars().count();
    if count <= SHOWN_CHARS {
        return full;
    }
    let head: String = full.chars().take(SHOWN_CHARS).collect();
    format!("{head}... ({} more characters)", count - SHOWN_CHARS)
}

/// How much of a value a failure message shows.
pub const SHOWN_CHARS: usize = 300;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_is_cut_in_a_failure_message() {
        assert_eq!(shown(&"ab"), "\"ab\"");
        let long = "b".repeat(100_000);
        let message = shown(&long);
        assert!(message.starts_with("\"bbb"));
        assert!(
            message.ends_with("... (99702 more characters)"),
            "{message}"
        );
    }
}
