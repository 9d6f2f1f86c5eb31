//! `--soak SECONDS`: minutes or hours, not seconds. A mixed, hostile load for a long
//! time, every answer checked, while the server's memory, descriptors and
//! threads are sampled from `/proc`; then the load stops, and the server
//! must return to what it was idle.
//!
//! A leak is slow. A buffer, a descriptor or a thread kept for one odd
//! client in a thousand is invisible in a test that lasts seconds, and
//! takes a server down after a day. So the soak looks at trends, not at a
//! moment:
//!
//! - memory (`VmRSS`) may grow while the server warms up (its allocator
//!   and buffers grow to what the load needs, once), then must stay flat:
//!   the most it held in each quarter of the rest of the run must not rise
//!   quarter after quarter, nor by much in all ([`memory_check`]);
//! - open descriptors and threads rise and fall with the clients, and once
//!   the load has stopped they must come back to exactly their idle count;
//! - every answer must come, and be right (see `mixed.rs`).
//!
//! [`Verdict::new`] only computes, so the tests below feed it made-up
//! samples; `run` measures and prints.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use threaded_servers::{procfs, say, warn};

use crate::Args;
use crate::clients::Problem;
use crate::mixed::{self, Kind, Mix, Tally};
use crate::report::{Check, grouped};

/// The part of the run after which memory must stay flat: the first quarter
/// is the warm-up.
const WARM_UP_FRACTION: f64 = 0.25;
/// The measured run (after the warm-up) is cut into this many parts, and
/// the most memory the server held in each is compared with the part before.
const MEMORY_PARTS: usize = 4;
/// A rise from one part to the next that counts as one. A leak rises in
/// every part; the allocator's noise, or a buffer that doubles once (the
/// console's, say, on the busiest moment yet), is a step in one of them.
const MEMORY_RISE_KIB: u64 = 256;
/// Growth from the first part to the last that fails the check whatever
/// its shape: this many KiB, or this fraction of the first part's, whichever
/// is more. (Larger than the console's backlog, 4 MiB of lines, and its
/// buffers.)
const MEMORY_MOST_KIB: u64 = 16 * 1024;
const MEMORY_MOST_FRACTION: f64 = 0.25;
/// How long the server has, once the load stops, to let go of every
/// connection and thread: lingering closes take up to 2 s, a runtime's
/// spare threads up to 10 s. (No longer than the soak, for a short one,
/// but at least [`LEAST_SETTLE`].)
const SETTLE: Duration = Duration::from_secs(30);
const LEAST_SETTLE: Duration = Duration::from_secs(10);
/// How long the clients have, once the load's time is up, to finish the
/// client each is running: every wait of theirs has a timeout (10 s), and
/// one client may wait several times.
const FINISHING: Duration = Duration::from_secs(60);
/// Stack size for the clients' threads: they need little.
const CLIENT_THREAD_STACK: usize = 256 * 1024;

/// One look at the server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Seconds since the load started (0 for the idle sample before it).
    pub seconds: f64,
    pub resident_kib: u64,
    pub fds: usize,
    pub threads: usize,
    pub phase: Phase,
}

/// Where in the soak a sample was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Idle,
    WarmUp,
    Load,
    After,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::WarmUp => "warm-up",
            Phase::Load => "load",
            Phase::After => "after",
        }
    }
}

