//! The README is the crate docs, so rustdoc compiles and runs its snippets.
//! These tests check what rustdoc can't: that the quickstart shown is the
//! program `cargo run --example quickstart` runs, and that no snippet opts
//! out of being tested.

const README: &str = include_str!("../README.md");
const QUICKSTART: &str = include_str!("../examples/quickstart.rs");

/// The code blocks of `markdown`: each one's info string (`rust,no_run`)
/// and its lines.
fn code_blocks(markdown: &str) -> Vec<(&str, Vec<&str>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(&str, Vec<&str>)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim(), Vec::new())),
            (Some(_), Some("")) => blocks.extend(open.take()),
            (Some((_, lines)), _) => lines.push(line),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "the README ends inside a code block");
    blocks
}

/// A Rust snippet as the compiler sees it: rustdoc's hidden lines shown
/// (`# code` is `code`, a lone `#` an empty line).
fn as_compiled(lines: &[&str]) -> String {
    let mut source = String::new();
    for line in lines {
        let line = match *line {
            "#" => "",
            l => l.strip_prefix("# ").unwrap_or(l),
        };
        source.push_str(line);
        source.push('\n');
    }
    source
}

fn is_rust(info: &str) -> bool {
    info.is_empty() || info.split(',').any(|word| word == "rust")
}

#[test]
fn quickstart_is_the_example() {
    let after = README
        .split_once("\n## Quickstart\n")
        .expect("the README has a Quickstart section")
        .1;
    let (info, lines) = code_blocks(after)
        .into_iter()
        .next()
        .expect("the Quickstart section has a code block");
    assert_eq!(info, "rust", "the quickstart runs as a doctest");
    let shown = as_compiled(&lines);
    if shown != QUICKSTART {
        let first = shown
            .lines()
            .zip(QUICKSTART.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| shown.lines().count().min(QUICKSTART.lines().count()));
        panic!(
            "the README quickstart and examples/quickstart.rs differ from line {} of the \
             example on:\n  README:  {:?}\n  example: {:?}",
            first + 1,
            shown.lines().nth(first),
            QUICKSTART.lines().nth(first),
        );
    }
}

#[test]
fn every_rust_snippet_is_tested() {
    let blocks = code_blocks(README);
    let rust: Vec<_> = blocks.iter().filter(|(info, _)| is_rust(info)).collect();
    assert!(rust.len() >= 10, "found only {} Rust snippets", rust.len());
    for (info, lines) in rust {
        assert!(
            !info.split(',').any(|w| w == "ignore"),
            "a README snippet is `{info}`, so rustdoc never compiles it: {:?}",
            lines.first()
        );
    }
}
