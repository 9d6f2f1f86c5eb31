//! What Linux says about a running process, read from `/proc`.
//!
//! `swarm` reports a server's memory, threads and CPU time with these, and
//! the tests use them to watch a server from outside. Linux only: elsewhere
//! every reader returns `None`, and what needs them is skipped or fails
//! with a clear message.

use std::time::Duration;

/// A process's memory and threads, from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Memory in RAM now (`VmRSS`), in KiB.
    pub resident_kib: u64,
    /// The most it has ever had in RAM (`VmHWM`, the high-water mark), in KiB.
    pub peak_resident_kib: u64,
    /// Address space reserved (`VmSize`), in KiB: far more than is used.
    pub virtual_kib: u64,
    /// How many threads it has.
    pub threads: usize,
}

/// The memory and thread count of process `pid`.
pub fn status(pid: u32) -> Option<Status> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some(Status {
        resident_kib: field("VmRSS:")?,
        peak_resident_kib: field("VmHWM:")?,
        virtual_kib: field("VmSize:")?,
        threads: usize::try_from(field("Threads:")?).ok()?,
    })
}

/// CPU time (user + system) process `pid` has used, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the ")" that ends the command name come the state (field 3),
    // then utime and stime (fields 14 and 15), in clock ticks. Linux counts
    // these in USER_HZ, which is 100 a second on every architecture.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// How many file descriptors process `pid` has open.
pub fn open_files(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// The TCP ports process `pid` listens on, for a server whose listening
/// line cannot be read (its console is `/dev/full`, say). Its open files
/// name each socket by inode (`/proc/PID/fd/N` links to `socket:[INODE]`),
/// and `/proc/net/tcp` and `tcp6` give each listening inode's port.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let sockets: Vec<String> = fds
        .filter_map(|entry| {
            let link = std::fs::read_link(entry.ok()?.path()).ok()?;
            let inode = link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_string())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(table) = std::fs::read_to_string(table) else {
            continue;
        };
        // Columns: sl local_address rem_address st ... uid timeout inode; st 0A is LISTEN.
        ports.extend(table.lines().skip(1).filter_map(|row| {
            let columns: Vec<&str> = row.split_whitespace().collect();
            let listening = *columns.get(3)? == "0A";
            let inode = columns.get(9)?;
            let mine = sockets.iter().any(|socket| socket == inode);
            let port = u16::from_str_radix(columns.get(1)?.rsplit(':').next()?, 16).ok()?;
            (listening && mine).then_some(port)
        }));
    }
    ports
}

/// Bytes that have arrived for the TCP connection from `local_port` to
/// `peer_port` on this machine and that its owner has not read yet (the
/// `rx_queue` column of `/proc/net/tcp`, IPv4 only).
pub fn unread_bytes(local_port: u16, peer_port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    // Columns: sl local_address rem_address st tx_queue:rx_queue ..., ports in hex.
    table.lines().skip(1).find_map(|row| {
        let columns: Vec<&str> = row.split_whitespace().collect();
        let port = |column: &str| u16::from_str_radix(column.rsplit(':').next()?, 16).ok();
        let this_one = port(columns.get(1)?)? == local_port && port(columns.get(2)?)? == peer_port;
        let rx_queue = u64::from_str_radix(columns.get(4)?.split(':').nth(1)?, 16).ok()?;
        this_one.then_some(rx_queue)
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_read() {
        let me = std::process::id();
        let status = status(me).expect("/proc/self/status");
        assert!(status.threads >= 1);
        assert!(status.peak_resident_kib >= status.resident_kib);
        assert!(cpu_time(me).is_some());
        assert!(open_files(me).is_some_and(|n| n >= 3));
    }

    #[test]
    fn the_ports_a_process_listens_on_are_found_from_its_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("its address").port();
        assert!(listening_ports(std::process::id()).contains(&port));
    }
}
