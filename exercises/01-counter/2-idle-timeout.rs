//! Exercise 1.2: a deadline for silent clients.
//!
//! A client that connects and sends nothing holds its thread for ever, and
//! a thousand of them are a thousand stuck threads. Give every client
//! `--idle-timeout` seconds (parsed for you below into `config.idle_timeout`,
//! which is `None` for 0) to send its message:
//!
//! - a read that has waited that long gives up: reply
//!   `ERROR: idle timeout, closing the connection` and a newline, log
//!   `Client {id} sent nothing in time (--idle-timeout).`, and close;
//! - other clients are served meanwhile, as before.
//!
//! `TcpStream::set_read_timeout` gives every read on a socket a time limit.
//! When it runs out, the read fails with `ErrorKind::WouldBlock` on Unix
//! (`TimedOut` on Windows).
//!
//! This file starts as exercise 1.1's worked solution.
//!
//! Check it:  cargo run -p exercises -- 1.2
//! Run it:    cargo run -p exercises --bin ex1_2 -- --idle-timeout 5
//! The lesson: lessons/01-counter-server.md, "A deadline for silent clients".

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// The most bytes one message may have: the original's `recv(1024)`.
const SIZE: usize = 1024;

fn main() -> ExitCode {
    let config = Config::from_args();
    let listener = match TcpListener::bind(("127.0.0.1", config.port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "counter_server: cannot listen on 127.0.0.1:{}: {e}",
                config.port
            );
            return ExitCode::FAILURE;
        }
    };
    let Ok(address) = listener.local_addr() else {
        eprintln!("counter_server: cannot tell which port it listens on");
        return ExitCode::FAILURE;
    };
    println!("Server is listening on port {}...", address.port());

    let client_counter = Arc::new(Mutex::new(0));
    loop {
        let accepted = listener.accept();
        let (stream, address) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, say: the server carries on.
                eprintln!("accept failed: {e}; trying again in 100 ms");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let stream = Arc::new(stream);
        let for_the_thread = Arc::clone(&stream);
        let client_counter = Arc::clone(&client_counter);
        let spawned = thread::Builder::new().spawn(move || {
            handle_client(&for_the_thread, address, &client_counter);
        });
        // `thread::spawn` would panic when the system cannot start a thread.
        if spawned.is_err() {
            refuse(
                &stream,
                "ERROR: server is busy (no thread available); try again later\n",
            );
        }
    }
}

/// One client, start to finish, on its own thread: the original's `handle_client`.
fn handle_client(mut stream: &TcpStream, address: SocketAddr, client_counter: &Mutex<u64>) {
    let client_id = next_id(client_counter);
    println!("Client {client_id} connected from {address}");

    // One read of at most SIZE bytes, as the original's `recv(1024)`.
    // TODO(1.2): give this read a time limit: --idle-timeout (`config.idle_timeout`,
    // which `main` has: pass it to `handle_client`).
    let mut data = [0u8; SIZE];
    let reply = match stream.read(&mut data) {
        Ok(0) => {
            println!("Client {client_id} closed the connection without a message.");
            None
        }
        Ok(n) => match std::str::from_utf8(without_line_ending(&data[..n])) {
            Ok(message) => {
                println!("Client {client_id} says: {message}");
                Some(format!(
                    "Hello Client {client_id}, server received your message!"
                ))
            }
            Err(_) => {
                println!("Client {client_id} sent {n} bytes that are not UTF-8 text.");
                Some("ERROR: message is not valid UTF-8\n".to_string())
            }
        },
        // TODO(1.2): a read that timed out: tell the client, and log it.
        Err(e) => {
            println!("Client {client_id} connection failed: {e}");
            None
        }
    };
    if let Some(reply) = reply
        && let Err(e) = stream.write_all(reply.as_bytes())
    {
        println!("Client {client_id} did not take the reply: {e}");
    }
    println!("Client {client_id} disconnected.");
}

/// The original's `with counter_lock: client_counter += 1`.
fn next_id(client_counter: &Mutex<u64>) -> u64 {
    // A thread that panicked while holding the lock poisons it; the number
    // inside is still good, so carry on with it.
    let mut count = client_counter
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    *count += 1;
    *count
}

/// The message without a trailing `\n` or `\r\n`.
fn without_line_ending(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// Sends one line to a connection that is not being served, and closes it,
/// without waiting: the accept loop must not be held up by it.
fn refuse(mut stream: &TcpStream, line: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

/// What the command line asks for. (Given code: not part of the exercises.)
struct Config {
    /// `--port N`: where to listen; 0 lets the system choose. The original's 65434 by default.
    port: u16,
    /// `--idle-timeout SECONDS`: how long a client may take to send its
    /// message (default 300; 0: no limit).
    idle_timeout: Option<Duration>,
}

impl Config {
    /// The command line's flags; on a mistake, says which and exits with status 2.
    fn from_args() -> Config {
        Config::parse().unwrap_or_else(|why| {
            eprintln!("counter_server: {why}");
            std::process::exit(2)
        })
    }

    fn parse() -> Result<Config, String> {
        let mut config = Config {
            port: 65434,
            idle_timeout: Some(Duration::from_secs(300)),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let wrong = |what: &str| format!("{flag} {value}: {what}");
            match flag.as_str() {
                "--port" => config.port = value.parse().map_err(|_| wrong("not a port"))?,
                "--idle-timeout" => {
                    let seconds: f64 = value.parse().map_err(|_| wrong("not a number"))?;
                    let timeout = Duration::try_from_secs_f64(seconds)
                        .map_err(|_| wrong("not a number of seconds"))?;
                    config.idle_timeout = Some(timeout).filter(|t| !t.is_zero());
                }
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(config)
    }
}
