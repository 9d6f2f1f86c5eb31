//! `client` and `swarm`, the learner's tools, must never mislead: the wrong
//! server is named, a value that makes no sense is refused with a word about
//! the value, a timeout is called one, and swarm's numbers add up.
//!
//! Each test runs the real binaries, against the real servers on port 0 (or
//! against a port where nothing answers), and every wait has a deadline.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::panic;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use support::*;
use threaded_servers::protocol::greeting;

/// Runs `program args...` to the end (at most `limit`): exit code, stdout, stderr.
fn run(program: &str, args: &[&str], limit: Duration) -> (Option<i32>, String, String) {
    let mut command = match program {
        "client" => cargo_bin_cmd!("client"),
        "swarm" => cargo_bin_cmd!("swarm"),
        server => assert_cmd::Command::new(server),
    };
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .args(args)
        .timeout(limit)
        .output()
        .expect("run the program");
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Asserts that `stderr` is exactly one line and contains every one of `parts`.
#[track_caller]
fn assert_one_line(stderr: &str, parts: &[&str]) {
    assert_eq!(stderr.lines().count(), 1, "not one line:\n{stderr}");
    for part in parts {
        assert!(stderr.contains(part), "no {part:?} in:\n{stderr}");
    }
}

// ---------------------------------------------------------------------------
// client: whom it talks to.

/// Each mode against each other lesson's server: one line naming the server
/// that is there and the mode to use, nothing on stdout, exit 1.
#[test]
fn the_client_names_the_server_it_finds_and_the_mode_to_use() {
    for server_protocol in Protocol::ALL {
        let server = ServerProcess::of(server_protocol, Style::Threads, &[]);
        let port = server.port.to_string();
        for mode in Protocol::ALL {
            if mode == server_protocol {
                continue;
            }
            let (code, stdout, stderr) = run(
                "client",
                &[mode.name(), "--port", &port, "-m", "hi"],
                DEADLINE,
            );
            let what = format!(
                "client {} against {}",
                mode.name(),
                server_protocol.server_name()
            );
            assert_eq!(code, Some(1), "{what}: {stdout}{stderr}");
            assert_eq!(stdout, "", "{what}");
            let looks_like = format!(
                "this looks like {}; use `client {}`",
                server_protocol.server_name(),
                server_protocol.name()
            );
            assert_one_line(&stderr, &[&format!("127.0.0.1:{port}"), &looks_like]);
        }
    }
}

/// The check costs a right server nothing: the default client's one message
/// reaches the counter server unchanged, and takes the first id.
#[test]
fn the_counter_client_sends_only_its_message() {
    let mut server = ServerProcess::of(Protocol::Counter, Style::Threads, &[]);
    let (code, stdout, stderr) = run("client", &["--port", &server.port.to_string()], DEADLINE);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("Server replied: {}\n", greeting(1)));
    server.wait_for("Client 1 disconnected.");
    assert!(
        server
            .lines
            .contains(&"Client 1 says: Hello, Server!".to_string()),
        "{}",
        server.output()
    );
}

/// A queue session starts with its welcome, printed first, as before.
#[test]
fn the_queue_client_still_prints_its_welcome_first() {
    let server = ServerProcess::of(Protocol::Queue, Style::Threads, &[]);
    let (code, stdout, stderr) = run(
        "client",
        &["queue", "--port", &server.port.to_string(), "-m", "hi"],
        DEADLINE,
    );
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("Welcome, Client 1!"), "{stdout}");
    assert_eq!(lines[1..], ["Processed: hi", "Goodbye, Client 1."]);
}

/// A host name that does not resolve is about the host, not about starting a server.
#[test]
fn an_unknown_host_gets_a_hint_about_the_host() {
    for program in ["client", "swarm"] {
        let mut args = vec!["--host", "no-such-host.invalid"];
        if program == "swarm" {
            args.insert(0, "counter");
        }
        let (code, stdout, stderr) = run(program, &args, DEADLINE);
        assert_eq!(code, Some(1), "{program}: {stdout}{stderr}");
        assert_one_line(
            &stderr,
            &[
                "cannot find the host `no-such-host.invalid`",
                "Check --host",
            ],
        );
        assert!(!stderr.contains("cargo run"), "{stderr}");
    }
}

