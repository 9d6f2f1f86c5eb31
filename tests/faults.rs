//! Faults the machine throws: one suite that every server must outlive.
//!
//! The checks live in [`threaded_servers::harness::faults`]; this file runs
//! each against every server it applies to (`cargo test --test faults
//! stopped` runs `stopped_and_continued_under_load::counter`, `::echo`, and
//! the rest). Each takes a few seconds, and ends by checking that a normal
//! client is still served by the same server process. A check that needs
//! what this machine lacks prints `skipped: ...` and passes.

mod support;

use support::*;

/// Generates `mod $case { fn counter(); fn echo(); ... }`: one test per
/// server, so `cargo test --test faults $case` runs the case on each.
macro_rules! for_servers {
    ($case:ident: $($server:ident),+) => {
        mod $case {
            $(
                #[test]
                fn $server() {
                    let (protocol, style) = server!($server);
                    threaded_servers::harness::faults::$case(&super::target(protocol, style));
                }
            )+
        }
    };
}

/// The server a test named `counter`, `echo`, `queue`, `async_counter`,
/// `async_echo` or `async_queue` runs against: its protocol, and its style.
macro_rules! server {
    (counter) => {
        (super::Protocol::Counter, super::Style::Threads)
    };
    (echo) => {
        (super::Protocol::Echo, super::Style::Threads)
    };
    (queue) => {
        (super::Protocol::Queue, super::Style::Threads)
    };
    (async_counter) => {
        (super::Protocol::Counter, super::Style::Tasks)
    };
    (async_echo) => {
        (super::Protocol::Echo, super::Style::Tasks)
    };
    (async_queue) => {
        (super::Protocol::Queue, super::Style::Tasks)
    };
}

// A thread per client only: the async servers start no thread for a client.
for_servers!(thread_creation_fails: counter, echo, queue);

for_servers!(stopped_and_continued_under_load: counter, echo, queue, async_counter, async_echo, async_queue);

for_servers!(console_cannot_be_written: counter, echo, queue, async_counter, async_echo, async_queue);

for_servers!(descriptors_run_out_under_load: counter, echo, queue, async_counter, async_echo, async_queue);

for_servers!(resets_in_the_middle_of_replies: counter, echo, queue, async_counter, async_echo, async_queue);
