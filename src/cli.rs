//! The command-line arguments every server shares.
//!
//! Each server flattens [`ServerArgs`] into its own arguments, so `--host`,
//! `--port`, `--quiet` and the limits mean the same thing on all three. Where
//! a flag is left out, the server uses its lesson's `ADDR`, the address the
//! original tutorial hard-codes.

use std::fmt;
use std::time::Duration;

use clap::Args;

use crate::limits;

/// Where a server listens, how much it says, and the limits that keep one
/// client from hurting the others.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// Address to listen on [default: 127.0.0.1, this machine only]. 0.0.0.0 is every network interface.
    #[arg(long)]
    pub host: Option<String>,

    /// Port to listen on [default: the lesson's]. 0 lets the operating system
    /// choose a free one; the listening line shows the port actually used.
    #[arg(long)]
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

/// The limits every server enforces, each a flag with a default.
#[derive(Args, Clone, Copy, Debug)]
#[command(next_help_heading = "Limits")]
pub struct Limits {
    /// The most clients connected at once; one more gets an `ERROR: ...` line
    /// and is closed [default: 10000, or fewer if `ulimit -n` is lower].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: Option<u32>,

    /// Close a client that has not completed a message for this many seconds (0: never).
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = Timeout::parse)]
    pub idle_timeout: Timeout,

    /// Give up on a client that has not taken a reply for this many seconds (0: never).
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = Timeout::parse)]
    pub write_timeout: Timeout,

    /// How many connections the kernel may hold waiting for `accept()`; past
    /// it, new clients wait (and retry) in silence. The default is the
    /// kernel's own cap (net.core.somaxconn), which no larger value can pass.
    #[arg(long, default_value_t = limits::listen_backlog(), value_parser = clap::value_parser!(i32).range(1..))]
    pub backlog: i32,
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
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is not a usable duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_may_be_fractional_and_zero_means_no_limit() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("30"), Ok(Duration::from_secs(30)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        assert!(parse_seconds("inf").is_err());
        assert_eq!(Timeout::parse("0"), Ok(Timeout::NONE));
        assert_eq!(
            Timeout::parse("2").map(Timeout::duration),
            Ok(Some(Duration::from_secs(2)))
        );
    }
}