/// Runs the soak. True if every check passed.
pub fn run(args: &Args, address: SocketAddr, duration: Duration) -> bool {
    let Some(pid) = args.server_pid else {
        warn!(
            "swarm: --soak needs --server-pid: it watches the server's memory, descriptors and threads"
        );
        return false;
    };
    let kinds = Kind::mix(args.protocol);
    say!(
        "swarm: a {} s soak of the {} server at {address} (pid {pid}): {} clients at once of {} kinds, \
         up to and past --max-clients {}",
        duration.as_secs(),
        args.protocol.name(),
        kinds.len(),
        kinds
            .iter()
            .fold(Vec::new(), |mut seen, kind| {
                if !seen.contains(kind) {
                    seen.push(*kind);
                }
                seen
            })
            .len(),
        args.server_max_clients
    );
    let Some(idle) = look(pid, 0.0, Phase::Idle) else {
        warn!("swarm: cannot read the server's /proc/{pid}: is it running?");
        return false;
    };
    let warm_up = duration.mul_f64(WARM_UP_FRACTION);
    let started = Instant::now();
    let mix = Mix {
        protocol: args.protocol,
        address,
        max_clients: args.server_max_clients,
        idle_timeout: args.server_idle_timeout,
        until: started + duration,
    };
    let samples = Mutex::new(vec![idle]);
    let stop_sampling = AtomicBool::new(false);
    let mut server_gone = false;
    let mut stuck = Vec::new();

    // The clients run on threads of their own, not scoped ones: a client
    // stuck past every timeout must not hold up the verdict.
    let mix = Arc::new(mix);
    let (done, finished) = mpsc::channel();
    for (n, &kind) in kinds.iter().enumerate() {
        let (mix, done) = (Arc::clone(&mix), done.clone());
        let seed = started.elapsed().as_nanos() as u64 ^ ((n as u64 + 1) * 0x9E37_79B9);
        let spawned = thread::Builder::new()
            .stack_size(CLIENT_THREAD_STACK)
            .spawn(move || {
                let _ = done.send((kind, mixed::run(kind, &mix, seed)));
            });
        if let Err(e) = spawned {
            warn!("swarm: cannot start a client thread: {e}");
            return false;
        }
    }
    drop(done);
    let tallies: Vec<(Kind, Tally)> = thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            sample_until(
                pid,
                started,
                warm_up,
                duration,
                args.sample_every,
                &samples,
                &stop_sampling,
            )
        });
        let finishing = mix.until + FINISHING;
        let mut tallies = Vec::new();
        while tallies.len() < kinds.len() {
            let left = finishing.saturating_duration_since(Instant::now());
            match finished.recv_timeout(left) {
                Ok(tally) => tallies.push(tally),
                Err(_) => break,
            }
        }
        // The kinds that have not reported, once each reported one is taken off.
        stuck = kinds.clone();
        for (kind, _) in &tallies {
            if let Some(at) = stuck.iter().position(|k| k == kind) {
                stuck.remove(at);
            }
        }
        // The load has stopped: wait for the server to let go of everything.
        let settled = Instant::now() + SETTLE.min(duration.max(LEAST_SETTLE));
        while Instant::now() < settled {
            match look(pid, started.elapsed().as_secs_f64(), Phase::After) {
                Some(now) if now.fds == idle.fds && now.threads == idle.threads => break,
                Some(_) => thread::sleep(Duration::from_millis(100)),
                None => {
                    server_gone = true;
                    break;
                }
            }
        }
        stop_sampling.store(true, Ordering::Relaxed);
        server_gone |= !sampler.join().unwrap_or(false);
        tallies
    });
    let mut samples = samples.into_inner().unwrap_or_else(|e| e.into_inner());
    match look(pid, started.elapsed().as_secs_f64(), Phase::After) {
        Some(last) => samples.push(last),
        None => server_gone = true,
    }
    if let Some(path) = &args.samples
        && let Err(e) = write_csv(path, &samples)
    {
        warn!("swarm: cannot write the samples to {}: {e}", path.display());
    }
    let verdict = Verdict::new(&samples, &tallies, server_gone, &stuck);
    verdict.print(&tallies, &samples, args.sample_every);
    verdict.passed()
}

/// The server's memory, descriptors and threads now; `None` if it is gone.
fn look(pid: u32, seconds: f64, phase: Phase) -> Option<Sample> {
    let status = procfs::status(pid)?;
    Some(Sample {
        seconds,
        resident_kib: status.resident_kib,
        fds: procfs::open_files(pid)?,
        threads: status.threads,
        phase,
    })
}

/// Samples every `every` until told to stop. False if the server went away.
fn sample_until(
    pid: u32,
    started: Instant,
    warm_up: Duration,
    duration: Duration,
    every: Duration,
    samples: &Mutex<Vec<Sample>>,
    stop: &AtomicBool,
) -> bool {
    let mut next = started + every;
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() < next {
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        next += every;
        let elapsed = started.elapsed();
        let phase = if elapsed < warm_up {
            Phase::WarmUp
        } else if elapsed <= duration {
            Phase::Load
        } else {
            Phase::After
        };
        let Some(sample) = look(pid, elapsed.as_secs_f64(), phase) else {
            return false;
        };
        samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sample);
    }
    true
}

