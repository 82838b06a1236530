//! `ork dashboard` beyond loopback: it refuses to start without a login,
//! and with one it wants the token or a user's password, slows down
//! guessing, and audits actions under the user who took them.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::http::{get, request};
use common::{eventually, Env};
use ork::prelude::*;
use ork::JobState;

#[derive(Default)]
struct Switch(AtomicBool);

/// Fails (for good) until the switch is on.
#[ork::task]
async fn guarded(ctx: Context, label: String) -> Result<String, String> {
    if ctx.state::<Arc<Switch>>().0.load(Ordering::SeqCst) {
        Ok(label)
    } else {
        Err(format!("switch is off for {label}"))
    }
}

/// A file in the test's temporary directory.
fn secret_file(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ork-dashboard-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_public_bind_without_a_login_is_refused() {
    // Refused before connecting anywhere: no Redis is needed.
    let out = common::run(
        Command::new(env!("CARGO_BIN_EXE_ork"))
            .args(["dashboard", "--bind", "0.0.0.0:0", "--allow-actions"])
            .env("ORK_REDIS_URL", "redis://127.0.0.1:1")
            .env("NO_COLOR", "1"),
        None,
    );
    let err = out.fails_with(2);
    assert!(
        err.contains("refusing to serve the dashboard on 0.0.0.0:0 without a login"),
        "{err}"
    );
    for hint in [
        "--auth-token-file",
        "--basic-auth-file",
        "--no-auth",
        "proxy",
    ] {
        assert!(err.contains(hint), "the message names {hint}: {err}");
    }
    // A token that is too short is refused too.
    let short = secret_file("short-token", "abc\n");
    let out = common::run(
        Command::new(env!("CARGO_BIN_EXE_ork"))
            .args(["dashboard", "--bind", "0.0.0.0:0", "--auth-token-file"])
            .arg(&short)
            .env("ORK_REDIS_URL", "redis://127.0.0.1:1"),
        None,
    );
    assert!(out.fails_with(2).contains("at least 16"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_and_guessing_is_refused() {
    let env = Env::new().await;
    let token = "9f1c2e7a5b3d4c6e8f0a1b2c3d4e5f60";
    let file = secret_file("token", &format!("{token}\n"));
    let dash = common::Dashboard::start_bound(
        &env,
        "0.0.0.0:0",
        &["--auth-token-file", file.to_str().unwrap()],
    );
    let overview = dash.url("/api/overview");
    let bearer = format!("Bearer {token}");

    let r = get(&overview);
    assert_eq!(r.status, 401, "no token: {}", r.body);
    let r = request("GET", &overview, &[("Authorization", &bearer)], None).unwrap();
    assert_eq!(r.status, 200, "the token: {}", r.body);
    assert_eq!(r.json()["title"], format!("ork · {}", env.ns));

    // Guessing: a few wrong tokens get 401, then the address is refused.
    let mut unauthorized = 0;
    let refused = loop {
        let r = request(
            "GET",
            &overview,
            &[("Authorization", "Bearer 9f1c2e7a5b3d4c6e8f0a1b2c3d4e5f61")],
            None,
        )
        .unwrap();
        match r.status {
            401 => unauthorized += 1,
            429 => break r,
            other => panic!("a wrong token got {other}: {}", r.body),
        }
        assert!(unauthorized < 200, "never refused");
    };
    assert!(unauthorized >= 5, "a few tries first: {unauthorized}");
    assert!(
        refused.body.contains("too many failed logins"),
        "{}",
        refused.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_users_are_audited() {
    let env = Env::new().await;
    let switch = Arc::new(Switch::default());
    let worker = env
        .ork
        .worker()
        .concurrency(2)
        .state(switch.clone())
        .start()
        .unwrap();
    let h = env
        .ork
        .enqueue(guarded::call("audited".into()))
        .await
        .unwrap();
    eventually("the job to die", Duration::from_secs(20), || async {
        (h.status().await.ok()? == JobState::Dead).then_some(())
    })
    .await;

    let file = secret_file("users", "# the team\nalice:wonderland\nbob:builder\n");
    let dash = common::Dashboard::start_bound(
        &env,
        "0.0.0.0:0",
        &[
            "--basic-auth-file",
            file.to_str().unwrap(),
            "--allow-actions",
        ],
    );
    // alice:wonderland, and alice with bob's password.
    let alice = "Basic YWxpY2U6d29uZGVybGFuZA==";
    let wrong = "Basic YWxpY2U6YnVpbGRlcg==";
    let r = get(&dash.url("/"));
    assert_eq!(r.status, 401);
    let retry = dash.url(&format!("/api/jobs/{}/retry", h.id()));
    let r = request(
        "POST",
        &retry,
        &[("Authorization", wrong), ("X-Ork-Action", "1")],
        None,
    )
    .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    switch.0.store(true, Ordering::SeqCst);
    let r = request(
        "POST",
        &retry,
        &[("Authorization", alice), ("X-Ork-Action", "1")],
        None,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        h.result_timeout(Duration::from_secs(20)).await.unwrap(),
        "audited"
    );
    let audit = request(
        "GET",
        &dash.url("/api/audit"),
        &[("Authorization", alice)],
        None,
    )
    .unwrap()
    .json();
    let audit = audit.as_array().unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["actor"], "alice");
    assert_eq!(audit[0]["action"], "retry");
    assert_eq!(audit[0]["target"], format!("job {}", h.id()));
    worker.shutdown().await;
}
