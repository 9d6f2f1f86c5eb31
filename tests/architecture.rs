//! The layout ARCHITECTURE.md describes, checked: the core imports no
//! style, no style imports another, and the shutdown timeline's table says
//! what `src/timing.rs` says.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).expect("a source file");
            found.push((path, text));
        }
    }
    found
}

const STYLES: [&str; 3] = ["threads", "events", "tasks"];

/// The lines of `text` that use module `module` of the library.
fn uses_of<'a>(text: &'a str, module: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .filter(|line| line.contains(&format!("crate::{module}")))
        .collect()
}

#[test]
fn the_core_imports_no_style_and_no_style_imports_another() {
    let src = root().join("src");
    let mut wrong = Vec::new();
    for entry in fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if path.is_dir() || name == "lib.rs" {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        for module in STYLES.iter().chain(&["harness"]) {
            for line in uses_of(&text, module) {
                wrong.push(format!("core {name} uses {module}: {}", line.trim()));
            }
        }
    }
    for style in STYLES {
        for (path, text) in sources(&src.join(style)) {
            for other in STYLES.iter().chain(&["harness"]).filter(|&&o| o != style) {
                for line in uses_of(&text, other) {
                    wrong.push(format!(
                        "{} uses {other}: {}",
                        path.strip_prefix(&src).unwrap().display(),
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `NAME` in `src/timing.rs`, in milliseconds.
fn constant_ms(timing: &str, name: &str) -> u64 {
    let line = timing
        .lines()
        .find(|line| line.starts_with(&format!("pub const {name}: Duration")))
        .unwrap_or_else(|| panic!("src/timing.rs has no Duration named {name}"));
    let number = |after: &str| -> u64 {
        let rest = &line[line.find(after).expect("a value") + after.len()..];
        rest[..rest.find(')').unwrap()].trim().parse().unwrap()
    };
    if line.contains("from_millis(") {
        number("from_millis(")
    } else {
        number("from_secs(") * 1000
    }
}

#[test]
fn the_timeline_in_architecture_md_is_the_one_in_the_code() {
    let architecture = fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let timing = fs::read_to_string(root().join("src/timing.rs")).unwrap();
    let table = &architecture[architecture
        .find("## The shutdown timeline")
        .expect("a timeline section")..];
    let mut checked = 0;
    for row in table.lines().take_while(|l| !l.starts_with("## The code")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // | step | `NAME` | 800 ms | what waits |
        let (Some(name), Some(value)) = (cells.get(2), cells.get(3)) else {
            continue;
        };
        let Some(name) = name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) else {
            continue;
        };
        let stated: u64 = value
            .strip_suffix(" ms")
            .unwrap_or_else(|| panic!("{name}: write its value in ms, as {value:?} is not"))
            .parse()
            .unwrap();
        assert_eq!(
            stated,
            constant_ms(&timing, name),
            "ARCHITECTURE.md says {name} is {stated} ms; src/timing.rs disagrees"
        );
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} rows of the timeline were found"
    );
}
