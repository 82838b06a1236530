//! The stated minimum Rust version (`rust-version` in the workspace) is
//! true: no resolved dependency needs a newer one. Fails when a dependency
//! upgrade raises the real minimum, so the statement can't drift.

use std::process::Command;

fn parse(v: &str) -> (u64, u64, u64) {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

#[test]
fn stated_rust_version_covers_every_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let ours = packages
        .iter()
        .find(|p| p["name"] == "ork")
        .and_then(|p| p["rust_version"].as_str())
        .expect("the facade states a rust-version");
    let needed = packages
        .iter()
        .filter_map(|p| {
            let v = p["rust_version"].as_str()?;
            let (name, version) = (p["name"].as_str()?, p["version"].as_str()?);
            Some((parse(v), format!("{name} {version} needs {v}")))
        })
        .max_by_key(|(v, _)| *v)
        .expect("some dependency states a rust-version");
    assert!(
        parse(ours) >= needed.0,
        "rust-version = \"{ours}\" is false: {}; raise it in the workspace Cargo.toml",
        needed.1
    );
}
