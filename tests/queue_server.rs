//! Lesson 3, end to end: the real `queue_server` and `client` binaries over real sockets.
//!
//! A test that takes a [`Style`] runs three times: against `queue_server`,
//! its event-loop twin `event_queue_server` (lesson 5) and its async twin
//! `async_queue_server` (lesson 6): `NAME::threads`, `NAME::events` and
//! `NAME::tasks`. All three must pass the same tests; only what is about
//! threads (or about the client alone) runs once.

#[macro_use]
mod support;

use std::io::Write;
use std::thread;
use std::time::Duration;

use support::*;
use threaded_servers::harness::queue::{join, send};

for_every_style!(queue::each_client_is_greeted_with_its_id);
for_every_style!(queue::a_message_is_processed_and_answered_to_its_sender);
for_every_style!(queue::replies_and_errors_come_back_in_the_order_sent);
for_every_style!(queue::a_goodbye_sent_with_other_lines_comes_after_their_replies);
for_every_style!(queue::a_flood_of_short_lines_keeps_the_server_small);
for_every_style!(queue::fifty_clients_by_fifty_messages_each_get_their_own_replies_in_order);
for_every_style!(queue::a_direct_message_reaches_the_right_client);
for_every_style!(queue::a_direct_message_to_an_unknown_client_is_an_error);
for_every_style!(queue::a_direct_message_needs_a_plain_client_number);
for_every_style!(queue::a_line_it_cannot_accept_is_logged_as_the_echo_server_logs_it);
for_every_style!(queue::a_client_that_never_reads_does_not_delay_the_others);
for_every_style!(queue::a_direct_message_the_target_cannot_take_is_an_error_to_the_sender);
for_every_style!(queue::a_client_that_leaves_before_its_reply_does_not_stop_the_processing_thread);
for_every_style!(queue::the_registry_forgets_clients_that_leave);
for_every_style!(queue::sigint_answers_every_message_sent_before_it);
for_every_style!(queue::sigterm_answers_every_message_sent_before_it);
for_every_style!(queue::a_client_flooding_through_shutdown_does_not_delay_it);
for_every_style!(queue::an_idle_client_is_timed_out);

/// The interactive client prints what the server pushes while it waits for input.
#[test]
fn the_interactive_client_prints_pushed_messages() {
    let mut server = ServerProcess::start(QUEUE_SERVER, &[]);
    let mut typist = ClientProcess::start(&["queue", "--port", &server.port.to_string()]);
    assert!(typist.next_line().starts_with("Welcome, Client 1!"));
    server.wait_for("Client 1 connected");
    let (mut other, _) = join(&server);
    send(&mut other, "@1 are you there?");
    assert_eq!(typist.next_line(), "From Client 2: are you there?");
    typist.type_line("yes!");
    assert_eq!(typist.next_line(), "Processed: yes!");
    let (rest, status) = typist.finish();
    assert_eq!(rest, ["Goodbye, Client 1."]);
    assert!(status.success());
}

/// A client still typing when the server stops: it prints every reply, in
/// order, with the shutdown line last, and says the server closed the
/// connection, whichever of its threads notices first (a send that fails
/// with `Broken pipe` must not end it before the last replies are shown).
///
/// It types a line a millisecond, far faster than a person. Not as fast as
/// it can: on a busy machine, replies to a typist with no pause can come
/// faster than the client prints them, until its buffers are full and the
/// server rightly drops it as not reading, notice and all.
#[test]
fn the_interactive_client_typing_through_shutdown_prints_every_reply() {
    let mut server = ServerProcess::start(QUEUE_SERVER, &[]);
    let mut typist = ClientProcess::start(&["queue", "--port", &server.port.to_string()]);
    assert!(typist.next_line().starts_with("Welcome, Client 1!"));
    let mut stdin = typist.take_stdin();
    // Types until the client exits and its stdin breaks.
    let typing = thread::spawn(move || {
        for n in 0.. {
            if writeln!(stdin, "message {n}").is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
    });
    let mut replies = Vec::new();
    while replies.len() < 1000 {
        replies.push(typist.next_line());
    }
    server.signal(Signal::SIGINT);
    server.assert_stops_cleanly_within(Duration::from_secs(2));
    let (rest, status, stderr) = typist.wait_with_stderr();
    typing.join().unwrap();
    replies.extend(rest);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr
            .trim_end()
            .ends_with("the server closed the connection"),
        "{stderr}"
    );
    assert_eq!(
        replies.pop().as_deref(),
        Some("Server is shutting down. Goodbye!")
    );
    for (n, reply) in replies.iter().enumerate() {
        assert_eq!(reply, &format!("Processed: message {n}"));
    }
}

/// When the server shuts down, the interactive client says so and exits, even mid-typing.
#[test]
fn the_interactive_client_exits_when_the_server_stops() {
    let mut server = ServerProcess::start(QUEUE_SERVER, &[]);
    let typist = ClientProcess::start(&["queue", "--port", &server.port.to_string()]);
    assert!(typist.next_line().starts_with("Welcome, Client 1!"));
    server.signal(Signal::SIGINT);
    assert_eq!(typist.next_line(), "Server is shutting down. Goodbye!");
    // Its stdin is still open: it must notice the server left on its own.
    server.assert_stops_cleanly_within(Duration::from_secs(2));
    let (_, client_status) = typist.wait();
    assert_eq!(client_status.code(), Some(1));
}
