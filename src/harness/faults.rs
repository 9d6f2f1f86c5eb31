//! Faults the machine throws at a server, rather than its clients: the
//! checks that a server outlives them.
//!
//! A server that passes every hostile client can still fail over hours,
//! because the machine fails it: it cannot start another thread, it is
//! stopped and continued (Ctrl-Z and `fg`, a debugger, a paused container),
//! its console's disk is full, it runs out of file descriptors while
//! serving, or thousands of clients reset their connections as the server
//! answers them. Each check here brings one of these about on purpose,
//! checks what the clients saw, and ends with a normal client served by the
//! same server process. `tests/faults.rs` runs each against every server
//! it applies to.
//!
//! A check that needs something this machine does not have (Linux's
//! `/proc`, `/dev/full`) says so in one line and returns: skipped, not failed.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::DEADLINE;
use super::client::*;
use super::hostile::{
    assert_backs_off_at_the_wall, assert_told_once_that_the_console_fails, hit_the_descriptor_wall,
};
use super::process::{ServerProcess, Signal, Target};
use crate::limits::{ADDRESS_SPACE_RESERVE, CLIENT_THREAD_STACK};
use crate::procfs;
use crate::protocol::{BUSY, Protocol, goodbye, parse_welcome};
use crate::timing::STOPS_WITHIN;

/// Prints why a check cannot run on this machine; the check then returns.
pub fn skip(why: &str) {
    eprintln!("skipped: {why}");
}

/// True if this machine has Linux's `/proc`, which these checks read; if
/// not, says so ([`skip`]).
pub fn can_watch_processes() -> bool {
    let readable = procfs::status(std::process::id()).is_some();
    if !readable {
        skip("this check reads the server's threads, memory and sockets from Linux's /proc");
    }
    readable
}

// ---------------------------------------------------------------------------
// The OS refuses a thread.

/// Client threads a server may start under the address-space limit of
/// [`thread_creation_fails`], beyond the reserve: enough to see it serve,
/// few enough to reach the limit in a second.
const THREADS_THAT_FIT: u64 = 32;

/// Thread-per-client servers: under an address-space limit (`ulimit -v`)
/// that leaves room for a few dozen client threads, the clients past it are
/// told `ERROR: server is busy ...` and closed; the clients it has are
/// still served; and once they leave, new clients are served again.
///
/// The limit is the server's own address space when idle (measured by
/// starting it once without a limit), plus the reserve it keeps free,
/// plus room for about [`THREADS_THAT_FIT`] stacks.
pub fn thread_creation_fails(target: &Target) {
    if !can_watch_processes() {
        return;
    }
    let protocol = target.protocol;
    let idle_kib = procfs::status(target.start(&[]).pid())
        .expect("read /proc/PID/status")
        .virtual_kib;
    let stack_kib = CLIENT_THREAD_STACK as u64 / 1024 + 8; // and its guard page, and some
    let limit_kib = idle_kib + ADDRESS_SPACE_RESERVE / 1024 + THREADS_THAT_FIT * stack_kib;
    let server = target.start_with_address_space_limit(limit_kib, &[]);

    // Clients one at a time, each either given a thread or told it is busy,
    // until five have been told.
    let mut served = Vec::new();
    let mut told_busy = 0;
    while told_busy < 5 {
        assert!(
            served.len() < 10 * THREADS_THAT_FIT as usize,
            "expected clients to be told the server is busy under `ulimit -v {limit_kib}`; \
             {} clients got a thread each\n{}",
            served.len(),
            server.output()
        );
        match connect_for_a_thread(&server, protocol) {
            Ok(client) => served.push(client),
            Err(line) => {
                expect_eq!(line, format!("{BUSY}\n"), "{}", server.output());
                told_busy += 1;
            }
        }
    }
    assert!(
        served.len() >= 4,
        "expected the server to start a few client threads under `ulimit -v {limit_kib}`; \
         it started {}\n{}",
        served.len(),
        server.output()
    );
    server.wait_for_stderr("cannot start a thread for");

    // The clients that have a thread are served as usual, at the limit.
    for client in &mut served {
        exchange(protocol, client, "still served?");
    }
    // Once they leave, the address space their threads held is free
    // again: a client is served in full. (Until their threads have ended,
    // a newcomer may still be told the server is busy: it tries again.)
    drop(served);
    let busy = format!("{BUSY}\n");
    eventually(
        "a client is served in full once the others have left",
        || match whole_session(protocol, server.connect(), 0) {
            Ok(()) => true,
            Err(why) if why.ends_with(&format!("{busy:?}")) => false,
            Err(why) => panic!(
                "expected a client to be served once the others left: {why}\n{}",
                server.output()
            ),
        },
    );
    assert_no_panic_or_abort(&server);
}

