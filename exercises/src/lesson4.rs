//! Lesson 4's ladder, in two programs: a client that tests a server with
//! many clients at once (4.1, 4.2), and lesson 1's server with a pool of
//! workers (4.3).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use threaded_servers::harness::{
    HowToStop, ServerProcess, Target, connect, counter, counter_exchange, greeting_id,
    run_to_exit_within,
};
use threaded_servers::protocol::Protocol;

use crate::catalogue::{Check, Exercise, Kind, Program};

const LESSON: &str = "04-many-clients.md";

pub fn exercises() -> Vec<Exercise> {
    vec![
        Exercise {
            id: "4.1",
            title: "Many clients at once",
            stem: "04-many-clients/1-many-at-once.rs",
            program: Kind::Client,
            lesson: (LESSON, "Many clients at once"),
            hint: "Spawn a thread per client; each waits at an `Arc<Barrier>` made for \
                   all of them, then runs `client`. Join them all and keep the ids of \
                   the replies that are greetings. Sort them into a `BTreeSet`: \
                   duplicates are the ids that did not make it into the set, gaps are \
                   the numbers of 1..=N missing from it. Return `ExitCode::FAILURE` \
                   unless there are neither.",
            checks: &[
                Check {
                    checks: "against a fresh counter_server, 200 clients: `ids: exactly 1 to 200`, exit status 0",
                    run: |p: &Program| {
                        let server = counter_server(&[]);
                        let run = run_client(p, &server, 200, Duration::from_secs(30));
                        expect_status(&run, 0);
                        expect_said(&run, "ids: exactly 1 to 200");
                    },
                },
                Check {
                    checks: "against counter_server --demo-race, 200 clients at once: duplicates seen, exit status 1",
                    run: |p: &Program| {
                        // The race is a race: give it three runs to show.
                        let mut last = None;
                        for _ in 0..3 {
                            let server = counter_server(&["--demo-race"]);
                            let run = run_client(p, &server, 200, Duration::from_secs(30));
                            if String::from_utf8_lossy(&run.stdout).contains("duplicates") {
                                expect_status(&run, 1);
                                return;
                            }
                            last = Some(run);
                        }
                        let run = last.expect("three runs");
                        panic!(
                            "expected, in one of three runs, a line saying how many duplicates the ids had; the last run printed:\n{}",
                            String::from_utf8_lossy(&run.stdout)
                        );
                    },
                },
            ],
        },
        Exercise {
            id: "4.2",
            title: "Every client answered, or the run fails",
            stem: "04-many-clients/2-every-client-answered.rs",
            program: Kind::Client,
            lesson: (LESSON, "Every client answered, or the run fails"),
            hint: "Make `client` return `Result<u64, String>`: the id, or why it failed. \
                   `set_read_timeout(Some(10 s))` before reading; a read that times out \
                   fails with `WouldBlock` (or `TimedOut`). A reply that is not a \
                   greeting is a failure whose reason is the reply itself, such as \
                   `ERROR: too many clients (limit 5); try again later`.",
            checks: &[
                Check {
                    checks: "against a fresh counter_server, 200 clients: `200 greeted, 0 failed`, exit status 0",
                    run: |p: &Program| {
                        let server = counter_server(&[]);
                        let run = run_client(p, &server, 200, Duration::from_secs(30));
                        expect_status(&run, 0);
                        expect_said(&run, "200 greeted, 0 failed");
                    },
                },
                Check {
                    checks: "against counter_server --max-clients 5, 200 clients: the refusals reported, exit status 1",
                    run: |p: &Program| {
                        let server = counter_server(&["--max-clients", "5"]);
                        let run = run_client(p, &server, 200, Duration::from_secs(30));
                        expect_status(&run, 1);
                        expect_said(&run, "a client failed: ");
                        expect_said(&run, "ERROR: too many clients (limit 5)");
                    },
                },
                Check {
                    checks: "against a server that never answers, 20 clients: each gives up after 10 s, exit status 1",
                    run: |p: &Program| {
                        // Connections complete in the kernel's queue; nothing is ever said.
                        let silent = TcpListener::bind("127.0.0.1:0").expect("a free port");
                        let port = silent.local_addr().expect("its address").port();
                        let run = run_to_exit_within(
                            Command::new(&p.path).args([
                                "--port",
                                &port.to_string(),
                                "--clients",
                                "20",
                            ]),
                            Duration::from_secs(20),
                        );
                        expect_status(&run, 1);
                        expect_said(&run, "0 greeted, 20 failed");
                        expect_said(&run, "a client failed: ");
                    },
                },
            ],
        },
        Exercise {
            id: "4.3",
            title: "A pool of workers",
            stem: "04-many-clients/3-pool.rs",
            program: Kind::Server(Protocol::Counter, HowToStop::Enter),
            lesson: (LESSON, "A pool of workers"),
            hint: "A `WorkerPool` holds the `Sender` of an `mpsc::channel` of boxed \
                   jobs (`Box<dyn FnOnce() + Send>`) and the workers' `JoinHandle`s. \
                   Each worker loops: lock the receiver, `recv()` one job, let the \
                   guard go (a block's end), run the job inside \
                   `panic::catch_unwind(AssertUnwindSafe(job))`. At the stop, drop the \
                   sender: each worker's `recv()` then fails once the channel is empty, \
                   and it returns; join them.",
            checks: &[
                Check {
                    checks: "--workers 2: a third client waits while two silent ones hold the workers",
                    run: |p: &Program| {
                        counter::a_pool_of_two_cannot_serve_a_third_long_session(&p.target())
                    },
                },
                Check {
                    checks: "--workers 2: while one worker waits on a silent client, the other serves the next",
                    run: |p: &Program| {
                        counter::a_pool_serves_others_while_one_worker_waits(&p.target())
                    },
                },
                Check {
                    checks: "--workers 2: three clients whose handler panics, then a client is still served",
                    run: |p: &Program| {
                        let server = p.target().start(&["--workers", "2"]);
                        for _ in 0..3 {
                            let mut stream = connect(server.address());
                            let _ = stream.write_all(b"!PANIC");
                            let _ = stream.read_to_end(&mut Vec::new());
                        }
                        greeting_id(&counter_exchange(server.address(), b"anyone left?"));
                    },
                },
                Check {
                    checks: "--workers 4: fifty clients at once get the ids 1 to 50",
                    run: |p: &Program| {
                        let pool = p.target().with_args(&["--workers", "4"]);
                        counter::fifty_clients_at_once_get_ids_exactly_1_to_50(&pool);
                    },
                },
                Check {
                    checks: "--workers 1 at Enter: the idle client is told, the one waiting for a worker is served",
                    run: |p: &Program| counter::the_worker_pool_shuts_down_cleanly(&p.target()),
                },
            ],
        },
    ]
}

/// The repository's `counter_server`, built, and started on port 0 with `args`.
fn counter_server(args: &[&str]) -> ServerProcess {
    let path: PathBuf = crate::check::build("counter_server")
        .expect("the repository's counter_server builds (cargo's messages are above)");
    Target::new(Protocol::Counter, path, HowToStop::CtrlC).start(args)
}

/// Runs the learner's client against `server` with `--clients N`.
fn run_client(p: &Program, server: &ServerProcess, clients: u32, limit: Duration) -> Output {
    run_to_exit_within(
        Command::new(&p.path).args([
            "--port",
            &server.port.to_string(),
            "--clients",
            &clients.to_string(),
        ]),
        limit,
    )
}

#[track_caller]
fn expect_status(run: &Output, code: i32) {
    assert!(
        run.status.code() == Some(code),
        "expected exit status {code}; got {}\nit printed:\n{}{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

#[track_caller]
fn expect_said(run: &Output, text: &str) {
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains(text),
        "expected a line containing {text:?}; it printed:\n{stdout}"
    );
}
