//! Lesson 6's first version: lesson 2's first echo server as tokio tasks,
//! written the way a first async server usually is. A task per client where
//! the thread was, `.await` where it blocked, and nothing else changed: one
//! `read()` is one message, no bound on a silent client, `unwrap()` where
//! the original would raise. Beside `async_echo_server`, it shows what the
//! real server's guards cost (`BENCHMARKS.md`: busy sessions).
//!
//! ```text
//! cargo run --example first_async_echo_server                # or: -- --port N
//! cargo run --bin client -- echo -m Hello -m World           # in a second terminal (with --port N)
//! ```

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ANCHOR: all
const IP: &str = "127.0.0.1";
const PORT: u16 = 56011;
const SIZE: usize = 1024;
const DISCONNECT_MSG: &str = "!DISCONNECT";

async fn handle_client(mut conn: TcpStream, addr: SocketAddr) {
    println!("[New Connection] Client connected from {addr}");
    let mut data = [0u8; SIZE];
    loop {
        let n = conn.read(&mut data).await.unwrap();
        if n == 0 {
            break; // The client closed the connection.
        }
        let msg = std::str::from_utf8(&data[..n]).unwrap();
        if msg.trim_end_matches(['\r', '\n']) == DISCONNECT_MSG {
            break;
        }
        println!("[{addr}] {}", msg.trim_end_matches(['\r', '\n']));
        conn.write_all(msg.as_bytes()).await.unwrap();
    }
    println!("[Client disconnected]");
}

#[tokio::main]
async fn main() {
    println!("[STARTING] Server is starting...");
    // The original's ADDR; `--port N` picks another port (see the end of the file).
    let listener = TcpListener::bind((IP, port_from_args(PORT))).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    println!("[LISTENING] Server is listening on port {port}");
    loop {
        let (conn, addr) = listener.accept().await.unwrap();
        tokio::spawn(handle_client(conn, addr));
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
