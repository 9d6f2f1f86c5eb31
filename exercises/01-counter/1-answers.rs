//! Exercise 1.1: errors are answers.
//!
//! This is lesson 1's first version, with `unwrap()` wherever the original
//! tutorial would raise an exception: one odd client panics its thread
//! (and gets no answer), and one error from the system stops the server.
//! Make every error that a client or the system can cause an answer or a
//! log line, never a panic:
//!
//! - bytes that are not UTF-8 get the reply `ERROR: message is not valid UTF-8`
//!   and a newline; log `Client {id} sent {n} bytes that are not UTF-8 text.`;
//! - a client that closes without sending anything is not greeted; log
//!   `Client {id} closed the connection without a message.`;
//! - a read or a write that fails (a client that resets its connection) is
//!   logged, and the thread still ends with `Client {id} disconnected.`;
//! - a port that is taken: one line on stderr, naming `127.0.0.1:PORT` and
//!   the cause, and exit status 1 (`main` can return a `std::process::ExitCode`);
//! - a failed `accept()`, or a thread the system cannot start
//!   (`thread::Builder::spawn` returns the error where `thread::spawn`
//!   panics), never stops the server.
//!
//! Check it:  cargo run -p exercises -- 1.1
//! Run it:    cargo run -p exercises --bin ex1_1 -- --port 65434
//! The lesson: lessons/01-counter-server.md, "Errors are answers".

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

fn handle_client(mut stream: TcpStream, client_counter: Arc<Mutex<u64>>) {
    let client_id = {
        let mut count = client_counter.lock().unwrap();
        *count += 1;
        *count
    }; // The lock is released here, at the end of the block.
    // TODO(1.1): a client can be gone by now, and this panics: the address
    // `listener.accept()` returns with the stream is there already.
    let address = stream.peer_addr().unwrap();
    println!("Client {client_id} connected from {address}");

    let mut data = [0u8; 1024];
    // TODO(1.1): a read can fail (a reset), or return 0 bytes (closed, no message).
    let n = stream.read(&mut data).unwrap(); // One read is one message.
    // TODO(1.1): bytes that are not UTF-8 get an ERROR line.
    let message = std::str::from_utf8(&data[..n]).unwrap();
    let message = message.trim_end_matches(['\r', '\n']);
    println!("Client {client_id} says: {message}");

    let response = format!("Hello Client {client_id}, server received your message!");
    // TODO(1.1): a write can fail too.
    stream.write_all(response.as_bytes()).unwrap();
    drop(stream); // Closes the connection.
    println!("Client {client_id} disconnected.");
}

fn main() {
    let config = Config::from_args();
    // TODO(1.1): a port that is taken: one line on stderr, exit status 1.
    let listener = TcpListener::bind(("127.0.0.1", config.port)).unwrap();
    let port = listener.local_addr().unwrap().port();
    println!("Server is listening on port {port}...");

    let client_counter = Arc::new(Mutex::new(0));
    for stream in listener.incoming() {
        // TODO(1.1): a failed accept() must not stop the server.
        let stream = stream.unwrap();
        let client_counter = Arc::clone(&client_counter);
        // TODO(1.1): `thread::spawn` panics when the system cannot start a thread.
        thread::spawn(move || handle_client(stream, client_counter));
    }
}

/// What the command line asks for. (Given code: not part of the exercises.)
struct Config {
    /// `--port N`: where to listen; 0 lets the system choose. The original's 65434 by default.
    port: u16,
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
        let mut config = Config { port: 65434 };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let wrong = |what: &str| format!("{flag} {value}: {what}");
            match flag.as_str() {
                "--port" => config.port = value.parse().map_err(|_| wrong("not a port"))?,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(config)
    }
}