/// A server that accepts and never says a word: the client gives up after
/// its 10 s and says it had no answer, not "Resource temporarily unavailable".
#[test]
fn a_silent_server_is_reported_as_a_timeout() {
    // Listening, never accepting: the kernel completes the connection, and
    // nothing is ever sent on it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    // Both modes at once: each waits its full 10 s.
    let runs: Vec<_> = ["counter", "queue"]
        .map(|mode| {
            let port = port.clone();
            thread::spawn(move || (mode, run("client", &[mode, "--port", &port], DEADLINE * 2)))
        })
        .into_iter()
        .map(|running| running.join().expect("run the client"))
        .collect();
    for (mode, (code, _, stderr)) in runs {
        assert_eq!(code, Some(1), "{mode}: {stderr}");
        assert_one_line(
            &stderr,
            &[&format!("client: 127.0.0.1:{port}: no answer within 10 s")],
        );
        assert!(!stderr.contains("os error"), "{stderr}");
    }
}

/// A queue session waits for its typist as long as it takes: longer than
/// any timeout the client uses while it makes sure of the server.
#[test]
fn a_queue_session_waits_for_the_typist_as_long_as_it_takes() {
    let server = ServerProcess::of(Protocol::Queue, Style::Threads, &[]);
    let mut typist = ClientProcess::start(&["queue", "--port", &server.port.to_string()]);
    assert!(typist.next_line().starts_with("Welcome, Client 1!"));
    // The client's longest wait for an answer is 10 s: think for longer.
    thread::sleep(Duration::from_secs(11));
    typist.type_line("still here");
    assert_eq!(typist.next_line(), "Processed: still here");
    let (rest, status) = typist.finish();
    assert_eq!(rest, ["Goodbye, Client 1."]);
    assert!(status.success());
}

/// The tests' own reads name a timeout as one when they fail.
#[test]
fn a_read_timeout_in_a_failing_test_is_named_as_one() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut stream = connect(silent.local_addr().unwrap());
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let failure = panic::catch_unwind(move || read_line(&mut stream)).expect_err("a failed read");
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("a read timeout"), "{message}");
    assert!(!message.contains("os error"), "{message}");
}

// ---------------------------------------------------------------------------
// Flags: a message about the value, and the real defaults in --help.

/// Negative numbers reach the value's own check, which says what is wrong
/// with the value; zero and nonsense counts are refused the same way.
#[test]
fn a_bad_number_gets_a_message_about_the_value() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "client",
            &["--port", "-1"],
            "`-1` is not a server's port number",
        ),
        (
            "client",
            &["echo", "--port", "0"],
            "`0` is not a server's port number",
        ),
        (
            COUNTER_SERVER,
            &["--port", "-1"],
            "`-1` is not a port number",
        ),
        (
            ECHO_SERVER,
            &["--idle-timeout", "-3"],
            "`-3` is not a number of seconds",
        ),
        (QUEUE_SERVER, &["--max-clients", "0"], "`0` is not a count"),
        (COUNTER_SERVER, &["--backlog", "-5"], "`-5` is not a count"),
        (
            "swarm",
            &["counter", "--clients", "0"],
            "`0` is not a count",
        ),
        (
            "swarm",
            &["counter", "--concurrency", "0"],
            "`0` is not a count",
        ),
        (
            "swarm",
            &["counter", "--concurrency", "-4"],
            "`-4` is not a count",
        ),
        ("swarm", &["echo", "--messages", "0"], "`0` is not a count"),
        ("swarm", &["echo", "--window", "0"], "`0` is not a count"),
        (
            "swarm",
            &["echo", "--idle", "--hold", "-1"],
            "`-1` is not a number of seconds",
        ),
        (
            "swarm",
            &["queue", "--server-pid", "0"],
            "`0` is not a process id",
        ),
        (
            "swarm",
            &["queue", "--port", "-1"],
            "`-1` is not a server's port number",
        ),
    ];
    for (program, args, expected) in cases {
        let (code, _, stderr) = run(program, args, DEADLINE);
        assert_eq!(code, Some(2), "{program} {args:?}: {stderr}");
        assert!(stderr.contains(expected), "{program} {args:?}: {stderr}");
        assert!(!stderr.contains("unexpected argument"), "{stderr}");
    }
}