/// `seconds,rss_kib,fds,threads,phase`, a line per sample.
fn write_csv(path: &Path, samples: &[Sample]) -> std::io::Result<()> {
    let mut text = String::from("seconds,rss_kib,fds,threads,phase\n");
    for s in samples {
        let _ = writeln!(
            text,
            "{:.1},{},{},{},{}",
            s.seconds,
            s.resident_kib,
            s.fds,
            s.threads,
            s.phase.name()
        );
    }
    std::fs::write(path, text)
}

/// The soak's checks, and the figures its summary line gives.
#[derive(Debug)]
pub struct Verdict {
    pub checks: Vec<Check>,
    /// Memory, descriptors and threads: idle, after warm-up, at the end of
    /// the load, and once it had stopped.
    pub idle: Sample,
    pub warm: Sample,
    pub end: Sample,
    pub after: Sample,
    pub total: Tally,
}

impl Verdict {
    /// The verdicts on `samples` (the idle one first) and what the clients saw.
    pub fn new(
        samples: &[Sample],
        tallies: &[(Kind, Tally)],
        server_gone: bool,
        stuck: &[Kind],
    ) -> Verdict {
        let mut total = Tally::default();
        for (_, tally) in tallies {
            total.add(tally);
        }
        let idle = samples[0];
        let load: Vec<&Sample> = samples.iter().filter(|s| s.phase == Phase::Load).collect();
        let warm = load.first().copied().copied().unwrap_or(idle);
        let end = load.last().copied().copied().unwrap_or(idle);
        let after = *samples.last().unwrap_or(&idle);
        let problems: Vec<String> = total
            .problems
            .iter()
            .map(|problem| match problem {
                Problem::NoConnection(why) | Problem::Unanswered(why) => format!("lost: {why}"),
                Problem::Wrong(why) => format!("wrong: {why}"),
            })
            .collect();
        let problems: Vec<&String> = problems.iter().collect();
        let checks = vec![
            Check {
                passed: total.lost == 0 && total.wrong == 0,
                what: "every answer came, and right",
                detail: format!(
                    "{} of {} ({} refused; {} lost, {} wrong)",
                    total.received + total.refused,
                    total.expected,
                    total.refused,
                    total.lost,
                    total.wrong
                ),
                examples: grouped(&problems),
                hint: None,
            },
            memory_check(&load),
            Check {
                passed: after.fds == idle.fds,
                what: "descriptors back to idle",
                detail: format!(
                    "{} idle, {} at the end, {} after",
                    idle.fds, end.fds, after.fds
                ),
                examples: Vec::new(),
                hint: None,
            },
            Check {
                passed: after.threads == idle.threads,
                what: "threads back to idle",
                detail: format!(
                    "{} idle, {} at the end, {} after",
                    idle.threads, end.threads, after.threads
                ),
                examples: Vec::new(),
                hint: None,
            },
            Check {
                passed: stuck.is_empty(),
                what: "every client finished",
                detail: if stuck.is_empty() {
                    "yes".into()
                } else {
                    let names: Vec<&str> = stuck.iter().map(|kind| kind.name()).collect();
                    format!(
                        "still running {} s after the load: {}",
                        FINISHING.as_secs(),
                        names.join(", ")
                    )
                },
                examples: Vec::new(),
                hint: None,
            },
            Check {
                passed: !server_gone,
                what: "the server ran throughout",
                detail: if server_gone {
                    "it exited".into()
                } else {
                    "yes".into()
                },
                examples: Vec::new(),
                hint: None,
            },
        ];
        Verdict {
            checks,
            idle,
            warm,
            end,
            after,
            total,
        }
    }

    /// True if every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }

