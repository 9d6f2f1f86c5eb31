//! Exercise 4.1, worked solution: many clients at once.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

fn main() -> ExitCode {
    let config = Config::from_args();
    let address = SocketAddr::from(([127, 0, 0, 1], config.port));

    // ANCHOR: at_once
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
    // ANCHOR_END: at_once
    let replies: Vec<io::Result<String>> = threads
        .into_iter()
        .map(|thread| {
            thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("its thread panicked")))
        })
        .collect();
    let seconds = started.elapsed().as_secs_f64();

    let ids: Vec<u64> = replies
        .iter()
        .filter_map(|reply| parse_greeting(reply.as_ref().ok()?))
        .collect();
    println!(
        "{} clients at once, in {seconds:.2} s: {} greeted",
        config.clients,
        ids.len()
    );

    // ANCHOR: ids
    // The ids as a set: a fresh server gives exactly 1..N, each once, in any order.
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    let duplicates = ids.len() - unique.len();
    let expected = 1..=config.clients as u64;
    let gaps = expected.clone().filter(|id| !unique.contains(id)).count();
    let exact = duplicates == 0 && unique.iter().copied().eq(expected);
    // ANCHOR_END: ids
    if exact {
        println!("ids: exactly 1 to {}", config.clients);
    } else {
        println!("ids: {duplicates} duplicates, {gaps} gaps");
    }
    if exact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One client, the original's: connect, send one message, read the reply
/// until the server closes.
fn client(address: SocketAddr) -> io::Result<String> {
    let mut stream = TcpStream::connect(address)?;
    stream.write_all(b"Hello, Server!")?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    Ok(reply)
}

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
