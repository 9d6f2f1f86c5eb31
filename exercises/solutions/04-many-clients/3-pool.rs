//! Exercise 4.3, worked solution: a pool of workers.
//!
//! Lesson 1's counter server, with `--workers N`: N long-lived threads take
//! the clients from one channel, one after another, instead of a new thread
//! per client.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The most bytes one message may have: the original's `recv(1024)`.
const SIZE: usize = 1024;
/// How long a finished connection waits for the client to close its side...
const LINGER_TIME: Duration = Duration::from_secs(2);
/// ...and how much of what the client still sends it reads and drops meanwhile.
const LINGER_BYTES: usize = 1024 * 1024;
/// The first pause after a failed `accept()`; each failure in a row doubles it...
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// ...up to this.
const LONGEST_BACKOFF: Duration = Duration::from_secs(1);
/// How long shutdown waits for the clients' threads to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);
/// What a client still waiting is told when the server stops.
const SHUTTING_DOWN: &str = "ERROR: server is shutting down\n";

fn main() -> ExitCode {
    let config = Config::from_args();
    let listener = match TcpListener::bind(("127.0.0.1", config.port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "counter_server: cannot listen on 127.0.0.1:{}: {e}",
                config.port
            );
            return ExitCode::FAILURE;
        }
    };
    let Ok(address) = listener.local_addr() else {
        eprintln!("counter_server: cannot tell which port it listens on");
        return ExitCode::FAILURE;
    };
    let server = Arc::new(Server {
        config,
        stopping: AtomicBool::new(false),
        connections: Arc::default(),
    });
    let stopper = Arc::clone(&server);
    stop_on_enter(move || stopper.stop(address));
    println!("Server is listening on port {}...", address.port());

    let pool = match server.config.workers.map(WorkerPool::new) {
        None => None,
        Some(Ok(pool)) => Some(pool),
        Some(Err(e)) => {
            eprintln!("counter_server: cannot start the workers: {e}");
            return ExitCode::FAILURE;
        }
    };

    let client_counter = Arc::new(Mutex::new(0));
    let mut backoff = FIRST_BACKOFF;
    loop {
        let accepted = listener.accept();
        // The flag first: once it is up, whatever `accept` returned (the
        // wake-up connection, or a client that came at the same instant) is
        // not a client to serve.
        if server.is_stopping() {
            if let Ok((stream, _)) = accepted {
                refuse(&stream, SHUTTING_DOWN);
            }
            break;
        }
        let (stream, address) = match accepted {
            Ok(accepted) => {
                backoff = FIRST_BACKOFF;
                accepted
            }
            Err(e) => {
                // Out of file descriptors, say. Retrying at once would fail
                // at once, again and again, at 100 % of a core; waiting lets
                // clients leave and free theirs.
                eprintln!("accept failed: {e}; trying again in {backoff:?}");
                thread::sleep(backoff);
                backoff = (backoff * 2).min(LONGEST_BACKOFF);
                continue;
            }
        };
        let stream = Arc::new(stream);
        let Some(place) = server.connections.admit(&stream, server.config.max_clients) else {
            let max = server.config.max_clients;
            println!("Refused {address}: too many clients (--max-clients {max})");
            refuse(
                &stream,
                &format!("ERROR: too many clients (limit {max}); try again later\n"),
            );
            continue;
        };
        let for_the_thread = (Arc::clone(&stream), Arc::clone(&server));
        let client_counter = Arc::clone(&client_counter);
        let job = move || {
            let (stream, server) = for_the_thread;
            handle_client(&stream, address, &client_counter, &server);
            drop(place); // Its place under --max-clients frees after its last line.
        };
        if let Some(pool) = &pool {
            pool.serve(Box::new(job));
            continue;
        }
        let spawned = thread::Builder::new().spawn(job);
        // `thread::spawn` would panic when the system cannot start a thread.
        if spawned.is_err() {
            refuse(
                &stream,
                "ERROR: server is busy (no thread available); try again later\n",
            );
        }
    }

    println!("Server is shutting down...");
    // Every client thread blocked in a read gets end of stream, after what
    // its client had already sent: those are answered, the others told.
    server.connections.end_all_reads();
    let unfinished = server.connections.wait_until_empty(SHUTDOWN_GRACE);
    if unfinished > 0 {
        eprintln!("{unfinished} clients did not finish in time; closing them");
    }
    if let Some(pool) = pool {
        let busy = pool.shut_down(SHUTDOWN_GRACE);
        if busy > 0 {
            eprintln!("{busy} workers were still busy; leaving them");
        }
    }
    // Clients still in the kernel's accept queue connected before the stop: tell them too.
    if listener.set_nonblocking(true).is_ok() {
        while let Ok((stream, _)) = listener.accept() {
            let _ = stream.set_nonblocking(false);
            refuse(&stream, SHUTTING_DOWN);
        }
    }
    println!("Server stopped.");
    ExitCode::SUCCESS
}

/// What every client thread shares: the settings, the stop flag, and who is connected.
struct Server {
    config: Config,
    stopping: AtomicBool,
    connections: Arc<Connections>,
}

