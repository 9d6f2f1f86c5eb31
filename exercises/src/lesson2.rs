//! Lesson 2's ladder: the echo server, from the first version (with lesson
//! 1's guards) to the real server's framing and deadlines, in one `std` file.

use threaded_servers::harness::{HowToStop, echo, hostile};
use threaded_servers::protocol::Protocol;

use crate::catalogue::{Check, Exercise, Kind, Program};

const LESSON: &str = "02-echo-server.md";

const SERVER: Kind = Kind::Server(Protocol::Echo, HowToStop::Enter);

pub fn exercises() -> Vec<Exercise> {
    vec![
        Exercise {
            id: "2.1",
            title: "Lines, not reads",
            stem: "02-echo/1-lines.rs",
            program: SERVER,
            lesson: (LESSON, "Lines, not reads"),
            hint: "Write a `LineReader` that owns a `Vec<u8>` of bytes received and not \
                   yet used, and create it once, before the session's loop. Its \
                   `next_message` first looks for a `\\n` in what it holds \
                   (`iter().position`); only if there is none does it read more and \
                   append. `Vec::split_off(newline + 1)` leaves the line in the vector \
                   and returns the rest. The line's ending (`\\n` or `\\r\\n`) is not \
                   part of its text.",
            checks: &[
                Check {
                    checks: "three lines in one write are three echoes and three log lines",
                    run: |p: &Program| {
                        echo::several_lines_in_one_write_are_several_echoes(&p.target())
                    },
                },
                Check {
                    checks: "one line written a byte at a time is one echo and one log line",
                    run: |p: &Program| {
                        echo::one_line_written_a_byte_at_a_time_is_one_echo(&p.target())
                    },
                },
                Check {
                    checks: "500 lines in one write: 500 echoes, in order",
                    run: |p: &Program| hostile::many_lines_in_one_write(&p.target()),
                },
                Check {
                    checks: "a \\r\\n line comes back as it came, and !DISCONNECT\\r\\n ends the session",
                    run: |p: &Program| {
                        echo::crlf_lines_are_echoed_as_they_came_and_crlf_disconnect_works(
                            &p.target(),
                        )
                    },
                },
                Check {
                    checks: "an empty line is a message too",
                    run: |p: &Program| echo::an_empty_line_is_echoed(&p.target()),
                },
                Check {
                    checks: "!DISCONNECT in one write with other lines ends the session; nothing after it is echoed",
                    run: |p: &Program| {
                        echo::disconnect_ends_the_session_and_nothing_after_it_is_echoed(
                            &p.target(),
                        )
                    },
                },
                Check {
                    checks: "!DISCONNECT split across two writes still ends the session",
                    run: |p: &Program| {
                        echo::a_disconnect_split_across_writes_still_disconnects(&p.target())
                    },
                },
                Check {
                    checks: "bytes after the last newline at end of stream are dropped, and the client told",
                    run: |p: &Program| {
                        echo::a_last_line_without_a_newline_is_dropped_with_an_error(&p.target())
                    },
                },
                Check {
                    checks: "a line that is not UTF-8 gets one ERROR line, and the next line is echoed",
                    run: |p: &Program| {
                        echo::invalid_utf8_gets_an_error_and_the_session_goes_on(&p.target())
                    },
                },
                Check {
                    checks: "100 sessions at once, 50 lines each: each gets its own lines back, in order",
                    run: |p: &Program| {
                        echo::a_hundred_concurrent_sessions_each_get_their_own_lines_in_order(
                            &p.target(),
                        )
                    },
                },
            ],
        },
        Exercise {
            id: "2.2",
            title: "A bound on every line",
            stem: "02-echo/2-bound.rs",
            program: SERVER,
            lesson: (LESSON, "A bound on every line"),
            hint: "Add a `too_long` flag to the reader. When more than SIZE + 1 bytes \
                   are pending with no newline among them, set it and cut the pending \
                   bytes down to a few. While it is set, append only what comes from a \
                   newline on. The line that then completes is `TooLong`, not a line. \
                   A complete line longer than SIZE (without its ending) is too long too.",
            checks: &[
                Check {
                    checks: "a line of 100,000 bytes gets one ERROR line, one of 1024 is echoed, and the session goes on",
                    run: |p: &Program| {
                        echo::an_over_long_line_gets_an_error_and_the_session_goes_on(&p.target())
                    },
                },
                Check {
                    checks: "1 MiB without a newline: one ERROR line, and the server does not grow by half a MiB",
                    run: |p: &Program| hostile::oversized_messages(&p.target()),
                },
            ],
        },
        Exercise {
            id: "2.3",
            title: "A deadline, not a timeout",
            stem: "02-echo/3-deadline.rs",
            program: SERVER,
            lesson: (LESSON, "A deadline, not a timeout"),
            hint: "At the top of `next_message`: `let deadline = \
                   self.idle_timeout.and_then(|t| Instant::now().checked_add(t));` (the \
                   reader keeps the timeout, not the socket; `checked_add`, because \
                   `--idle-timeout 1e19` is too far away to count to). Before each read, \
                   `deadline.saturating_duration_since(Instant::now())` is the time left: \
                   if it is zero, the message timed out; otherwise set it as the read \
                   timeout.",
            checks: &[
                Check {
                    checks: "a client that drips a byte every 0.5 s is closed after --idle-timeout 1.5, told why",
                    run: |p: &Program| {
                        hostile::a_drip_feeding_client_is_closed_after_the_idle_timeout(&p.target())
                    },
                },
                Check {
                    checks: "a silent client is told and closed after --idle-timeout, and another is served meanwhile",
                    run: |p: &Program| echo::an_idle_client_is_timed_out(&p.target()),
                },
            ],
        },
        Exercise {
            id: "2.4",
            title: "A client that never reads",
            stem: "02-echo/4-write-timeout.rs",
            program: SERVER,
            lesson: (LESSON, "A client that never reads"),
            hint: "Call `stream.set_write_timeout(config.write_timeout)` at the start of \
                   the session. A write that times out fails with the same kinds of \
                   error as a read that does (`is_timeout`): end the session with a new \
                   `Ending::NotReading`, whose reason is \"not reading what it is sent\"; \
                   any other write error is `Ending::Broken`.",
            checks: &[
                Check {
                    checks: "a client that never reads is let go after --write-timeout; another is not delayed",
                    run: |p: &Program| {
                        echo::a_client_that_never_reads_is_dropped_after_the_write_timeout(
                            &p.target(),
                        )
                    },
                },
                Check {
                    checks: "a client flooding without reading: 100 pings of another each answered within a second",
                    run: |p: &Program| hostile::a_client_that_never_reads(&p.target()),
                },
            ],
        },
    ]
}
