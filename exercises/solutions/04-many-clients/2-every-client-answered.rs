//! Exercise 4.2, worked solution: every client answered, or the run fails.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// How long a client waits for its answer before it counts as failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let config = Config::from_args();
    let address = SocketAddr::from(([127, 0, 0, 1], config.port));

    // Every client waits at the barrier until all are ready: then they all
    // go at once, which is what "many clients at once" means.
    let start = Arc::new(Barrier::new(config.clients));
    let started = Instant::now();
    let mut threads = Vec::with_capacity(config.clients);
    for _ in 0..config.clients {
        let start = Arc::clone(&start);
        let spawned = thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            start.wait();
            client(address)
        });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                eprintln!("cannot start client thread {}: {e}", threads.len() + 1);
                return ExitCode::FAILURE;
            }
        }
    }
    let outcomes: Vec<Result<u64, String>> = threads
        .into_iter()
        .map(|thread| {
            thread
                .join()
                .unwrap_or_else(|_| Err("its thread panicked".to_string()))
        })
        .collect();
    let seconds = started.elapsed().as_secs_f64();

    let ids: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .copied()
        .collect();
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    println!(
        "{} clients at once, in {seconds:.2} s: {} greeted, {} failed",
        config.clients,
        ids.len(),
        failures.len()
    );
    // The first few reasons: a run that fails says why.
    for why in failures.iter().take(5) {
        println!("  a client failed: {why}");
    }

    // The ids as a set: a fresh server gives exactly 1..N, each once, in any order.
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    let duplicates = ids.len() - unique.len();
    let expected = 1..=config.clients as u64;
    let gaps = expected.clone().filter(|id| !unique.contains(id)).count();
    let exact = duplicates == 0 && unique.iter().copied().eq(expected);
    if exact {
        println!("ids: exactly 1 to {}", config.clients);
    } else {
        println!("ids: {duplicates} duplicates, {gaps} gaps");
    }
    if exact && failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ANCHOR: client
/// One client, the original's: connect, send one message, read the reply
/// until the server closes. Its id, or why it failed.
fn client(address: SocketAddr) -> Result<u64, String> {
    // With a deadline: when a server's accept queue is full, Linux drops
    // new attempts, and a plain `connect` retries for minutes.
    let mut stream = TcpStream::connect_timeout(&address, ANSWER_TIMEOUT)
        .map_err(|e| format!("cannot connect: {e}"))?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(ANSWER_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"Hello, Server!")
        .map_err(|e| format!("cannot send: {e}"))?;
    let mut reply = String::new();
    if let Err(e) = stream.read_to_string(&mut reply) {
        return Err(match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                format!("no answer within {ANSWER_TIMEOUT:?}")
            }
            _ => format!("the connection failed: {e}"),
        });
    }
    // An `ERROR:` line is its own reason; anything else is quoted.
    let reply = reply.trim_end();
    parse_greeting(reply).ok_or_else(|| {
        if reply.starts_with("ERROR:") {
            reply.to_string()
        } else {
            format!("not a greeting: {reply:?}")
        }
    })
}
// ANCHOR_END: client

/// The id in `Hello Client {id}, server received your message!`.
fn parse_greeting(reply: &str) -> Option<u64> {
    let id = reply
        .strip_prefix("Hello Client ")?
        .strip_suffix(", server received your message!")?;
    id.parse().ok()
}

/// What the command line asks for. (Given code: not part of the exercises.)
struct Config {
    /// `--port N`: the counter server's port (65434 by default).
    port: u16,
    /// `--clients N`: how many clients (100 by default).
    clients: usize,
}

impl Config {
    /// The command line's flags; on a mistake, says which and exits with status 2.
    fn from_args() -> Config {
        Config::parse().unwrap_or_else(|why| {
            eprintln!("many_clients: {why}");
            std::process::exit(2)
        })
    }

    fn parse() -> Result<Config, String> {
        let mut config = Config {
            port: 65434,
            clients: 100,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let wrong = |what: &str| format!("{flag} {value}: {what}");
            match flag.as_str() {
                "--port" => config.port = value.parse().map_err(|_| wrong("not a port"))?,
                "--clients" => {
                    config.clients = value
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| wrong("not a count"))?;
                }
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(config)
    }
}
