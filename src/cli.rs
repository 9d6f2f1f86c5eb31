//! The command-line arguments every server shares.
//!
//! Each server flattens [`ServerArgs`] into its own arguments, so `--host`,
//! `--port` and the limits mean the same thing on all three. Where a flag is
//! left out, the server uses its lesson's `ADDR`, the address the seed hard-codes.

use std::time::Duration;

use clap::{Args, Subcommand};

/// The three lesson servers: how `client` and `swarm` name them, and the
/// port each listens on unless told otherwise (the seed's).
#[derive(Subcommand, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Protocol {
    /// Lesson 1's counter_server: one message, one greeting.
    Counter,
    /// Lesson 2's echo_server: a session of lines, each echoed.
    Echo,
    /// Lesson 3's queue_server: a session; the server may push lines at any time.
    Queue,
}

impl Protocol {
    /// The binary that serves this protocol.
    pub const fn server_name(self) -> &'static str {
        match self {
            Protocol::Counter => "counter_server",
            Protocol::Echo => "echo_server",
            Protocol::Queue => "queue_server",
        }
    }

    /// The seed's port for this server.
    pub const fn default_port(self) -> u16 {
        match self {
            Protocol::Counter => 65434,
            Protocol::Echo => 56011,
            Protocol::Queue => 65432,
        }
    }
}

/// Where a server listens, and the limits that keep one client from hurting the others.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// Address to listen on [default: 127.0.0.1, this machine only]. 0.0.0.0 is every network interface.
    #[arg(long)]
    pub host: Option<String>,

    /// Port to listen on [default: the lesson's]. 0 lets the operating system
    /// choose a free one; the listening line shows the port actually used.
    #[arg(long)]
    pub port: Option<u16>,

    #[command(flatten)]
    pub limits: Limits,
}

impl ServerArgs {
    /// `--host` and `--port`, with the lesson's `ADDR` for whichever is left out.
    pub fn address<'a>(&'a self, default: (&'a str, u16)) -> (&'a str, u16) {
        (
            self.host.as_deref().unwrap_or(default.0),
            self.port.unwrap_or(default.1),
        )
    }
}

/// The limits every server enforces, each a flag with a default.
#[derive(Args, Clone, Copy, Debug)]
#[command(next_help_heading = "Limits")]
pub struct Limits {
    /// The most clients connected at once; one more gets an `ERROR: ...` line
    /// and is closed [default: 10000, or fewer if `ulimit -n` is lower].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: Option<u32>,

    /// Close a client that has not completed a message for this many seconds (0: never).
    #[arg(long = "idle-timeout", value_name = "SECONDS", default_value = "300", value_parser = parse_seconds)]
    pub idle_seconds: Duration,

    /// Give up on a client that has not taken a reply for this many seconds (0: never).
    #[arg(long = "write-timeout", value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub write_seconds: Duration,

    /// How many connections the kernel may hold waiting for `accept()`.
    /// Past it, new clients wait (and retry) in silence. Capped by net.core.somaxconn.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(i32).range(1..))]
    pub backlog: i32,
}

impl Limits {
    /// The idle timeout, or `None` when it is switched off.
    pub fn idle_timeout(&self) -> Option<Duration> {
        Some(self.idle_seconds).filter(|timeout| !timeout.is_zero())
    }

    /// The write timeout, or `None` when it is switched off.
    pub fn write_timeout(&self) -> Option<Duration> {
        Some(self.write_seconds).filter(|timeout| !timeout.is_zero())
    }
}

/// Parses a number of seconds such as `30` or `0.5`.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is not a usable duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_may_be_fractional_and_zero_means_off() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("30"), Ok(Duration::from_secs(30)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        let limits = Limits {
            max_clients: None,
            idle_seconds: Duration::ZERO,
            write_seconds: Duration::from_secs(1),
            backlog: 1,
        };
        assert_eq!(limits.idle_timeout(), None);
        assert_eq!(limits.write_timeout(), Some(Duration::from_secs(1)));
    }
}
