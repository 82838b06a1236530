//! Every key name of a namespace, built in one place.
//!
//! The Lua scripts build the same names (see `lua/lib.lua`, `K_*`
//! functions); a test checks that both agree. All names start with
//! `{ns}:`, so a namespace lives in one Redis Cluster slot.

/// The ten priority levels, highest first (the claim order).
pub(crate) const PRIORITIES_DESC: [u8; 10] = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0];

/// Key names of one namespace. Names only the scripts use are here too,
/// so that every name is written down once on each side.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

#[cfg_attr(not(test), allow(dead_code))]
impl Keys {
    /// Keys of namespace `ns` (which must not contain `{` or `}`).
    pub(crate) fn new(ns: &str) -> Self {
        Keys {
            prefix: format!("{{{ns}}}:"),
        }
    }

    /// Keys of shard `shard` of namespace `ns`: `{ns}:` for shard 0 (the
    /// layout of an unsharded namespace), `{ns:i}:` for shard `i`.
    pub(crate) fn shard(ns: &str, shard: usize) -> Self {
        match shard {
            0 => Keys::new(ns),
            i => Keys {
                prefix: format!("{{{ns}:{i}}}:"),
            },
        }
    }

    /// `{ns}:`, the start of every key (passed to each script as ARGV[1]).
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, rest: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + rest.len());
        k.push_str(&self.prefix);
        k.push_str(rest);
        k
    }

    /// Sorted set of the signals kept under `key` (scored by seq).
    pub(crate) fn signals(&self, key: &str) -> String {
        self.key(&format!("sig:{key}"))
    }

    /// Hash of the jobs waiting on signal `key` (job id -> until, ms).
    pub(crate) fn listeners(&self, key: &str) -> String {
        self.key(&format!("sigw:{key}"))
    }

    /// Set of queue names ever used.
    pub(crate) fn queues(&self) -> String {
        self.key("queues")
    }

    /// Hash: unique key to the id of the job holding it.
    pub(crate) fn unique(&self) -> String {
        self.key("uniq")
    }

    /// Hash: one job.
    pub(crate) fn job(&self, id: &str) -> String {
        self.key(&format!("job:{id}"))
    }

    /// List: ready jobs of a queue at a priority.
    pub(crate) fn ready(&self, queue: &str, priority: u8) -> String {
        self.key(&format!("q:{queue}:{priority}"))
    }

    /// Sorted set: scheduled jobs of a queue, by due time.
    pub(crate) fn scheduled(&self, queue: &str) -> String {
        self.key(&format!("s:{queue}"))
    }

    /// Sorted set: waiting jobs of a queue, by enqueue time.
    pub(crate) fn waiting(&self, queue: &str) -> String {
        self.key(&format!("w:{queue}"))
    }

    /// Sorted set: running jobs of a queue, by lease deadline.
    pub(crate) fn running(&self, queue: &str) -> String {
        self.key(&format!("r:{queue}"))
    }

    /// Sorted set: succeeded jobs of a queue, by expiry.
    pub(crate) fn succeeded(&self, queue: &str) -> String {
        self.key(&format!("o:{queue}"))
    }

    /// Sorted set: dead letters of a queue, by the time they died.
    pub(crate) fn dead(&self, queue: &str) -> String {
        self.key(&format!("d:{queue}"))
    }

    /// Sorted set: cancelled jobs of a queue, by expiry.
    pub(crate) fn cancelled(&self, queue: &str) -> String {
        self.key(&format!("c:{queue}"))
    }

    /// Sorted set holding at most one token: idle claimers of a queue block
    /// on it (BZPOPMIN) and scripts that make work ready add the token.
    pub(crate) fn wake(&self, queue: &str) -> String {
        self.key(&format!("k:{queue}"))
    }

    /// Set: ids of the jobs waiting for job `id`.
    pub(crate) fn dependants(&self, id: &str) -> String {
        self.key(&format!("dn:{id}"))
    }

    /// Set: the finished dependencies of waiting job `id`.
    pub(crate) fn done_deps(&self, id: &str) -> String {
        self.key(&format!("dd:{id}"))
    }

    /// String: a workflow's description.
    pub(crate) fn workflow(&self, id: &str) -> String {
        self.key(&format!("wf:{id}"))
    }

    /// Sorted set: workflow ids by the order they were first stored.
    pub(crate) fn workflows(&self) -> String {
        self.key("wfs")
    }

    /// Counter: the order of the last workflow stored.
    pub(crate) fn workflows_seq(&self) -> String {
        self.key("wfs:seq")
    }

    /// Hash: a periodic schedule (`def`, `thr`, `last`, `pz`).
    pub(crate) fn schedule(&self, name: &str) -> String {
        self.key(&format!("cron:{name}"))
    }

    /// Set: every schedule name.
    pub(crate) fn schedules(&self) -> String {
        self.key("crons")
    }

    /// Set: the run-time children of a job (expires with its hash).
    pub(crate) fn children(&self, id: &str) -> String {
        self.key(&format!("ch:{id}"))
    }

    /// String: the id of the job holding an idempotency key (expires with
    /// that job's hash).
    pub(crate) fn idempotency(&self, key: &str) -> String {
        self.key(&format!("ik:{key}"))
    }

    /// Pub/sub channel: ids of running jobs whose cancellation was requested.
    pub(crate) fn cancels(&self) -> String {
        self.key("cancels")
    }

    /// Hash: worker id to `"<last seen ms>|<WorkerInfo JSON>"`.
    pub(crate) fn workers(&self) -> String {
        self.key("workers")
    }

    /// Sorted set: worker ids by expiry.
    pub(crate) fn workers_expiry(&self) -> String {
        self.key("workers:exp")
    }

    /// Sorted set, in shard 0 only: member `count`, scored with the
    /// highest shard count a backend of the namespace was built with
    /// (absent while that is 1). No script reads it.
    pub(crate) fn shard_count(&self) -> String {
        self.key("shards")
    }

    /// List: the audit trail, newest first (JSON entries), capped.
    pub(crate) fn audit(&self) -> String {
        self.key("audit")
    }

    /// Hash: flow settings: paused queues (`q:<queue>`) and tasks
    /// (`t:<task>`), queue running caps (`c:<queue>`: the cap).
    pub(crate) fn flow(&self) -> String {
        self.key("flow")
    }

    /// Set: the ids of the jobs holding a slot of a running cap (`t:<task>`,
    /// `k:<key>` or `q:<queue>`).
    pub(crate) fn slots(&self, cap: &str) -> String {
        self.key(&format!("rl:{cap}"))
    }

    /// List: the jobs parked on a full running cap, in the order parked.
    pub(crate) fn parked(&self, cap: &str) -> String {
        self.key(&format!("pk:{cap}"))
    }

    /// Set: the running caps that have parked jobs.
    pub(crate) fn parked_caps(&self) -> String {
        self.key("pkc")
    }

    /// Hash: a running cap's name to its cap, as last seen by a claim that
    /// parked a job on it.
    pub(crate) fn caps(&self) -> String {
        self.key("caps")
    }

    /// List: jobs of a queue set aside by a claim: their task is paused, or
    /// a running cap of theirs is full.
    pub(crate) fn held(&self, queue: &str) -> String {
        self.key(&format!("h:{queue}"))
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::Keys;

    /// The Lua helpers build the same names as this module.
    #[tokio::test]
    async fn lua_builds_the_same_names() {
        let server = crate::testing::RedisServer::start();
        let client = redis::Client::open(server.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys = Keys::new("ns");
        let script = redis::Script::new(concat!(
            "local KEYS, ARGV = KEYS, ARGV\n",
            include_str!("../lua/lib.lua"),
            "\nbegin(KEYS, ARGV)\nreturn { K_QUEUES, K_UNIQUE, K_job('J'), K_ready('Q', 7), K_sched('Q'),",
            " K_wait('Q'), K_run('Q'), K_ok('Q'), K_dead('Q'), K_cancel('Q'), K_wake('Q'),",
            " K_dependants('J'), K_done_deps('J'), K_workflow('J'), K_schedule('S'),",
            " K_SCHEDULES, K_children('J'), K_idem('K'), K_CANCELS,",
            " K_signals('G'), K_listeners('G'), K_FLOW, K_held('Q'),",
            " K_slots('t:T'), K_parked('t:T'), K_PARKED_CAPS, K_CAPS }",
        ));
        let lua: Vec<String> = script
            .key(keys.queues())
            .arg(keys.prefix())
            .arg(1000)
            .invoke_async(&mut conn)
            .await
            .unwrap();
        let rust = vec![
            keys.queues(),
            keys.unique(),
            keys.job("J"),
            keys.ready("Q", 7),
            keys.scheduled("Q"),
            keys.waiting("Q"),
            keys.running("Q"),
            keys.succeeded("Q"),
            keys.dead("Q"),
            keys.cancelled("Q"),
            keys.wake("Q"),
            keys.dependants("J"),
            keys.done_deps("J"),
            keys.workflow("J"),
            keys.schedule("S"),
            keys.schedules(),
            keys.children("J"),
            keys.idempotency("K"),
            keys.cancels(),
            keys.signals("G"),
            keys.listeners("G"),
            keys.flow(),
            keys.held("Q"),
            keys.slots("t:T"),
            keys.parked("t:T"),
            keys.parked_caps(),
            keys.caps(),
        ];
        assert_eq!(lua, rust);
        assert!(rust.iter().all(|k| k.starts_with("{ns}:")));
    }

    #[test]
    fn shard_prefixes() {
        assert_eq!(Keys::shard("ns", 0).prefix(), "{ns}:");
        assert_eq!(Keys::shard("ns", 3).prefix(), "{ns:3}:");
        assert_eq!(Keys::shard("ns", 3).job("J"), "{ns:3}:job:J");
    }
}
