//! Lesson 6's ladder: lesson 2's echo server as tokio tasks, with a
//! deadline awaited (6.1) and a stop on a signal (6.2).

use threaded_servers::harness::{HowToStop, echo, hostile};
use threaded_servers::protocol::Protocol;

use crate::catalogue::{Check, Exercise, Kind, Program};

const LESSON: &str = "06-async.md";

/// A tokio server can wait for a signal as for anything else: these stop
/// on Ctrl-C, as the real servers do.
const SERVER: Kind = Kind::Server(Protocol::Echo, HowToStop::CtrlC);

pub fn exercises() -> Vec<Exercise> {
    vec![
        Exercise {
            id: "6.1",
            title: "A deadline, awaited",
            stem: "06-async/1-deadline.rs",
            program: SERVER,
            lesson: (LESSON, "The echo server, as a task"),
            hint: "At the top of `next_message`: `let deadline = \
                   self.idle_timeout.and_then(|t| Instant::now().checked_add(t));`. \
                   Wrap each read in `tokio::time::timeout_at(deadline, ...)` when \
                   there is a deadline: it gives `Err(Elapsed)` once the deadline \
                   has passed. Return a new `Received::IdleTimeout` holding the \
                   pending bytes, and answer it in `handle_client`.",
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
            id: "6.2",
            title: "Stopping on a signal",
            stem: "06-async/2-stopping.rs",
            program: SERVER,
            lesson: (LESSON, "Stopping: `tokio::signal` and `select!`"),
            hint: "`let (stop, stopping) = watch::channel(false);` Spawn a task that \
                   `select!`s on the two signals' `recv()` and then `stop.send(true)`. \
                   In the accept loop, `tokio::select! { biased; _ = \
                   shutdown.wait_for(|&s| s) => break, accepted = listener.accept() => \
                   ... }`; give each session a clone of `stopping`, and put the same \
                   `wait_for` beside its read. Spawn the sessions into a `JoinSet`, and \
                   after the loop `timeout(...)` a loop over `join_next()`.",
            checks: &[
                Check {
                    checks: "Ctrl-C with three sessions open: each sees end of stream, exit 0 within 2 s",
                    run: |p: &Program| echo::sigint_closes_every_session_and_exits_0(&p.target()),
                },
                Check {
                    checks: "SIGTERM does the same",
                    run: |p: &Program| echo::sigterm_closes_every_session_and_exits_0(&p.target()),
                },
                Check {
                    checks: "clients idle, in mid-line and busy at Ctrl-C: the server stops within 1 s",
                    run: |p: &Program| hostile::sigint_mid_session(&p.target()),
                },
            ],
        },
    ]
}
