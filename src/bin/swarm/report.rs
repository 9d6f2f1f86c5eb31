//! The checks and the numbers: computed from what the clients saw, then printed.
//!
//! [`Report::new`] only computes, so the tests below can feed it made-up
//! outcomes and check every verdict; [`Report::print`] only prints.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use threaded_servers::protocol::Protocol;
use threaded_servers::{say, warn};

use crate::Args;
use crate::clients::{Outcome, Problem, no_server};

/// How many different problems a failed check shows.
const EXAMPLES: usize = 3;

/// One check: passed or not, what it checks, and the evidence.
#[derive(Debug)]
pub struct Check {
    pub passed: bool,
    pub what: &'static str,
    pub detail: String,
    /// Different problems seen, each with how many clients saw it.
    pub examples: Vec<(String, usize)>,
    /// What to do about a failure, when swarm can tell.
    pub hint: Option<String>,
}

/// Throughput and latency.
#[derive(Debug)]
pub struct Numbers {
    /// Connections (counter) or round trips (echo, queue) per second.
    pub rate: f64,
    pub count: usize,
    pub elapsed: Duration,
    /// p50, p90, p99 and max.
    pub percentiles: [Duration; 4],
    /// The server's CPU time per connection or round trip, if measured.
    pub cpu_per_unit: Option<Duration>,
    pub cpu_total: Option<Duration>,
}

/// Everything a run found.
#[derive(Debug)]
pub struct Report {
    /// Set when no client could connect at all: the one line worth printing.
    pub no_server: Option<String>,
    pub checks: Vec<Check>,
    pub numbers: Option<Numbers>,
}

impl Report {
    /// The verdicts on `outcomes`, a run of `args.clients` clients that took `elapsed`.
    pub fn new(
        args: &Args,
        outcomes: &[Outcome],
        elapsed: Duration,
        server_cpu: Option<Duration>,
    ) -> Report {
        let problems = |keep: fn(&Problem) -> Option<&String>| -> Vec<&String> {
            outcomes
                .iter()
                .filter_map(|o| o.problem.as_ref().and_then(keep))
                .collect()
        };
        let no_connection = problems(|p| match p {
            Problem::NoConnection(why) => Some(why),
            _ => None,
        });
        if !outcomes.is_empty() && no_connection.len() == outcomes.len() {
            return Report {
                no_server: Some(no_server(args.protocol, &args.address, no_connection[0])),
                checks: Vec::new(),
                numbers: None,
            };
        }
        let unanswered = problems(|p| match p {
            Problem::NoConnection(why) | Problem::Unanswered(why) => Some(why),
            Problem::Wrong(_) => None,
        });
        let wrong = problems(|p| match p {
            Problem::Wrong(why) => Some(why),
            _ => None,
        });
        let answered = outcomes.len() - unanswered.len();
        let mut checks = vec![Check {
            passed: unanswered.is_empty() && outcomes.len() == args.clients,
            what: "every client answered",
            detail: format!("{answered} of {}", args.clients),
            examples: grouped(&unanswered),
            hint: None,
        }];
        checks.push(Check {
            passed: wrong.is_empty(),
            what: match args.protocol {
                Protocol::Counter => "every greeting exact",
                Protocol::Echo => "every echo identical, in order",
                Protocol::Queue => "every reply to its sender, in order",
            },
            detail: format!("{} of {answered} clients", answered - wrong.len()),
            examples: grouped(&wrong),
            hint: None,
        });
        checks.extend(id_check(args, outcomes));
        Report {
            no_server: None,
            checks,
            numbers: numbers(outcomes, elapsed, server_cpu),
        }
    }

    /// True if every check passed.
    pub fn passed(&self) -> bool {
        self.no_server.is_none() && self.checks.iter().all(|check| check.passed)
    }

