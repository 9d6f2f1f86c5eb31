//! Many clients at once: the counter tutorial's "start multiple clients in
//! different terminals", done properly, with checks and numbers.
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
//!
//! `--soak SECONDS` runs a mixed, hostile load for that long instead, every
//! answer checked, and watches the server's memory, descriptors and threads
//! (with `--server-pid`): they must stay flat, and return to their idle
//! counts once the load stops. `bench/soak.sh` runs it against every server.
//!
//! | file | what it does |
//! |---|---|
//! | `main.rs` | the arguments, and the load run: clients on threads, the clock |
//! | `clients.rs` | one client of each protocol, and what it saw |
//! | `report.rs` | the checks and numbers, computed from what the clients saw, then printed |
//! | `idle.rs` | `--idle`: clients that connect and stay silent |
//! | `soak.rs` | `--soak`: the load for a long time, the server sampled, the verdict |
//! | `mixed.rs` | `--soak`'s clients: every kind, ordinary and hostile, each answer checked |
//! | `progress.rs` | a progress line while a long run goes |

mod clients;
mod idle;
mod mixed;
mod progress;
mod report;
mod soak;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use threaded_servers::cli::{ServerAddress, parse_count, parse_seconds};
use threaded_servers::limits::raise_open_file_limit;
use threaded_servers::protocol::Protocol;
use threaded_servers::{procfs, say, warn};

use crate::clients::{Outcome, run_client};
use crate::progress::Progress;
use crate::report::Report;

/// Stack size for swarm's own client threads: they need little.
const CLIENT_THREAD_STACK: usize = 128 * 1024;

/// Many concurrent clients against one server: checks, throughput and latency.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    protocol: Protocol,

    #[command(flatten)]
    address: ServerAddress,

    /// How many clients in all.
    #[arg(long, global = true, default_value_t = 1000, value_parser = parse_count::<usize>, allow_negative_numbers = true)]
    clients: usize,

    /// How many clients at the same time. Equal to --clients, they all
    /// connect at the same instant (a burst).
    #[arg(long, global = true, default_value_t = 50, value_parser = parse_count::<usize>, allow_negative_numbers = true)]
    concurrency: usize,

    /// Echo and queue: lines per client.
    #[arg(long, global = true, default_value_t = 100, value_parser = parse_count::<usize>, allow_negative_numbers = true)]
    messages: usize,

    /// Echo and queue: lines sent before reading their answers. More than 1
    /// checks that answers keep the order; 1 measures single round trips.
    #[arg(long, global = true, default_value_t = 8, value_parser = parse_count::<usize>, allow_negative_numbers = true)]
    window: usize,

    /// Counter: the server has served clients before this run; check only
    /// that the ids are unique and consecutive, not that they are 1..N.
    #[arg(long, global = true)]
    not_fresh: bool,

    /// Connect the clients and keep them connected and silent, until Ctrl-C
    /// (or for --hold seconds), instead of a load test.
    #[arg(long, global = true)]
    idle: bool,

    /// With --idle: let the clients go after this many seconds [default: hold until Ctrl-C].
    #[arg(long, global = true, value_name = "SECONDS", value_parser = parse_seconds, allow_negative_numbers = true)]
    hold: Option<Duration>,

    /// The server's process id, to report its CPU time and memory (Linux /proc).
    #[arg(long, global = true, value_parser = parse_pid, allow_negative_numbers = true)]
    server_pid: Option<u32>,

    /// Run a soak for this many seconds instead of a load test: every kind
    /// of client at once (busy, idle past --server-max-clients, slow,
    /// hostile), every answer checked, the server's memory, descriptors and
    /// threads watched (needs --server-pid).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = parse_seconds, allow_negative_numbers = true)]
    soak: Option<Duration>,

    /// With --soak: the server's --max-clients, which the idle clients fill and go past.
    #[arg(long, global = true, default_value_t = 64, value_parser = parse_count::<usize>, allow_negative_numbers = true)]
    server_max_clients: usize,

    /// With --soak: the server's --idle-timeout, in seconds; idle clients
    /// leave before it, silent ones wait for it.
    #[arg(long, global = true, value_name = "SECONDS", default_value = "3", value_parser = parse_seconds, allow_negative_numbers = true)]
    server_idle_timeout: Duration,

    /// With --soak: how often to sample the server, in seconds.
    #[arg(long, global = true, value_name = "SECONDS", default_value = "2", value_parser = parse_seconds, allow_negative_numbers = true)]
    sample_every: Duration,

    /// With --soak: write the samples to this file, as CSV
    /// (seconds,rss_kib,fds,threads,phase).
    #[arg(long, global = true, value_name = "FILE")]
    samples: Option<PathBuf>,
}

