//! The command-line arguments the binaries share, and the parsers that
//! check each value.
//!
//! Each server flattens [`ServerArgs`] into its own arguments, so `--host`,
//! `--port`, `--quiet` and the limits mean the same thing on all three. Where
//! a flag is left out, the server uses its lesson's `ADDR`, the address the
//! original tutorial hard-codes; one attribute shows that address in its
//! `--help`:
//!
//! ```
//! use clap::Parser;
//! use threaded_servers::cli::{ServerArgs, listen_defaults};
//!
//! const ADDR: (&str, u16) = ("127.0.0.1", 65434);
//!
//! #[derive(Parser)]
//! #[command(mut_args(listen_defaults(ADDR)))]
//! struct Args {
//!     #[command(flatten)]
//!     server: ServerArgs,
//! }
//!
//! let args = Args::parse_from(["counter_server"]);
//! assert_eq!(args.server.address(ADDR), ("127.0.0.1", 65434));
//! ```
//!
//! `client` and `swarm` flatten [`ServerAddress`]: which server to talk to.
//!
//! A value that makes no sense is refused with a message about the value,
//! a negative one included: `--port -1` says that `-1` is not a port number,
//! not that `-1` is an unknown flag.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::{Arg, Args};

use crate::limits;
use crate::protocol::Protocol;

/// Where a server listens, how much it says, and the limits that keep one
/// client from hurting the others.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// Address to listen on: 127.0.0.1 is this machine only, 0.0.0.0 every network interface.
    #[arg(long)]
    pub host: Option<String>,

    /// Port to listen on. 0 lets the operating system choose a free one; the
    /// listening line shows the port actually used.
    #[arg(long, value_parser = parse_port, allow_negative_numbers = true)]
    pub port: Option<u16>,

    /// Print no line per client or message; start-up, shutdown and errors still show.
    #[arg(long, short)]
    pub quiet: bool,

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

/// Makes `address` the default of a server's `--host` and `--port`, shown in
/// its `--help`: `#[command(mut_args(listen_defaults(ADDR)))]` on the
/// arguments that flatten [`ServerArgs`].
///
/// The defaults are the server's own (each lesson has its port), so
/// [`ServerArgs`] cannot declare them; this sets them on the built command.
pub fn listen_defaults((host, port): (&'static str, u16)) -> impl FnMut(Arg) -> Arg {
    move |arg| match arg.get_id().as_str() {
        "host" => arg.default_value(host),
        "port" => arg.default_value(port.to_string()),
        _ => arg,
    }
}

/// The limits every server enforces, each a flag with a default.
#[derive(Args, Clone, Copy, Debug)]
#[command(next_help_heading = "Limits")]
pub struct Limits {
    /// The most clients connected at once; one more gets an `ERROR: ...` line
    /// and is closed [default: 10000, or fewer if `ulimit -n` is lower].
    #[arg(long, value_parser = parse_count::<u32>, allow_negative_numbers = true)]
    pub max_clients: Option<u32>,

    /// Close a client that has not completed a message for this many seconds (0: never).
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = Timeout::parse, allow_negative_numbers = true)]
    pub idle_timeout: Timeout,

    /// Give up on a client that has not taken a reply for this many seconds (0: never).
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = Timeout::parse, allow_negative_numbers = true)]
    pub write_timeout: Timeout,

    /// How many connections the kernel may hold waiting for `accept()`; past
    /// it, new clients wait (and retry) in silence. The default is the
    /// kernel's own cap (net.core.somaxconn), which no larger value can pass.
    #[arg(long, default_value_t = limits::listen_backlog(), value_parser = parse_count::<i32>, allow_negative_numbers = true)]
    pub backlog: i32,
}

/// The server `client` and `swarm` talk to: `--host` and `--port`, given
/// before or after the server's name.
#[derive(Args, Clone, Debug)]
pub struct ServerAddress {
    /// Server address: a host name or an IP address.
    #[arg(long, global = true, default_value = "127.0.0.1")]
    pub host: String,

    // The help names every server's port, from `Protocol::default_port`.
    #[arg(long, global = true, help = server_port_help(), value_parser = parse_server_port, allow_negative_numbers = true)]
    pub port: Option<u16>,
}

impl ServerAddress {
    /// `--port`, or the port `protocol`'s server listens on by default.
    pub fn port_for(&self, protocol: Protocol) -> u16 {
        self.port.unwrap_or(protocol.default_port())
    }

