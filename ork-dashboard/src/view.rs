//! What the dashboard's API returns (and the `ork` command prints with
//! `--json`): jobs, payloads, workflows, schedules, as plain serializable
//! shapes. Shared with the command, not a stable API.

use std::collections::BTreeMap;

use ork_core::workflow::{state_of, NodeStatus, WorkflowHandle};
use ork_core::{ArgSpec, Codec, JobInfo, JobState, Missed, ScheduleInfo};
use serde::Serialize;
use serde_json::{json, Value};

/// The most payload bytes shown as hex.
pub const HEX_LIMIT: usize = 4096;

/// Plain hex, for JSON.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A job.
#[derive(Debug, Serialize)]
pub struct JobView {
    pub id: String,
    pub task: String,
    pub queue: String,
    pub state: &'static str,
    pub priority: u8,
    pub attempts: u32,
    /// Attempts allowed: retries + 1.
    pub max_attempts: u32,
    pub progress: u8,
    pub error: Option<String>,
    pub enqueued_at_ms: u64,
    pub started_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
    pub due_at_ms: Option<u64>,
    /// While parked by a durable sleep or wait: what it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parked: Option<String>,
    /// While parked by a durable wait: the signal key it waits on (its
    /// timeout is `due_at_ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waits_on: Option<String>,
    pub timeout_ms: u64,
    pub workflow: Option<String>,
    pub parent: Option<String>,
    pub deps: Vec<String>,
    pub unique: Option<String>,
    pub codec: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Its run-time children (what it spawned, its map items, the nodes of
    /// the workflow it was replaced with), in the detail view; at most
    /// [`CHILDREN_SHOWN`] of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<ChildView>>,
    /// How many run-time children it has in all (detail view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children_total: Option<usize>,
}

/// The most run-time children a job's detail lists.
pub const CHILDREN_SHOWN: usize = 200;

/// A run-time child of a job, in its parent's detail.
#[derive(Debug, Serialize)]
pub struct ChildView {
    pub id: String,
    pub task: String,
    pub state: &'static str,
}

impl ChildView {
    /// The view of a child job.
    pub fn new(info: &JobInfo) -> ChildView {
        ChildView {
            id: info.record.id.to_string(),
            task: info.record.task.clone(),
            state: info.state.as_str(),
        }
    }
}

/// The codec's name.
pub fn codec_name(codec: Codec) -> &'static str {
    match codec {
        Codec::Bincode => "bincode",
        Codec::Json => "json",
        _ => "unknown",
    }
}

impl JobView {
    /// A job; with `detail`, its arguments and result too.
    pub fn new(info: &JobInfo, detail: bool) -> JobView {
        let r = &info.record;
        JobView {
            id: r.id.to_string(),
            task: r.task.clone(),
            queue: r.queue.clone(),
            state: info.state.as_str(),
            priority: r.priority,
            attempts: info.attempts,
            max_attempts: r.retries.saturating_add(1),
            progress: info.progress,
            error: info.error.clone(),
            enqueued_at_ms: info.enqueued_at_ms,
            started_at_ms: info.started_at_ms,
            finished_at_ms: info.finished_at_ms,
            due_at_ms: info.due_at_ms,
            parked: info.parked.clone(),
            waits_on: info.waits_on().map(str::to_owned),
            timeout_ms: r.timeout_ms,
            workflow: r.workflow.as_ref().map(|w| w.to_string()),
            parent: r.parent.as_ref().map(|p| p.to_string()),
            deps: r.deps.iter().map(|d| d.to_string()).collect(),
            unique: r.unique.clone(),
            codec: codec_name(r.codec),
            args: detail.then(|| args(info)),
            result: if detail {
                info.result.as_deref().map(|b| payload(r.codec, b))
            } else {
                None
            },
            children: None,
            children_total: None,
        }
    }
}

/// The arguments of a job: its payload, or for a workflow node whose
/// arguments are assembled at run time, where each comes from.
fn args(info: &JobInfo) -> Value {
    let r = &info.record;
    if r.inputs.is_empty() && r.payload.is_empty() && info.state == JobState::Succeeded {
        // The Redis engine drops a succeeded job's arguments to free memory.
        return json!({ "kind": "dropped", "note": "not kept after the job succeeded" });
    }
    if r.inputs.is_empty() {
        return payload(r.codec, &r.payload);
    }
    let inputs: Vec<Value> = r
        .inputs
        .iter()
        .map(|i| match i {
            ArgSpec::Value(bytes) => json!({ "value": payload(r.codec, bytes) }),
            ArgSpec::Output(id) => json!({ "output_of": id.as_str() }),
            ArgSpec::OutputOrError(id) => json!({ "output_or_error_of": id.as_str() }),
            ArgSpec::All(ids) => {
                json!({ "outputs_of": ids.iter().map(|i| i.as_str()).collect::<Vec<_>>() })
            }
            ArgSpec::Item => json!({ "item": true }),
            _ => json!({ "unknown": true }),
        })
        .collect();
    json!({ "kind": "inputs", "inputs": inputs })
}

