//! A fixed pool of worker threads, for lesson 4's experiment.
//!
//! Instead of a new thread for every client, a few long-lived threads take
//! clients from a channel, one after another: the design of the Rust Book's
//! final project. Starting a thread costs a system call, a stack and a bit of
//! scheduling; a worker that already exists costs none of that per client.
//! The price: at most `size` clients are served at once, and the rest wait.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use crate::server::{CLIENT_THREAD_STACK, Client};

/// `size` worker threads sharing one queue of clients.
pub struct WorkerPool {
    /// Where accepted clients wait for a worker. Unbounded, so the accept
    /// loop never blocks on it (it would not notice Ctrl-C); `--max-clients`
    /// bounds how many can be waiting.
    waiting_clients: Sender<Client>,
    workers: Vec<JoinHandle<()>>,
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
        let mut workers = Vec::with_capacity(size);
        for n in 1..=size {
            let (receiver, handler) = (Arc::clone(&receiver), Arc::clone(&handler));
            workers.push(
                thread::Builder::new()
                    .name(format!("worker {n}"))
                    .stack_size(CLIENT_THREAD_STACK)
                    .spawn(move || work(&receiver, &*handler))?,
            );
        }
        Ok(WorkerPool {
            waiting_clients,
            workers,
        })
    }

    /// Hands a client to the next free worker.
    pub fn serve(&self, client: Client) {
        // Fails only if every worker is gone; the client is then dropped, closed.
        let _ = self.waiting_clients.send(client);
    }

    /// Closes the queue and waits for the workers: each finishes the clients
    /// already waiting, then sees the queue closed and ends.
    pub fn shut_down(self) {
        drop(self.waiting_clients);
        for worker in self.workers {
            let _ = worker.join();
        }
    }
}

// ANCHOR: work
/// A worker's life: take the next client, serve it, repeat until the queue closes.
fn work(receiver: &Mutex<Receiver<Client>>, handler: &(dyn Fn(Client) + Send + Sync)) {
    loop {
        let next = {
            let receiver = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            receiver.recv()
        }; // The guard is dropped here, before the client is served. Holding
        // it through `handler` would let one worker run at a time: the most
        // reported bug in the Rust Book's version of this loop.
        match next {
            Ok(client) => handler(client),
            Err(_) => return, // The pool is shutting down.
        }
    }
}
// ANCHOR_END: work
