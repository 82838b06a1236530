//! A hermetic `redis-server` for tests (feature `testing`).
//!
//! [`RedisServer::start`] runs a server on a free loopback port, in a
//! temporary directory, with `--save '' --appendonly no`, waits until it
//! answers, and kills it (and removes the directory) on drop. The builder
//! turns on AOF, TLS (certificates made with `openssl`), an ACL user, or
//! cluster mode; [`RedisCluster`] makes a cluster of such servers, and
//! [`SentinelGroup`] a primary, a replica and three sentinels.
//!
//! `ORK_REDIS_SERVER` may name the `redis-server` binary (and
//! `ORK_REDIS_CLI` the `redis-cli` one, used to form clusters).
//!
//! ```no_run
//! # async fn demo() {
//! use ork_redis::testing::RedisServer;
//! let server = RedisServer::start();
//! let backend = ork_redis::RedisBackend::connect(&server.url()).await.unwrap();
//! # }
//! ```

mod backend;
mod cluster;
mod sentinel;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use backend::{backend, sharded_backend, ServedBackend};
pub use cluster::RedisCluster;
pub use sentinel::{SentinelGroup, DOWN_AFTER};

/// How a [`RedisServer`] is started. Get one with [`RedisServer::builder`].
#[derive(Debug, Clone, Default)]
pub struct RedisServerBuilder {
    aof: bool,
    tls: bool,
    acl: Option<(String, String)>,
    cluster: bool,
    args: Vec<String>,
}

impl RedisServerBuilder {
    /// Appends to a file and fsyncs every write (`--appendonly yes
    /// --appendfsync always`), so a killed server restarts with its data.
    pub fn aof(&mut self, on: bool) -> &mut Self {
        self.aof = on;
        self
    }

    /// Also serves TLS on a second port, with a certificate from a fresh
    /// private CA ([`RedisServer::tls_url`], [`RedisServer::ca_pem`]).
    pub fn tls(&mut self, on: bool) -> &mut Self {
        self.tls = on;
        self
    }

    /// Requires this ACL user (with every permission); the default user is
    /// off. [`RedisServer::url`] carries the credentials.
    pub fn acl_user(&mut self, user: impl Into<String>, password: impl Into<String>) -> &mut Self {
        self.acl = Some((user.into(), password.into()));
        self
    }

    /// Starts in cluster mode (see [`RedisCluster`] to form a cluster).
    pub fn cluster(&mut self, on: bool) -> &mut Self {
        self.cluster = on;
        self
    }

    /// Passes one more argument to `redis-server`.
    pub fn arg(&mut self, arg: impl Into<String>) -> &mut Self {
        self.args.push(arg.into());
        self
    }

    /// Starts the server and waits until it answers.
    ///
    /// # Panics
    /// When `redis-server` (or `openssl`, for TLS) is missing, or the server
    /// does not come up.
    pub fn start(&self) -> RedisServer {
        let dir = temp_dir();
        let tls = self.tls.then(|| make_certs(&dir));
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let tls_port = tls.as_ref().map(|_| free_port());
            let mut server = RedisServer {
                child: None,
                port,
                tls_port,
                dir: dir.clone(),
                args: Vec::new(),
                ca_pem: tls.clone(),
                user: self.acl.clone(),
                keep_dir: false,
            };
            server.args = self.server_args(&server);
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => {
                    last_error = e;
                    server.keep_dir = true; // the next attempt reuses it
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("redis-server did not start: {last_error}");
    }

    fn server_args(&self, s: &RedisServer) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--port".into(),
            s.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            s.dir.display().to_string(),
            "--logfile".into(),
            format!("redis-{}.log", s.port),
            "--save".into(),
            String::new(),
            "--daemonize".into(),
            "no".into(),
        ];
        if self.aof {
            a.extend(["--appendonly", "yes", "--appendfsync", "always"].map(String::from));
        } else {
            a.extend(["--appendonly", "no"].map(String::from));
        }
        if let Some(tls_port) = s.tls_port {
            let f = |name: &str| s.dir.join(name).display().to_string();
            a.extend([
                "--tls-port".into(),
                tls_port.to_string(),
                "--tls-cert-file".into(),
                f("server.crt"),
                "--tls-key-file".into(),
                f("server.key"),
                "--tls-ca-cert-file".into(),
                f("ca.crt"),
                "--tls-auth-clients".into(),
                "no".into(),
            ]);
        }
        if let Some((user, password)) = &self.acl {
            a.extend([
                "--user".into(),
                user.clone(),
                "on".into(),
                format!(">{password}"),
            ]);
            a.extend(["~*", "&*", "+@all", "--user", "default", "off"].map(String::from));
        }
        if self.cluster {
            a.extend([
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-config-file".into(),
                format!("nodes-{}.conf", s.port),
                "--cluster-node-timeout".into(),
                "2000".into(),
            ]);
        }
        a.extend(self.args.iter().cloned());
        a
    }
}

