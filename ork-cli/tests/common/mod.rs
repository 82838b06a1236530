//! Shared test code: a Redis per test, the `ork` binary, a tiny HTTP client.
#![allow(dead_code, missing_docs, unreachable_pub)]

pub mod http;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ork::{Ork, RedisBackend};
use ork_redis::testing::RedisServer;

/// A fresh `redis-server`, a namespace, and a client on them.
pub struct Env {
    pub server: RedisServer,
    pub ns: String,
    pub ork: Ork,
}

/// What a run of `ork` printed and returned.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Standard output as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    /// Asserts exit code 0 and returns standard output.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts an exit code and returns standard error.
    pub fn fails_with(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stderr
    }
}

impl Env {
    pub async fn new() -> Env {
        static N: AtomicU64 = AtomicU64::new(0);
        let server = tokio::task::spawn_blocking(RedisServer::start)
            .await
            .expect("redis-server starts");
        let ns = format!("cli{}", N.fetch_add(1, Ordering::Relaxed));
        let backend = RedisBackend::builder(server.url())
            .namespace(&ns)
            .build()
            .await
            .expect("connect");
        Env {
            server,
            ns,
            ork: Ork::with_backend(backend),
        }
    }

    /// The `ork` command on this server and namespace (through the
    /// environment variables), without colours.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ork"));
        cmd.args(args)
            .env("ORK_REDIS_URL", self.server.url())
            .env("ORK_NAMESPACE", &self.ns)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `ork` and waits for it (on a blocking thread, so workers in
    /// this process keep running).
    pub async fn ork(&self, args: &[&str]) -> Out {
        self.ork_stdin(args, None).await
    }

    /// Runs `ork` with this standard input.
    pub async fn ork_stdin(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = self.command(args);
        let input = stdin.map(str::to_owned);
        tokio::task::spawn_blocking(move || run(&mut cmd, input))
            .await
            .expect("run ork")
    }
}

/// Runs a command to its end, with a time limit.
pub fn run(cmd: &mut Command, stdin: Option<String>) -> Out {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ork");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = wait_output(child, Duration::from_secs(60));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn wait_output(mut child: Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "ork did not finish within {limit:?}; stdout: {}; stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `check` until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `ork dashboard`, killed on drop.
pub struct Dashboard {
    child: Child,
    pub base: String,
}

impl Dashboard {
    /// Starts `ork dashboard --bind 127.0.0.1:0` (plus `extra`) and reads its address.
    pub fn start(env: &Env, extra: &[&str]) -> Dashboard {
        Dashboard::start_bound(env, "127.0.0.1:0", extra)
    }

    /// Starts `ork dashboard --bind <bind>` (plus `extra`) and reads its
    /// address (a wildcard one is reached through 127.0.0.1).
    pub fn start_bound(env: &Env, bind: &str, extra: &[&str]) -> Dashboard {
        use std::io::BufRead;
        let mut args = vec!["dashboard", "--bind", bind];
        args.extend_from_slice(extra);
        let mut child = env
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ork dashboard");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the dashboard's first line");
        let start = line
            .find("http://")
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let url = line[start..].split_whitespace().next().unwrap();
        Dashboard {
            child,
            base: url
                .trim_end_matches('/')
                .replace("http://0.0.0.0:", "http://127.0.0.1:"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