    /// The command that starts `protocol`'s server where this address
    /// looks for it, for the hint after "cannot connect": with `--port`
    /// when it is not the server's own.
    pub fn start_command(&self, protocol: Protocol, release: bool) -> String {
        let server = protocol.server_name();
        let profile = if release { "--release " } else { "" };
        match self.port.filter(|&port| port != protocol.default_port()) {
            Some(port) => format!("cargo run {profile}--bin {server} -- --port {port}"),
            None => format!("cargo run {profile}--bin {server}"),
        }
    }

    /// The socket addresses of `protocol`'s server, at least one; or why
    /// there are none, as a sentence that says what to check.
    pub fn resolve(&self, protocol: Protocol) -> Result<Vec<SocketAddr>, String> {
        let host = &self.host;
        let unknown = |why: &dyn fmt::Display| {
            format!(
                "cannot find the host `{host}`: {why}. Check --host: a name this machine can resolve, or an IP address"
            )
        };
        let addresses: Vec<SocketAddr> = (host.as_str(), self.port_for(protocol))
            .to_socket_addrs()
            .map_err(|e| unknown(&e))?
            .collect();
        if addresses.is_empty() {
            return Err(unknown(&"it has no address"));
        }
        Ok(addresses)
    }
}

/// "Server port [default: counter 65434, echo 56011, queue 65432]"
fn server_port_help() -> String {
    let defaults: Vec<String> = Protocol::ALL
        .iter()
        .map(|protocol| format!("{} {}", protocol.name(), protocol.default_port()))
        .collect();
    format!(
        "Server port [default: the server's own: {}]",
        defaults.join(", ")
    )
}

/// A port to listen on: 0 to 65535, where 0 lets the operating system choose.
pub fn parse_port(text: &str) -> Result<u16, String> {
    text.parse().map_err(|_| {
        format!("`{text}` is not a port number (0 to 65535; 0 lets the system choose)")
    })
}

/// A server's port, to connect to: 1 to 65535.
pub fn parse_server_port(text: &str) -> Result<u16, String> {
    text.parse()
        .ok()
        .filter(|&port| port != 0)
        .ok_or_else(|| format!("`{text}` is not a server's port number (1 to 65535)"))
}

/// A count of at least 1, such as `--max-clients 100`, that fits in a `T`.
pub fn parse_count<T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    let count: u64 = text
        .parse()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| format!("`{text}` is not a count (a whole number, at least 1)"))?;
    T::try_from(count).map_err(|_| format!("`{text}` is too large"))
}

/// A time limit given in seconds on the command line, where `0` means none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout(Option<Duration>);

impl Timeout {
    /// No limit.
    pub const NONE: Timeout = Timeout(None);

    /// The limit, or `None` if there is none. (`None` is also what std's
    /// `set_read_timeout` takes for "wait for ever"; a zero would be an error.)
    pub fn duration(self) -> Option<Duration> {
        self.0
    }

    /// Parses a number of seconds such as `30` or `0.5`; `0` is no limit.
    pub fn parse(text: &str) -> Result<Timeout, String> {
        let duration = parse_seconds(text)?;
        Ok(Timeout(Some(duration).filter(|d| !d.is_zero())))
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(duration) => write!(f, "{} s", duration.as_secs_f64()),
            None => f.write_str("none"),
        }
    }
}

/// Parses a number of seconds such as `30` or `0.5` into a `Duration`.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if seconds < 0.0 {
        return Err(format!(
            "`{text}` is not a number of seconds: it is negative"
        ));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is too long a time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_may_be_fractional_and_zero_means_no_limit() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("30"), Ok(Duration::from_secs(30)));
        assert_eq!(
            parse_seconds("-1"),
            Err("`-1` is not a number of seconds: it is negative".into())
        );
        assert!(parse_seconds("soon").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert_eq!(Timeout::parse("0"), Ok(Timeout::NONE));
        assert_eq!(
            Timeout::parse("2").map(Timeout::duration),
            Ok(Some(Duration::from_secs(2)))
        );
    }

    #[test]
    fn ports_and_counts_are_refused_with_a_word_about_the_value() {
        assert_eq!(parse_port("0"), Ok(0));
        assert_eq!(parse_port("65535"), Ok(65535));
        assert!(parse_port("-1").is_err_and(|why| why.starts_with("`-1` is not a port number")));
        assert!(parse_port("65536").is_err());
        assert!(parse_server_port("0").is_err_and(|why| why.contains("1 to 65535")));
        assert_eq!(parse_count::<u32>("5"), Ok(5));
        assert!(parse_count::<usize>("0").is_err_and(|why| why.contains("at least 1")));
        assert!(parse_count::<usize>("-3").is_err_and(|why| why.starts_with("`-3`")));
        assert!(parse_count::<i32>("3000000000").is_err_and(|why| why.contains("too large")));
    }
}
