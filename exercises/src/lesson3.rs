//! Lesson 3's ladder: the queue server, from the first version (with
//! lessons 1 and 2's guards) to a processing thread that never waits and
//! a stop that loses nothing, in one `std` file.

use threaded_servers::harness::{HowToStop, hostile, queue};
use threaded_servers::protocol::Protocol;

use crate::catalogue::{Check, Exercise, Kind, Program};

const LESSON: &str = "03-queue-server.md";

const SERVER: Kind = Kind::Server(Protocol::Queue, HowToStop::Enter);

pub fn exercises() -> Vec<Exercise> {
    vec![
        Exercise {
            id: "3.1",
            title: "A processing thread that survives",
            stem: "03-queue/1-survive.rs",
            program: SERVER,
            lesson: (LESSON, "A processing thread that survives"),
            hint: "In `process_messages`, lock the registry only to look a client up \
                   (clone its stream, an `Arc<TcpStream>`, out of the map) and write \
                   after the guard is gone. A failed write is not a panic: log it, \
                   forget the client, and carry on with the next message. A client \
                   missing from the registry (it left) simply gets no reply. The \
                   client's entry leaves the registry when it leaves.",
            checks: &[
                Check {
                    checks: "20 clients that reset before their replies: the processing thread answers the next client",
                    run: |p: &Program| {
                        queue::a_client_that_leaves_before_its_reply_does_not_stop_the_processing_thread(
                            &p.target(),
                        )
                    },
                },
                Check {
                    checks: "200 clients that connect and reset at once: no panic, the server carries on",
                    run: |p: &Program| hostile::two_hundred_resets_at_once(&p.target()),
                },
                Check {
                    checks: "300 clients come and go under ulimit -n 64: each leaves the registry and frees its socket",
                    run: |p: &Program| queue::the_registry_forgets_clients_that_leave(&p.target()),
                },
                Check {
                    checks: "a direct message reaches the right client, and one to nobody gets an ERROR line",
                    run: |p: &Program| {
                        queue::a_direct_message_reaches_the_right_client(&p.target());
                        queue::a_direct_message_to_an_unknown_client_is_an_error(&p.target());
                    },
                },
            ],
        },
        Exercise {
            id: "3.2",
            title: "Never wait for one client",
            stem: "03-queue/2-never-wait.rs",
            program: SERVER,
            lesson: (LESSON, "Never wait for one client"),
            hint: "Give each client's socket, once it is greeted, a write timeout of a \
                   millisecond (`set_write_timeout`): a write to a client whose buffers \
                   are full then fails at once instead of waiting. In `send_or_drop`, \
                   such a failure (`is_timeout`) means the client is not reading: log \
                   `Client N: not reading its replies; disconnecting it.`, set its \
                   `not_reading` flag, forget it, and `shutdown(Shutdown::Both)` its \
                   stream, which ends its thread's read.",
            checks: &[
                Check {
                    checks: "a client that floods and never reads is dropped; another's 200 pings each answered within a second",
                    run: |p: &Program| {
                        queue::a_client_that_never_reads_does_not_delay_the_others(&p.target())
                    },
                },
                Check {
                    checks: "direct messages to a client that never reads: once it is dropped, the sender is told",
                    run: |p: &Program| {
                        queue::a_direct_message_the_target_cannot_take_is_an_error_to_the_sender(
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
        Exercise {
            id: "3.3",
            title: "A bounded queue",
            stem: "03-queue/3-bounded-queue.rs",
            program: SERVER,
            lesson: (LESSON, "A bounded queue"),
            hint: "`mpsc::sync_channel(QUEUE_CAPACITY)` instead of `mpsc::channel()`: \
                   its `send` waits while the queue is full, so a client's thread stops \
                   reading its socket until there is room. The senders become \
                   `SyncSender`s.",
            checks: &[Check {
                checks: "100,000 short lines in one write, replies read as they come: every reply, and the server stays small",
                run: |p: &Program| {
                    queue::a_flood_of_short_lines_keeps_the_server_small(&p.target())
                },
            }],
        },
        Exercise {
            id: "3.4",
            title: "Stopping without losing a message",
            stem: "03-queue/4-stopping.rs",
            program: SERVER,
            lesson: (LESSON, "Stopping without losing a message"),
            hint: "A client's thread leaves through the queue: it sends \
                   `Event::Leaving` with its last line (\"Server is shutting down. \
                   Goodbye!\" when the server is stopping) and a channel the processing \
                   thread answers on once it has got that far, and waits for that answer \
                   before closing. After the accept loop, drop `main`'s sender, end every \
                   read, wait for the clients' threads, then for the processing thread \
                   (it ends when the last sender is gone), at most 0.8 s in all.",
            checks: &[
                Check {
                    checks: "5 clients with 100 messages each in flight at Enter: every one answered, then the notice",
                    run: |p: &Program| {
                        queue::sigint_answers_every_message_sent_before_it(&p.target())
                    },
                },
                Check {
                    checks: "a client still flooding at Enter does not hold the stop up past a second",
                    run: |p: &Program| {
                        queue::a_client_flooding_through_shutdown_does_not_delay_it(&p.target())
                    },
                },
                Check {
                    checks: "clients idle, in mid-line and busy at Enter: the busy one's 200 lines answered, within 1 s",
                    run: |p: &Program| hostile::sigint_mid_session(&p.target()),
                },
            ],
        },
    ]
}
