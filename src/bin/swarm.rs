//! Many clients at once: the seeds' "start multiple clients in different
//! terminals", done properly, with checks and numbers.
//!
//! ```text
//! cargo run --release --bin swarm -- counter --clients 10000 --concurrency 50
//! cargo run --release --bin swarm -- echo --clients 64 --concurrency 64 --messages 2000
//! cargo run --release --bin swarm -- queue --clients 100 --messages 100
//! ```
//!
//! It checks what a learner should see: every client answered; every answer
//! exactly right; on a fresh `counter_server`, ids exactly 1..N (duplicates
//! and gaps counted); every echo identical and in order; every queue reply
//! sent back to its own sender, in order, and every queue client's id its
//! own. Then it prints throughput and latency. A failed check is a non-zero
//! exit.
//!
//! `--idle` opens the clients and keeps them connected and silent instead:
//! with `--server-pid`, it reports the server's memory per idle client.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use threaded_servers::cli::Protocol;
use threaded_servers::framing::{DISCONNECT_MSG, is_timeout, send_line};
use threaded_servers::server::raise_open_file_limit;
use threaded_servers::{say, warn};

/// How long any one read or connect may take before the client counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Stack size for swarm's own client threads: they need little.
const CLIENT_THREAD_STACK: usize = 128 * 1024;

/// Many concurrent clients against one server: checks, throughput and latency.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    protocol: Protocol,

    /// Server address.
    #[arg(long, global = true, default_value = "127.0.0.1")]
    host: String,

    /// Server port [default: the lesson's port for that server].
    #[arg(long, global = true)]
    port: Option<u16>,

    /// How many clients in all.
    #[arg(long, global = true, default_value_t = 1000)]
    clients: usize,

    /// How many clients at the same time. Equal to --clients, they all
    /// connect at the same instant (a burst).
    #[arg(long, global = true, default_value_t = 50)]
    concurrency: usize,

    /// Echo and queue: lines per client.
    #[arg(long, global = true, default_value_t = 100)]
    messages: usize,

    /// Echo and queue: lines sent before reading their answers. More than 1
    /// checks that answers keep the order; 1 measures single round trips.
    #[arg(long, global = true, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    window: u16,

    /// Counter: the server has served clients before this run; check only
    /// that the ids are unique and consecutive, not that they are 1..N.
    #[arg(long, global = true)]
    not_fresh: bool,

    /// Connect the clients and keep them connected and silent, instead of a load test.
    #[arg(long, global = true)]
    idle: bool,

    /// With --idle: seconds to keep the idle clients connected.
    #[arg(long, global = true, default_value_t = 0.0)]
    hold: f64,

    /// The server's process id, to report its CPU time and memory (Linux /proc).
    #[arg(long, global = true)]
    server_pid: Option<u32>,
}

/// What one client saw.
#[derive(Default)]
struct Outcome {
    /// Time from sending to the answer: per connection (counter) or per line.
    latencies: Vec<Duration>,
    /// The id the server gave this client (counter greeting, queue welcome).
    id: Option<u64>,
    /// What went wrong, if anything.
    problem: Option<Problem>,
}

impl Outcome {
    fn unanswered(&self) -> Option<&String> {
        match &self.problem {
            Some(Problem::Unanswered(why)) => Some(why),
            _ => None,
        }
    }

    fn wrong(&self) -> Option<&String> {
        match &self.problem {
            Some(Problem::Wrong(why)) => Some(why),
            _ => None,
        }
    }
}

