//! `--idle`: clients that connect and stay silent, and what they cost the server.

use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use threaded_servers::protocol::{Protocol, parse_welcome};
use threaded_servers::threads::socket::send_line;
use threaded_servers::{procfs, say, warn};

use crate::Args;
use crate::clients::{Problem, TIMEOUT, no_server, open, read_reply, unanswered};

/// Opens `--clients` connections, keeps them silent, and reports the
/// server's memory per idle client. True if every client was admitted.
pub fn hold_idle_clients(args: &Args, address: SocketAddr) -> bool {
    let server = args.protocol.name();
    say!(
        "swarm: {} idle clients on the {server} server at {address}",
        args.clients
    );
    let before = args.server_pid.and_then(procfs::status);
    let mut idle = Vec::with_capacity(args.clients);
    for n in 1..=args.clients {
        match open_idle(args.protocol, address) {
            Ok(stream) => idle.push(stream),
            Err(Problem::NoConnection(why)) if n == 1 => {
                warn!("{}", no_server(args.protocol, &args.address, &why));
                return false;
            }
            Err(Problem::NoConnection(why) | Problem::Unanswered(why) | Problem::Wrong(why)) => {
                warn!("swarm: idle client {n} of {}: {why}", args.clients);
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
        report_memory(pid, before, idle.len());
    }
    match args.hold {
        Some(hold) => {
            say!("  holding     for {} s", hold.as_secs_f64());
            thread::sleep(hold);
        }
        None => {
            say!("  holding     until Ctrl-C");
            loop {
                thread::park();
            }
        }
    }
    true
}

/// Prints the server's memory and threads now against `before`, per idle client.
fn report_memory(pid: u32, before: procfs::Status, clients: usize) {
    // A counter client's thread starts when the server gets to it: wait for them all.
    let deadline = Instant::now() + TIMEOUT;
    let mut after = procfs::status(pid);
    while let Some(now) =
        after.filter(|now| now.threads < before.threads + clients && Instant::now() < deadline)
    {
        thread::sleep(Duration::from_millis(100));
        after = procfs::status(pid).or(Some(now));
    }
    let Some(after) = after else {
        warn!("swarm: the server (pid {pid}) is gone");
        return;
    };
    let grown = after.resident_kib.saturating_sub(before.resident_kib);
    say!(
        "  server      VmRSS {} -> {} KiB, threads {} -> {}",
        before.resident_kib,
        after.resident_kib,
        before.threads,
        after.threads
    );
    say!(
        "  memory      {:.1} KiB per idle client",
        grown as f64 / clients as f64
    );
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
            if parse_welcome(&welcome).is_none() {
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