    fn print(&self, tallies: &[(Kind, Tally)], samples: &[Sample], every: Duration) {
        say!(
            "clients                                 runs   expected   received  refused  lost  wrong"
        );
        let mut kinds: Vec<(Kind, Tally)> = Vec::new();
        for (kind, tally) in tallies {
            match kinds.iter_mut().find(|(k, _)| k == kind) {
                Some((_, sum)) => sum.add(tally),
                None => {
                    let mut sum = Tally::default();
                    sum.add(tally);
                    kinds.push((*kind, sum));
                }
            }
        }
        for (kind, t) in &kinds {
            let past = if t.past_the_limit > 0 {
                format!("  (full, and said so, {} times)", t.past_the_limit)
            } else {
                String::new()
            };
            say!(
                "  {:<36} {:>6} {:>10} {:>10} {:>8} {:>5} {:>6}{past}",
                kind.name(),
                t.runs,
                t.expected,
                t.received,
                t.refused,
                t.lost,
                t.wrong
            );
        }
        say!(
            "server, every {} s: {} samples; VmRSS most {} KiB, descriptors most {}, threads most {}",
            every.as_secs_f64(),
            samples.len(),
            samples.iter().map(|s| s.resident_kib).max().unwrap_or(0),
            samples.iter().map(|s| s.fds).max().unwrap_or(0),
            samples.iter().map(|s| s.threads).max().unwrap_or(0)
        );
        say!("checks");
        for check in &self.checks {
            let verdict = if check.passed { "ok" } else { "FAIL" };
            say!("  {verdict:<4} {:<35} {}", check.what, check.detail);
            for (problem, clients) in &check.examples {
                say!("         e.g. {problem} ({clients} times)");
            }
        }
        say!("{}", self.summary());
    }

    /// The one line `bench/soak.sh` prints for the server.
    pub fn summary(&self) -> String {
        let t = &self.total;
        let problems = if t.lost + t.wrong > 0 {
            format!(", {} lost, {} wrong", t.lost, t.wrong)
        } else {
            String::new()
        };
        format!(
            "soak: RSS {} -> {} -> {} KiB, fds {} -> {} -> {} (idle {}), threads {} -> {} -> {} (idle {}); \
             answers {} expected, {} received, {} refused{problems}: {}",
            self.warm.resident_kib,
            self.end.resident_kib,
            self.after.resident_kib,
            self.warm.fds,
            self.end.fds,
            self.after.fds,
            self.idle.fds,
            self.warm.threads,
            self.end.threads,
            self.after.threads,
            self.idle.threads,
            t.expected,
            t.received,
            t.refused,
            if self.passed() { "ok" } else { "FAILED" }
        )
    }
}