/// The two ways a client can fail, counted apart.
enum Problem {
    /// No answer, or not all of it: refused, reset, timed out.
    Unanswered(String),
    /// An answer, and a wrong one.
    Wrong(String),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let port = args.port.unwrap_or(args.protocol.default_port());
    let Some(address) = (args.host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        warn!("swarm: cannot resolve {}:{port}", args.host);
        return ExitCode::FAILURE;
    };
    // Each client is one open file here too: make room, as the servers do.
    let sockets = if args.idle {
        args.clients
    } else {
        args.concurrency
    };
    raise_open_file_limit(sockets as u64 + 64);
    let ok = if args.idle {
        hold_idle_clients(&args, address)
    } else {
        run_load(&args, address)
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The load test: --clients clients, --concurrency at a time.
fn run_load(args: &Args, address: SocketAddr) -> bool {
    let concurrency = args.concurrency.clamp(1, args.clients.max(1));
    let server = args.protocol.server_name();
    let each = match args.protocol {
        Protocol::Counter => String::new(),
        _ => format!(", {} lines each, {} at a time", args.messages, args.window),
    };
    say!(
        "swarm: {} clients against {server} at {address}, {concurrency} at a time{each}",
        args.clients
    );
    let cpu_before = args.server_pid.and_then(server_cpu_time);
    let next_client = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    // Every client thread waits here, so the first connections all start together.
    let start_line = Arc::new(Barrier::new(concurrency + 1));
    let outcomes = Arc::new(Mutex::new(Vec::with_capacity(args.clients)));

    let mut threads = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (next_client, finished, start_line, outcomes) = (
            Arc::clone(&next_client),
            Arc::clone(&finished),
            Arc::clone(&start_line),
            Arc::clone(&outcomes),
        );
        let (protocol, clients, messages, window) =
            (args.protocol, args.clients, args.messages, args.window);
        let spawned = thread::Builder::new()
            .stack_size(CLIENT_THREAD_STACK)
            .spawn(move || {
                start_line.wait();
                let mut mine = Vec::new();
                loop {
                    let n = next_client.fetch_add(1, Ordering::Relaxed);
                    if n >= clients {
                        break;
                    }
                    mine.push(run_client(protocol, address, n, messages, window.into()));
                    finished.fetch_add(1, Ordering::Relaxed);
                }
                outcomes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(mine);
            });
        match spawned {
            Ok(handle) => threads.push(handle),
            Err(e) => {
                warn!("swarm: cannot start client thread: {e}; try a lower --concurrency");
                return false;
            }
        }
    }
    start_line.wait();
    let started = Instant::now();
    let progress = Progress::start(args.clients, Arc::clone(&finished));
    for handle in threads {
        let _ = handle.join();
    }
    let elapsed = started.elapsed();
    progress.stop();

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap_or_else(PoisonError::into_inner));
    let cpu = cpu_before.zip(args.server_pid.and_then(server_cpu_time));
    report(
        args,
        &outcomes,
        elapsed,
        cpu.map(|(before, after)| after.saturating_sub(before)),
    )
}

/// One client, start to finish.
fn run_client(
    protocol: Protocol,
    address: SocketAddr,
    n: usize,
    messages: usize,
    window: usize,
) -> Outcome {
    let mut outcome = Outcome::default();
    let result = match protocol {
        Protocol::Counter => counter_client(address, &mut outcome),
        Protocol::Echo | Protocol::Queue => {
            session_client(protocol, address, n, messages, window, &mut outcome)
        }
    };
    outcome.problem = result.err();
    outcome
}

fn open(address: SocketAddr) -> Result<TcpStream, Problem> {
    let connect_failed = |e| unanswered("connect", e);
    let stream = TcpStream::connect_timeout(&address, TIMEOUT).map_err(connect_failed)?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(connect_failed)?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(connect_failed)?;
    // Each line is a whole request: send it now rather than wait to fill a packet.
    stream.set_nodelay(true).map_err(connect_failed)?;
    Ok(stream)
}

/// A client left without its answer: what it was doing, and why.
fn unanswered(what: &str, error: io::Error) -> Problem {
    if is_timeout(&error) {
        // A timed-out read says only "Resource temporarily unavailable".
        let seconds = TIMEOUT.as_secs();
        Problem::Unanswered(format!(
            "{what}: nothing from the server within {seconds} s"
        ))
    } else {
        Problem::Unanswered(format!("{what}: {error}"))
    }
}

/// Lesson 1: connect, send, read the greeting until the server closes.
fn counter_client(address: SocketAddr, outcome: &mut Outcome) -> Result<(), Problem> {
    let started = Instant::now();
    let mut stream = open(address)?;
    stream
        .write_all(b"Hello, Server!")
        .map_err(|e| unanswered("send", e))?;
    let mut reply = String::new();
    stream
        .take(4096)
        .read_to_string(&mut reply)
        .map_err(|e| unanswered("reply", e))?;
    outcome.latencies.push(started.elapsed());
    let id = reply
        .strip_prefix("Hello Client ")
        .and_then(|rest| rest.split(',').next())
        .and_then(|id| id.parse().ok())
        .filter(|id| reply == format!("Hello Client {id}, server received your message!"))
        .ok_or_else(|| Problem::Wrong(format!("greeting {reply:?}")))?;
    outcome.id = Some(id);
    Ok(())
}