impl Server {
    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Raises the flag, then wakes the accept loop by being its next client:
    /// a flag alone would not be seen until someone connects.
    fn stop(&self, address: SocketAddr) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&address, Duration::from_millis(200));
    }
}

/// Stops the server when Enter is pressed in its terminal. (Given code: the
/// real server stops on Ctrl-C, which takes a signal handler; `std` has none.)
fn stop_on_enter(stop: impl FnOnce() + Send + 'static) {
    thread::spawn(move || {
        let mut line = String::new();
        if matches!(io::stdin().read_line(&mut line), Ok(1..)) {
            stop();
        }
    });
}

/// One client, start to finish, on its own thread: the original's `handle_client`.
fn handle_client(
    mut stream: &TcpStream,
    address: SocketAddr,
    client_counter: &Mutex<u64>,
    server: &Server,
) {
    let client_id = next_id(client_counter);
    println!("Client {client_id} connected from {address}");

    // One read of at most SIZE bytes, as the original's `recv(1024)`, within the idle timeout.
    let _ = stream.set_read_timeout(server.config.idle_timeout);
    let mut data = [0u8; SIZE];
    let reply = match stream.read(&mut data) {
        Ok(0) if server.is_stopping() => {
            println!("Client {client_id} sent nothing before shutdown.");
            Some(SHUTTING_DOWN.to_string())
        }
        Ok(0) => {
            println!("Client {client_id} closed the connection without a message.");
            None
        }
        Ok(n) => match std::str::from_utf8(without_line_ending(&data[..n])) {
            // A bug, planted on purpose: the message `!PANIC` makes this
            // handler panic. It stands for any bug a server has; a pool must
            // survive it. (The real server has no such line.)
            Ok("!PANIC") => panic!("Client {client_id} sent !PANIC"),
            Ok(message) => {
                println!("Client {client_id} says: {message}");
                Some(format!(
                    "Hello Client {client_id}, server received your message!"
                ))
            }
            Err(_) => {
                println!("Client {client_id} sent {n} bytes that are not UTF-8 text.");
                Some("ERROR: message is not valid UTF-8\n".to_string())
            }
        },
        Err(e) if is_timeout(&e) => {
            println!("Client {client_id} sent nothing in time (--idle-timeout).");
            Some("ERROR: idle timeout, closing the connection\n".to_string())
        }
        Err(e) => {
            println!("Client {client_id} connection failed: {e}");
            None
        }
    };
    if let Some(reply) = reply
        && let Err(e) = stream.write_all(reply.as_bytes())
    {
        println!("Client {client_id} did not take the reply: {e}");
    }
    close_gracefully(stream);
    println!("Client {client_id} disconnected.");
}

/// The original's `with counter_lock: client_counter += 1`.
fn next_id(client_counter: &Mutex<u64>) -> u64 {
    // A thread that panicked while holding the lock poisons it; the number
    // inside is still good, so carry on with it.
    let mut count = client_counter
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    *count += 1;
    *count
}

/// The message without a trailing `\n` or `\r\n`.
fn without_line_ending(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// True for the error a read timeout gives: `WouldBlock` on Unix, `TimedOut` on Windows.
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Closes so that the client receives the reply: say we are done writing,
/// then read and drop what the client still sends until it closes too
/// (bounded in time and bytes). Closing with unread data would send a
/// reset, which can destroy the reply before the client reads it.
fn close_gracefully(mut stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return; // Already gone.
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut discarded = 0;
    let mut scratch = [0u8; 1024];
    while discarded < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => discarded += n,
        }
    }
}

/// Sends one line to a connection that is not being served, and closes it,
/// without waiting: the accept loop must not be held up by it. What the
/// client already sent is read and dropped first, so that the close is a
/// normal one, not a reset that could destroy the line.
fn refuse(mut stream: &TcpStream, line: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    if stream.set_nonblocking(true).is_ok() {
        let mut scratch = [0u8; 1024];
        let mut discarded = 0;
        while let Ok(n @ 1..) = stream.read(&mut scratch) {
            discarded += n;
            if discarded >= LINGER_BYTES {
                break;
            }
        }
    }
}

/// Who is connected: the tutorial's count of connected clients, done so
/// that it goes down again, and a way to reach every client at shutdown.
#[derive(Default)]
struct Connections {
    open: Mutex<Open>,
    /// Signalled each time a client leaves.
    left: Condvar,
}

#[derive(Default)]
struct Open {
    next_key: u64,
    streams: HashMap<u64, Arc<TcpStream>>,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `stream` in, unless `max` clients are connected already.
    fn admit(self: &Arc<Self>, stream: &Arc<TcpStream>, max: usize) -> Option<Place> {
        let mut open = self.lock();
        if open.streams.len() >= max {
            return None;
        }
        open.next_key += 1;
        let key = open.next_key;
        open.streams.insert(key, Arc::clone(stream));
        Some(Place {
            key,
            connections: Arc::clone(self),
        })
    }

    /// Ends every client's wait for input: a blocked read returns end of stream.
    fn end_all_reads(&self) {
        for stream in self.lock().streams.values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
    }

