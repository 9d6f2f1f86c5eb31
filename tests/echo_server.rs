//! Lesson 2, end to end: the real `echo_server` and `client` binaries over real sockets.
//!
//! A test that takes a [`Style`] runs three times: against `echo_server`,
//! its event-loop twin `event_echo_server` (lesson 5) and its async twin
//! `async_echo_server` (lesson 6): `NAME::threads`, `NAME::events` and
//! `NAME::tasks`. All three must pass the same tests; only what is about
//! threads (or about the client alone) runs once.

#[macro_use]
mod support;

use assert_cmd::cargo::cargo_bin_cmd;
use support::*;

for_every_style!(echo::the_server_prints_the_originals_start_up_lines);
for_every_style!(echo::every_line_comes_back_identical_and_in_order);
for_every_style!(echo::several_lines_in_one_write_are_several_echoes);
for_every_style!(echo::one_line_written_a_byte_at_a_time_is_one_echo);
for_every_style!(echo::crlf_lines_are_echoed_as_they_came_and_crlf_disconnect_works);
for_every_style!(echo::an_empty_line_is_echoed);
for_every_style!(echo::invalid_utf8_gets_an_error_and_the_session_goes_on);
for_every_style!(echo::an_over_long_line_gets_an_error_and_the_session_goes_on);
for_every_style!(echo::a_line_it_cannot_accept_is_logged);
for_every_style!(echo::disconnect_ends_the_session_and_nothing_after_it_is_echoed);
for_every_style!(echo::a_disconnect_split_across_writes_still_disconnects);
for_every_style!(echo::end_of_stream_ends_the_session);
for_every_style!(echo::a_last_line_without_a_newline_is_dropped_with_an_error);
for_every_style!(echo::a_hundred_concurrent_sessions_each_get_their_own_lines_in_order);
for_every_style!(echo::an_idle_client_is_timed_out);
for_every_style!(echo::past_max_clients_a_client_gets_one_error_line);
for_every_style!(echo::a_client_that_never_reads_is_dropped_after_the_write_timeout);
for_every_style!(echo::sigint_closes_every_session_and_exits_0);
for_every_style!(echo::sigterm_closes_every_session_and_exits_0);

for_every_style!(the_client_sends_command_line_messages_and_disconnects);
/// `client echo -m ... -m ...` prints each echo, then leaves with !DISCONNECT.
fn the_client_sends_command_line_messages_and_disconnects(style: Style) {
    let mut server = ServerProcess::of(Protocol::Echo, style, &[]);
    cargo_bin_cmd!("client")
        .args([
            "echo",
            "--port",
            &server.port.to_string(),
            "-m",
            "Hello",
            "-m",
            "World",
        ])
        .timeout(DEADLINE)
        .assert()
        .success()
        .stdout("Hello\nWorld\n");
    let left = server.wait_for("[Client disconnected]");
    assert!(left.ends_with("sent !DISCONNECT"), "{left}");
}

for_every_style!(the_client_sends_stdin_lines_until_end_of_input);
/// `client echo` with no messages sends the lines of stdin until end of input.
fn the_client_sends_stdin_lines_until_end_of_input(style: Style) {
    let mut server = ServerProcess::of(Protocol::Echo, style, &[]);
    cargo_bin_cmd!("client")
        .args(["echo", "--port", &server.port.to_string()])
        .write_stdin("first line\nsecond line\n\u{ff}\n")
        .timeout(DEADLINE)
        .assert()
        .success()
        .stdout("first line\nsecond line\nÿ\n");
    server.wait_for("sent !DISCONNECT");
}

for_every_style!(the_client_passes_invalid_utf8_through);
/// `client echo` passes bytes that are not UTF-8 through, and prints the server's answer.
fn the_client_passes_invalid_utf8_through(style: Style) {
    let server = ServerProcess::of(Protocol::Echo, style, &[]);
    cargo_bin_cmd!("client")
        .args(["echo", "--port", &server.port.to_string()])
        .write_stdin(&b"\xff\xfe\nok\n"[..])
        .timeout(DEADLINE)
        .assert()
        .success()
        .stdout("ERROR: message is not valid UTF-8\nok\n");
}