/// A running `redis-server`, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    tls_port: Option<u16>,
    dir: PathBuf,
    args: Vec<String>,
    ca_pem: Option<Vec<u8>>,
    user: Option<(String, String)>,
    keep_dir: bool,
}

impl RedisServer {
    /// Starts a plain server (`--save '' --appendonly no`).
    ///
    /// # Panics
    /// When `redis-server` is missing or does not come up.
    pub fn start() -> RedisServer {
        RedisServer::builder().start()
    }

    /// A builder for other options.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// The plain-text port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS port, when started with TLS.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// `redis://[user:password@]127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://{}127.0.0.1:{}", self.credentials(), self.port)
    }

    /// A plain connection to the server, for tests that read or write
    /// keys behind the engine's back.
    ///
    /// # Panics
    /// When the server can't be reached.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("the server's URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test server")
    }

    /// `rediss://[user:password@]localhost:<tls port>`, when started with TLS.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port
            .map(|p| format!("rediss://{}localhost:{p}", self.credentials()))
    }

    /// The PEM certificate of the CA that signed the server's certificate.
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref()
    }

    /// The server's directory (its log, AOF and cluster files).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again, same port, directory and options (with AOF,
    /// it reloads its data). Kills it first if it runs.
    ///
    /// # Panics
    /// When it does not come back up.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(e) = self.spawn() {
            panic!("redis-server did not restart: {e}");
        }
    }

    fn credentials(&self) -> String {
        match &self.user {
            Some((u, p)) => format!("{u}:{p}@"),
            None => String::new(),
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let bin = server_binary();
        let child = Command::new(&bin)
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(self.port) {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                let log =
                    std::fs::read_to_string(self.dir.join(format!("redis-{}.log", self.port)))
                        .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(format!("exited with {status}: {}", tail.join(" | ")));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err("no answer to PING within 10 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether something answers a RESP `PING` on the port (an error reply,
/// such as NOAUTH, counts: the server is up).
fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    // `-NOAUTH` is an answer (an ACL server); `-LOADING` is not yet one: a
    // server replaying its AOF refuses every command.
    matches!(s.read(&mut buf), Ok(n) if n > 0 && (buf[0] == b'+' || buf[0] == b'-'))
        && !buf.starts_with(b"-LOADING")
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn temp_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "ork-redis-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// Finds a binary: the environment variable, else `PATH` and the usual
/// system directories.
fn find_binary(env: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn server_binary() -> PathBuf {
    find_binary("ORK_REDIS_SERVER", "redis-server").unwrap_or_else(|| {
        panic!(
            "redis-server not found: install it (apt-get install redis-server) or set ORK_REDIS_SERVER"
        )
    })
}

pub(crate) fn cli_binary() -> PathBuf {
    find_binary("ORK_REDIS_CLI", "redis-cli").unwrap_or_else(|| {
        panic!("redis-cli not found: install it (apt-get install redis-tools) or set ORK_REDIS_CLI")
    })
}

/// A private CA and a server certificate for `localhost` and 127.0.0.1,
/// made with the `openssl` command. Returns the CA's PEM.
fn make_certs(dir: &Path) -> Vec<u8> {
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write san.ext");
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=ork test CA",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    ];
    for args in steps {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("openssl not found ({e}): install it to test TLS"));
        assert!(status.success(), "openssl {args:?} failed");
    }
    std::fs::read(dir.join("ca.crt")).expect("read ca.crt")
}