// ANCHOR: session_client
/// Lessons 2 and 3: a session of `messages` lines, sent `window` at a time
/// before reading their answers. Each answer must be this client's own, in
/// order: the line itself (echo), or `Processed: ` and the line (queue).
fn session_client(
    protocol: Protocol,
    address: SocketAddr,
    n: usize,
    messages: usize,
    window: usize,
    outcome: &mut Outcome,
) -> Result<(), Problem> {
    let stream = open(address)?;
    // A buffered reader over a borrowed stream: no second file descriptor.
    let mut lines = BufReader::new(&stream);
    let goodbye = if protocol == Protocol::Queue {
        let welcome = read_reply(&mut lines)?;
        let id: u64 = welcome
            .strip_prefix("Welcome, Client ")
            .and_then(|rest| rest.split('!').next())
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| Problem::Wrong(format!("welcome {welcome:?}")))?;
        outcome.id = Some(id);
        Some(format!("Goodbye, Client {id}."))
    } else {
        None
    };
    let sent: Vec<String> = (0..messages)
        .map(|m| format!("swarm client {n} message {m}"))
        .collect();
    for batch in sent.chunks(window) {
        let mut bytes = Vec::new();
        for line in batch {
            bytes.extend(line.as_bytes());
            bytes.push(b'\n');
        }
        let asked = Instant::now();
        (&stream)
            .write_all(&bytes)
            .map_err(|e| unanswered("send", e))?;
        for line in batch {
            let reply = read_reply(&mut lines)?;
            outcome.latencies.push(asked.elapsed());
            let expected = match protocol {
                Protocol::Queue => format!("Processed: {line}"),
                _ => line.clone(),
            };
            if reply != expected {
                return Err(Problem::Wrong(format!("sent {line:?}, got {reply:?}")));
            }
        }
    }
    say_goodbye(&stream, &mut lines, goodbye.as_deref())
}
// ANCHOR_END: session_client

/// Reads one line from the server, without its line ending.
fn read_reply(lines: &mut BufReader<&TcpStream>) -> Result<String, Problem> {
    let mut reply = String::new();
    match lines.take(64 * 1024).read_line(&mut reply) {
        Ok(0) => Err(Problem::Unanswered(
            "the server closed the connection".into(),
        )),
        Ok(_) => Ok(reply.trim_end_matches(['\r', '\n']).to_string()),
        Err(e) => Err(unanswered("reply", e)),
    }
}

/// Sends !DISCONNECT, expects `goodbye` (if any) and then the end of the stream.
fn say_goodbye(
    stream: &TcpStream,
    lines: &mut BufReader<&TcpStream>,
    goodbye: Option<&str>,
) -> Result<(), Problem> {
    send_line(stream, DISCONNECT_MSG).map_err(|e| unanswered("send", e))?;
    if let Some(goodbye) = goodbye {
        let line = read_reply(lines)?;
        if line != goodbye {
            return Err(Problem::Wrong(format!(
                "expected {goodbye:?}, got {line:?}"
            )));
        }
    }
    let mut rest = Vec::new();
    match lines.read_to_end(&mut rest) {
        Ok(_) if rest.is_empty() => Ok(()),
        Ok(_) => Err(Problem::Wrong(format!(
            "after {DISCONNECT_MSG}: {:?}",
            String::from_utf8_lossy(&rest)
        ))),
        Err(e) => Err(unanswered(&format!("after {DISCONNECT_MSG}"), e)),
    }
}

