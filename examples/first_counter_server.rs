//! Lesson 1's first version: the counter tutorial's server, translated
//! straight into Rust with `std` only. A thread per client, a counter behind
//! a lock, one read, one reply. It works, and it keeps every simplification
//! of the original on purpose: the lesson breaks it, then builds
//! `counter_server`.
//!
//! ```text
//! cargo run --example first_counter_server     # or: -- --port N
//! cargo run --bin client                       # in a second terminal (with --port N)
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

// ANCHOR: all
fn handle_client(mut stream: TcpStream, client_counter: Arc<Mutex<u64>>) {
    let client_id = {
        let mut count = client_counter.lock().unwrap();
        *count += 1;
        *count
    }; // The lock is released here, at the end of the block.
    let address = stream.peer_addr().unwrap();
    println!("Client {client_id} connected from {address}");

    let mut data = [0u8; 1024];
    let n = stream.read(&mut data).unwrap(); // One read is one message.
    let message = std::str::from_utf8(&data[..n]).unwrap();
    println!("Client {client_id} says: {message}");

    let response = format!("Hello Client {client_id}, server received your message!");
    stream.write_all(response.as_bytes()).unwrap();
    drop(stream); // Closes the connection.
    println!("Client {client_id} disconnected.");
}

fn main() {
    // The original's address; `--port N` picks another port (see the end of the file).
    let listener = TcpListener::bind(("127.0.0.1", port_from_args(65434))).unwrap();
    let port = listener.local_addr().unwrap().port();
    println!("Server is listening on port {port}...");

    let client_counter = Arc::new(Mutex::new(0));
    for stream in listener.incoming() {
        let stream = stream.unwrap();
        let client_counter = Arc::clone(&client_counter);
        thread::spawn(move || handle_client(stream, client_counter));
    }
}
// ANCHOR_END: all

/// The port to listen on: `--port N` as the real servers take it (`0` lets
/// the OS choose; the listening line shows which), or else `default`.
fn port_from_args(default: u16) -> u16 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => default,
        [flag, port] if flag == "--port" => {
            port.parse().expect("--port takes a number, 0 to 65535")
        }
        _ => {
            println!("takes one option: --port N (default {default}; 0 lets the OS choose)");
            std::process::exit(if args == ["--help"] { 0 } else { 2 })
        }
    }
}