/// Connects a client and waits until the server has either started a
/// thread for it (the server's thread count goes up by one: Ok) or sent
/// it a line instead (an error: Err(line)). A queue client's welcome is
/// read first.
fn connect_for_a_thread(server: &ServerProcess, protocol: Protocol) -> Result<TcpStream, String> {
    let threads_before = server.threads();
    let mut stream = server.connect();
    if protocol == Protocol::Queue {
        let first = read_line(&mut stream);
        if parse_welcome(first.trim_end()).is_none() {
            return Err(first);
        }
    }
    let deadline = Instant::now() + DEADLINE;
    loop {
        if server.threads() > threads_before {
            return Ok(stream);
        }
        if has_data_waiting(&stream) {
            return Err(read_line(&mut stream));
        }
        assert!(
            Instant::now() < deadline,
            "expected the server to start a thread for a client, or tell it why not, \
             within {DEADLINE:?}; it did neither\n{}",
            server.output()
        );
        thread::sleep(Duration::from_millis(2));
    }
}

/// True if the server has sent something `stream` has not read yet.
fn has_data_waiting(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    stream.set_nonblocking(true).expect("set_nonblocking");
    let waiting = matches!(stream.peek(&mut byte), Ok(1..));
    stream.set_nonblocking(false).expect("set_nonblocking");
    waiting
}

/// One request on an open connection, and its answer checked: the counter's
/// message (after which the server closes), or a line and its reply.
#[track_caller]
fn exchange(protocol: Protocol, stream: &mut TcpStream, text: &str) {
    match protocol {
        Protocol::Counter => {
            stream.write_all(text.as_bytes()).unwrap();
            greeting_id(&read_to_end(stream));
        }
        Protocol::Echo | Protocol::Queue => {
            stream.write_all(format!("{text}\n").as_bytes()).unwrap();
            expect_line(stream, &reply_to(protocol, text));
        }
    }
}

/// Nothing panicked, and no allocation failed (which aborts the process).
#[track_caller]
fn assert_no_panic_or_abort(server: &ServerProcess) {
    let stderr = server.stderr();
    assert!(
        !stderr.contains("panicked")
            && !stderr.contains("memory allocation")
            && !stderr.contains("Fatal"),
        "{}",
        server.output()
    );
}

// ---------------------------------------------------------------------------
// The OS refuses a thread: a limit on threads, as a container has.

/// Client threads a server may start under the thread limit of
/// [`a_client_without_a_thread_is_told_it_is_busy_and_never_welcomed`].
const CLIENT_THREADS_ALLOWED: usize = 3;

/// Thread-per-client servers in a `pids` cgroup (the limit on threads a
/// container usually has) with room for three client threads: the clients
/// past them are told `ERROR: server is busy ...` as the first and only
/// line they get (never a welcome first), the three are still served, and
/// once they leave, new clients are served again.
pub fn a_client_without_a_thread_is_told_it_is_busy_and_never_welcomed(target: &Target) {
    if !can_watch_processes() {
        return;
    }
    let Some(limit) = ThreadLimit::new() else {
        return;
    };
    let protocol = target.protocol;
    let server = target.start(&[]);
    limit.apply(server.pid(), server.threads() + CLIENT_THREADS_ALLOWED);

    let mut served: Vec<TcpStream> = (0..CLIENT_THREADS_ALLOWED)
        .map(|n| {
            connect_for_a_thread(&server, protocol).unwrap_or_else(|line| {
                panic!(
                    "expected client {} of {CLIENT_THREADS_ALLOWED} to get a thread; it was told {line:?}\n{}",
                    n + 1,
                    server.output()
                )
            })
        })
        .collect();
    for _ in 0..5 {
        let mut refused = server.connect();
        expect_eq!(
            read_line(&mut refused),
            format!("{BUSY}\n"),
            "a client the server has no thread for is told so, and nothing before it\n{}",
            server.output()
        );
        assert_end_of_stream(&mut refused);
    }
    server.wait_for_stderr("cannot start a thread for");
    for client in &mut served {
        exchange(protocol, client, "still served?");
    }
    drop(served);
    eventually(
        "a client is served in full once the others have left",
        || whole_session(protocol, server.connect(), 0).is_ok(),
    );
    assert_no_panic_or_abort(&server);
    drop(server);
}

