//! `ork workflows` and `ork workflow`.

use ork_core::JobId;

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
        rows.push(WorkflowSummary::new(h, &h.nodes().await?));
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
    let view = WorkflowView::new(&h, &nodes);
    if out.json {
        return out.print_json(&view);
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
    Ok(())
}
