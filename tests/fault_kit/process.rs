//! Child processes for tests: this test binary run again as a worker (or
//! scheduler) process, started, SIGKILLed and restarted by a [`Fleet`],
//! and signals for any process (a paused redis-server, a SIGTERM).
//!
//! A test binary declares one test function that calls [`run_child`]: in a
//! normal run it returns at once; in a process the fleet started (with
//! [`ROLE_VAR`] set) it runs the body given.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing_subscriber::filter::LevelFilter;

/// Which process to be; unset in a normal test run.
pub const ROLE_VAR: &str = "ORK_FAULT_ROLE";
const URL_VAR: &str = "ORK_FAULT_URL";
const NS_VAR: &str = "ORK_FAULT_NS";
const NAME_VAR: &str = "ORK_FAULT_NAME";
const LOG_VAR: &str = "ORK_FAULT_LOG";

/// What a child process was started as.
#[derive(Debug, Clone)]
pub struct ChildEnv {
    pub role: String,
    pub url: String,
    pub ns: String,
    /// The incarnation's name: slot and generation (`w1.3`).
    pub name: String,
}

impl ChildEnv {
    fn from_env() -> Option<ChildEnv> {
        let role = std::env::var(ROLE_VAR).ok()?;
        let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is set"));
        Some(ChildEnv {
            role,
            url: var(URL_VAR),
            ns: var(NS_VAR),
            name: var(NAME_VAR),
        })
    }

    /// A variable the parent passed with [`Fleet::env`] or [`Fleet::add_with`].
    pub fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

/// The body of a child process, when this binary was started as one
/// (else returns at once). `threads`: 0 for a current-thread runtime.
/// It logs to its log file at the level the fleet asked for (INFO unless
/// [`Fleet::log_level`] said otherwise), and exits when its parent does.
pub fn run_child<F, Fut>(threads: usize, body: F)
where
    F: FnOnce(ChildEnv) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(env) = ChildEnv::from_env() else {
        return;
    };
    let level = std::env::var(LOG_VAR)
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(LevelFilter::INFO);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
    // A plain thread: it works even while the runtime is stalled.
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(200));
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(3);
        }
    });
    let rt = if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("a runtime");
    rt.block_on(async move {
        tokio::select! {
            _ = body(env) => {}
            // A bound, in case the parent test forgot this process.
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
    });
}

/// Child processes: slots, each running one incarnation at a time, each
/// incarnation logging to a file of its own. All are killed on drop.
pub struct Fleet {
    test: &'static str,
    env: Vec<(String, String)>,
    dir: PathBuf,
    slots: Vec<Slot>,
}

struct Slot {
    role: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
    name: String,
    generation: u32,
}

impl Fleet {
    /// Processes running the test function `test` of this binary, on the
    /// server at `url`, in namespace `ns`.
    pub fn new(test: &'static str, url: &str, ns: &str) -> Fleet {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ork-faults-{}-{}-{ns}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a log directory");
        Fleet {
            test,
            env: vec![
                (URL_VAR.to_owned(), url.to_owned()),
                (NS_VAR.to_owned(), ns.to_owned()),
            ],
            dir,
            slots: Vec::new(),
        }
    }

    /// One more variable for every process started from now on.
    pub fn env(&mut self, key: &str, value: impl ToString) -> &mut Self {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    /// The most detailed level the processes started from now on log.
    pub fn log_level(&mut self, level: LevelFilter) -> &mut Self {
        self.env(LOG_VAR, level)
    }

    /// Adds a slot with this role and starts it; returns its index.
    pub fn add(&mut self, role: &str) -> usize {
        self.add_with(role, &[])
    }

    /// Adds a slot with this role and variables of its own (for every
    /// incarnation of the slot), and starts it; returns its index.
    pub fn add_with(&mut self, role: &str, env: &[(&str, &str)]) -> usize {
        self.slots.push(Slot {
            role: role.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child: None,
            name: String::new(),
            generation: 0,
        });
        let i = self.slots.len() - 1;
        self.start(i);
        i
    }

    /// How many slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Starts a new incarnation in slot `i` (killing the one running);
    /// returns its name.
    pub fn start(&mut self, i: usize) -> String {
        self.kill(i);
        let slot = &mut self.slots[i];
        slot.generation += 1;
        slot.name = format!("w{i}.{}", slot.generation);
        let log =
            std::fs::File::create(self.dir.join(format!("{}.log", slot.name))).expect("a log file");
        let child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([self.test, "--exact", "--nocapture", "--test-threads=1"])
            .envs(self.env.iter().chain(&slot.env).map(|(k, v)| (k, v)))
            .env(ROLE_VAR, &slot.role)
            .env(NAME_VAR, &slot.name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start a child process");
        slot.child = Some(child);
        slot.name.clone()
    }

    /// SIGKILL, as a crash; waits for the process to be gone. Returns the
    /// name of the incarnation killed.
    pub fn kill(&mut self, i: usize) -> Option<String> {
        let slot = &mut self.slots[i];
        let mut child = slot.child.take()?;
        let _ = child.kill();
        let _ = child.wait();
        Some(slot.name.clone())
    }

    /// Kills every slot's process.
    pub fn kill_all(&mut self) {
        for i in 0..self.slots.len() {
            self.kill(i);
        }
    }

    /// The name of slot `i`'s current (or last) incarnation.
    pub fn name(&self, i: usize) -> &str {
        &self.slots[i].name
    }

    /// The process id of slot `i`'s incarnation, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.slots[i].child.as_ref().map(Child::id)
    }

    /// Whether slot `i` runs a process that has not exited.
    pub fn alive(&mut self, i: usize) -> bool {
        self.slots[i]
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Every process's log, as (incarnation name, text), by name.
    fn log_texts(&self) -> Vec<(String, String)> {
        let mut files: Vec<_> = std::fs::read_dir(&self.dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter_map(|path| {
                let name = path.file_stem()?.to_str()?.to_owned();
                Some((name, std::fs::read_to_string(&path).unwrap_or_default()))
            })
            .collect()
    }

    /// Every process log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (name, text) in self.log_texts() {
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            let path = self.dir.join(format!("{name}.log"));
            out.push_str(&format!("== {}\n{}\n", path.display(), tail.join("\n")));
        }
        out
    }

    /// The jobs whose attempt a live process stopped on its own because
    /// its lease ran out (it stalled past its lease: starved of CPU, or
    /// cut off from Redis), by incarnation: such an attempt is handed to
    /// another worker, as after a kill.
    pub fn self_fenced(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, text) in self.log_texts() {
            for line in text.lines().filter(|l| {
                l.contains("lease lost") || l.contains("lease could not be renewed in time")
            }) {
                if let Some(job) = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("job_id="))
                {
                    out.push((name.clone(), job.to_owned()));
                }
            }
        }
        out
    }

    /// Lines of every process log that contain `needle`.
    pub fn grep(&self, needle: &str) -> Vec<String> {
        self.log_texts()
            .iter()
            .flat_map(|(_, text)| text.lines().filter(|l| l.contains(needle)))
            .map(String::from)
            .collect()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.kill_all();
        if std::thread::panicking() {
            eprintln!("child process logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Sends signal `sig` (`STOP`, `CONT`, `TERM`, …) to process `pid`.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}