/// More warnings than a pipe holds, on a stderr nobody reads: the server
/// goes on serving, and stops as it should. Each client it has no thread
/// for (see [`a_client_without_a_thread_is_told_it_is_busy_and_never_welcomed`])
/// costs a line on stderr; two thousand of them are about 180 KB, and a
/// pipe holds 64 KiB. A server whose accept loop wrote its warnings itself
/// would stop there, in the middle of a write, for ever.
pub fn warnings_nobody_reads_do_not_stop_the_server(target: &Target) {
    if !can_watch_processes() {
        return;
    }
    let Some(limit) = ThreadLimit::new() else {
        return;
    };
    let protocol = target.protocol;
    let mut server = target.start_with_stderr_unread(&[]);
    limit.apply(server.pid(), server.threads() + 1);
    let mut held = connect_for_a_thread(&server, protocol)
        .unwrap_or_else(|line| panic!("expected a client thread; the server said {line:?}"));
    for n in 1..=2000 {
        let mut refused = server.connect();
        let line = read_line(&mut refused);
        assert!(
            line == format!("{BUSY}\n"),
            "expected client {n} of 2000 to be told the server is busy; it got {line:?}"
        );
    }
    exchange(protocol, &mut held, "still served?");
    drop(held);
    eventually("a client is served in full once the other has left", || {
        whole_session(protocol, server.connect(), 0).is_ok()
    });
    server.stop();
    server.assert_stops_cleanly_within(STOPS_WITHIN + Duration::from_secs(1));
}

/// A `pids` cgroup made for one check: a limit on how many threads its
/// processes may have in all. Dropping it moves whatever is left in it back
/// to its parent and removes it.
struct ThreadLimit {
    dir: PathBuf,
    parent: PathBuf,
}

impl ThreadLimit {
    /// A new cgroup under the `pids` controller (cgroup v1's
    /// `/sys/fs/cgroup/pids`, or v2's `/sys/fs/cgroup` when it hands `pids`
    /// to its children); if this machine offers neither, says so ([`skip`]).
    fn new() -> Option<ThreadLimit> {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "threaded-servers-check-{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        );
        let v2_hands_out_pids = fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control")
            .is_ok_and(|controllers| controllers.split_whitespace().any(|c| c == "pids"));
        let parents = [
            Some(Path::new("/sys/fs/cgroup/pids")),
            v2_hands_out_pids.then_some(Path::new("/sys/fs/cgroup")),
        ];
        for parent in parents.into_iter().flatten() {
            let dir = parent.join(&name);
            if fs::create_dir(&dir).is_err() {
                continue;
            }
            if dir.join("pids.max").exists() {
                return Some(ThreadLimit {
                    dir,
                    parent: parent.to_path_buf(),
                });
            }
            let _ = fs::remove_dir(&dir);
        }
        skip(
            "this check limits the server's threads with a pids cgroup, and this machine \
             lets it make none (it needs a writable /sys/fs/cgroup/pids, or cgroup v2 with pids)",
        );
        None
    }

    /// Moves process `pid`, every thread of it, into the cgroup, which may
    /// then hold `threads` threads in all: past them, creating a thread
    /// fails (`EAGAIN`).
    fn apply(&self, pid: u32, threads: usize) {
        let write = |file: &str, value: String| {
            fs::write(self.dir.join(file), &value).unwrap_or_else(|e| {
                panic!("cannot write {value} to {}/{file}: {e}", self.dir.display())
            })
        };
        write("pids.max", threads.to_string());
        write("cgroup.procs", pid.to_string());
    }
}

