//! The library the lesson binaries share.
//!
//! Each binary in `src/bin/` is one lesson and reads top to bottom. What
//! more than one of them needs lives here, once, one concern per module.
//! A core that knows no concurrency style:
//!
//! | module | what it is for |
//! |---|---|
//! | [`protocol`] | every line a server sends or a client reads, with its parser |
//! | [`framing`] | one line = one message, bounded at [`framing::SIZE`] bytes, with no I/O |
//! | [`session`] | how a session goes on or ends, in words every style shares |
//! | [`listening`] | listening with a real backlog; turning a client away with one `ERROR` line |
//! | [`limits`] | what the OS allows: open files, thread stacks, the listen backlog |
//! | [`timing`] | every timeout, and the shutdown timeline they make |
//! | [`console`] | logging: whole lines, from one printer thread, that never make a client wait or panic |
//! | [`cli`] | `--host`, `--port`, `--quiet` and the limits every server takes |
//! | [`procfs`] | a process's memory, threads and CPU time, from Linux's `/proc` |
//!
//! and over it, side by side, the three ways to serve many clients, none of
//! which uses another:
//!
//! | module | lessons | how a client is served |
//! |---|---|---|
//! | [`threads`] | 1 to 4 | a thread per client (or a pool), blocking in `read` |
//! | [`events`] | 5 | one thread, one loop, a state machine per client |
//! | [`tasks`] | 6 | a tokio task per client |
//!
//! [`harness`] drives servers from outside, for the tests and the exercises.
//!
//! The compiler checks all of it (`forbid` below): where `std` stops,
//! the well-kept crates `socket2` and `nix` make the system calls.
//!
//! # Why `client_counter` needs a lock
//!
//! The counter tutorial bumps a plain integer from many threads and adds a lock so that
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
//!
//! # What may go to another thread: `Send`
//!
//! A value moved into a new thread must be `Send`. `Rc`, the
//! single-threaded reference count, is not: two threads changing its count
//! at once could free the value while one still uses it. So this does not
//! compile either; `Arc`, whose count is atomic, does:
//!
//! ```compile_fail,E0277
// ANCHOR: rc_to_thread
//! use std::rc::Rc;
//! use std::thread;
//!
//! let client_counter = Rc::new(0);
//! let for_the_thread = Rc::clone(&client_counter);
//! thread::spawn(move || println!("{for_the_thread}")); // error[E0277]
// ANCHOR_END: rc_to_thread
//! ```
//!
//! # What an `Arc` may share: `Sync`
//!
//! An `Arc`'s count is atomic, yet `Arc<T>` is `Send` only if `T` is `Send`
//! and `Sync`: every clone reaches the same `T`, from whichever thread holds
//! it. A `RefCell` is not `Sync` (its borrow flag is a plain number), so an
//! `Arc<RefCell<_>>` cannot go to another thread:
//!
//! ```compile_fail,E0277
// ANCHOR: arc_refcell_to_thread
//! use std::cell::RefCell;
//! use std::sync::Arc;
//! use std::thread;
//!
//! let client_counter = Arc::new(RefCell::new(0));
//! let for_the_thread = Arc::clone(&client_counter);
//! thread::spawn(move || *for_the_thread.borrow_mut() += 1); // error[E0277]
// ANCHOR_END: arc_refcell_to_thread
//! ```
//!
//! `Mutex<T>` is `Sync` whenever `T` is `Send`, so an `Arc<Mutex<_>>` can:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::thread;
//!
//! let client_counter = Arc::new(Mutex::new(0));
//! let for_the_thread = Arc::clone(&client_counter);
//! thread::spawn(move || *for_the_thread.lock().unwrap() += 1)
//!     .join()
//!     .unwrap();
//! assert_eq!(*client_counter.lock().unwrap(), 1);
//! ```
//!
//! # The one-line alternative to the lock: an atomic
//!
//! For a counter alone, an atomic integer does what the lock does, in one
//! indivisible step (lesson 1's exercise 2):
//!
//! ```
// ANCHOR: fetch_add
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! /// The next client id: 1, 2, 3, ...
//! fn next_id(client_counter: &AtomicU64) -> u64 {
//!     // Reads, adds and writes as one step: no other thread can come between.
//!     client_counter.fetch_add(1, Ordering::Relaxed) + 1
//! }
// ANCHOR_END: fetch_add
//!
//! let client_counter = AtomicU64::new(0);
//! let ids: Vec<u64> = std::thread::scope(|s| {
//!     let threads: Vec<_> = (0..4).map(|_| s.spawn(|| next_id(&client_counter))).collect();
//!     threads.into_iter().map(|t| t.join().unwrap()).collect()
//! });
//! let mut sorted = ids.clone();
//! sorted.sort();
//! assert_eq!(sorted, [1, 2, 3, 4]);
//! ```

#![forbid(unsafe_code)]

pub mod cli;
pub mod console;
pub mod framing;
pub mod limits;
pub mod listening;
pub mod procfs;
pub mod protocol;
pub mod session;
pub mod timing;

pub mod events;
pub mod tasks;
pub mod threads;

#[cfg(unix)]
pub mod harness;