/// Each server's --help shows the address it really listens on by default.
#[test]
fn each_server_help_shows_its_own_address() {
    for (protocol, style) in Protocol::ALL
        .into_iter()
        .flat_map(|protocol| Style::ALL.map(|style| (protocol, style)))
    {
        let (code, help, _) = run(server_binary(protocol, style), &["--help"], DEADLINE);
        assert_eq!(code, Some(0));
        let port = format!("[default: {}]", protocol.default_port());
        let port_line = help.lines().find(|line| line.contains("--port"));
        assert!(
            port_line.is_some_and(|line| line.ends_with(&port)),
            "{help}"
        );
        let host_line = help.lines().find(|line| line.contains("--host"));
        assert!(
            host_line.is_some_and(|line| line.ends_with("[default: 127.0.0.1]")),
            "{help}"
        );
    }
}

/// `client --help` and `swarm --help` name every server's port.
#[test]
fn client_and_swarm_help_show_every_default_port() {
    for program in ["client", "swarm"] {
        let (code, help, _) = run(program, &["--help"], DEADLINE);
        assert_eq!(code, Some(0));
        for protocol in Protocol::ALL {
            let default = format!("{} {}", protocol.name(), protocol.default_port());
            assert!(help.contains(&default), "{program}: {help}");
        }
        assert!(help.contains("[default: 127.0.0.1]"), "{program}: {help}");
    }
}

// ---------------------------------------------------------------------------
// swarm: true numbers, one line when there is nothing to measure.

/// The number in `text` just before `unit`, as in "(500 in 0.12 s)".
fn number_before(text: &str, unit: &str) -> f64 {
    let at = text
        .find(unit)
        .unwrap_or_else(|| panic!("no {unit:?} in:\n{text}"));
    let number = text[..at].rsplit(' ').next().unwrap_or_default();
    number
        .parse()
        .unwrap_or_else(|_| panic!("no number before {unit:?} in:\n{text}"))
}