    /// Prints the report; true if every check passed.
    pub fn print(&self, args: &Args) -> bool {
        if let Some(no_server) = &self.no_server {
            warn!("{no_server}");
            return false;
        }
        say!("checks");
        for check in &self.checks {
            let verdict = if check.passed { "ok" } else { "FAIL" };
            // What to do goes on the failure's own line, where the eye is.
            let hint = match &check.hint {
                Some(hint) if !check.passed => format!(" ({hint})"),
                _ => String::new(),
            };
            say!("  {verdict:<4} {:<35} {}{hint}", check.what, check.detail);
            for (problem, clients) in &check.examples {
                let times = if *clients > 1 {
                    format!(" ({clients} clients)")
                } else {
                    String::new()
                };
                say!("         e.g. {problem}{times}");
            }
        }
        if let Some(numbers) = &self.numbers {
            numbers.print(args.protocol);
        }
        let passed = self.passed();
        say!(
            "result: {}",
            if passed {
                "all checks passed"
            } else {
                "FAILED"
            }
        );
        passed
    }
}

/// The different problems in `problems`, most common first, with their counts.
pub fn grouped(problems: &[&String]) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
    for problem in problems {
        *counts.entry(problem).or_default() += 1;
    }
    let mut counts: Vec<(String, usize)> = counts
        .into_iter()
        .map(|(problem, n)| (problem.clone(), n))
        .collect();
    counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    counts.truncate(EXAMPLES);
    counts
}

/// Ids: unique and without gaps; on a fresh counter server, exactly 1..N.
fn id_check(args: &Args, outcomes: &[Outcome]) -> Option<Check> {
    // ANCHOR: ids
    let ids: Vec<u64> = outcomes.iter().filter_map(|o| o.id).collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    let low = unique.first().copied().unwrap_or(0);
    let high = unique.last().copied().unwrap_or(0);
    let duplicates = ids.len() - unique.len();
    let gaps = match unique.len() {
        0 => 0,
        n => usize::try_from(high - low + 1).unwrap_or(usize::MAX) - n,
    };
    // ANCHOR_END: ids
    let detail = format!("ids {low}..={high}: {duplicates} duplicates, {gaps} gaps");
    let check = match args.protocol {
        Protocol::Counter if !args.not_fresh => Check {
            passed: duplicates == 0 && gaps == 0 && low == 1 && ids.len() == args.clients,
            what: "ids exactly 1..N",
            hint: (low > 1).then(|| "not a fresh server: restart it, or pass --not-fresh".into()),
            detail,
            examples: Vec::new(),
        },
        Protocol::Counter => Check {
            passed: duplicates == 0 && gaps == 0,
            what: "ids unique and consecutive",
            detail,
            examples: Vec::new(),
            hint: None,
        },
        Protocol::Queue => Check {
            passed: duplicates == 0,
            what: "every client its own id",
            detail: format!("{duplicates} duplicates"),
            examples: Vec::new(),
            hint: None,
        },
        Protocol::Echo => return None,
    };
    Some(check)
}

/// Throughput and latency percentiles, if anything was measured.
fn numbers(
    outcomes: &[Outcome],
    elapsed: Duration,
    server_cpu: Option<Duration>,
) -> Option<Numbers> {
    let mut latencies: Vec<Duration> = outcomes
        .iter()
        .flat_map(|o| o.latencies.iter().copied())
        .collect();
    if latencies.is_empty() {
        return None;
    }
    // ANCHOR: percentiles
    latencies.sort_unstable();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    // ANCHOR_END: percentiles
    let count = latencies.len();
    Some(Numbers {
        rate: count as f64 / elapsed.as_secs_f64(),
        count,
        elapsed,
        percentiles: [at(0.50), at(0.90), at(0.99), at(1.0)],
        cpu_per_unit: server_cpu.map(|cpu| cpu / u32::try_from(count).unwrap_or(u32::MAX)),
        cpu_total: server_cpu,
    })
}

impl Numbers {
    fn print(&self, protocol: Protocol) {
        let unit = if protocol == Protocol::Counter {
            "connection"
        } else {
            "round trip"
        };
        say!("numbers");
        say!(
            "  throughput  {} {unit}s/s ({} in {:.2} s)",
            thousands(self.rate),
            self.count,
            self.elapsed.as_secs_f64()
        );
        let [p50, p90, p99, max] = self.percentiles.map(millis);
        say!("  latency     p50 {p50}  p90 {p90}  p99 {p99}  max {max}");
        if let (Some(per), Some(total)) = (self.cpu_per_unit, self.cpu_total) {
            say!(
                "  server CPU  {:.1} µs per {unit} ({:.2} s in all)",
                per.as_secs_f64() * 1e6,
                total.as_secs_f64()
            );
        }
    }
}

