//! Lesson 1's ladder: the counter server, from the first version to the
//! real server's guards, in one `std` file.

use threaded_servers::harness::{HowToStop, counter, hostile};
use threaded_servers::protocol::Protocol;

use crate::catalogue::{Check, Exercise, Kind, Program};

const LESSON: &str = "01-counter-server.md";

/// A counter server that stops when Enter is pressed (from 1.5 on; before
/// that, nothing asks it to stop).
const SERVER: Kind = Kind::Server(Protocol::Counter, HowToStop::Enter);

pub fn exercises() -> Vec<Exercise> {
    vec![
        Exercise {
            id: "1.1",
            title: "Errors are answers",
            stem: "01-counter/1-answers.rs",
            program: SERVER,
            lesson: (LESSON, "Errors are answers"),
            hint: "Every `unwrap()` on what a client or the system can make fail becomes a \
                   `match`: an error line for the client where one can be sent, a log line \
                   otherwise. `std::str::from_utf8` returns a `Result`; a read of 0 bytes \
                   means the client closed without a message; `thread::Builder::new().spawn` \
                   returns an error where `thread::spawn` panics; `main` can return \
                   `ExitCode::FAILURE` after an `eprintln!`.",
            checks: &[
                Check {
                    checks: "bytes that are not UTF-8 get one ERROR line, and the next client is served",
                    run: |p: &Program| counter::invalid_utf8_gets_an_error_line(&p.target()),
                },
                Check {
                    checks: "a client that closes without a message is not greeted, and is logged as such",
                    run: |p: &Program| {
                        counter::a_client_that_sends_nothing_and_closes_is_not_greeted(&p.target())
                    },
                },
                Check {
                    checks: "20 clients that reset the connection in mid-message: each thread ends normally",
                    run: |p: &Program| hostile::a_reset_in_the_middle_of_a_message(&p.target()),
                },
                Check {
                    checks: "200 clients that connect and reset at once: no panic, the server carries on",
                    run: |p: &Program| hostile::two_hundred_resets_at_once(&p.target()),
                },
                Check {
                    checks: "a port that is taken: one line on stderr naming it, exit status 1",
                    run: |p: &Program| hostile::a_port_in_use_is_a_clear_error(&p.target()),
                },
            ],
        },
        Exercise {
            id: "1.2",
            title: "A deadline for silent clients",
            stem: "01-counter/2-idle-timeout.rs",
            program: SERVER,
            lesson: (LESSON, "A deadline for silent clients"),
            hint: "Call `stream.set_read_timeout(idle_timeout)` before the read (pass \
                   `config.idle_timeout` to `handle_client`), and match the read's error: \
                   `Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)` \
                   is the timeout. Its reply ends with a newline.",
            checks: &[
                Check {
                    checks: "a silent client is told and closed after --idle-timeout 0.5, and another is served meanwhile",
                    run: |p: &Program| counter::a_silent_client_is_timed_out(&p.target()),
                },
                Check {
                    checks: "with --idle-timeout 1, the silent client is closed after 1 s, not before, not much after",
                    run: |p: &Program| {
                        hostile::a_silent_client_is_closed_after_the_idle_timeout(&p.target())
                    },
                },
            ],
        },
        Exercise {
            id: "1.3",
            title: "A close that keeps the reply",
            stem: "01-counter/3-graceful-close.rs",
            program: SERVER,
            lesson: (LESSON, "A close that keeps the reply"),
            hint: "After the reply: `stream.shutdown(Shutdown::Write)`, then loop on \
                   `stream.read` into a scratch buffer until it returns 0 or an error, with \
                   a read timeout of what is left of 2 seconds, and stop after 1 MiB.",
            checks: &[Check {
                checks: "100 KiB in one message: the greeting arrives whole, and the client's send is not cut off",
                run: |p: &Program| {
                    counter::a_100_kib_message_still_gets_its_greeting_intact(&p.target())
                },
            }],
        },
        Exercise {
            id: "1.4",
            title: "A limit on clients",
            stem: "01-counter/4-max-clients.rs",
            program: SERVER,
            lesson: (LESSON, "A limit on clients"),
            hint: "Keep the connected clients in an `Arc<Mutex<...>>` (a count, or better \
                   a map of id to socket, which 1.5 will need). Check and add in one \
                   locked step on the accept thread; give the client's thread a value \
                   whose `Drop` removes it. The back-off is a `Duration` that doubles \
                   (`.min(Duration::from_secs(1))`) and resets after a success.",
            checks: &[
                Check {
                    checks: "past --max-clients 2 a client gets one ERROR line, and a place frees when a client leaves",
                    run: |p: &Program| {
                        counter::past_max_clients_a_client_gets_one_error_line_until_a_slot_frees(
                            &p.target(),
                        )
                    },
                },
                Check {
                    checks: "with --max-clients 3, five more clients are each refused in one line, then one is served",
                    run: |p: &Program| hostile::more_clients_than_max_clients(&p.target()),
                },
                Check {
                    checks: "out of file descriptors (ulimit -n 64): no spinning, and served again once clients leave",
                    run: |p: &Program| hostile::out_of_file_descriptors(&p.target()),
                },
            ],
        },
        Exercise {
            id: "1.5",
            title: "Stopping",
            stem: "01-counter/5-stopping.rs",
            program: SERVER,
            lesson: (LESSON, "Stopping"),
            hint: "`stop`: store `true` in an `AtomicBool` shared through an `Arc`, then \
                   `TcpStream::connect_timeout` to the server's own address. In the accept \
                   loop, check the flag before looking at what `accept` returned. After \
                   the loop: `shutdown(Shutdown::Read)` every socket in your registry; a \
                   read of 0 bytes while the flag is up means \"stopping\", not \"the \
                   client left\". Wait with `Condvar::wait_timeout_while` until the \
                   registry is empty.",
            checks: &[
                Check {
                    checks: "Enter with an idle client connected: it is told, and the server stops cleanly within 2 s",
                    run: |p: &Program| {
                        counter::sigint_with_an_idle_client_exits_0_promptly(&p.target())
                    },
                },
                Check {
                    checks: "50 clients mid-exchange at Enter: each gets its greeting or the shutdown line, whole",
                    run: |p: &Program| {
                        counter::clients_in_flight_at_shutdown_get_a_whole_answer(&p.target())
                    },
                },
                Check {
                    checks: "clients idle, in mid-message and busy at Enter: the server stops within 1 s",
                    run: |p: &Program| hostile::sigint_mid_session(&p.target()),
                },
            ],
        },
    ]
}
