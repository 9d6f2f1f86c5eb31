//! The library the lesson binaries share.
//!
//! Each binary in `src/bin/` is one lesson and reads top to bottom. What
//! more than one of them needs lives here, once:
//!
//! | module | what it is for |
//! |---|---|
//! | [`cli`] | `--host`, `--port` and the limits every server takes |
//! | [`console`] | logging: whole lines, from one printer thread, that never make a client wait or panic |
//! | [`server`] | listen with a real backlog, accept, admit under `--max-clients`, close without losing the last reply |
//! | [`shutdown`] | Ctrl-C and SIGTERM, and waking a blocked `accept()` |
//! | [`framing`] | one line = one message, bounded at [`framing::SIZE`] bytes |
//! | [`pool`] | a fixed pool of worker threads (lesson 4's experiment) |
//!
//! # Why `client_counter` needs a lock
//!
//! Seed 001 bumps a plain integer from many threads and adds a lock so that
//! two threads cannot read the same value and both write it back plus one.
//! In Rust the version without the lock is not a bug waiting to happen; it
//! does not compile. Two threads may not both hold a mutable borrow of
//! `client_counter`:
//!
//! ```compile_fail,E0499
// ANCHOR: unlocked_counter
//! use std::thread;
//!
//! let mut client_counter = 0;
//! thread::scope(|s| {
//!     s.spawn(|| client_counter += 1); // first mutable borrow...
//!     s.spawn(|| client_counter += 1); // ...and a second: error[E0499]
//! });
// ANCHOR_END: unlocked_counter
//! ```
//!
//! Wrapping it in a `Mutex` is what makes it compile, and correct:
//!
//! ```
//! use std::sync::Mutex;
//! use std::thread;
//!
//! let client_counter = Mutex::new(0);
//! thread::scope(|s| {
//!     s.spawn(|| *client_counter.lock().unwrap() += 1);
//!     s.spawn(|| *client_counter.lock().unwrap() += 1);
//! });
//! assert_eq!(client_counter.into_inner().unwrap(), 2);
//! ```

pub mod cli;
pub mod console;
pub mod framing;
pub mod pool;
pub mod server;
pub mod shutdown;