/// 12345.6 -> "12,346".
fn thousands(value: f64) -> String {
    let digits = format!("{value:.0}");
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// A duration in milliseconds, to two decimals.
fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The report on `outcomes` for `swarm WORDS`, as if the run took a second.
    fn report_on(words: &str, outcomes: &[Outcome]) -> Report {
        let args = Args::parse_from(format!("swarm {words}").split_whitespace());
        Report::new(&args, outcomes, Duration::from_secs(1), None)
    }

    fn counter_outcome(id: u64) -> Outcome {
        Outcome {
            latencies: vec![Duration::from_millis(id)],
            id: Some(id),
            problem: None,
        }
    }

    fn check<'a>(report: &'a Report, what: &str) -> &'a Check {
        report
            .checks
            .iter()
            .find(|check| check.what == what)
            .unwrap_or_else(|| panic!("no check {what:?} in {report:?}"))
    }

    #[test]
    fn a_fresh_counter_gives_ids_exactly_1_to_n() {
        let outcomes: Vec<Outcome> = (1..=4).map(counter_outcome).collect();
        let report = report_on("counter --clients 4", &outcomes);
        assert!(report.passed(), "{report:?}");
        assert_eq!(
            check(&report, "ids exactly 1..N").detail,
            "ids 1..=4: 0 duplicates, 0 gaps"
        );
    }

    #[test]
    fn duplicates_and_gaps_are_counted() {
        let outcomes: Vec<Outcome> = [1, 1, 2, 5].into_iter().map(counter_outcome).collect();
        let report = report_on("counter --clients 4", &outcomes);
        let ids = check(&report, "ids exactly 1..N");
        assert!(!ids.passed);
        assert_eq!(ids.detail, "ids 1..=5: 1 duplicates, 2 gaps");
    }

    #[test]
    fn a_second_run_says_what_to_do() {
        let outcomes: Vec<Outcome> = (11..=14).map(counter_outcome).collect();
        let report = report_on("counter --clients 4", &outcomes);
        let ids = check(&report, "ids exactly 1..N");
        assert!(!ids.passed);
        assert!(
            ids.hint
                .as_deref()
                .is_some_and(|hint| hint.contains("--not-fresh"))
        );
        let not_fresh = report_on("counter --clients 4 --not-fresh", &outcomes);
        assert!(not_fresh.passed(), "{not_fresh:?}");
    }

    #[test]
    fn no_server_is_one_line_not_a_page_of_failed_checks() {
        let refused = || Outcome {
            problem: Some(Problem::NoConnection(
                "Connection refused (os error 111)".into(),
            )),
            ..Outcome::default()
        };
        let outcomes = vec![refused(), refused()];
        let report = report_on("echo --clients 2", &outcomes);
        assert!(!report.passed());
        assert!(report.checks.is_empty());
        let line = report.no_server.expect("the no-server line");
        assert!(
            line.contains("Connection refused")
                && line.contains("cargo run --release --bin echo_server"),
            "{line}"
        );
    }

    #[test]
    fn the_same_problem_is_shown_once_with_its_count() {
        let wrong = |why: &str| Outcome {
            problem: Some(Problem::Wrong(why.into())),
            ..Outcome::default()
        };
        let outcomes = vec![wrong("a"), wrong("b"), wrong("a"), wrong("a")];
        let report = report_on("echo --clients 4", &outcomes);
        let echoes = check(&report, "every echo identical, in order");
        assert_eq!(
            echoes.examples,
            [("a".to_string(), 3), ("b".to_string(), 1)]
        );
        assert_eq!(echoes.detail, "0 of 4 clients");
    }

    #[test]
    fn percentiles_come_from_the_sorted_latencies() {
        let outcomes: Vec<Outcome> = (1..=100).map(counter_outcome).collect();
        let report = report_on("counter --clients 100", &outcomes);
        let numbers = report.numbers.expect("numbers");
        let ms = Duration::from_millis;
        assert_eq!(numbers.percentiles, [ms(51), ms(90), ms(99), ms(100)]);
        assert_eq!(numbers.rate, 100.0);
    }
}
