//! Many clients at once: the seeds' "start multiple clients in different
//! terminals", done properly, with checks and numbers.
//!
//! ```text
//! cargo run --release --bin swarm -- counter --clients 10000 --concurrency 50
//! cargo run --release --bin swarm -- echo --clients 64 --concurrency 64 --messages 2000
//! cargo run --release --bin swarm -- queue --clients 100 --messages 100
//! ```
//!
//! It checks what a learner should see: every client answered; on a fresh
//! `counter_server`, ids exactly 1..N (duplicates and gaps counted); every
//! echo identical and in order; every queue reply sent back to its own sender,
//! in order. Then it prints throughput and latency. A failed check is a
//! non-zero exit.
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
use threaded_servers::framing::send_line;
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

    /// Messages per client (echo and queue: one round trip each).
    #[arg(long, global = true, default_value_t = 100)]
    messages: usize,

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
    /// Round-trip times: per connection (counter) or per message (echo, queue).
    latencies: Vec<Duration>,
    /// The id in a counter greeting.
    counter_id: Option<u64>,
    /// Why the client failed, if it did.
    failure: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let port = args.port.unwrap_or(args.protocol.default_port());
    let address = match (args.host.as_str(), port)
        .to_socket_addrs()
        .map(|mut a| a.next())
    {
        Ok(Some(address)) => address,
        Ok(None) | Err(_) => {
            warn!("swarm: cannot resolve {}:{port}", args.host);
            return ExitCode::FAILURE;
        }
    };
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