/// A process id: a whole number, at least 1.
fn parse_pid(text: &str) -> Result<u32, String> {
    parse_count(text).map_err(|_| format!("`{text}` is not a process id"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let address = match args.address.resolve(args.protocol) {
        Ok(addresses) => addresses[0],
        Err(why) => {
            warn!("swarm: {why}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(pid) = args.server_pid
        && procfs::status(pid).is_none()
    {
        warn!(
            "swarm: --server-pid {pid}: cannot read /proc/{pid}/status (no such process, or not Linux)"
        );
        return ExitCode::FAILURE;
    }
    // Each client is one open file here too: make room, as the servers do.
    let sockets = if args.soak.is_some() {
        2 * args.server_max_clients + 64
    } else if args.idle {
        args.clients
    } else {
        args.concurrency
    };
    raise_open_file_limit(sockets as u64 + 64);
    let passed = if let Some(duration) = args.soak {
        soak::run(&args, address, duration)
    } else if args.idle {
        idle::hold_idle_clients(&args, address)
    } else {
        run_load(&args, address)
    };
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The load test: --clients clients, --concurrency at a time. True if every check passed.
fn run_load(args: &Args, address: SocketAddr) -> bool {
    let concurrency = args.concurrency.min(args.clients);
    // "the echo server", not `echo_server`: swarm knows the protocol it
    // speaks, not which program (threads or tasks) is answering.
    let server = args.protocol.name();
    let each = match args.protocol {
        Protocol::Counter => String::new(),
        _ => format!(", {} lines each, {} at a time", args.messages, args.window),
    };
    say!(
        "swarm: {} clients against the {server} server at {address}, {concurrency} at a time{each}",
        args.clients
    );
    let cpu_before = args.server_pid.and_then(procfs::cpu_time);
    let next_client = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    // Every client thread waits here, so the first connections start together.
    let start_line = Barrier::new(concurrency + 1);

    let (outcomes, elapsed) = thread::scope(|scope| {
        let mut threads = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            // ANCHOR: client_thread
            let spawned = thread::Builder::new()
                .stack_size(CLIENT_THREAD_STACK)
                .spawn_scoped(scope, || {
                    start_line.wait();
                    let mut mine = Vec::new();
                    loop {
                        let n = next_client.fetch_add(1, Ordering::Relaxed);
                        if n >= args.clients {
                            return mine;
                        }
                        mine.push(run_client(args, address, n));
                        finished.fetch_add(1, Ordering::Relaxed);
                    }
                });
            // ANCHOR_END: client_thread
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    warn!("swarm: cannot start a client thread: {e}; try a lower --concurrency");
                    std::process::exit(1);
                }
            }
        }
        // ANCHOR: clock
        // The clock starts before any client can connect (they are all held
        // at the barrier) and stops after the last answer: the total is never
        // shorter than any one client's wait.
        let started = Instant::now();
        start_line.wait();
        // ANCHOR_END: clock
        let progress = Progress::start(scope, args.clients, &finished);
        let outcomes: Vec<Outcome> = threads
            .into_iter()
            .flat_map(|thread| thread.join().unwrap_or_default())
            .collect();
        let elapsed = started.elapsed();
        progress.stop();
        (outcomes, elapsed)
    });

    let cpu = cpu_before
        .zip(args.server_pid.and_then(procfs::cpu_time))
        .map(|(before, after)| after.saturating_sub(before));
    let report = Report::new(args, &outcomes, elapsed, cpu);
    report.print(args)
}
