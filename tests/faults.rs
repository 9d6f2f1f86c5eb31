//! Faults the machine throws: one suite that every server must outlive.
//!
//! The checks live in [`threaded_servers::harness::faults`]; this file runs
//! each against every server it applies to (`cargo test --test faults
//! stopped` runs `stopped_and_continued_under_load::counter`, `::echo`, and
//! the rest). Each takes a few seconds, and ends by checking that a normal
//! client is still served by the same server process. A check that needs
//! what this machine lacks prints `skipped: ...` and passes.

#[macro_use]
mod support;

/// `for_servers!(case: counter, echo, ...)`: the check `case` of
/// [`threaded_servers::harness::faults`] as one test per server named.
macro_rules! for_servers {
    ($($cases:tt)*) => {
        server_tests!(faults, $($cases)*);
    };
}

for_servers!(thread_creation_fails: counter, echo, queue);

for_servers!(a_client_without_a_thread_is_told_it_is_busy_and_never_welcomed: counter, echo, queue);

for_servers!(warnings_nobody_reads_do_not_stop_the_server: counter, echo, queue);

for_servers!(stopped_and_continued_under_load: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(console_cannot_be_written: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(descriptors_run_out_under_load: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(resets_in_the_middle_of_replies: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);
