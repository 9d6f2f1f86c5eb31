//! A fixed pool of worker threads, for lesson 4's experiment.
//!
//! Instead of a new thread for every client, a few long-lived threads take
//! clients from a channel, one after another: the design of the Rust Book's
//! final project. Starting a thread costs a system call, a stack and a bit of
//! scheduling; a worker that already exists costs none of that per client.
//! The price: at most `size` clients are served at once, and the rest wait.
//!
//! Two things the Book's version does differently. A worker whose client's
//! handler panics carries on (a pool that lost a worker to every panic would
//! end up with none), and dropping the pool waits for its workers, but not
//! for ever: a worker stuck with a client must not keep the server from
//! exiting.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::limits::CLIENT_THREAD_STACK;
use crate::timing::POOL_STOP_GRACE;
use crate::warn;

use super::connections::Client;

/// `size` worker threads sharing one queue of clients.
pub struct WorkerPool {
    /// Where accepted clients wait for a worker. Unbounded, so the accept
    /// loop never blocks on it (it would not notice Ctrl-C); `--max-clients`
    /// bounds how many can be waiting. `None` once the pool is stopping.
    waiting_clients: Option<Sender<Client>>,
    workers: Vec<JoinHandle<()>>,
    /// Disconnects when the last worker has ended: each worker holds a
    /// sender for it, dropped as the worker ends, by return or by panic.
    all_ended: Receiver<()>,
    /// How many handlers have panicked.
    panics: Arc<AtomicUsize>,
}

impl WorkerPool {
    /// Starts `size` workers, each running `handler` for one client at a time.
    pub fn new<F>(size: usize, handler: F) -> io::Result<WorkerPool>
    where
        F: Fn(Client) + Send + Sync + 'static,
    {
        let (waiting_clients, receiver) = mpsc::channel();
        // One receiver, many workers: each takes the lock only to take a client.
        let receiver = Arc::new(Mutex::new(receiver));
        let handler = Arc::new(handler);
        let (ended, all_ended) = mpsc::channel();
        let panics = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::with_capacity(size);
        for n in 1..=size {
            let (receiver, handler) = (Arc::clone(&receiver), Arc::clone(&handler));
            let (ended, panics) = (ended.clone(), Arc::clone(&panics));
            let worker = thread::Builder::new()
                .name(format!("worker {n}"))
                .stack_size(CLIENT_THREAD_STACK)
                .spawn(move || {
                    let _ended = ended;
                    work(&receiver, &*handler, &panics);
                })?;
            workers.push(worker);
        }
        Ok(WorkerPool {
            waiting_clients: Some(waiting_clients),
            workers,
            all_ended,
            panics,
        })
    }

    /// Hands a client to the next free worker.
    pub fn serve(&self, client: Client) {
        if let Some(waiting_clients) = &self.waiting_clients {
            // Fails only if every worker is gone; the client is then dropped, closed.
            let _ = waiting_clients.send(client);
        }
    }

    /// How many clients' handlers have panicked so far (each one reported on stderr).
    pub fn panics(&self) -> usize {
        self.panics.load(Ordering::Relaxed)
    }

    /// Closes the queue and waits, at most `grace`, for the workers: each
    /// serves the clients already waiting, then sees the queue closed and
    /// ends. Returns how many workers were still busy when it gave up.
    pub fn shut_down(mut self, grace: Duration) -> usize {
        self.stop(grace)
    }

    fn stop(&mut self, grace: Duration) -> usize {
        drop(self.waiting_clients.take());
        match self.all_ended.recv_timeout(grace) {
            Err(RecvTimeoutError::Disconnected) => {
                for worker in self.workers.drain(..) {
                    if worker.join().is_err() {
                        warn!("a worker thread panicked");
                    }
                }
                0
            }
            // A worker still serving a client: leave it; the process is ending.
            _ => self.workers.iter().filter(|w| !w.is_finished()).count(),
        }
    }
}

impl Drop for WorkerPool {
    /// Waits (briefly) for the workers, so none is cut off mid-reply.
    fn drop(&mut self) {
        if self.waiting_clients.is_some() {
            self.stop(POOL_STOP_GRACE);
        }
    }
}

// ANCHOR: work
/// A worker's life: take the next client, serve it, repeat until the queue closes.
fn work(
    receiver: &Mutex<Receiver<Client>>,
    handler: &(dyn Fn(Client) + Send + Sync),
    panics: &AtomicUsize,
) {
    loop {
        let next = {
            let receiver = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            receiver.recv()
        }; // The guard is dropped here, before the client is served. Holding
        // it through `handler` would let one worker run at a time.
        let Ok(client) = next else {
            return; // The pool is shutting down.
        };
        // A panic ends this client's handler, not the worker.
        if panic::catch_unwind(AssertUnwindSafe(|| handler(client))).is_err() {
            panics.fetch_add(1, Ordering::Relaxed);
            let name = thread::current().name().unwrap_or("worker").to_string();
            warn!("{name}: a client's handler panicked; the worker carries on");
        }
    }
}
// ANCHOR_END: work
