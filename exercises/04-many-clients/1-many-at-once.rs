//! Exercise 4.1: many clients at once.
//!
//! Lesson 4 starts from a shell loop of clients that counts answers without
//! checking them. This is such a loop in Rust, and a weaker one: its clients
//! go one after another, never two in flight at once, so it cannot see what
//! only concurrency shows: run against `counter_server --demo-race`, whose ids
//! are taken without the lock, it still sees nothing wrong. Make it a test of
//! the server:
//!
//! - start `--clients N` clients at once: a thread each, all waiting at a
//!   `std::sync::Barrier`, so that they go together;
//! - collect the id each one was greeted with, and check them as a set: a
//!   fresh server gives exactly 1 to N, each once, in any order. Print
//!   `ids: exactly 1 to N`, or `ids: D duplicates, G gaps`;
//! - exit with status 0 only if the ids are exactly 1 to N.
//!
//! Check it:  cargo run -p exercises -- 4.1
//! Run it:    cargo run -p exercises --bin ex4_1 -- --clients 200
//!            (with `cargo run --release --bin counter_server` in another terminal)
//! The lesson: lessons/04-many-clients.md, "Many clients at once".

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let config = Config::from_args();
    let address = SocketAddr::from(([127, 0, 0, 1], config.port));

    // TODO(4.1): these clients come one after another, so no two are ever
    // served at once. Start them all at once (a thread each, released
    // together by a `Barrier`), then check the ids they got as a set.
    let started = Instant::now();
    let mut greeted = 0;
    for _ in 0..config.clients {
        if let Ok(reply) = client(address)
            && parse_greeting(&reply).is_some()
        {
            greeted += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} clients, one after another, in {seconds:.2} s: {greeted} greeted",
        config.clients
    );
    // TODO(4.1): exit with status 1 unless the ids are exactly 1 to N.
    ExitCode::SUCCESS
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