/// A burst: the clock runs from before the first connection to the last
/// answer, so the total is never shorter than the slowest client's wait.
#[test]
fn swarm_time_covers_the_slowest_client_of_a_burst() {
    let server = ServerProcess::of(Protocol::Counter, Style::Threads, &[]);
    let (code, text, stderr) = run(
        "swarm",
        &[
            "counter",
            "--port",
            &server.port.to_string(),
            "--clients",
            "500",
            "--concurrency",
            "500",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{text}{stderr}");
    let throughput = text
        .lines()
        .find(|line| line.contains("throughput"))
        .unwrap_or_else(|| panic!("no throughput in:\n{text}"));
    let latency = text
        .lines()
        .find(|line| line.contains("latency"))
        .unwrap_or_else(|| panic!("no latency in:\n{text}"));
    let total_ms = number_before(throughput, " s)") * 1000.0;
    let max_ms = number_before(latency.split("max").nth(1).unwrap_or_default(), " ms");
    // Both are printed rounded: the total to 10 ms, the latency to 0.01 ms.
    assert!(
        total_ms + 5.0 >= max_ms,
        "total {total_ms} ms is shorter than the slowest client's {max_ms} ms:\n{text}"
    );
}

/// On a counter server that has served clients before, the failed id check
/// says on its own line what to do; with --not-fresh the run passes.
#[test]
fn a_second_counter_run_says_what_to_do_on_its_failure_line() {
    let server = ServerProcess::of(Protocol::Counter, Style::Threads, &[]);
    let port = server.port.to_string();
    let args = ["counter", "--port", &port, "--clients", "5"];
    let (code, text, _) = run("swarm", &args, DEADLINE);
    assert_eq!(code, Some(0), "{text}");
    let (code, text, _) = run("swarm", &args, DEADLINE);
    assert_eq!(code, Some(1), "{text}");
    let failure = text
        .lines()
        .find(|line| line.contains("FAIL"))
        .unwrap_or_else(|| panic!("no FAIL line in:\n{text}"));
    assert!(failure.contains("ids 6..=10"), "{failure}");
    assert!(
        failure.contains("restart it, or pass --not-fresh"),
        "{failure}"
    );
    let (code, text, _) = run("swarm", &[&args[..], &["--not-fresh"]].concat(), DEADLINE);
    assert_eq!(code, Some(0), "{text}");
}

/// No server: the usual first line, then one line on stderr with the hint,
/// and no checks of zero clients; a load run and an idle run alike.
#[test]
fn swarm_without_a_server_prints_one_line_with_the_hint() {
    let refusing = refusing_port();
    let port = refusing.port.to_string();
    for idle in [false, true] {
        let mut args = vec!["echo", "--port", &port, "--clients", "3"];
        if idle {
            args.push("--idle");
        }
        let (code, stdout, stderr) = run("swarm", &args, DEADLINE);
        assert_eq!(code, Some(1), "{stdout}{stderr}");
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(stdout.starts_with("swarm: 3 "), "{stdout}");
        assert_one_line(
            &stderr,
            &[
                &format!("cannot connect to 127.0.0.1:{port}"),
                &format!("Start it with: cargo run --release --bin echo_server -- --port {port}"),
            ],
        );
    }
}

/// A --server-pid that cannot be read is an error, before any client runs.
#[test]
fn swarm_refuses_a_server_pid_it_cannot_read() {
    let server = ServerProcess::of(Protocol::Echo, Style::Threads, &[]);
    // Above Linux's highest possible pid (2^22): no process has it.
    let (code, stdout, stderr) = run(
        "swarm",
        &[
            "echo",
            "--port",
            &server.port.to_string(),
            "--server-pid",
            "4194305",
        ],
        DEADLINE,
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert_eq!(stdout, "");
    assert_one_line(
        &stderr,
        &["--server-pid 4194305: cannot read /proc/4194305/status"],
    );
    assert!(
        !server
            .lines
            .iter()
            .any(|line| line.contains("[New Connection]")),
        "{}",
        server.output()
    );
}

/// swarm running in the background, its stdout read a line at a time.
struct Background {
    child: Child,
    stdout: Receiver<String>,
}

impl Background {
    fn swarm(args: &[&str]) -> Background {
        let mut child = Command::new(SWARM)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start swarm");
        let stdout = child.stdout.take().expect("piped stdout");
        let (line_tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    return;
                }
            }
        });
        Background {
            child,
            stdout: lines,
        }
    }

    /// Waits for a stdout line that contains `text`.
    fn wait_for(&self, text: &str) {
        loop {
            let line = self
                .stdout
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("swarm never printed {text:?}"));
            if line.contains(text) {
                return;
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--idle` without `--hold` keeps its clients until Ctrl-C, and then lets them go.
#[test]
fn swarm_idle_holds_its_clients_until_ctrl_c() {
    let mut server = ServerProcess::of(Protocol::Echo, Style::Threads, &[]);
    let port = server.port.to_string();
    let mut swarm = Background::swarm(&["echo", "--idle", "--clients", "3", "--port", &port]);
    swarm.wait_for("holding     until Ctrl-C");
    server.wait_for_count("[New Connection]", 3);
    assert!(
        swarm.child.try_wait().unwrap().is_none(),
        "swarm let go of its clients on its own"
    );
    assert!(
        !server
            .lines
            .iter()
            .any(|l| l.contains("[Client disconnected]")),
        "{}",
        server.output()
    );
    let pid = nix::unistd::Pid::from_raw(swarm.child.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGINT).expect("signal swarm");
    eventually("swarm exits after Ctrl-C", || {
        swarm.child.try_wait().unwrap().is_some()
    });
    server.wait_for_count("[Client disconnected]", 3);
}