/// Prints the checks and the numbers; true if every check passed.
fn report(
    args: &Args,
    outcomes: &[Outcome],
    elapsed: Duration,
    server_cpu: Option<Duration>,
) -> bool {
    let mut all_ok = true;
    let mut check = |passed: bool, what: &str, detail: String| {
        all_ok &= passed;
        say!(
            "  {:<4} {what:<33} {detail}",
            if passed { "ok" } else { "FAIL" }
        );
    };
    let examples = |problems: Vec<&String>| {
        for problem in problems.iter().take(3) {
            say!("         e.g. {problem}");
        }
    };
    say!("checks");
    let unanswered: Vec<&String> = outcomes.iter().filter_map(Outcome::unanswered).collect();
    let wrong: Vec<&String> = outcomes.iter().filter_map(Outcome::wrong).collect();
    let answered = outcomes.len() - unanswered.len();
    check(
        unanswered.is_empty() && outcomes.len() == args.clients,
        "every client answered",
        format!("{answered} of {}", args.clients),
    );
    let connect_failed = unanswered.iter().any(|why| why.starts_with("connect:"));
    examples(unanswered);
    if connect_failed {
        let server = args.protocol.server_name();
        say!("         is {server} running? Start it with: cargo run --release --bin {server}");
    }
    let right = answered - wrong.len();
    let what = match args.protocol {
        Protocol::Counter => "every greeting exact",
        Protocol::Echo => "every echo identical, in order",
        Protocol::Queue => "every reply to its sender, in order",
    };
    check(
        wrong.is_empty(),
        what,
        format!("{right} of {answered} clients"),
    );
    examples(wrong);

    // Ids: unique and without gaps; on a fresh counter server, exactly 1..N.
    let ids: Vec<u64> = outcomes.iter().filter_map(|o| o.id).collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    let (low, high) = (
        unique.first().copied().unwrap_or(0),
        unique.last().copied().unwrap_or(0),
    );
    let duplicates = ids.len() - unique.len();
    let gaps = if unique.is_empty() {
        0
    } else {
        (high - low + 1) as usize - unique.len()
    };
    match args.protocol {
        Protocol::Counter if !args.not_fresh => check(
            duplicates == 0 && gaps == 0 && low == 1 && ids.len() == args.clients,
            "ids exactly 1..N",
            format!("ids {low}..={high}: {duplicates} duplicates, {gaps} gaps"),
        ),
        Protocol::Counter => check(
            duplicates == 0 && gaps == 0,
            "ids unique and consecutive",
            format!("ids {low}..={high}: {duplicates} duplicates, {gaps} gaps"),
        ),
        Protocol::Queue => check(
            duplicates == 0,
            "every client its own id",
            format!("{duplicates} duplicates"),
        ),
        Protocol::Echo => {}
    }
    if args.protocol == Protocol::Counter && low > 1 && !args.not_fresh {
        say!("         (the server had served clients before: restart it, or pass --not-fresh)");
    }

    let mut latencies: Vec<Duration> = outcomes
        .iter()
        .flat_map(|o| o.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();
    let unit = if args.protocol == Protocol::Counter {
        "connections"
    } else {
        "round trips"
    };
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    say!("numbers");
    say!(
        "  throughput  {} {unit}/s ({} in {:.2} s)",
        thousands(rate),
        latencies.len(),
        elapsed.as_secs_f64()
    );
    if !latencies.is_empty() {
        let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
        say!(
            "  latency     p50 {}  p90 {}  p99 {}  max {}",
            millis(at(0.50)),
            millis(at(0.90)),
            millis(at(0.99)),
            millis(at(1.0))
        );
    }
    if let Some(cpu) = server_cpu.filter(|_| !latencies.is_empty()) {
        let per = cpu.as_secs_f64() * 1e6 / latencies.len() as f64;
        say!(
            "  server CPU  {per:.1} µs per {} ({:.2} s in all)",
            unit.trim_end_matches('s'),
            cpu.as_secs_f64()
        );
    }
    say!(
        "result: {}",
        if all_ok {
            "all checks passed"
        } else {
            "FAILED"
        }
    );
    all_ok
}

/// `--idle`: open --clients connections, keep them silent, report the server's memory.
fn hold_idle_clients(args: &Args, address: SocketAddr) -> bool {
    let server = args.protocol.server_name();
    say!(
        "swarm: {} idle clients on {server} at {address}",
        args.clients
    );
    let before = args.server_pid.and_then(server_memory);
    let mut idle = Vec::with_capacity(args.clients);
    for n in 0..args.clients {
        match open_idle(args.protocol, address) {
            Ok(stream) => idle.push(stream),
            Err(Problem::Unanswered(why) | Problem::Wrong(why)) => {
                warn!("swarm: idle client {} of {}: {why}", n + 1, args.clients);
                return false;
            }
        }
    }
    // A counter client that was turned away got its ERROR line at once.
    let refused = idle
        .iter()
        .filter(|stream| has_data_waiting(stream))
        .count();
    if refused > 0 {
        say!(
            "  FAIL {refused} of {} clients were turned away (--max-clients?)",
            idle.len()
        );
        return false;
    }
    say!("  connected   {} clients", idle.len());
    if let (Some(pid), Some(before)) = (args.server_pid, before) {
        // A counter client's thread starts when the server gets to it: wait for them all.
        let deadline = Instant::now() + TIMEOUT;
        let mut after = server_memory(pid);
        while let Some(now) = after
            .filter(|now| now.threads < before.threads + idle.len() && Instant::now() < deadline)
        {
            thread::sleep(Duration::from_millis(100));
            after = server_memory(pid).or(Some(now));
        }
        if let Some(after) = after {
            let per_client =
                (after.rss_kib.saturating_sub(before.rss_kib)) as f64 / idle.len() as f64;
            say!(
                "  server      VmRSS {} -> {} KiB, threads {} -> {}",
                before.rss_kib,
                after.rss_kib,
                before.threads,
                after.threads
            );
            say!("  memory      {per_client:.1} KiB per idle client");
        }
    }
    if args.hold > 0.0 {
        say!("  holding     for {} s", args.hold);
        thread::sleep(Duration::from_secs_f64(args.hold));
    }
    true
}

/// Connects one client that will stay silent. Echo and queue clients first
/// make sure the server has started their session, and not turned them away.
fn open_idle(protocol: Protocol, address: SocketAddr) -> Result<TcpStream, Problem> {
    let stream = open(address)?;
    let mut lines = BufReader::new(&stream);
    match protocol {
        Protocol::Counter => {}
        Protocol::Echo => {
            send_line(&stream, "ping").map_err(|e| unanswered("send", e))?;
            let echo = read_reply(&mut lines)?;
            if echo != "ping" {
                return Err(Problem::Wrong(format!("sent \"ping\", got {echo:?}")));
            }
        }
        Protocol::Queue => {
            let welcome = read_reply(&mut lines)?;
            if !welcome.starts_with("Welcome, Client ") {
                return Err(Problem::Wrong(format!("welcome {welcome:?}")));
            }
        }
    }
    Ok(stream)
}

/// True if the server has sent something this (silent) client has not read.
fn has_data_waiting(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    stream.set_nonblocking(true).is_ok() && matches!(stream.peek(&mut byte), Ok(1..))
}

/// The server's resident memory and thread count, from /proc/PID/status.
#[derive(Clone, Copy)]
struct Memory {
    rss_kib: u64,
    threads: usize,
}

fn server_memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        threads: field("Threads:")? as usize,
    })
}

