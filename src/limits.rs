//! What the operating system allows a process, and how the servers fit in it.
//!
//! Three limits decide how many clients a thread-per-client server can hold:
//! the address space for each thread's stack ([`CLIENT_THREAD_STACK`],
//! [`room_for_a_client_thread`]), the number of open files (each client is
//! one socket: [`fit_max_clients`]), and how many finished handshakes the
//! kernel keeps waiting for `accept()` ([`listen_backlog`]). Reading them
//! here, once, lets every server pick defaults that fit the machine instead
//! of failing in silence past them.

use crate::warn;

// ANCHOR: client_thread_stack
/// Stack size for a client thread. Rust's default is 2 MiB of address space;
/// a client thread here needs a small fraction of that, and 10,000 clients
/// times 2 MiB would reserve 20 GiB.
pub const CLIENT_THREAD_STACK: usize = 256 * 1024;
// ANCHOR_END: client_thread_stack

/// Address space a thread-per-client server keeps free when the process
/// runs under an address-space limit (`ulimit -v`), for everything but
/// new stacks: the memory its clients' threads allocate as they go.
///
/// Threads are refused at the limit ([`room_for_a_client_thread`]), but
/// a refused thread is not what kills a server there: the next ordinary
/// allocation, by any thread, finds no address space either, and a failed
/// allocation aborts a Rust process (`memory allocation of 41 bytes
/// failed`). So a server stops starting threads while this much is left.
pub const ADDRESS_SPACE_RESERVE: u64 = 16 * 1024 * 1024;

/// `--max-clients` when it is not given, as Redis's `maxclients`.
pub const DEFAULT_MAX_CLIENTS: u32 = 10_000;

/// File descriptors kept free beyond one per client: stdio, the listener,
/// and room to accept a client past `--max-clients` to tell it so (Redis keeps 32).
const SPARE_FILES: u64 = 32;

/// The listen backlog where the kernel's cap cannot be read (not Linux).
/// Other kernels cap a larger request at their own limit anyway.
const FALLBACK_BACKLOG: i32 = 4096;

/// The most clients this process can hold at once, and makes room for them.
///
/// Every client is an open file (its socket), and a process may open only
/// `ulimit -n` files: often 1024. Past that, `accept()` fails and new clients
/// wait in the backlog unanswered, the silent stall a limit is meant to
/// prevent. So the soft limit is raised to what `--max-clients` needs (a
/// socket each, and a few spare), within the hard limit, and
/// the default `--max-clients` is lowered to what fits, with a note. An
/// explicit `--max-clients` is kept, with a warning if it cannot fit.
pub fn fit_max_clients(requested: Option<u32>) -> u32 {
    let wanted = requested.unwrap_or(DEFAULT_MAX_CLIENTS);
    let Some(limit) = raise_open_file_limit(u64::from(wanted) + SPARE_FILES) else {
        return wanted; // Unknown here: nothing to fit to.
    };
    let room = u32::try_from(limit.saturating_sub(SPARE_FILES))
        .unwrap_or(u32::MAX)
        .max(1);
    if room >= wanted {
        return wanted;
    }
    match requested {
        None => {
            warn!(
                "note: at most {room} clients at once, not {wanted}: the open-file limit (ulimit -n) is {limit}"
            );
            room
        }
        Some(_) => {
            warn!(
                "warning: --max-clients {wanted} does not fit the open-file limit (ulimit -n) of {limit}; past about {room} clients, new ones will wait unanswered"
            );
            wanted
        }
    }
}

/// Raises the soft open-file limit towards `wanted` (never past the hard
/// limit, which only root may raise) and returns the limit now in force;
/// `None` where it cannot be read.
#[cfg(unix)]
pub fn raise_open_file_limit(wanted: u64) -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, rlim_t, setrlimit};

    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let wanted = rlim_t::try_from(wanted).unwrap_or(rlim_t::MAX);
    let mut in_force = soft;
    if soft < wanted && soft < hard {
        let raised = wanted.min(hard);
        if setrlimit(Resource::RLIMIT_NOFILE, raised, hard).is_ok() {
            in_force = raised;
        }
    }
    // `rlim_t` is a `u64` on Linux and macOS, an `i64` on some BSDs.
    #[allow(clippy::useless_conversion)]
    u64::try_from(in_force).ok()
}

/// Elsewhere there is no such limit to read.
#[cfg(not(unix))]
pub fn raise_open_file_limit(_wanted: u64) -> Option<u64> {
    None
}

/// False when a new client thread's stack would leave less than
/// [`ADDRESS_SPACE_RESERVE`] of the address space the process may use
/// (`ulimit -v`); true when there is no such limit, or it cannot be read.
///
/// Without a limit (the usual case) this is one system call. Under one, it
/// also reads the process's `VmSize` from `/proc/self/status`: tens of
/// microseconds, for a thread that costs more to start.
pub fn room_for_a_client_thread() -> bool {
    let Some(limit) = address_space_limit() else {
        return true;
    };
    let Some(status) = crate::procfs::status(std::process::id()) else {
        return true; // Not Linux: the limit stays the only guard.
    };
    let stack = CLIENT_THREAD_STACK as u64;
    status.virtual_kib.saturating_mul(1024) + stack + ADDRESS_SPACE_RESERVE <= limit
}

/// The address-space limit in force (`ulimit -v`), in bytes, if there is one.
#[cfg(unix)]
fn address_space_limit() -> Option<u64> {
    use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit};

    let (soft, _hard) = getrlimit(Resource::RLIMIT_AS).ok()?;
    if soft == RLIM_INFINITY {
        return None;
    }
    // `rlim_t` is a `u64` on Linux and macOS, an `i64` on some BSDs.
    #[allow(clippy::useless_conversion)]
    u64::try_from(soft).ok()
}

/// Elsewhere there is no such limit to read.
#[cfg(not(unix))]
fn address_space_limit() -> Option<u64> {
    None
}

/// The listen backlog to ask for: the kernel's own cap, `net.core.somaxconn`
/// (4096 on current Linux), read the way Go's `net` package reads it.
///
/// Asking for less strands bursts: when the queue is full, Linux drops new
/// connection attempts, and each client retries only after a second, then
/// two more, then four. Asking for more changes nothing: the kernel caps it.
pub fn listen_backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
        .filter(|&cap| cap > 0)
        .unwrap_or(FALLBACK_BACKLOG)
}
