//! The command line, as clap parses it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ork_core::JobState;

const EXIT_CODES: &str = "\
Exit codes: 0 done; 1 failed (unknown id, refused operation); 2 bad usage;
3 Redis unreachable; 4 `wait`: the workflow or job failed or was cancelled;
5 `wait`: timed out.";

/// Inspect and operate ork queues, workers and workflows.
#[derive(Debug, Parser)]
#[command(name = "ork", version, after_help = EXIT_CODES)]
pub(crate) struct Args {
    /// The Redis the workers use.
    #[arg(
        long,
        global = true,
        env = "ORK_REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379"
    )]
    pub(crate) redis: String,
    /// The namespace the workers use (their `RedisBackend::builder(..).namespace(..)`).
    #[arg(long, global = true, env = "ORK_NAMESPACE", default_value = "ork")]
    pub(crate) namespace: String,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Queues with their counts per state and throughput, and the live workers.
    Status,
    /// Lists jobs, oldest first within each state.
    Jobs {
        /// Only this queue.
        queue: Option<String>,
        /// Only this state: waiting, scheduled, queued, running, succeeded, dead, cancelled.
        #[arg(long, short, value_parser = parse_state)]
        state: Option<JobState>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Skip this many.
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Everything about one job: arguments, attempts, error, result, timings.
    Job {
        /// The job's id.
        id: String,
    },
    /// Queues a dead or cancelled job again (or re-runs a failed workflow's failed nodes).
    Retry {
        /// A job id or a workflow id.
        #[arg(required_unless_present = "all_dead")]
        id: Option<String>,
        /// Retries every dead letter.
        #[arg(long, conflicts_with = "id")]
        all_dead: bool,
        /// With --all-dead: only this queue's.
        #[arg(long, requires = "all_dead")]
        queue: Option<String>,
    },
    /// Cancels a job that has not started (or asks a running one to stop), or a whole workflow.
    Cancel {
        /// A job id or a workflow id.
        id: String,
    },
    /// Deletes every job of a queue that has not started (asks first).
    Purge {
        /// The queue.
        queue: String,
        /// Don't ask.
        #[arg(long, short)]
        yes: bool,
    },
    /// Sends a signal to the jobs waiting on KEY (`ctx.wait_for`); kept
    /// under KEY for a retention window, so a job that waits later gets it too.
    Signal {
        /// The signal key.
        key: String,
        /// The value, as JSON (`'"shipped"'`, `'{"approved": true}'`).
        value: String,
        /// How long the signal is kept for later waiters (default: 24h).
        #[arg(long, value_parser = parse_duration)]
        keep: Option<Duration>,
    },
    /// Pauses a queue or a task across the fleet: its jobs stay queued, none starts until `ork resume`.
    Pause(PauseArgs),
    /// Resumes a paused queue or task.
    Resume(PauseArgs),
    /// The live workers.
    Workers,
    /// Periodic schedules and their next fire times.
    Schedules,
    /// Workflows, newest first.
    Workflows {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One workflow: every node's state, drawn as a tree.
    Workflow {
        /// The workflow's id.
        id: String,
    },
    /// Waits for a workflow (or a job) to finish, with a progress bar.
    Wait {
        /// A workflow id or a job id.
        id: String,
        /// Give up after this long (e.g. 30s, 5m, 1h30m; default: no limit).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
    /// Serves the web dashboard (and Prometheus metrics at /metrics).
    #[command(after_help = DASHBOARD_HELP)]
    Dashboard(DashboardArgs),
}

const DASHBOARD_HELP: &str = "\
On a loopback address (the default) the dashboard answers only requests
naming a loopback Host. Anywhere else it refuses to start without a login:
--auth-token-file (a bearer token; browsers log in with any user name and
the token as password) or --basic-auth-file (user:password lines), unless
--no-auth says the network is trusted. Failed logins are rate-limited per
client address (429). The dashboard speaks plain HTTP: for TLS, put it
behind your reverse proxy (nginx, Caddy, a load balancer) and bind it
where only the proxy reaches it.";

/// What `ork pause` and `ork resume` act on: one queue or one task.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct PauseArgs {
    /// A queue: none of its jobs starts while it is paused.
    #[arg(long)]
    pub(crate) queue: Option<String>,
    /// A task, by its registered name: none of its jobs starts, in any queue.
    #[arg(long)]
    pub(crate) task: Option<String>,
}

impl PauseArgs {
    /// The target named.
    pub(crate) fn target(&self) -> ork_core::backend::PauseTarget {
        use ork_core::backend::PauseTarget;
        match (&self.queue, &self.task) {
            (Some(q), _) => PauseTarget::Queue(q.clone()),
            (None, Some(t)) => PauseTarget::Task(t.clone()),
            (None, None) => unreachable!("clap requires one of --queue and --task"),
        }
    }
}

/// `ork dashboard`'s options.
#[derive(Debug, clap::Args)]
pub(crate) struct DashboardArgs {
    /// Where to listen; beyond loopback, a login option (or --no-auth) is required.
    #[arg(long, default_value = "127.0.0.1:7000")]
    pub(crate) bind: SocketAddr,
    /// Lets the page retry, cancel, purge, pause and resume (read-only otherwise).
    #[arg(long)]
    pub(crate) allow_actions: bool,
    /// A file holding a bearer token every request must carry
    /// (`Authorization: Bearer <token>`, or basic auth with it as password).
    #[arg(long, value_name = "FILE", conflicts_with = "basic_auth_file")]
    pub(crate) auth_token_file: Option<PathBuf>,
    /// A file of `user:password` lines: basic auth; actions are audited under the user.
    #[arg(long, value_name = "FILE")]
    pub(crate) basic_auth_file: Option<PathBuf>,
    /// Serves without a login even beyond loopback (a trusted network only).
    #[arg(long, conflicts_with_all = ["auth_token_file", "basic_auth_file"])]
    pub(crate) no_auth: bool,
}

fn parse_state(s: &str) -> Result<JobState, String> {
    JobState::parse(&s.to_ascii_lowercase()).ok_or_else(|| {
        let all: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown state; one of: {}", all.join(", "))
    })
}

/// A duration in the grammar of `ork::time::parse_duration`: `30s`, `5m`,
/// `1h30m`, `500ms`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    ork_core::time::parse_duration(s).map_err(|e| match e {
        ork_core::Error::Invalid(why) => why,
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_states_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("90").unwrap_err().contains("no unit"));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_state("Dead"), Ok(JobState::Dead));
        assert!(parse_state("zombie").unwrap_err().contains("succeeded"));
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
