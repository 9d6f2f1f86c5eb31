//! Every timeout a server keeps, in one place, and how they fit together.
//!
//! Most of them belong to the shutdown timeline. From Ctrl-C (or SIGTERM)
//! to exit, in order:
//!
//! | step | bound | what waits, and for what |
//! |---|---|---|
//! | 1. the accept loop is woken | [`WAKE_TIMEOUT`] | the threads' stopper, for its connection to itself (microseconds on loopback) |
//! | 2. sessions read what was already sent | [`SHUTDOWN_READ_TIME`] | each session, reading what its client sent before the signal, then it stops reading |
//! | 3. everything already received is answered, and every client closed | [`SHUTDOWN_GRACE`] | the server, for its clients' threads, tasks or connections to finish (a lingering close included) |
//! | 4. a worker pool's workers end (`counter_server --workers`) | [`POOL_STOP_GRACE`] | the server, for workers still stuck with a client it gave up on |
//! | 5. the last log lines are written | [`CONSOLE_FLUSH`] | the server, for its printer thread |
//!
//! Steps 1 to 3 overlap (step 2 runs inside step 3). Each bound is reached
//! only when something is stuck: a client that never closes, a console
//! nobody reads. Even then a server stops within `SHUTDOWN_GRACE +
//! POOL_STOP_GRACE + CONSOLE_FLUSH` of the signal, the "about a second"
//! that [`STOPS_WITHIN`] names (checked below); usually it takes a few
//! milliseconds. Outside shutdown the longer waits apply: a lingering close
//! ([`LINGER_TIME`]), a leaving queue client ([`LEAVE_TIMEOUT`]); at
//! shutdown the grace cuts them short.
//!
//! Every style uses the same values: a thread, a task and an event loop
//! stop on the same timeline, and the lessons compare like with like.

use std::time::Duration;

/// What every server promises: from Ctrl-C to exit in about a second, at
/// worst (every step below waiting out its bound).
pub const STOPS_WITHIN: Duration = Duration::from_millis(1200);

/// How long stopping a threaded server waits for its connection to itself,
/// which wakes the blocked `accept()`. On loopback it takes microseconds;
/// longer means the accept queue is full, and then the accept loop is busy
/// accepting anyway and sees the flag on its own.
pub const WAKE_TIMEOUT: Duration = Duration::from_millis(200);

/// After shutdown begins, how long a session goes on reading what its client
/// sent before the signal. That is already in the kernel's buffer, so this is
/// plenty; it only cuts off a client that is still flooding the server.
pub const SHUTDOWN_READ_TIME: Duration = Duration::from_millis(250);

/// How long shutdown waits for every client to be answered and closed
/// before exiting anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);

/// How long a server waits on its way out for the console to catch up.
pub const CONSOLE_FLUSH: Duration = Duration::from_millis(200);

/// How long a finished connection waits for the client to close its side
/// (the lingering close: see `threads::connections::close_gracefully`).
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// How much a finished connection reads and throws away while it waits.
pub const LINGER_BYTES: usize = 1024 * 1024;

/// How long a leaving queue client waits for its last replies to go out.
pub const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a worker pool, stopped after its clients are served or given
/// up on, waits for its workers to end.
pub const POOL_STOP_GRACE: Duration = Duration::from_millis(200);

/// How long writing the one `ERROR` line to a refused client may wait. A
/// fresh socket's send buffer is empty, so it never should; the accept
/// loop, which writes it, must not wait on a client regardless.
pub const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_millis(100);

/// The first pause after a failed `accept()`; each failure in a row doubles it.
pub const FIRST_ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The longest pause after a failed `accept()`.
pub const LONGEST_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    /// The relations the timeline above states. A change to one value that
    /// breaks a promise fails here, not in a flaky end-to-end test.
    #[test]
    fn the_shutdown_timeline_keeps_its_promises() {
        // A session stops reading in time to have its last messages
        // answered and its connection closed within the grace.
        assert!(SHUTDOWN_READ_TIME * 2 <= SHUTDOWN_GRACE);
        // The wake-up is over before the grace is half gone.
        assert!(WAKE_TIMEOUT * 2 <= SHUTDOWN_GRACE);
        // A server exits within about a second of the signal, even when
        // every step waits out its bound: the grace, a pool's workers, the
        // console's last lines.
        assert!(SHUTDOWN_GRACE + POOL_STOP_GRACE + CONSOLE_FLUSH <= STOPS_WITHIN);
        // The grace is most of it: the steps after it are short.
        assert!(POOL_STOP_GRACE + CONSOLE_FLUSH < SHUTDOWN_GRACE);
        // The longer waits are cut short by the grace at shutdown, so they
        // may be as long as a slow client needs, but no shorter than the
        // grace: a lingering close or a leaving client outside shutdown is
        // never cut off sooner than one at shutdown.
        assert!(LINGER_TIME >= SHUTDOWN_GRACE);
        assert!(LEAVE_TIMEOUT >= LINGER_TIME);
        // Accept back-off: a pause that grows to its longest.
        assert!(FIRST_ACCEPT_BACKOFF < LONGEST_ACCEPT_BACKOFF);
    }
}
