//! [`SentinelGroup`]: a primary, its replicas and three sentinels on loopback.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, ping, server_binary, temp_dir, RedisServer};

/// How long the sentinels wait before they call a silent primary down.
pub const DOWN_AFTER: Duration = Duration::from_millis(1000);

/// A primary, its replicas and three sentinels watching them (quorum 2),
/// each its own process on a free loopback port, with short sentinel
/// timeouts (a primary is down after [`DOWN_AFTER`] without answers, a
/// failover may take 2 s) so a failover takes a few seconds. Everything is
/// killed on drop.
///
/// ```no_run
/// use ork_redis::testing::SentinelGroup;
/// let mut group = SentinelGroup::start("mymaster", 2);
/// let url = group.url(); // redis+sentinel://127.0.0.1:p1,.../mymaster
/// let old = group.kill_primary();
/// let new = group.await_failover(old);
/// ```
///
/// With two replicas, the one not promoted follows the new primary as part
/// of the failover, so the new primary has a replica again within about a
/// second. A killed primary started again is made a replica by the
/// sentinels only some 8 to 20 s later (they wait for its role to settle).
#[derive(Debug)]
pub struct SentinelGroup {
    service: String,
    /// The data servers, the first one primary at the start.
    servers: Vec<RedisServer>,
    sentinels: Vec<Sentinel>,
}

#[derive(Debug)]
struct Sentinel {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl SentinelGroup {
    /// Starts the group and waits until the replicas are in sync and every
    /// sentinel knows them and the two other sentinels (a failover is
    /// possible from then on).
    ///
    /// # Panics
    /// When a process does not start, or the group does not form within
    /// 20 s.
    pub fn start(service: &str, replicas: usize) -> SentinelGroup {
        // A diskless sync starts at once, not after the default 5 s.
        let primary = RedisServer::builder()
            .arg("--repl-diskless-sync-delay")
            .arg("0")
            .start();
        let primary_port = primary.port();
        let mut servers = vec![primary];
        for _ in 0..replicas {
            servers.push(
                RedisServer::builder()
                    .arg("--repl-diskless-sync-delay")
                    .arg("0")
                    .arg("--replicaof")
                    .arg("127.0.0.1")
                    .arg(primary_port.to_string())
                    .start(),
            );
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        wait_until(deadline, "the replicas to sync", || {
            servers[1..].iter().all(|r| {
                info(r.port(), "replication")
                    .is_some_and(|i| i.get("master_link_status").map(String::as_str) == Some("up"))
            })
        });
        // Started once the replicas are connected, the sentinels find them
        // in their first look at the primary.
        let sentinels = (0..3)
            .map(|_| Sentinel::start(service, primary_port))
            .collect();
        let group = SentinelGroup {
            service: service.to_owned(),
            servers,
            sentinels,
        };
        let replicas = replicas.to_string();
        wait_until(deadline, "the sentinels to know each other", || {
            group.sentinels.iter().all(|s| {
                sentinel_master(s.port, service).is_some_and(|m| {
                    m.get("num-slaves") == Some(&replicas)
                        && m.get("num-other-sentinels").map(String::as_str) == Some("2")
                })
            })
        });
        group
    }

    /// `redis+sentinel://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>/<service>`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{}", hosts.join(","), self.service)
    }

    /// The port of the primary the first sentinel that answers names.
    pub fn primary_port(&self) -> Option<u16> {
        self.sentinels
            .iter()
            .find_map(|s| primary_of(s.port, &self.service))
    }

    /// The data server on `port`.
    ///
    /// # Panics
    /// When no server of the group has that port.
    pub fn server(&self, port: u16) -> &RedisServer {
        self.servers
            .iter()
            .find(|s| s.port() == port)
            .expect("a server of the group")
    }

    /// SIGKILLs the current primary; returns its port.
    ///
    /// # Panics
    /// When no sentinel names a primary.
    pub fn kill_primary(&mut self) -> u16 {
        let port = self.primary_port().expect("a primary");
        self.server_mut(port).kill();
        port
    }