    /// Waits until every client has left, or `timeout` passes; returns how many are left.
    fn wait_until_empty(&self, timeout: Duration) -> usize {
        let open = self.lock();
        let (open, _) = self
            .left
            .wait_timeout_while(open, timeout, |open| !open.streams.is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        open.streams.len()
    }
}

/// A client's place in [`Connections`]; dropping it frees the place.
struct Place {
    key: u64,
    connections: Arc<Connections>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.connections.lock().streams.remove(&self.key);
        self.connections.left.notify_all();
    }
}

/// A fixed pool of worker threads: each takes the next client's job from
/// one channel, runs it, and takes the next. (The Rust Book's final
/// project, with two changes: a worker survives a job that panics, and
/// shutting the pool down waits for its workers, but not for ever.)
struct WorkerPool {
    /// Where jobs wait for a worker. Unbounded, so the accept loop never
    /// waits on it; `--max-clients` bounds how many can be waiting.
    waiting_clients: Sender<Job>,
    workers: Vec<JoinHandle<()>>,
    /// Disconnects when the last worker has ended: each holds a sender.
    all_ended: Receiver<()>,
}

/// One client's whole service, handed to a worker.
type Job = Box<dyn FnOnce() + Send>;

impl WorkerPool {
    fn new(size: usize) -> io::Result<WorkerPool> {
        let (waiting_clients, jobs) = mpsc::channel::<Job>();
        // One receiver, many workers: each takes the lock only to take a job.
        let jobs = Arc::new(Mutex::new(jobs));
        let (ended, all_ended) = mpsc::channel::<()>();
        let mut workers = Vec::with_capacity(size);
        for n in 1..=size {
            let (jobs, ended) = (Arc::clone(&jobs), ended.clone());
            workers.push(thread::Builder::new().spawn(move || {
                let _ended = ended;
                work(n, &jobs);
            })?);
        }
        Ok(WorkerPool {
            waiting_clients,
            workers,
            all_ended,
        })
    }

    /// Hands a job to the next free worker.
    fn serve(&self, job: Job) {
        // Fails only if every worker is gone; the job is dropped, and its client closed.
        let _ = self.waiting_clients.send(job);
    }

    // ANCHOR: shut_down
    /// Closes the channel and waits, at most `grace`, for the workers: each
    /// finishes the jobs already waiting, sees the channel closed, and ends.
    /// Returns how many were still busy when it gave up.
    fn shut_down(self, grace: Duration) -> usize {
        drop(self.waiting_clients);
        match self.all_ended.recv_timeout(grace) {
            Err(RecvTimeoutError::Disconnected) => {
                for worker in self.workers {
                    let _ = worker.join();
                }
                0
            }
            _ => self.workers.iter().filter(|w| !w.is_finished()).count(),
        }
    }
    // ANCHOR_END: shut_down
}

// ANCHOR: work
/// A worker's life: take the next job, run it, repeat until the channel closes.
fn work(n: usize, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let next = {
            let jobs = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            jobs.recv()
        }; // The guard is dropped here, before the job runs: held through
        // it, one worker at a time could run a job.
        let Ok(job) = next else {
            return; // The pool is shutting down.
        };
        // A panic ends this job, not the worker.
        if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            eprintln!("worker {n}: a client's handler panicked; the worker carries on");
        }
    }
}
// ANCHOR_END: work

/// What the command line asks for. (Given code: not part of the exercises.)
struct Config {
    /// `--port N`: where to listen; 0 lets the system choose. The original's 65434 by default.
    port: u16,
    /// `--idle-timeout SECONDS`: how long a client may take to send its
    /// message (default 300; 0: no limit).
    idle_timeout: Option<Duration>,
    /// `--max-clients N`: the most clients served at once (default 10000).
    max_clients: usize,
    /// `--workers N`: serve clients with N worker threads instead of a thread each.
    workers: Option<usize>,
}

impl Config {
    /// The command line's flags; on a mistake, says which and exits with status 2.
    fn from_args() -> Config {
        Config::parse().unwrap_or_else(|why| {
            eprintln!("counter_server: {why}");
            std::process::exit(2)
        })
    }

    fn parse() -> Result<Config, String> {
        let mut config = Config {
            port: 65434,
            idle_timeout: Some(Duration::from_secs(300)),
            max_clients: 10_000,
            workers: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let wrong = |what: &str| format!("{flag} {value}: {what}");
            match flag.as_str() {
                "--port" => config.port = value.parse().map_err(|_| wrong("not a port"))?,
                "--idle-timeout" => {
                    let seconds: f64 = value.parse().map_err(|_| wrong("not a number"))?;
                    let timeout = Duration::try_from_secs_f64(seconds)
                        .map_err(|_| wrong("not a number of seconds"))?;
                    config.idle_timeout = Some(timeout).filter(|t| !t.is_zero());
                }
                "--max-clients" => {
                    config.max_clients = value.parse().map_err(|_| wrong("not a count"))?;
                }
                "--workers" => {
                    let workers = value.parse().ok().filter(|&n| n > 0);
                    config.workers = Some(workers.ok_or_else(|| wrong("not a count"))?);
                }
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(config)
    }
}
