//! The lessons cannot drift from the code.
//!
//! 1. **Excerpts.** A Rust block in `lessons/*.md` that follows a line
//!    `<!-- excerpt: src/bin/counter_server.rs#handle_client -->` must be a
//!    verbatim copy of the region between `// ANCHOR: handle_client` and
//!    `// ANCHOR_END: handle_client` in that file (other anchor lines inside
//!    it are left out, the common indentation is removed, and a region inside
//!    a doc comment loses its `//! ` or `/// `). Every anchor in `src/` must be
//!    quoted by some lesson, so none is left behind by a rewrite.
//! 2. **Transcripts.** A ```` ```text ```` block after `<!-- output: name -->`
//!    must be what the programs really print in that scenario, run here with
//!    the real binaries (ports and client addresses are masked).
//! 3. **Commands.** Every `cargo run --bin NAME -- ARGS` in a lesson names a
//!    real binary and only flags that binary accepts.
//! 4. **The compile error** a lesson quotes for the unlocked counter is the
//!    one rustc gives for the code the lesson shows.
//!
//! After an intended change to quoted code, refresh every excerpt with
//!
//! ```text
//! UPDATE_EXCERPTS=1 cargo test --test lessons
//! ```
//!
//! then read the lesson's prose around each changed block. Transcripts are
//! never rewritten automatically: a changed output is a change to the lesson.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every lesson file, with its text.
fn lessons() -> Vec<(PathBuf, String)> {
    let mut paths: Vec<PathBuf> = fs::read_dir(root().join("lessons"))
        .expect("lessons/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect()
}

/// A fenced block that follows a `<!-- kind: target -->` marker line.
struct MarkedBlock {
    target: String,
    /// Line index of the first line inside the fence, and one past the last.
    body: (usize, usize),
    /// The fence's indentation (a block inside a list item is indented);
    /// the block's lines carry it too.
    indent: usize,
}

impl MarkedBlock {
    /// The block's lines, without the indentation of the list item it is in.
    fn text(&self, lines: &[impl AsRef<str>]) -> Vec<String> {
        lines[self.body.0..self.body.1]
            .iter()
            .map(|line| {
                let line = line.as_ref();
                line.get(self.indent..)
                    .unwrap_or(line.trim_start())
                    .to_string()
            })
            .collect()
    }
}

fn marked_blocks(text: &str, kind: &str) -> Vec<MarkedBlock> {
    let lines: Vec<&str> = text.lines().collect();
    let prefix = format!("<!-- {kind}: ");
    let mut blocks = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix(&prefix) else {
            continue;
        };
        let target = rest.trim_end_matches("-->").trim().to_string();
        assert!(
            lines
                .get(i + 1)
                .is_some_and(|l| l.trim_start().starts_with("```")),
            "the line after `{line}` must open a fenced block"
        );
        let indent = lines[i + 1].len() - lines[i + 1].trim_start().len();
        let start = i + 2;
        let end = start
            + lines[start..]
                .iter()
                .position(|l| l.trim_start().starts_with("```"))
                .unwrap_or_else(|| panic!("unclosed block after `{line}`"));
        blocks.push(MarkedBlock {
            target,
            body: (start, end),
            indent,
        });
    }
    blocks
}

/// The lines of anchor region `name` in `source`, ready to compare.
fn anchor_region(source: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = source.lines().collect();
    let start = lines
        .iter()
        .position(|l| anchor_name(l, "ANCHOR:") == Some(name))?;
    let end = start
        + lines[start..]
            .iter()
            .position(|l| anchor_name(l, "ANCHOR_END:") == Some(name))?;
    let region: Vec<&str> = lines[start + 1..end]
        .iter()
        .copied()
        .filter(|l| anchor_name(l, "ANCHOR:").is_none() && anchor_name(l, "ANCHOR_END:").is_none())
        .collect();
    let indent = region
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut region: Vec<String> = region
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").to_string())
        .collect();
    for doc in ["//!", "///"] {
        if region.iter().all(|l| l.starts_with(doc)) {
            region = region
                .iter()
                .map(|l| {
                    l[doc.len()..]
                        .strip_prefix(' ')
                        .unwrap_or(&l[doc.len()..])
                        .to_string()
                })
                .collect();
        }
    }
    Some(region.join("\n"))
}