    /// Asks the sentinels for a failover while the primary runs (`SENTINEL
    /// FAILOVER`, as an operator would); returns the primary's port. The
    /// old primary stays up, still a primary in its own eyes until the
    /// sentinels make it a replica, some seconds after the switch.
    ///
    /// # Panics
    /// When no sentinel names a primary or accepts the request.
    pub fn switch_over(&self) -> u16 {
        let port = self.primary_port().expect("a primary");
        let accepted = self.sentinels.iter().any(|s| {
            connection(s.port).is_some_and(|mut c| {
                redis::cmd("SENTINEL")
                    .arg("FAILOVER")
                    .arg(&self.service)
                    .query::<()>(&mut c)
                    .is_ok()
            })
        });
        assert!(accepted, "no sentinel accepted SENTINEL FAILOVER");
        port
    }

    /// Waits until every server but `primary` and `except` is a replica
    /// of `primary`, in sync (after a failover, the sentinels move the
    /// other replicas to the new primary).
    ///
    /// # Panics
    /// After 30 s.
    pub fn await_followers(&self, primary: u16, except: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = primary.to_string();
        wait_until(deadline, "the replicas to follow the new primary", || {
            self.servers
                .iter()
                .map(RedisServer::port)
                .filter(|&p| p != primary && p != except)
                .all(|p| {
                    info(p, "replication").is_some_and(|i| {
                        i.get("master_port") == Some(&port)
                            && i.get("master_link_status").map(String::as_str) == Some("up")
                    })
                })
        });
    }

    /// The role (`master`, `slave`) the server on `port` reports, if it
    /// answers.
    pub fn role(&self, port: u16) -> Option<String> {
        role(port)
    }

    /// Waits until the sentinels name a primary other than `old` that says
    /// it is one; returns its port.
    ///
    /// # Panics
    /// After 30 s without a failover.
    pub fn await_failover(&self, old: u16) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut new = None;
        wait_until(deadline, "a failover", || {
            new = self
                .primary_port()
                .filter(|&p| p != old)
                .filter(|&p| role(p).as_deref() == Some("master"));
            new.is_some()
        });
        new.expect("set when the wait ends")
    }

    fn server_mut(&mut self, port: u16) -> &mut RedisServer {
        self.servers
            .iter_mut()
            .find(|s| s.port() == port)
            .expect("a server of the group")
    }
}

impl Sentinel {
    fn start(service: &str, primary: u16) -> Sentinel {
        let dir = temp_dir();
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let conf = dir.join(format!("sentinel-{port}.conf"));
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\nlogfile \"sentinel-{port}.log\"\n\
                 sentinel monitor {service} 127.0.0.1 {primary} 2\n\
                 sentinel down-after-milliseconds {service} {down}\n\
                 sentinel failover-timeout {service} 2000\n\
                 sentinel parallel-syncs {service} 1\n",
                dir = dir.display(),
                down = DOWN_AFTER.as_millis(),
            );
            std::fs::write(&conf, text).expect("write the sentinel's config");
            let mut child = Command::new(server_binary())
                .arg(&conf)
                .arg("--sentinel")
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server --sentinel");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if ping(port) {
                    return Sentinel {
                        child: Some(child),
                        port,
                        dir,
                    };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("exited with {status}");
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = "no answer to PING within 10 s".to_owned();
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("redis-sentinel did not start: {last_error}");
    }
}

fn wait_until(deadline: Instant, what: &str, mut ok: impl FnMut() -> bool) {
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn connection(port: u16) -> Option<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    client
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()
}

/// `INFO <section>` as a map.
fn info(port: u16, section: &str) -> Option<HashMap<String, String>> {
    let mut c = connection(port)?;
    let text: String = redis::cmd("INFO").arg(section).query(&mut c).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.trim().split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

/// The first element of `ROLE`.
fn role(port: u16) -> Option<String> {
    let mut c = connection(port)?;
    let reply: Vec<redis::Value> = redis::cmd("ROLE").query(&mut c).ok()?;
    match reply.first()? {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// `SENTINEL MASTER <service>` as a map.
fn sentinel_master(port: u16, service: &str) -> Option<HashMap<String, String>> {
    let mut c = connection(port)?;
    redis::cmd("SENTINEL")
        .arg("MASTER")
        .arg(service)
        .query(&mut c)
        .ok()
}

/// The primary's port a sentinel names.
fn primary_of(port: u16, service: &str) -> Option<u16> {
    let mut c = connection(port)?;
    let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(service)
        .query(&mut c)
        .ok()?;
    addr.map(|(_, p)| p)
}
