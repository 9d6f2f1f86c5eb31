//! Lesson 5's ladder: lesson 2's echo server as one thread running one mio
//! loop, on `std` and mio alone: partial writes kept, then deadlines from
//! one timer structure.

use threaded_servers::harness::{HowToStop, echo, hostile};
use threaded_servers::protocol::Protocol;

use crate::catalogue::{Check, Exercise, Kind, Program};

const LESSON: &str = "05-event-loop.md";

/// An echo server that stops when Enter is pressed: a thread reads stdin
/// and wakes the loop with a `mio::Waker`.
const SERVER: Kind = Kind::Server(Protocol::Echo, HowToStop::Enter);

pub fn exercises() -> Vec<Exercise> {
    vec![
        Exercise {
            id: "5.1",
            title: "Partial writes, kept",
            stem: "05-event-loop/1-partial-writes.rs",
            program: SERVER,
            lesson: (LESSON, "Partial writes, kept"),
            hint: "Give `Client` an `output: Vec<u8>`. In `send`, write only if `output` is \
                   empty; what the write did not take (`bytes[n..]`, or all of it on \
                   `WouldBlock`) goes to the end of `output`, and when `output` was empty \
                   before, `reregister` with `Interest::READABLE | Interest::WRITABLE`. In \
                   `flush`, write from `output` until it is empty (`drain(..n)`) or the \
                   write says `WouldBlock`; once empty, `reregister` with `READABLE` only. \
                   At the top of `serve`'s loop, return while `output` is not empty: the \
                   next lines wait, so a client that does not read stops being read.",
            checks: &[
                Check {
                    checks: "a slow reader of a 6 MB burst gets every echo, whole and in order",
                    run: |p: &Program| {
                        hostile::a_slow_reader_gets_every_echo_of_a_large_burst(&p.target())
                    },
                },
                Check {
                    checks: "a client that stops reading is not read either, and costs no CPU; others are served",
                    run: |p: &Program| {
                        hostile::a_client_that_stops_reading_costs_no_cpu(&p.target())
                    },
                },
                Check {
                    checks: "500 lines in one write: 500 echoes, in order",
                    run: |p: &Program| hostile::many_lines_in_one_write(&p.target()),
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
            id: "5.2",
            title: "Deadlines, in one timer structure",
            stem: "05-event-loop/2-idle-timeout.rs",
            program: SERVER,
            lesson: (LESSON, "Deadlines, in one timer structure"),
            hint: "Keep `let mut deadlines: BTreeSet<(Instant, Token)>` beside `clients`, and in \
                   each `Client` its `deadline` (and the entry it has in the set). Set the \
                   deadline to now + `config.idle_timeout` when the client connects and when a \
                   message is complete; after each `serve`, if it changed, remove the old entry \
                   and insert the new. Give `poll` the time until `deadlines.first()` \
                   (`saturating_duration_since`). After the events, `pop_first` every entry at \
                   or before now: that client's `ending` is `Ending::IdleTimeout` with its \
                   `pending` bytes, and it is closed.",
            checks: &[
                Check {
                    checks: "a silent client is told and closed after --idle-timeout 1, not before, not much after",
                    run: |p: &Program| {
                        hostile::a_silent_client_is_closed_after_the_idle_timeout(&p.target())
                    },
                },
                Check {
                    checks: "an idle client is timed out after 0.5 s, and logged; a busy one is served meanwhile",
                    run: |p: &Program| echo::an_idle_client_is_timed_out(&p.target()),
                },
                Check {
                    checks: "a client that drips a byte every 0.5 s is closed after --idle-timeout 1.5, told why",
                    run: |p: &Program| {
                        hostile::a_drip_feeding_client_is_closed_after_the_idle_timeout(&p.target())
                    },
                },
                Check {
                    checks: "a client that stops reading costs no CPU: the deadlines do not make the loop spin",
                    run: |p: &Program| {
                        hostile::a_client_that_stops_reading_costs_no_cpu(&p.target())
                    },
                },
            ],
        },
    ]
}