/// `Some(name)` if `line` is a `// ANCHOR: name` (or `ANCHOR_END:`) marker.
fn anchor_name<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.trim()
        .strip_prefix("//")?
        .trim()
        .strip_prefix(marker)
        .map(str::trim)
}

/// Every anchor defined under `src/`, as `path#name`.
fn all_anchors() -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .to_string();
            for line in fs::read_to_string(&path).unwrap().lines() {
                if let Some(name) = anchor_name(line, "ANCHOR:") {
                    anchors.insert(format!("{relative}#{name}"));
                }
            }
        }
    }
    anchors
}

#[test]
fn excerpts_are_verbatim_copies_of_the_source() {
    let update = std::env::var_os("UPDATE_EXCERPTS").is_some();
    let mut problems = Vec::new();
    let mut quoted = BTreeSet::new();
    for (path, text) in lessons() {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        // From the last block up, so replacing one keeps the others' line numbers valid.
        for block in marked_blocks(&text, "excerpt").into_iter().rev() {
            quoted.insert(block.target.clone());
            let (file, name) = block
                .target
                .split_once('#')
                .unwrap_or_else(|| panic!("`{}` should be path#anchor", block.target));
            let source = fs::read_to_string(root().join(file))
                .unwrap_or_else(|e| panic!("{}: cannot read {file}: {e}", path.display()));
            let Some(expected) = anchor_region(&source, name) else {
                problems.push(format!("{}: no anchor `{name}` in {file}", path.display()));
                continue;
            };
            let (start, end) = block.body;
            let shown = block.text(&lines).join("\n");
            if shown != expected {
                if update {
                    let indent = " ".repeat(block.indent);
                    let indented = expected.lines().map(|line| match line {
                        "" => String::new(),
                        line => format!("{indent}{line}"),
                    });
                    lines.splice(start..end, indented);
                } else {
                    problems.push(format!(
                        "{}: the excerpt {} differs from the source:\n--- lesson ---\n{shown}\n--- source ---\n{expected}",
                        path.display(),
                        block.target,
                    ));
                }
            }
        }
        if update {
            fs::write(&path, lines.join("\n") + "\n").unwrap();
        }
    }
    for anchor in all_anchors().difference(&quoted) {
        problems.push(format!(
            "the anchor {anchor} is not quoted by any lesson: quote it or remove it"
        ));
    }
    assert!(
        problems.is_empty(),
        "{}\n\nAfter an intended change: UPDATE_EXCERPTS=1 cargo test --test lessons",
        problems.join("\n\n")
    );
}

