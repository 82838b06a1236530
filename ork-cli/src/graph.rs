//! A workflow drawn in the terminal: its DAG as a tree.
//!
//! Each node hangs under its last dependency (the one added last, so the
//! deepest); its other dependencies are named on its line ("after #1").
//! Every node appears once.

use ork_core::workflow::NodeStatus;

use crate::format::{clip, duration, state_color, state_mark, Paint};
use crate::table::width;
use crate::view::node_state;

/// The tree, one line per node.
pub(crate) fn tree(nodes: &[NodeStatus], paint: Paint) -> String {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut roots = Vec::new();
    for n in nodes {
        match n.deps.iter().copied().filter(|d| *d < nodes.len()).max() {
            Some(parent) if parent != n.index => children[parent].push(n.index),
            _ => roots.push(n.index),
        }
    }
    let mut lines: Vec<(String, usize)> = Vec::new();
    let mut stack: Vec<(usize, String, bool)> = roots
        .iter()
        .rev()
        .enumerate()
        .map(|(i, r)| (*r, String::new(), i == 0))
        .collect();
    while let Some((index, indent, last)) = stack.pop() {
        let n = &nodes[index];
        let state = node_state(n);
        let branch = if last { "└─ " } else { "├─ " };
        let mark = paint.sgr(state_color(state), state_mark(state));
        let label = format!("{indent}{branch}{mark} #{index} {}", n.task);
        lines.push((label, index));
        let child_indent = format!("{indent}{}", if last { "   " } else { "│  " });
        let kids = &children[index];
        for (i, k) in kids.iter().enumerate().rev() {
            stack.push((*k, child_indent.clone(), i + 1 == kids.len()));
        }
    }
    let col = lines.iter().map(|(l, _)| width(l)).max().unwrap_or(0);
    let mut out = String::new();
    for (label, index) in lines {
        let n = &nodes[index];
        let state = node_state(n);
        let line = format!(
            "{label}{}  {}{}",
            " ".repeat(col - width(&label)),
            paint.state(&format!("{state:<9}")),
            details(n, paint)
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn details(n: &NodeStatus, paint: Paint) -> String {
    let mut parts = Vec::new();
    let primary = n.deps.iter().copied().max();
    let others: Vec<String> = n
        .deps
        .iter()
        .filter(|d| Some(**d) != primary)
        .map(|d| format!("#{d}"))
        .collect();
    if let Some(job) = &n.job {
        if job.state == ork_core::JobState::Running && job.progress > 0 {
            parts.push(format!("{}%", job.progress));
        }
        if let (Some(s), Some(f)) = (job.started_at_ms, job.finished_at_ms) {
            parts.push(duration(f.saturating_sub(s)));
        }
        let allowed = job.record.retries + 1;
        if job.attempts > 1 {
            parts.push(format!("attempt {}/{allowed}", job.attempts));
        }
    }
    if !others.is_empty() {
        parts.push(paint.dim(&format!("also after {}", others.join(", "))));
    }
    if n.allow_failure {
        parts.push(paint.dim("may fail"));
    }
    if let Some(err) = n.job.as_ref().and_then(|j| j.error.as_deref()) {
        if n.job
            .as_ref()
            .is_some_and(|j| j.state != ork_core::JobState::Succeeded)
        {
            parts.push(paint.sgr("31", &clip(err, 70)));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("  {}", parts.join("  "))
    }
}