// ANCHOR: run_load
/// The load test: --clients clients, --concurrency at a time.
fn run_load(args: &Args, address: SocketAddr) -> bool {
    let concurrency = args.concurrency.clamp(1, args.clients.max(1));
    let server = args.protocol.server_name();
    say!(
        "swarm: {} clients against {server} at {address}, {concurrency} at a time{}",
        args.clients,
        if args.protocol == Protocol::Counter {
            String::new()
        } else {
            format!(", {} messages each", args.messages)
        }
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
        let (protocol, clients, messages) = (args.protocol, args.clients, args.messages);
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
                    mine.push(run_client(protocol, address, n, messages));
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
// ANCHOR_END: run_load

/// One client, start to finish.
fn run_client(protocol: Protocol, address: SocketAddr, n: usize, messages: usize) -> Outcome {
    let mut outcome = Outcome::default();
    let result = match protocol {
        Protocol::Counter => counter_client(address, &mut outcome),
        Protocol::Echo | Protocol::Queue => {
            session_client(protocol, address, n, messages, &mut outcome)
        }
    };
    if let Err(e) = result {
        outcome.failure = Some(e);
    }
    outcome
}

fn open(address: SocketAddr) -> Result<TcpStream, String> {
    let stream =
        TcpStream::connect_timeout(&address, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    // Each line is a whole request: send it now rather than wait to fill a packet.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Lesson 1: connect, send, read the greeting until the server closes.
fn counter_client(address: SocketAddr, outcome: &mut Outcome) -> Result<(), String> {
    let started = Instant::now();
    let mut stream = open(address)?;
    stream
        .write_all(b"Hello, Server!")
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = String::new();
    stream
        .take(4096)
        .read_to_string(&mut reply)
        .map_err(|e| format!("reply: {e}"))?;
    outcome.latencies.push(started.elapsed());
    let id = reply
        .strip_prefix("Hello Client ")
        .and_then(|rest| rest.split(',').next())
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| format!("unexpected reply {reply:?}"))?;
    outcome.counter_id = Some(id);
    Ok(())
}

/// Lessons 2 and 3: a session of `messages` lines, one round trip each. Every
/// answer must be this client's own, in order: the line itself (echo), or
/// `Processed: ` and the line (queue).
fn session_client(
    protocol: Protocol,
    address: SocketAddr,
    n: usize,
    messages: usize,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let stream = open(address)?;
    let mut lines = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let goodbye = if protocol == Protocol::Queue {
        let greeting = read_reply(&mut lines)?;
        let id = greeting
            .strip_prefix("Welcome, Client ")
            .and_then(|rest| rest.split('!').next())
            .ok_or_else(|| format!("unexpected greeting {greeting:?}"))?;
        Some(format!("Goodbye, Client {id}."))
    } else {
        None
    };
    for m in 0..messages {
        let line = format!("swarm client {n} message {m}");
        let expected = match protocol {
            Protocol::Queue => format!("Processed: {line}"),
            _ => line.clone(),
        };
        let asked = Instant::now();
        send_line(&stream, &line).map_err(|e| format!("send: {e}"))?;
        let reply = read_reply(&mut lines)?;
        outcome.latencies.push(asked.elapsed());
        if reply != expected {
            return Err(format!("message {m}: sent {line:?}, got {reply:?}"));
        }
    }
    say_goodbye(&stream, &mut lines, goodbye.as_deref())
}

/// Reads one line from the server, without its line ending.
fn read_reply(lines: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut reply = String::new();
    match lines.read_line(&mut reply) {
        Ok(0) => Err("the server closed the connection".into()),
        Ok(_) => Ok(reply.trim_end_matches(['\r', '\n']).to_string()),
        Err(e) => Err(format!("reply: {e}")),
    }
}

/// Sends !DISCONNECT, expects `goodbye` (if any) and then the end of the stream.
fn say_goodbye(
    stream: &TcpStream,
    lines: &mut BufReader<TcpStream>,
    goodbye: Option<&str>,
) -> Result<(), String> {
    send_line(stream, "!DISCONNECT").map_err(|e| format!("send: {e}"))?;
    if let Some(goodbye) = goodbye {
        let line = read_reply(lines)?;
        if line != goodbye {
            return Err(format!("expected {goodbye:?}, got {line:?}"));
        }
    }
    let mut rest = Vec::new();
    match lines.read_to_end(&mut rest) {
        Ok(_) if rest.is_empty() => Ok(()),
        Ok(_) => Err(format!(
            "after !DISCONNECT: {:?}",
            String::from_utf8_lossy(&rest)
        )),
        Err(e) => Err(format!("after !DISCONNECT: {e}")),
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
            "  {:<4} {what:<28} {detail}",
            if passed { "ok" } else { "FAIL" }
        );
    };
    say!("checks");
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.failure.as_ref()).collect();
    let answered = outcomes.len() - failures.len();
    check(
        failures.is_empty() && outcomes.len() == args.clients,
        "every client answered",
        format!("{answered} of {}", args.clients),
    );
    for failure in failures.iter().take(3) {
        say!("         e.g. {failure}");
    }
    if failures
        .iter()
        .any(|failure| failure.starts_with("connect:"))
    {
        let server = args.protocol.server_name();
        say!("         is {server} running? Start it with: cargo run --release --bin {server}");
    }
    match args.protocol {
        Protocol::Counter => {
            let ids: Vec<u64> = outcomes.iter().filter_map(|o| o.counter_id).collect();
            let unique: BTreeSet<u64> = ids.iter().copied().collect();
            let duplicates = ids.len() - unique.len();
            let (low, high) = (
                unique.first().copied().unwrap_or(0),
                unique.last().copied().unwrap_or(0),
            );
            let span = if unique.is_empty() { 0 } else { high - low + 1 };
            let gaps = span as usize - unique.len();
            check(
                duplicates == 0 && gaps == 0,
                "ids unique, no gaps",
                format!("ids {low}..={high}: {duplicates} duplicates, {gaps} gaps"),
            );
            if low > 1 {
                say!(
                    "         (ids start at {low}: restart the server for exactly 1..={})",
                    ids.len()
                );
            }
        }
        Protocol::Echo => check(
            failures.is_empty(),
            "every echo identical, in order",
            format!("{} lines", answered * args.messages),
        ),
        Protocol::Queue => check(
            failures.is_empty(),
            "every reply to its sender",
            format!("{} replies, in order", answered * args.messages),
        ),
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
            Err(e) => {
                warn!("swarm: client {} of {}: {e}", n + 1, args.clients);
                return false;
            }
        }
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
/// make sure the server has started their session (a greeting, or one echo).
fn open_idle(protocol: Protocol, address: SocketAddr) -> Result<TcpStream, String> {
    let stream = open(address)?;
    let mut lines = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    match protocol {
        Protocol::Counter => {}
        Protocol::Echo => {
            send_line(&stream, "ping").map_err(|e| e.to_string())?;
            read_reply(&mut lines)?;
        }
        Protocol::Queue => {
            read_reply(&mut lines)?;
        }
    }
    Ok(stream)
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

/// A progress line on stderr while a long run goes, only on a terminal.
struct Progress {
    stop: Option<(Arc<AtomicUsize>, thread::JoinHandle<()>)>,
}

impl Progress {
    fn start(total: usize, finished: Arc<AtomicUsize>) -> Progress {
        if !io::stderr().is_terminal() {
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
