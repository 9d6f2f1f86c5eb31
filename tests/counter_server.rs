//! Lesson 1, end to end: the real `counter_server` and `client` binaries over real sockets.
//!
//! A test that takes a [`Style`] runs three times: against `counter_server`,
//! its event-loop twin `event_counter_server` (lesson 5) and its async twin
//! `async_counter_server` (lesson 6): `NAME::threads`, `NAME::events` and
//! `NAME::tasks`. All three must pass the same tests; only what is about
//! threads (or about the client alone) runs once.

#[macro_use]
mod support;

use std::collections::BTreeSet;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use support::*;

const GREETING_1: &str = "Hello Client 1, server received your message!";

for_every_style!(the_original_client_exchange_gets_its_greeting);
/// The original's exchange: `client` with no message sends "Hello, Server!" and prints the reply.
fn the_original_client_exchange_gets_its_greeting(style: Style) {
    let mut server = ServerProcess::of(Protocol::Counter, style, &[]);
    cargo_bin_cmd!("client")
        .args(["--port", &server.port.to_string()])
        .timeout(DEADLINE)
        .assert()
        .success()
        .stdout(format!("Server replied: {GREETING_1}\n"));
    server.wait_for("Client 1 disconnected.");
    assert!(
        server.lines[1].starts_with("Client 1 connected from 127.0.0.1:"),
        "{}",
        server.output()
    );
    assert_eq!(server.lines[2], "Client 1 says: Hello, Server!");
}

for_every_style!(counter::the_reply_is_exact);
for_every_style!(counter::a_client_that_sends_no_newline_and_keeps_its_socket_open_gets_its_reply);
for_every_style!(counter::fifty_clients_at_once_get_ids_exactly_1_to_50);

/// The experiment the lesson promises: without the lock, 200 clients at once get duplicate ids.
#[test]
fn demo_race_gives_duplicate_ids_under_200_concurrent_clients() {
    let server = ServerProcess::start(COUNTER_SERVER, &["--demo-race"]);
    let address = server.address();
    let ids: Vec<u64> = all_at_once(200, move |_| greeting_id(&counter_exchange(address, b"hi")));
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 200, "every client got a reply");
    assert!(
        unique.len() < 200,
        "expected duplicate ids without the lock, got 200 distinct"
    );
}

for_every_style!(counter::a_100_kib_message_still_gets_its_greeting_intact);
for_every_style!(counter::past_max_clients_a_client_gets_one_error_line_until_a_slot_frees);
for_every_style!(counter::a_silent_client_is_timed_out);
for_every_style!(counter::a_client_that_sends_nothing_and_closes_is_not_greeted);
for_every_style!(counter::invalid_utf8_gets_an_error_line);

for_every_style!(a_bad_host_is_a_clear_error);
/// A host that does not resolve: the same kind of one-line error.
fn a_bad_host_is_a_clear_error(style: Style) {
    let name = server_name(Protocol::Counter, style);
    assert_cmd::Command::new(server_binary(Protocol::Counter, style))
        .args(["--host", "no-such-host.invalid", "--port", "0"])
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stderr(
            predicate::str::starts_with(format!(
                "{name}: cannot listen on no-such-host.invalid:0: "
            ))
            .and(predicate::function(|err: &str| err.lines().count() == 1)),
        );
}

/// `client` with no server there: one line with the address, the cause and the command to start one.
#[test]
fn the_client_without_a_server_says_what_to_start() {
    let refusing = refusing_port();
    let port = refusing.port.to_string();
    cargo_bin_cmd!("client")
        .args(["--port", &port])
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::contains(format!("cannot connect to 127.0.0.1:{port}"))
                .and(predicate::str::contains("refused"))
                .and(predicate::str::contains("cargo run --bin counter_server"))
                .and(predicate::function(|err: &str| err.lines().count() == 1)),
        );
}

for_every_style!(counter::sigint_with_an_idle_client_exits_0_promptly);
for_every_style!(counter::sigterm_with_an_idle_client_exits_0_promptly);
for_every_style!(counter::clients_in_flight_at_shutdown_get_a_whole_answer);