/// CPU time (user + system) the server has used, from /proc/PID/stat.
fn server_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the ")" that ends the command name, utime and stime are the 12th
    // and 13th fields, in clock ticks of 1/100 s.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// A progress line on stderr while a long run goes, only when a person is watching.
struct Progress {
    stop: Option<(Arc<AtomicUsize>, thread::JoinHandle<()>)>,
}

impl Progress {
    fn start(total: usize, finished: Arc<AtomicUsize>) -> Progress {
        // Quiet when the output goes to a file or a program, not to a person.
        if !io::stdout().is_terminal() || !io::stderr().is_terminal() {
            return Progress { stop: None };
        }
        let running = Arc::new(AtomicUsize::new(1));
        let flag = Arc::clone(&running);
        let handle = thread::spawn(move || {
            while flag.load(Ordering::Relaxed) == 1 {
                let done = finished.load(Ordering::Relaxed);
                eprint!("\r  {done} / {total} clients done ");
                thread::sleep(Duration::from_millis(200));
            }
            eprint!("\r{:40}\r", "");
        });
        Progress {
            stop: Some((running, handle)),
        }
    }

    fn stop(self) {
        if let Some((running, handle)) = self.stop {
            running.store(0, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

/// 12345.6 -> "12,346".
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// A duration in milliseconds, to two decimals.
fn millis(duration: Duration) -> String {
    let mut text = String::new();
    let _ = write!(text, "{:.2} ms", duration.as_secs_f64() * 1000.0);
    text
}