/// Memory after the warm-up: the most the server held in each quarter of
/// the rest of the run. Maxima, because memory rises and falls with the
/// clients of the moment, and the load is the same throughout. A leak
/// makes each quarter's highest higher than the last by more than
/// [`MEMORY_RISE_KIB`]; a step in one quarter is not a leak, unless it is
/// larger than [`MEMORY_MOST_KIB`] (or [`MEMORY_MOST_FRACTION`]).
pub fn memory_check(load: &[&Sample]) -> Check {
    let what = "memory flat after the warm-up";
    if load.len() < MEMORY_PARTS {
        return Check {
            passed: false,
            what,
            detail: format!("{} samples after the warm-up: too few to tell", load.len()),
            examples: Vec::new(),
            hint: Some("a longer --soak, or a shorter --sample-every".into()),
        };
    }
    let highs: Vec<u64> = (0..MEMORY_PARTS)
        .map(|part| {
            let (from, to) = (
                part * load.len() / MEMORY_PARTS,
                (part + 1) * load.len() / MEMORY_PARTS,
            );
            load[from..to]
                .iter()
                .map(|s| s.resident_kib)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let rose_every_time = highs
        .windows(2)
        .all(|pair| pair[1] > pair[0] + MEMORY_RISE_KIB);
    let (first, last) = (highs[0], highs[MEMORY_PARTS - 1]);
    let most = MEMORY_MOST_KIB.max((first as f64 * MEMORY_MOST_FRACTION) as u64);
    let grew = last.saturating_sub(first);
    let quarters: Vec<String> = highs.iter().map(u64::to_string).collect();
    Check {
        passed: !rose_every_time && grew <= most,
        what,
        detail: format!(
            "most VmRSS in each quarter: {} KiB (a leak: +{MEMORY_RISE_KIB} every time, or +{most} in all)",
            quarters.join(", ")
        ),
        examples: Vec::new(),
        hint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seconds: f64, resident_kib: u64, fds: usize, threads: usize, phase: Phase) -> Sample {
        Sample {
            seconds,
            resident_kib,
            fds,
            threads,
            phase,
        }
    }

    /// Idle, warm-up, `load` (resident KiB, one sample each), then back to `after`.
    fn run_of(load: &[u64], after: (usize, usize)) -> Vec<Sample> {
        let mut samples = vec![sample(0.0, 3000, 8, 3, Phase::Idle)];
        samples.push(sample(1.0, 9000, 60, 50, Phase::WarmUp));
        for (n, &kib) in load.iter().enumerate() {
            samples.push(sample(2.0 + n as f64, kib, 60, 50, Phase::Load));
        }
        samples.push(sample(30.0, 4000, after.0, after.1, Phase::After));
        samples
    }

    fn check<'a>(verdict: &'a Verdict, what: &str) -> &'a Check {
        verdict
            .checks
            .iter()
            .find(|check| check.what == what)
            .unwrap_or_else(|| panic!("no check {what:?}"))
    }

    #[test]
    fn a_flat_server_that_lets_go_passes() {
        let samples = run_of(&[5000, 5600, 5100, 5500, 5200, 5600, 5300, 5400], (8, 3));
        let verdict = Verdict::new(&samples, &[], false, &[]);
        assert!(verdict.passed(), "{verdict:?}");
        assert!(
            verdict
                .summary()
                .starts_with("soak: RSS 5000 -> 5400 -> 4000 KiB"),
            "{}",
            verdict.summary()
        );
    }

    #[test]
    fn memory_that_keeps_growing_fails() {
        let samples = run_of(&[5000, 5500, 6000, 6500, 7000, 7500, 8000, 8500], (8, 3));
        let verdict = Verdict::new(&samples, &[], false, &[]);
        let memory = check(&verdict, "memory flat after the warm-up");
        assert!(!memory.passed);
        assert_eq!(
            memory.detail,
            "most VmRSS in each quarter: 5500, 6500, 7500, 8500 KiB (a leak: +256 every time, or +16384 in all)"
        );
    }

    #[test]
    fn one_step_up_is_not_a_leak_but_a_huge_one_is() {
        let step = run_of(&[5000, 5100, 5000, 5100, 5000, 5100, 7000, 7000], (8, 3));
        assert!(Verdict::new(&step, &[], false, &[]).passed());
        let huge = run_of(&[5000, 5100, 5000, 5100, 5000, 5100, 30000, 30000], (8, 3));
        assert!(!Verdict::new(&huge, &[], false, &[]).passed());
    }

    #[test]
    fn a_descriptor_or_a_thread_kept_fails() {
        let verdict = Verdict::new(&run_of(&[5000; 4], (9, 3)), &[], false, &[]);
        assert!(!check(&verdict, "descriptors back to idle").passed);
        assert!(check(&verdict, "threads back to idle").passed);
        let verdict = Verdict::new(&run_of(&[5000; 4], (8, 4)), &[], false, &[]);
        assert!(!check(&verdict, "threads back to idle").passed);
    }

    #[test]
    fn a_lost_answer_fails_and_a_refusal_does_not() {
        let samples = run_of(&[5000; 4], (8, 3));
        let refused = Tally {
            expected: 10,
            received: 7,
            refused: 3,
            ..Tally::default()
        };
        assert!(Verdict::new(&samples, &[(Kind::Busy, refused)], false, &[]).passed());
        let lost = Tally {
            expected: 10,
            received: 9,
            lost: 1,
            ..Tally::default()
        };
        let verdict = Verdict::new(&samples, &[(Kind::Busy, lost)], false, &[]);
        assert!(!verdict.passed());
        assert!(
            verdict.summary().ends_with("1 lost, 0 wrong: FAILED"),
            "{}",
            verdict.summary()
        );
    }

    #[test]
    fn too_few_samples_cannot_pass() {
        let verdict = Verdict::new(&run_of(&[5000, 5000, 5000], (8, 3)), &[], false, &[]);
        assert!(!check(&verdict, "memory flat after the warm-up").passed);
    }
}
