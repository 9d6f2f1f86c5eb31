//! Hostile clients: one suite that every server must survive.
//!
//! The checks themselves live in [`threaded_servers::harness::hostile`],
//! where the exercises use them too; this file runs each one against every
//! server it applies to, the threaded ones, their event-loop twins and their
//! async twins (`cargo test --test hostile invalid_utf8` runs
//! `invalid_utf8::counter`, `::echo`, `::queue`, `::event_counter`,
//! `::event_echo`, `::event_queue`, `::async_counter`, `::async_echo` and
//! `::async_queue`). Each is bounded in time, and ends by checking that a
//! normal client is still served correctly by the same server process.

#[macro_use]
mod support;

/// `for_servers!(case: counter, echo, ...)`: the check `case` of
/// [`threaded_servers::harness::hostile`] as one test per server named.
macro_rules! for_servers {
    ($($cases:tt)*) => {
        server_tests!(hostile, $($cases)*);
    };
}

for_servers!(invalid_utf8: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(control_bytes_are_escaped_in_the_log: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(oversized_messages: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(a_line_a_byte_at_a_time: echo, queue, event_echo, event_queue, async_echo, async_queue);

for_servers!(many_lines_in_one_write: echo, queue, event_echo, event_queue, async_echo, async_queue);

for_servers!(disconnect_split_across_writes: echo, queue, event_echo, event_queue, async_echo, async_queue);

for_servers!(a_silent_client_is_closed_after_the_idle_timeout: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(a_drip_feeding_client_is_closed_after_the_idle_timeout: echo, queue, event_echo, event_queue, async_echo, async_queue);

for_servers!(a_slow_reader_gets_every_echo_of_a_large_burst: echo, event_echo, async_echo);

for_servers!(a_client_that_stops_reading_costs_no_cpu: echo, queue, event_echo, event_queue, async_echo, async_queue);

for_servers!(a_client_that_never_reads: echo, queue, event_echo, event_queue, async_echo, async_queue);

for_servers!(two_hundred_resets_at_once: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(a_reset_in_the_middle_of_a_message: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(two_thousand_clients_at_the_same_instant: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(more_clients_than_max_clients: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(out_of_file_descriptors: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(clients_waiting_in_the_accept_queue_are_told_at_shutdown: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(max_clients_fits_the_open_file_limit: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(stdout_closed_by_its_reader: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(a_console_nobody_reads: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(sigint_mid_session: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(sigterm_mid_session: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);

for_servers!(a_port_in_use_is_a_clear_error: counter, echo, queue, event_counter, event_echo, event_queue, async_counter, async_echo, async_queue);
