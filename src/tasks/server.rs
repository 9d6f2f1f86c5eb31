//! Listening and accepting for tasks: the twin of `threads::server::Server`.
//!
//! The socket is opened exactly as the threaded servers open it
//! ([`crate::listening::listen`]: the backlog, the error messages) and then handed to
//! tokio. Accepting is the same loop with the same guards (admission under
//! `--max-clients`, back-off when `accept()` fails), except that shutdown
//! needs no trick to wake it: [`Server::next_client`] waits for the next
//! client *or* shutdown, whichever comes first.
//!
//! The places under `--max-clients` are a [`Semaphore`], as in mini-redis:
//! each admitted [`Client`] holds one permit, which frees when the client is
//! dropped. Unlike mini-redis, a client past the limit is accepted and told
//! (one `ERROR:` line), not left waiting in the backlog.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;

use crate::cli::{Limits, ServerArgs};
use crate::limits::fit_max_clients;
use crate::listening::{listen, turn_away, turn_away_waiting_clients};
use crate::tasks::client::Client;
use crate::tasks::shutdown::{Shutdown, Stopper};
use crate::timing::{FIRST_ACCEPT_BACKOFF, LONGEST_ACCEPT_BACKOFF};
use crate::warn;

/// A listening server: the socket, the limits, and the places for clients.
pub struct Server {
    listener: TcpListener,
    /// A second handle on the listening socket (a duplicate file
    /// descriptor), to answer the clients still in the accept queue at
    /// shutdown with the threaded servers' own code, which takes a std socket.
    queue: std::net::TcpListener,
    limits: Limits,
    max_clients: usize,
    /// One permit per place under `--max-clients`.
    places: Arc<Semaphore>,
    stopper: Stopper,
    shutdown: Shutdown,
}

impl Server {
    /// Binds `--host`:`--port` (or the lesson's `default` address) with the
    /// `--backlog`, and raises the process's open-file limit to fit
    /// `--max-clients`, as the threaded servers' bind does. The error names
    /// the address and the cause, ready to print. Call it inside the
    /// runtime: the socket is registered with it.
    pub fn bind(args: &ServerArgs, default: (&str, u16)) -> io::Result<Server> {
        let (host, port) = args.address(default);
        // Looking the host up blocks, once, before there is any client to
        // keep waiting: the threaded servers' `listen`, as it is.
        let listener = listen(host, port, args.limits.backlog)?;
        let queue = listener.try_clone()?;
        // tokio waits for sockets with epoll, not in a blocking call.
        listener.set_nonblocking(true)?;
        let max_clients = fit_max_clients(args.limits.max_clients) as usize;
        let (stopper, shutdown) = Stopper::new();
        Ok(Server {
            listener: TcpListener::from_std(listener)?,
            queue,
            limits: args.limits,
            max_clients,
            places: Arc::new(Semaphore::new(max_clients)),
            stopper,
            shutdown,
        })
    }

    /// The port actually bound: with `--port 0`, the one the OS chose.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map_or(0, |address| address.port())
    }

    /// What stops this server: the signal task, or a test.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// How many clients are connected right now.
    pub fn client_count(&self) -> usize {
        self.max_clients - self.places.available_permits()
    }

    /// Waits for the next client. Returns `None` once the server is shutting down.
    pub async fn next_client(&self) -> Option<Client> {
        let mut shutdown = self.shutdown.clone();
        let mut backoff = FIRST_ACCEPT_BACKOFF;
        loop {
            // ANCHOR: accept_or_shutdown
            // Whichever comes first. `biased`: once shutdown has begun, no
            // new client is taken, even one that is already waiting; it is
            // told at the end, with the others still in the queue.
            let accepted = tokio::select! {
                biased;
                () = shutdown.begun() => return None,
                accepted = self.listener.accept() => accepted,
            };
            // ANCHOR_END: accept_or_shutdown
            match accepted {
                Ok((stream, address)) => {
                    if let Some(client) = self.admit(stream, address) {
                        return Some(client);
                    }
                }
                Err(e) => {
                    // Out of file descriptors, say: as the threads do, wait
                    // for clients to leave, but stop waiting at shutdown.
                    warn!("accept failed: {e}; trying again in {backoff:?}");
                    if shutdown.stops_within(backoff).await {
                        return None;
                    }
                    backoff = (backoff * 2).min(LONGEST_ACCEPT_BACKOFF);
                }
            }
        }
    }

    /// Makes a client of a new connection, or turns it away if the server is full.
    fn admit(&self, stream: TcpStream, address: SocketAddr) -> Option<Client> {
        // Replies are whole lines written at once: send each one now, not
        // held back by Nagle's algorithm (see the threaded server's `admit`).
        let _ = stream.set_nodelay(true);
        match Arc::clone(&self.places).try_acquire_owned() {
            Ok(place) => Some(Client::new(
                stream,
                address,
                &self.limits,
                self.shutdown.clone(),
                place,
            )),
            Err(_) => {
                // The threads' refusal, as it is: every call in it returns
                // at once on a new socket, so it cannot hold up this task.
                if let Ok(stream) = stream.into_std() {
                    turn_away(&stream, address, self.max_clients);
                }
                None
            }
        }
    }

    /// Shutdown, second half: waits (at most `grace`) for every client's
    /// task to finish, then tells every client still waiting in the accept
    /// queue that the server is stopping. Returns how many clients were
    /// still connected when it gave up.
    ///
    /// Each client's task saw shutdown begin in its own `select!`, and ends
    /// its session; its place frees when it drops its [`Client`].
    pub async fn close_all_clients(&self, grace: Duration) -> usize {
        let every_place = u32::try_from(self.max_clients).unwrap_or(u32::MAX);
        let all_free = timeout(grace, self.places.acquire_many(every_place)).await;
        let unfinished = match all_free {
            Ok(Ok(_every_place)) => 0,
            _ => self.client_count(),
        };
        turn_away_waiting_clients(&self.queue);
        unfinished
    }
}