/// Masks what changes from run to run: the port, the client's address and
/// the thread id in a panic message (which Rust prints since 1.91; masked
/// away entirely, so a transcript checks on older compilers too).
fn mask(text: &str) -> String {
    let mut masked = String::new();
    for line in text.lines() {
        let mut line = line.to_string();
        for marker in ["127.0.0.1:", "on port ", "' ("] {
            let mut from = 0;
            while let Some(found) = line[from..].find(marker) {
                let digits_at = from + found + marker.len();
                let digits = line[digits_at..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .count();
                line.replace_range(digits_at..digits_at + digits, "N");
                from = digits_at;
            }
        }
        masked.push_str(&line.replace("' (N) panicked at", "' panicked at"));
        masked.push('\n');
    }
    masked
}

/// A client in the original tutorials' style, as `python3
/// originals/echo_client.py` talks to `server`: each message sent with no
/// newline, then one read for its answer, then `!DISCONNECT`. Returns the
/// server's console once it has logged `goodbye`. (Plain sockets, so that
/// the test needs no Python.)
fn original_style_client(server: &str, goodbye: &str) -> String {
    let mut server = ServerProcess::start(server, &["--idle-timeout", "1"]);
    let mut stream = server.connect();
    let mut reply = [0u8; 1024];
    for message in ["Hello", "World", "!DISCONNECT"] {
        if stream.write_all(message.as_bytes()).is_err() {
            break;
        }
        if message != "!DISCONNECT" {
            let _ = std::io::Read::read(&mut stream, &mut reply);
        }
    }
    drop(stream);
    server.wait_for(goodbye);
    server.lines.join("\n") + "\n"
}

/// What a first version prints on stderr when a client sends it `bad` bytes
/// that are not UTF-8: the panic of `unwrap()`. Run as a learner runs it,
/// without RUST_BACKTRACE, whose hint line is left out.
fn first_version_panic(example_name: &str, bad: &[u8]) -> String {
    let mut command = first_version_command(example_name);
    command.env_remove("RUST_BACKTRACE");
    let mut server = ServerProcess::spawn(command, HowToStop::CtrlC);
    let mut stream = server.connect();
    stream.write_all(bad).unwrap();
    let _ = std::io::Read::read_to_end(&mut stream, &mut Vec::new());
    server.wait_for_stderr("Utf8Error");
    server.signal(Signal::SIGKILL);
    server.wait_for_exit(DEADLINE);
    server
        .stderr()
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with("note:"))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// What the programs print in the scenario a transcript is named after.
fn run_scenario(name: &str) -> String {
    match name {
        // Lesson 1: the server in one terminal, `client` twice in another, then Ctrl-C.
        "counter-server-console"
        | "counter-client-console"
        | "first-counter-console"
        | "first-counter-client" => {
            let mut server = if name.starts_with("first") {
                first_version("first_counter_server")
            } else {
                ServerProcess::start(COUNTER_SERVER, &[])
            };
            let mut client_output = String::new();
            for n in 1..=2 {
                let output = run_to_exit(
                    Command::new(env!("CARGO_BIN_EXE_client"))
                        .args(["--port", &server.port.to_string()]),
                );
                client_output += &String::from_utf8(output.stdout).unwrap();
                server.wait_for(&format!("Client {n} disconnected."));
            }
            server.signal(Signal::SIGINT);
            server.wait_for_exit(Duration::from_secs(2));
            if name.ends_with("client") || name == "counter-client-console" {
                client_output
            } else {
                server.lines.join("\n") + "\n"
            }
        }
        // Lesson 1: bytes that are not UTF-8, sent to the first version: its stderr.
        "first-counter-panic" => first_version_panic("first_counter_server", b"\xff\xfe"),
        // Lesson 2: the echo server in one terminal, `client echo` in another, then Ctrl-C.
        // Lessons 5 and 6: the same with its event-loop and async twins.
        "echo-server-console"
        | "echo-client-console"
        | "event-echo-server-console"
        | "async-echo-server-console" => {
            let binary = match name {
                "event-echo-server-console" => EVENT_ECHO_SERVER,
                "async-echo-server-console" => ASYNC_ECHO_SERVER,
                _ => ECHO_SERVER,
            };
            let mut server = ServerProcess::start(binary, &[]);
            let port = server.port.to_string();
            let output = run_to_exit(
                Command::new(env!("CARGO_BIN_EXE_client"))
                    .args(["echo", "--port", &port, "-m", "Hello", "-m", "World"]),
            );
            server.wait_for("[Client disconnected]");
            server.signal(Signal::SIGINT);
            server.wait_for_exit(Duration::from_secs(2));
            if name == "echo-client-console" {
                String::from_utf8(output.stdout).unwrap()
            } else {
                server.lines.join("\n") + "\n"
            }
        }
        // Lesson 2: a line that is not UTF-8 and one of 2 KiB, between two good ones.
        "echo-bad-input" => {
            let server = ServerProcess::start(ECHO_SERVER, &[]);
            let mut input = b"ok\n\xff\xfe\n".to_vec();
            input.extend([b'0'; 2048]);
            input.extend(b"\nstill here\n");
            let mut client = Command::new(env!("CARGO_BIN_EXE_client"))
                .args(["echo", "--port", &server.port.to_string()])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            client.stdin.take().unwrap().write_all(&input).unwrap();
            // The client gives up on its own after 10 s without an answer.
            String::from_utf8(client.wait_with_output().unwrap().stdout).unwrap()
        }
        // Lesson 2: the framing experiment, `cargo run --example framing`.
        "framing-example" => {
            let output = run_to_exit(&mut Command::new(example("framing")));
            assert!(output.status.success());
            String::from_utf8(output.stdout).unwrap()
        }
        // Lesson 2: the first version in one terminal; in another, `client echo`
        // with Hello and World typed, each after the echo of the last, then Ctrl-D.
        "first-echo-console" | "first-echo-client" => {
            let mut server = first_version("first_echo_server");
            let port = server.port.to_string();
            let mut client = ClientProcess::start(&["echo", "--port", &port]);
            // The terminal shows each line typed, then its echo.
            let mut terminal = String::new();
            for line in ["Hello", "World"] {
                client.type_line(line);
                terminal += &format!("{line}\n{}\n", client.next_line());
            }
            let (rest, status) = client.finish();
            assert!(status.success() && rest.is_empty(), "{rest:?}");
            server.wait_for("[Client disconnected]");
            if name == "first-echo-client" {
                terminal
            } else {
                server.lines.join("\n") + "\n"
            }
        }
        // Lesson 2: a line that is not UTF-8, sent to the first version: its stderr.
        "first-echo-panic" => first_version_panic("first_echo_server", b"\xff\xfe\n"),
        // Lesson 2: a client in the original's style against echo_server:
        // a message with no newline, then a wait for its echo.
        "echo-original-client" => original_style_client(ECHO_SERVER, "[Client disconnected]"),
        // Lesson 3: the server and two interactive clients, each in its own
        // terminal; the first version, then queue_server.
        "queue-server-console"
        | "queue-terminal-1"
        | "queue-terminal-2"
        | "first-queue-console"
        | "first-queue-terminal-1"
        | "first-queue-terminal-2" => {
            let server = if name.starts_with("first") {
                first_version("first_queue_server")
            } else {
                ServerProcess::start(QUEUE_SERVER, &[])
            };
            let terminals = queue_three_terminals(server);
            match name.trim_start_matches("first-") {
                "queue-server-console" | "queue-console" => terminals[0].clone(),
                "queue-terminal-1" => terminals[1].clone(),
                _ => terminals[2].clone(),
            }
        }
        // Lesson 3: the same client against queue_server (`--port 65432`):
        // its one read for an answer gets the welcome line instead.
        "queue-original-client" => original_style_client(QUEUE_SERVER, "Client 1 disconnected"),
        // Lessons 5 and 6: the same three terminals, with the event-loop and async queue servers.
        "event-queue-server-console" => {
            queue_three_terminals(ServerProcess::start(EVENT_QUEUE_SERVER, &[]))[0].clone()
        }
        "async-queue-server-console" => {
            queue_three_terminals(ServerProcess::start(ASYNC_QUEUE_SERVER, &[]))[0].clone()
        }
        // Lesson 4: `client`, and `swarm counter --clients 10000`, with no
        // server there: the one line each prints on stderr.
        "client-no-server" | "swarm-no-server" => {
            let refusing = refusing_port();
            let port = refusing.port.to_string();
            let mut command = if name == "client-no-server" {
                Command::new(env!("CARGO_BIN_EXE_client"))
            } else {
                let mut swarm = Command::new(env!("CARGO_BIN_EXE_swarm"));
                swarm.args(["counter", "--clients", "10000"]);
                swarm
            };
            let output = run_to_exit(command.args(["--port", &port]));
            assert_eq!(output.status.code(), Some(1), "{name}");
            // As a terminal shows them: swarm's header (stdout) comes first.
            let shown = String::from_utf8(output.stdout).unwrap()
                + &String::from_utf8(output.stderr).unwrap();
            // The lesson runs them on the server's own port, which a test
            // cannot take, and there the hint has no `--port`.
            shown.replace(&format!(" -- --port {port}"), "")
        }
        _ => panic!("no scenario named {name}: add it to run_scenario in tests/lessons.rs"),
    }
}

/// Lesson 3's experiment, step by step: what each of the three terminals shows.
/// A terminal shows what was typed, then what came back; each step waits for
/// its answer, so the order is the same on every run.
fn queue_three_terminals(mut server: ServerProcess) -> [String; 3] {
    /// A client's terminal: what it printed and what was typed into it, in order.
    fn show(view: &mut String, line: &str) {
        view.push_str(line);
        view.push('\n');
    }
    fn type_into(client: &mut ClientProcess, view: &mut String, line: &str) {
        client.type_line(line);
        show(view, line);
    }

    let port = server.port.to_string();
    let (mut one, mut two) = (String::new(), String::new());
    let mut first = ClientProcess::start(&["queue", "--port", &port]);
    show(&mut one, &first.next_line());
    let mut second = ClientProcess::start(&["queue", "--port", &port]);
    show(&mut two, &second.next_line());

    type_into(&mut second, &mut two, "@1 Hi, Client 1!");
    show(&mut two, &second.next_line());
    show(&mut one, &first.next_line());
    type_into(&mut first, &mut one, "@2 Hello back!");
    show(&mut one, &first.next_line());
    show(&mut two, &second.next_line());
    type_into(&mut second, &mut two, "@3 Anyone else here?");
    show(&mut two, &second.next_line());
    type_into(&mut first, &mut one, "!DISCONNECT");
    show(&mut one, &first.next_line());
    assert!(first.wait().1.success());
    server.wait_for("Client 1 disconnected");
    let (rest, status) = second.finish();
    assert!(status.success());
    for line in rest {
        show(&mut two, &line);
    }
    server.wait_for("Client 2 disconnected");
    server.signal(Signal::SIGINT);
    server.wait_for_exit(Duration::from_secs(2));
    [server.lines.join("\n") + "\n", one, two]
}

#[test]
fn transcripts_are_what_the_programs_print() {
    for (path, text) in lessons() {
        let lines: Vec<&str> = text.lines().collect();
        for block in marked_blocks(&text, "output") {
            let text = block.text(&lines);
            // What the terminal adds, not the program: the prompt's command
            // lines, and the `^C` it echoes in front of the next output.
            let shown: Vec<&str> = text
                .iter()
                .filter(|l| !l.starts_with("$ "))
                .map(|l| l.strip_prefix("^C").unwrap_or(l))
                .collect();
            let shown = mask(&(shown.join("\n") + "\n"));
            let actual = mask(&run_scenario(&block.target));
            assert_eq!(
                shown,
                actual,
                "{}: the transcript `{}` is not what the programs print",
                path.display(),
                block.target
            );
        }
    }
}

/// The program a lesson runs with `cargo run --bin NAME` or `--example NAME`.
fn program(name: &str) -> Option<PathBuf> {
    Some(match name {
        "counter_server" => env!("CARGO_BIN_EXE_counter_server").into(),
        "echo_server" => env!("CARGO_BIN_EXE_echo_server").into(),
        "queue_server" => env!("CARGO_BIN_EXE_queue_server").into(),
        "event_counter_server" => env!("CARGO_BIN_EXE_event_counter_server").into(),
        "event_echo_server" => env!("CARGO_BIN_EXE_event_echo_server").into(),
        "event_queue_server" => env!("CARGO_BIN_EXE_event_queue_server").into(),
        "async_counter_server" => env!("CARGO_BIN_EXE_async_counter_server").into(),
        "async_echo_server" => env!("CARGO_BIN_EXE_async_echo_server").into(),
        "async_queue_server" => env!("CARGO_BIN_EXE_async_queue_server").into(),
        "client" => env!("CARGO_BIN_EXE_client").into(),
        "swarm" => env!("CARGO_BIN_EXE_swarm").into(),
        name if root().join(format!("examples/{name}.rs")).exists() => example(name),
        _ => return None,
    })
}

#[test]
fn commands_in_lessons_name_real_binaries_and_flags() {
    let mut checked = 0;
    for (path, text) in lessons() {
        for line in text.lines() {
            let Some(at) = line.find("cargo run ") else {
                continue;
            };
            // The command ends with the line, or with the `code` span or 'quotes' it is in.
            let command = line[at..].split(['`', '\'']).next().unwrap();
            let words: Vec<&str> = command.split_whitespace().collect();
            let Some(bin_at) = words
                .iter()
                .position(|w| *w == "--bin" || *w == "--example")
            else {
                continue;
            };
            let name = words[bin_at + 1];
            // An exercise's program (`cargo run -p exercises --bin ex1_2`):
            // the learner's own, so only its name is checked.
            if words.windows(2).any(|pair| pair == ["-p", "exercises"]) {
                let manifest = fs::read_to_string(root().join("exercises/Cargo.toml")).unwrap();
                assert!(
                    manifest.contains(&format!("name = \"{name}\"")),
                    "{}: `{line}` runs {name}, which exercises/Cargo.toml does not list",
                    path.display()
                );
                checked += 1;
                continue;
            }
            let args = match words.iter().position(|w| *w == "--") {
                Some(dashes) => &words[dashes + 1..],
                None => &[][..],
            };
            let Some(binary) = program(name) else {
                panic!(
                    "{}: `{line}` runs an unknown program {name}",
                    path.display()
                );
            };
            if args.is_empty() {
                checked += 1;
                continue; // Nothing to check, and an example has no --help.
            }
            // Ask for help on the same subcommand, if the command names one.
            let mut help_args: Vec<&str> = args
                .iter()
                .copied()
                .take_while(|a| !a.starts_with('-'))
                .collect();
            help_args.push("--help");
            let help = Command::new(binary).args(&help_args).output().unwrap();
            let help = String::from_utf8(help.stdout).unwrap();
            let known: BTreeSet<&str> = help
                .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
                .filter(|word| word.starts_with("--"))
                .collect();
            for flag in args.iter().filter(|a| a.starts_with("--")) {
                let flag = flag.split('=').next().unwrap();
                assert!(
                    known.contains(flag),
                    "{}: `{line}` uses {flag}, which `{name} --help` does not list",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no cargo run commands found in lessons/");
}

/// What rustc prints for the code in anchor `name` of src/lib.rs, compiled
/// as the body of `main` (from inside its own directory, so rustc names the
/// file `main.rs`, as the lessons do), and the error code the doc test
/// above the anchor expects (its fence says `compile_fail,E0499`).
fn compile_error(name: &str) -> (String, String) {
    let source = fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let snippet =
        anchor_region(&source, name).unwrap_or_else(|| panic!("no anchor {name} in src/lib.rs"));
    let anchor_line = source
        .find(&format!("// ANCHOR: {name}"))
        .expect("the anchor");
    let fence = source[..anchor_line]
        .rfind("compile_fail,")
        .unwrap_or_else(|| panic!("{name} is not in a compile_fail doc test"));
    let code: String = source[fence + "compile_fail,".len()..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("main.rs"),
        format!("fn main() {{\n{snippet}\n}}\n"),
    )
    .unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(rustc)
        .current_dir(&dir)
        .args(["--edition", "2024", "--emit=metadata", "main.rs"])
        .output()
        .expect("run rustc");
    assert!(!output.status.success(), "{name} compiled");
    (String::from_utf8(output.stderr).unwrap(), code)
}

/// Every compiler error a lesson quotes (`<!-- compiler-output: anchor -->`)
/// is the one rustc gives for the code in that anchor: the error code the
/// doc test expects, and every quoted line printed by rustc, in order.
#[test]
fn the_quoted_compile_errors_are_the_ones_rustc_gives() {
    let mut checked = 0;
    for (path, lesson) in lessons() {
        let lesson_lines: Vec<&str> = lesson.lines().collect();
        for block in marked_blocks(&lesson, "compiler-output") {
            let (stderr, code) = compile_error(&block.target);
            assert!(
                stderr.starts_with(&format!("error[{code}]")),
                "{}: {} gives\n{stderr}",
                path.display(),
                block.target
            );
            let mut rustc_lines = stderr.lines();
            for quoted in block.text(&lesson_lines) {
                assert!(
                    rustc_lines.any(|line| line == quoted),
                    "{} quotes a line rustc did not print (or not in this order):\n{quoted}\n\nrustc printed:\n{stderr}",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 1, "no lesson quotes a compiler error");
}

/// Test names a lesson's tables give as proof: `name`, `name::threads`,
/// `name::events` or `name::tasks` (one style of server), or `case::server`
/// (a hostile case).
fn proofs_named_in(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut proof_column = None;
    for line in text.lines() {
        if !line.starts_with('|') {
            proof_column = None;
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let Some(at) = cells.iter().position(|cell| cell.starts_with("Proved by")) {
            proof_column = Some(at);
            continue;
        }
        let Some(cell) = proof_column.and_then(|at| cells.get(at)) else {
            continue;
        };
        // The code spans in the cell: `name`, `name`, ...
        for (n, part) in cell.split('`').enumerate() {
            let looks_like_a_test = part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':');
            if n % 2 == 1 && looks_like_a_test && part.contains('_') {
                names.push(part.to_string());
            }
        }
    }
    names
}

/// The text of every check in src/harness/.
fn harness_checks() -> String {
    let mut checks = String::new();
    for entry in fs::read_dir(root().join("src/harness")).unwrap() {
        checks += &fs::read_to_string(entry.unwrap().path()).unwrap();
    }
    checks
}

#[test]
fn every_test_a_lesson_names_exists() {
    let mut tests = String::new();
    for entry in fs::read_dir(root().join("tests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            tests += &fs::read_to_string(path).unwrap();
        }
    }
    let mut checked = 0;
    for (path, text) in lessons() {
        for name in proofs_named_in(&text) {
            let exists = match name.split_once("::") {
                // A lesson suite's test for one style of server:
                // `for_every_style!(test);` above `fn test(style: Style)`,
                // or `for_every_style!(lesson::test);` for a check in
                // src/harness/lesson.rs.
                Some((test, "threads" | "events" | "tasks")) => {
                    let in_the_file = tests
                        .lines()
                        .any(|line| line == format!("for_every_style!({test});"))
                        && tests.contains(&format!("fn {test}(style: Style)"));
                    let in_the_harness = tests.lines().any(|line| {
                        line.strip_prefix("for_every_style!(")
                            .and_then(|rest| rest.strip_suffix(&format!("::{test});")))
                            .is_some_and(|lesson| {
                                fs::read_to_string(root().join(format!("src/harness/{lesson}.rs")))
                                    .is_ok_and(|checks| {
                                        checks.contains(&format!("pub fn {test}(target: &Target)"))
                                    })
                            })
                    });
                    in_the_file || in_the_harness
                }
                // A hostile case: `for_servers!(case: counter, echo, queue, ...)`.
                Some((case, server)) => tests
                    .lines()
                    .find(|line| line.starts_with(&format!("for_servers!({case}:")))
                    .is_some_and(|line| line.contains(server)),
                // A test of its own, or a harness check (which some test runs).
                None => {
                    tests.contains(&format!("fn {name}("))
                        || harness_checks().contains(&format!("pub fn {name}(target: &Target)"))
                }
            };
            assert!(exists, "{}: no test named {name}", path.display());
            checked += 1;
        }
    }
    assert!(
        checked > 20,
        "only {checked} test names found in the lessons' tables"
    );
}