/// Encoded bytes as readable as the codec allows: JSON as a value, bincode
/// (not self-describing) as hex with a note.
pub fn payload(codec: Codec, bytes: &[u8]) -> Value {
    if codec == Codec::Json {
        if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
            return json!({ "kind": "json", "bytes": bytes.len(), "value": value });
        }
    }
    let shown = &bytes[..bytes.len().min(HEX_LIMIT)];
    json!({
        "kind": "bytes",
        "codec": codec_name(codec),
        "bytes": bytes.len(),
        "hex": hex(shown),
        "truncated": bytes.len() > shown.len(),
        "note": note(codec),
    })
}

/// Why bytes are shown raw.
pub fn note(codec: Codec) -> &'static str {
    match codec {
        Codec::Bincode => {
            "bincode is not self-describing, so only the task's own types can decode it; \
             enqueue with Codec::Json to read values here"
        }
        _ => "not valid in its codec",
    }
}

/// A workflow in a list.
#[derive(Debug, Serialize)]
pub struct WorkflowSummary {
    pub id: String,
    pub name: String,
    pub state: &'static str,
    pub created_at_ms: u64,
    pub nodes: usize,
    /// Nodes that will not change any more.
    pub done: usize,
    /// Nodes per state.
    pub states: BTreeMap<&'static str, usize>,
}

/// A workflow with every node.
#[derive(Debug, Serialize)]
pub struct WorkflowView {
    pub id: String,
    pub name: String,
    pub state: &'static str,
    pub created_at_ms: u64,
    pub nodes: Vec<NodeView>,
}

/// One node of a workflow.
#[derive(Debug, Serialize)]
pub struct NodeView {
    pub index: usize,
    pub id: String,
    pub task: String,
    pub deps: Vec<usize>,
    pub allow_failure: bool,
    /// A job state, or `expired` when the record is gone.
    pub state: &'static str,
    pub attempts: u32,
    pub progress: u8,
    pub error: Option<String>,
    pub started_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
    /// While parked by a durable sleep or wait: what it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parked: Option<String>,
    /// While waiting for a signal: its key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waits_on: Option<String>,
    /// While parked: when it runs again (a wait's timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at_ms: Option<u64>,
    /// A map node's items (its run-time children), counted, where the
    /// dashboard's API filled them in: the graph draws the map as one group
    /// node with these counts, however many items it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<ItemsView>,
}

/// The items of a map node, counted by state.
#[derive(Debug, Serialize)]
pub struct ItemsView {
    /// How many items the map spawned (0 until it has run).
    pub total: usize,
    /// The task each item runs.
    pub task: String,
    /// Items per state (`expired` for a record that is gone).
    pub states: BTreeMap<&'static str, usize>,
}

impl ItemsView {
    /// Counts the items of a map whose items run `task` (`None` for a
    /// record that is gone).
    pub fn count(task: &str, items: &[Option<JobInfo>]) -> Self {
        let mut states = BTreeMap::new();
        for item in items {
            let state = item.as_ref().map_or("expired", |i| i.state.as_str());
            *states.entry(state).or_insert(0) += 1;
        }
        ItemsView {
            total: items.len(),
            task: task.to_owned(),
            states,
        }
    }
}

/// Whether a node is a `flow.map` (its items are its run-time children).
pub fn is_map(n: &NodeStatus) -> bool {
    n.is_map()
}

/// A node's state name (`expired` when its record is gone).
pub fn node_state(n: &NodeStatus) -> &'static str {
    n.state().map_or("expired", JobState::as_str)
}

/// Whether a node will not change any more.
pub fn node_done(n: &NodeStatus) -> bool {
    n.state().is_none_or(JobState::is_terminal)
}

impl WorkflowSummary {
    /// A summary from a handle and its nodes.
    pub fn new(h: &WorkflowHandle, nodes: &[NodeStatus]) -> WorkflowSummary {
        let mut states = BTreeMap::new();
        for n in nodes {
            *states.entry(node_state(n)).or_insert(0) += 1;
        }
        WorkflowSummary {
            id: h.id().to_string(),
            name: h.meta().name.clone(),
            state: state_of(nodes).as_str(),
            created_at_ms: h.meta().created_at_ms,
            nodes: nodes.len(),
            done: nodes.iter().filter(|n| node_done(n)).count(),
            states,
        }
    }
}