impl Drop for ThreadLimit {
    fn drop(&mut self) {
        if let Ok(procs) = fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in procs.split_whitespace() {
                let _ = fs::write(self.parent.join("cgroup.procs"), pid);
            }
        }
        let _ = fs::remove_dir(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// Stopped and continued.

/// Clients that wait on the server at the moment it is stopped (SIGSTOP,
/// what Ctrl-Z sends as SIGTSTP, a debugger, a frozen container), and
/// clients that keep asking while it is stopped: once it is continued
/// (SIGCONT), every one gets its answer, and none is left waiting.
///
/// The trap: Linux ends a blocking read that has a timeout (every session
/// here has the idle timeout) with `EINTR` when the process is continued,
/// even though no signal handler ran. A server that takes that error for a
/// broken connection drops every client it was waiting for.
pub fn stopped_and_continued_under_load(target: &Target) {
    if !can_watch_processes() {
        return;
    }
    let protocol = target.protocol;
    let mut server = target.start(&[]);
    let address = server.address();
    // Clients the server is waiting for: each of its threads (or tasks)
    // is blocked in a read when the server stops. Each is an open
    // descriptor once the server has accepted it.
    let fds_before = server.open_fds();
    let mut waiting: Vec<TcpStream> = (0..20).map(|_| session(protocol, address)).collect();
    eventually("the server has accepted every waiting client", || {
        server.open_fds() >= fds_before + waiting.len()
    });
    // And clients that keep asking throughout, each answer checked.
    let stop_asking = AtomicBool::new(false);
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let outcome = thread::scope(|scope| {
        // Set however this closure ends, a failed check included: the
        // scope waits for the askers, and they ask until it is set.
        let _stop = SetOnDrop(&stop_asking);
        let askers: Vec<_> = (0..4)
            .map(|n| {
                let (stop_asking, answered) = (&stop_asking, &answered);
                scope.spawn(move || keep_asking(protocol, address, n, stop_asking, answered))
            })
            .collect();
        eventually("the clients are being answered", || {
            answered.load(Ordering::Relaxed) >= 20
        });

        server.signal(Signal::SIGSTOP);
        // While it is stopped: the waiting clients send their requests,
        // which the kernel keeps for it.
        for (n, stream) in waiting.iter_mut().enumerate() {
            let request = match protocol {
                Protocol::Counter => format!("sent while stopped {n}"),
                _ => format!("sent while stopped {n}\n"),
            };
            stream.write_all(request.as_bytes()).unwrap();
        }
        // The fault lasts a second: long enough for every read the server
        // had in progress to be interrupted, and for the askers to wait.
        thread::sleep(Duration::from_secs(1));
        let during = answered.load(Ordering::Relaxed);
        server.signal(Signal::SIGCONT);

        for (n, stream) in waiting.iter_mut().enumerate() {
            let text = format!("sent while stopped {n}");
            match protocol {
                Protocol::Counter => {
                    greeting_id(&read_to_end(stream));
                }
                _ => expect_line(stream, &reply_to(protocol, &text)),
            }
        }
        eventually("the clients asking throughout are answered again", || {
            answered.load(Ordering::Relaxed) >= during + 50
        });
        stop_asking.store(true, Ordering::Relaxed);
        askers
            .into_iter()
            .map(|asker| asker.join().expect("an asking client panicked"))
            .collect::<Vec<_>>()
    });
    assert_every_client(&outcome);
    assert_still_serves(protocol, server.address());
    assert!(server.is_running(), "{}", server.output());
    assert!(!server.stderr().contains("panicked"), "{}", server.output());
}

/// Sets its flag when dropped.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A client that asks and checks the answer, again and again, until told to
/// stop; counts its answers in `answered`. A line client keeps one session;
/// a counter client connects for each message.
fn keep_asking(
    protocol: Protocol,
    address: SocketAddr,
    n: usize,
    stop: &AtomicBool,
    answered: &std::sync::atomic::AtomicUsize,
) -> Result<(), String> {
    let mut asked = 0;
    let mut stream = (protocol != Protocol::Counter).then(|| session(protocol, address));
    while !stop.load(Ordering::Relaxed) {
        let text = format!("asker {n} message {asked}");
        let answer = match stream.as_mut() {
            None => {
                let mut stream = connect(address);
                write_then_read(&mut stream, text.as_bytes(), |s| {
                    let mut reply = String::new();
                    s.read_to_string(&mut reply).map(|_| reply)
                })
            }
            Some(stream) => write_then_read(stream, format!("{text}\n").as_bytes(), |s| {
                let mut reply = String::new();
                BufReader::new(s).read_line(&mut reply).map(|_| reply)
            }),
        }
        .map_err(|e| format!("message {asked}: {e}"))?;
        let right = match protocol {
            Protocol::Counter => crate::protocol::parse_greeting(&answer).is_some(),
            _ => answer == reply_to(protocol, &text),
        };
        if !right {
            return Err(format!("sent {text:?}, got {answer:?}"));
        }
        asked += 1;
        answered.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Writes `request`, then reads its answer with `read`; any failure, a
/// timeout included, in words.
fn write_then_read(
    stream: &mut TcpStream,
    request: &[u8],
    read: impl FnOnce(&mut TcpStream) -> std::io::Result<String>,
) -> Result<String, String> {
    stream
        .write_all(request)
        .map_err(|e| format!("send: {}", describe(&e)))?;
    read(stream).map_err(|e| format!("reply: {}", describe(&e)))
}

// ---------------------------------------------------------------------------
// A console that cannot be written.

/// The console is `/dev/full`, where every write fails ("No space left on
/// device"), as a log on a full disk does: the server serves every client
/// all the same, and tells the operator once, on stderr.
pub fn console_cannot_be_written(target: &Target) {
    if !can_watch_processes() {
        return;
    }
    if !Path::new("/dev/full").exists() {
        skip("this machine has no /dev/full, the device whose every write fails");
        return;
    }
    let protocol = target.protocol;
    let full = File::options()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let mut server = ServerProcess::spawn_with_stdout(
        target.command(&[]),
        target.how_to_stop(),
        Stdio::from(full),
    );
    // Each client is a few log lines the printer fails to write.
    for _ in 0..50 {
        assert_still_serves(protocol, server.address());
    }
    server.wait_for_stderr(super::hostile::CONSOLE_FAILING);
    for _ in 0..50 {
        assert_still_serves(protocol, server.address());
    }
    server.stop();
    server.assert_stops_cleanly_within(DEADLINE);
    assert!(
        server.stderr().contains("No space left on device"),
        "{}",
        server.output()
    );
    assert!(!server.stderr().contains("panicked"), "{}", server.output());
    assert_told_once_that_the_console_fails(&server);
}

// ---------------------------------------------------------------------------
// Out of file descriptors, with clients to serve.

/// The server runs out of file descriptors with a hundred clients to serve
/// (hostile's `out_of_file_descriptors` makes them wait idle instead):
/// it backs off without spinning, serves the clients it has accepted, and
/// as each of them leaves and frees a descriptor, accepts and serves one
/// of those still waiting in the kernel's queue. Every client is answered
/// in full; none is reset or left waiting.
pub fn descriptors_run_out_under_load(target: &Target) {
    if !can_watch_processes() {
        return;
    }
    let protocol = target.protocol;
    let (server, crowd) = hit_the_descriptor_wall(target);
    assert_backs_off_at_the_wall(&server);
    let results: Vec<Result<(), String>> = thread::scope(|scope| {
        let clients: Vec<_> = crowd
            .into_iter()
            .enumerate()
            .map(|(n, stream)| scope.spawn(move || whole_session(protocol, stream, n)))
            .collect();
        clients
            .into_iter()
            .map(|client| client.join().expect("a client of the crowd panicked"))
            .collect()
    });
    assert_every_client(&results);
    assert_still_serves(protocol, server.address());
    assert!(!server.stderr().contains("panicked"), "{}", server.output());
}

/// A client's whole session on an open connection, every answer checked:
/// the counter's greeting; or a line, its reply, `!DISCONNECT`, the goodbye
/// if any, and the end of the stream.
fn whole_session(protocol: Protocol, stream: TcpStream, n: usize) -> Result<(), String> {
    let text = format!("client {n} of the crowd");
    let mut lines = BufReader::new(&stream);
    let mut next_line = || -> Result<String, String> {
        let mut line = String::new();
        match lines.read_line(&mut line) {
            Ok(0) => Err(format!("the connection closed after {line:?}")),
            Ok(_) => Ok(line),
            Err(e) => Err(describe(&e)),
        }
    };
    let send = |bytes: &[u8]| (&stream).write_all(bytes).map_err(|e| describe(&e));
    let mut id = None;
    if protocol == Protocol::Queue {
        let welcome = next_line()?;
        id = parse_welcome(welcome.trim_end());
        if id.is_none() {
            return Err(format!("expected the welcome, got {welcome:?}"));
        }
    }
    if protocol == Protocol::Counter {
        send(text.as_bytes())?;
        let mut reply = String::new();
        (&stream)
            .read_to_string(&mut reply)
            .map_err(|e| describe(&e))?;
        return match crate::protocol::parse_greeting(&reply) {
            Some(_) => Ok(()),
            None => Err(format!("expected a greeting, got {reply:?}")),
        };
    }
    send(format!("{text}\n").as_bytes())?;
    let reply = next_line()?;
    if reply != reply_to(protocol, &text) {
        return Err(format!("sent {text:?}, got {reply:?}"));
    }
    send(b"!DISCONNECT\n")?;
    if let Some(id) = id {
        let farewell = next_line()?;
        if farewell != format!("{}\n", goodbye(id)) {
            return Err(format!("expected the goodbye, got {farewell:?}"));
        }
    }
    match next_line() {
        Err(closed) if closed.starts_with("the connection closed") => Ok(()),
        Err(e) => Err(format!("after !DISCONNECT: {e}")),
        Ok(more) => Err(format!("after !DISCONNECT: {more:?}")),
    }
}

// ---------------------------------------------------------------------------
// Resets in the middle of replies.

/// Resets in each round of [`resets_in_the_middle_of_replies`].
const RESETS: usize = 1000;
/// Rounds measured, after one that warms the server up.
const ROUNDS: usize = 3;
/// Growth in a round that counts as growth: a leak of 130 bytes a reset
/// or more grows the server by this much in every round. The allocator's
/// own noise is a step now and then (a thread's arena touched for the
/// first time, a buffer that doubled once), not a rise in every round.
const GROWTH_KIB: u64 = 128;
/// Growth over all the rounds that fails the check whatever its shape.
const MOST_GROWTH_KIB: u64 = 4096;

/// Thousands of clients ask for a long answer and reset the connection
/// (SO_LINGER 0) in the middle of it. Nothing grows: after each round the
/// server's descriptors and threads are back to what they were idle, and
/// its memory (`VmRSS`), after a first round to warm up, does not rise
/// round after round.
pub fn resets_in_the_middle_of_replies(target: &Target) {
    if !can_watch_processes() {
        return;
    }
    let protocol = target.protocol;
    let server = target.start(&[]);
    let idle_fds = server.open_fds();
    let idle_threads = server.threads();
    let mut resident = Vec::new();
    for _ in 0..=ROUNDS {
        reset_mid_reply_many_times(protocol, server.address(), RESETS);
        wait_until_back_to(&server, idle_fds, idle_threads);
        resident.push(resident_kib(&server));
    }
    let grew_every_round = resident
        .windows(2)
        .all(|pair| pair[1] > pair[0] + GROWTH_KIB);
    let growth = resident[ROUNDS].saturating_sub(resident[0]);
    assert!(
        !grew_every_round && growth <= MOST_GROWTH_KIB,
        "the server's memory (VmRSS, KiB) after a warm-up round and each round of {RESETS} \
         resets in the middle of a reply: {resident:?}; it grew by more than {GROWTH_KIB} KiB \
         in every round, or by more than {MOST_GROWTH_KIB} KiB in all\n{}",
        server.output()
    );
    assert_still_serves(protocol, server.address());
    assert!(!server.stderr().contains("panicked"), "{}", server.output());
}

/// `count` clients, eight at a time, each asking for a long answer and
/// resetting the connection once the answer has begun to arrive.
fn reset_mid_reply_many_times(protocol: Protocol, address: SocketAddr, count: usize) {
    const AT_ONCE: usize = 8;
    // 32 lines: the server answers with 32 writes, and the reset comes
    // in the middle of them.
    let request: String = (0..32)
        .map(|n| format!("line {n:02} {}\n", "r".repeat(90)))
        .collect();
    thread::scope(|scope| {
        for _ in 0..AT_ONCE {
            let request = request.as_bytes();
            scope.spawn(move || {
                for _ in 0..count / AT_ONCE {
                    let mut stream = connect(address);
                    if protocol == Protocol::Queue {
                        read_line(&mut stream); // The welcome.
                    }
                    match protocol {
                        // The greeting is short: the reset comes after its first bytes.
                        Protocol::Counter => stream.write_all(b"reset me").unwrap(),
                        _ => stream.write_all(request).unwrap(),
                    }
                    let mut begun = [0u8; 10];
                    stream
                        .read_exact(&mut begun)
                        .expect("the answer begins before the reset");
                    reset(stream);
                }
            });
        }
    });
}

/// Waits until the server has as many descriptors and threads as `fds` and
/// `threads`: every connection of the clients that left has been let go.
#[track_caller]
fn wait_until_back_to(server: &ServerProcess, fds: usize, threads: usize) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (now_fds, now_threads) = (server.open_fds(), server.threads());
        if now_fds == fds && now_threads == threads {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected the server back to {fds} open descriptors and {threads} threads \
             once its clients left; after {DEADLINE:?} it has {now_fds} and {now_threads}\n{}",
            server.output()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// The server's memory in RAM now (`VmRSS`), in KiB.
fn resident_kib(server: &ServerProcess) -> u64 {
    procfs::status(server.pid())
        .expect("read /proc/PID/status")
        .resident_kib
}
