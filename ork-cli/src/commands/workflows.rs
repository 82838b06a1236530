//! `ork workflows` and `ork workflow`.

use std::collections::BTreeMap;

use ork_core::{JobId, JobInfo};
use serde::Serialize;

use super::{unknown_id, Out};
use crate::connect::Conn;
use crate::error::{CliError, Result};
use crate::format::{ago, duration, utc};
use crate::graph::tree;
use crate::table::Table;
use crate::view::{WorkflowSummary, WorkflowView};

/// Workflows, newest first.
pub(crate) async fn list(conn: &Conn, out: Out, limit: usize) -> Result<()> {
    let handles = conn.ork.workflows(0, limit.max(1)).await?;
    let mut rows = Vec::with_capacity(handles.len());
    for h in &handles {
        let mut row = WorkflowSummary::new(h, &h.nodes().await?);
        if row.state == "cancelled" {
            // Cancelling while run-time work still runs.
            row.state = h.state().await?.as_str();
        }
        rows.push(row);
    }
    if out.json {
        return out.print_json(&rows);
    }
    if rows.is_empty() {
        println!("no workflows in namespace `{}`", conn.namespace);
        if let Some(hint) = conn.empty_namespace_hint().await {
            eprintln!("hint: {hint}");
        }
        return Ok(());
    }
    let now = conn.ork.backend().now_ms().await?;
    let p = out.paint;
    let mut t = Table::new(&["ID", "NAME", "STATE", ">NODES", "CREATED", "NOW"]);
    for w in &rows {
        let busy: Vec<String> = ["running", "queued", "scheduled", "waiting", "dead"]
            .iter()
            .filter_map(|s| w.states.get(s).map(|n| format!("{n} {s}")))
            .collect();
        t.row(vec![
            w.id.clone(),
            w.name.clone(),
            p.state(w.state),
            format!("{}/{}", w.done, w.nodes),
            ago(now, w.created_at_ms),
            busy.join(", "),
        ]);
    }
    print!("{}", t.render(p));
    Ok(())
}

/// One workflow, drawn as a tree.
pub(crate) async fn show(conn: &Conn, out: Out, id: &str) -> Result<()> {
    let Some(h) = conn.ork.workflow(&JobId::from(id)).await? else {
        if conn.ork.job(&JobId::from(id)).await?.is_some() {
            return Err(CliError::new(format!("`{id}` is a job, not a workflow"))
                .hint(format!("ork job {id}")));
        }
        return Err(unknown_id(conn, "workflow", id).await);
    };
    let nodes = h.nodes().await?;
    let mut view = WorkflowView::new(&h, &nodes);
    // The handle's state also sees run-time work still running (cancelling).
    view.state = h.state().await?.as_str();
    let mut children = BTreeMap::new();
    for n in &nodes {
        let found = h.children(n.index).await?;
        if !found.is_empty() {
            children.insert(
                n.index,
                found.iter().map(ChildView::new).collect::<Vec<_>>(),
            );
        }
    }
    if out.json {
        return out.print_json(&ShowView {
            workflow: view,
            children,
        });
    }
    let now = conn.ork.backend().now_ms().await?;
    let p = out.paint;
    let done = nodes.iter().filter(|n| crate::view::node_done(n)).count();
    println!(
        "{} {}  {}  {}  {done}/{} nodes done",
        p.bold("workflow"),
        view.id,
        p.bold(&view.name),
        p.state(view.state),
        nodes.len()
    );
    let end = nodes
        .iter()
        .filter_map(|n| n.job.as_ref()?.finished_at_ms)
        .max();
    let took = match (view.state, end) {
        ("running", _) | (_, None) => String::new(),
        (_, Some(end)) => format!(
            ", took {}",
            duration(end.saturating_sub(view.created_at_ms))
        ),
    };
    println!(
        "created {} ({}){took}\n",
        utc(view.created_at_ms),
        ago(now, view.created_at_ms)
    );
    print!("{}", tree(&nodes, p));
    for (index, kids) in &children {
        println!(
            "\nrun-time children of node {index} ({}):",
            nodes[*index].task
        );
        let mut t = Table::new(&["ID", "TASK", "STATE", ">ATTEMPTS", "ERROR"]);
        for c in kids {
            t.row(vec![
                c.id.clone(),
                c.task.clone(),
                p.state(c.state),
                c.attempts.to_string(),
                c.error.clone().unwrap_or_default(),
            ]);
        }
        print!("{}", t.render(p));
    }
    Ok(())
}

/// `ork workflow <id> --json`: the workflow and its nodes' run-time children.
#[derive(Debug, Serialize)]
struct ShowView {
    #[serde(flatten)]
    workflow: WorkflowView,
    /// Node index to the jobs it made at run time (map items, sub-tasks,
    /// replacement workflow nodes).
    children: BTreeMap<usize, Vec<ChildView>>,
}

/// One run-time child of a node.
#[derive(Debug, Serialize)]
struct ChildView {
    id: String,
    task: String,
    state: &'static str,
    attempts: u32,
    error: Option<String>,
}

impl ChildView {
    fn new(info: &JobInfo) -> ChildView {
        ChildView {
            id: info.record.id.to_string(),
            task: info.record.task.clone(),
            state: info.state.as_str(),
            attempts: info.attempts,
            error: info.error.clone(),
        }
    }
}