impl WorkflowView {
    /// The view of a handle and its nodes.
    pub fn new(h: &WorkflowHandle, nodes: &[NodeStatus]) -> WorkflowView {
        WorkflowView {
            id: h.id().to_string(),
            name: h.meta().name.clone(),
            state: state_of(nodes).as_str(),
            created_at_ms: h.meta().created_at_ms,
            nodes: nodes
                .iter()
                .map(|n| NodeView {
                    index: n.index,
                    id: h.meta().node_id(n.index).to_string(),
                    task: n.task.clone(),
                    deps: n.deps.clone(),
                    allow_failure: n.allow_failure,
                    state: node_state(n),
                    attempts: n.job.as_ref().map_or(0, |j| j.attempts),
                    progress: n.job.as_ref().map_or(0, |j| j.progress),
                    error: n.job.as_ref().and_then(|j| j.error.clone()),
                    started_at_ms: n.job.as_ref().and_then(|j| j.started_at_ms),
                    finished_at_ms: n.job.as_ref().and_then(|j| j.finished_at_ms),
                    parked: n.job.as_ref().and_then(|j| j.parked.clone()),
                    waits_on: n.job.as_ref().and_then(|j| j.waits_on().map(str::to_owned)),
                    due_at_ms: n
                        .job
                        .as_ref()
                        .filter(|j| j.parked.is_some())
                        .and_then(|j| j.due_at_ms),
                    items: None,
                })
                .collect(),
        }
    }
}

/// A periodic schedule.
#[derive(Debug, Serialize)]
pub struct ScheduleView {
    pub name: String,
    /// When it fires, as people read it: `cron `0 */5 * * * *` in Europe/Paris`, `every 30s`.
    pub when: String,
    pub expression: Option<String>,
    pub interval_ms: Option<u64>,
    pub time_zone: Option<String>,
    /// What happens to missed ticks.
    pub missed: String,
    pub task: String,
    pub queue: String,
    pub paused: bool,
    /// The next fire time (Unix ms), unless paused.
    pub next_at_ms: Option<u64>,
    /// The next few fire times.
    pub next_ms: Vec<u64>,
    pub last_run: Option<LastRunView>,
}

/// The newest fired tick of a schedule.
#[derive(Debug, Serialize)]
pub struct LastRunView {
    pub tick_ms: u64,
    pub job: String,
    /// Its job's state, or `expired`.
    pub state: &'static str,
}

impl ScheduleView {
    /// The view of a stored schedule.
    pub fn new(s: &ScheduleInfo) -> ScheduleView {
        let sc = &s.schedule;
        ScheduleView {
            name: s.name.clone(),
            when: sc.to_string(),
            expression: sc.expression().map(str::to_owned),
            interval_ms: sc.interval().map(|d| d.as_millis() as u64),
            time_zone: sc.time_zone().map(str::to_owned),
            missed: match sc.missed_policy() {
                Missed::Skip => "skip".to_owned(),
                Missed::FireOnce => "fire once".to_owned(),
                Missed::CatchUp(n) => format!("catch up {n}"),
                other => format!("{other:?}"),
            },
            task: s.task.clone(),
            queue: s.queue.clone(),
            paused: s.paused,
            next_at_ms: s.next_ms.first().copied(),
            next_ms: s.next_ms.clone(),
            last_run: s.last_run.as_ref().map(|r| LastRunView {
                tick_ms: r.tick_ms,
                job: r.job.to_string(),
                state: r.state.map_or("expired", JobState::as_str),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_readable_when_the_codec_allows() {
        let j = payload(Codec::Json, br#"[1,"two"]"#);
        assert_eq!(j["kind"], "json");
        assert_eq!(j["value"][1], "two");
        let b = payload(Codec::Bincode, &[2, 4]);
        assert_eq!(b["kind"], "bytes");
        assert_eq!(b["hex"], "0204");
        assert!(b["note"].as_str().unwrap().contains("self-describing"));
    }

    #[test]
    fn map_items_are_counted_by_state() {
        let item = |state| {
            Some(JobInfo::new(
                ork_core::JobRecord::new("x::item", vec![]),
                state,
                0,
            ))
        };
        let mut items = vec![item(JobState::Succeeded); 7];
        items.extend([item(JobState::Running), item(JobState::Dead), None]);
        let view = ItemsView::count("x::item", &items);
        assert_eq!(view.total, 10);
        assert_eq!(view.task, "x::item");
        let states: Vec<_> = view.states.into_iter().collect();
        assert_eq!(
            states,
            [
                ("dead", 1),
                ("expired", 1),
                ("running", 1),
                ("succeeded", 7)
            ]
        );
    }
}
