//! `ork wait`: follows a workflow (or a job) to its end with a progress bar.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use ork_core::workflow::state_of;
use ork_core::{JobId, JobState};

use super::{unknown_id, Out};
use crate::connect::Conn;
use crate::error::{CliError, Result, ENDED_BADLY, TIMED_OUT};
use crate::format::{clip, duration, Paint};
use crate::view::{node_done, node_state, JobView, WorkflowView};

const POLL: Duration = Duration::from_millis(250);
const BAR: usize = 30;

/// Waits for a workflow or a job to end.
pub(crate) async fn wait(conn: &Conn, out: Out, id: &str, timeout: Option<Duration>) -> Result<()> {
    let job_id = JobId::from(id);
    let started = Instant::now();
    let deadline = timeout.map(|t| started + t);
    let mut bar = Bar::new();
    let Some(flow) = conn.ork.workflow(&job_id).await? else {
        return wait_job(conn, out, id, deadline, bar).await;
    };
    let nodes = loop {
        let nodes = flow.nodes().await?;
        let done = nodes.iter().filter(|n| node_done(n)).count();
        let running: Vec<String> = nodes
            .iter()
            .filter(|n| n.state() == Some(JobState::Running))
            .map(|n| format!("#{} {}", n.index, n.task))
            .collect();
        let failed = nodes.iter().filter(|n| node_state(n) == "dead").count();
        let mut note = String::new();
        if !running.is_empty() {
            note = format!("running {}", running.join(", "));
        }
        if failed > 0 {
            note = format!("{failed} dead  {note}");
        }
        bar.draw(done, nodes.len(), "nodes", &note);
        if done == nodes.len() {
            break nodes;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            bar.finish();
            return Err(CliError::new(format!(
                "workflow {id} still running after {}: {done}/{} nodes done",
                duration(started.elapsed().as_millis() as u64),
                nodes.len()
            ))
            .hint(format!("ork workflow {id} shows where it is"))
            .code_of(TIMED_OUT));
        }
        tokio::time::sleep(POLL).await;
    };
    bar.finish();
    let state = state_of(&nodes);
    let took = duration(started.elapsed().as_millis() as u64);
    if out.json {
        out.print_json(&WorkflowView::new(&flow, &nodes))?;
    } else {
        println!(
            "workflow {id} {} ({} nodes, waited {took})",
            out.paint.state(state.as_str()),
            nodes.len()
        );
        for n in nodes.iter().filter(|n| node_state(n) == "dead") {
            let err = n
                .job
                .as_ref()
                .and_then(|j| j.error.as_deref())
                .unwrap_or("");
            println!("  #{} {} dead: {}", n.index, n.task, clip(err, 200));
        }
    }
    if state == ork_core::WorkflowState::Succeeded {
        Ok(())
    } else {
        Err(CliError::new(format!("workflow {id} {state}"))
            .hint(format!(
                "ork workflow {id} shows every node; ork retry {id} re-runs the failed ones"
            ))
            .code_of(ENDED_BADLY))
    }
}

async fn wait_job(
    conn: &Conn,
    out: Out,
    id: &str,
    deadline: Option<Instant>,
    mut bar: Bar,
) -> Result<()> {
    let job_id = JobId::from(id);
    let info = loop {
        let Some(info) = conn.ork.job(&job_id).await? else {
            bar.finish();
            return Err(unknown_id(conn, "workflow or job", id).await);
        };
        let done = if info.state.is_terminal() {
            100
        } else {
            info.progress as usize
        };
        bar.draw(done, 100, "%", info.state.as_str());
        if info.state.is_terminal() {
            break info;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            bar.finish();
            return Err(
                CliError::new(format!("job {id} still {} at the timeout", info.state))
                    .code_of(TIMED_OUT),
            );
        }
        let left = deadline.map_or(Duration::from_secs(1), |d| {
            d.saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1))
        });
        // Progress shows between polls; the backend's wait returns at the end.
        conn.ork.backend().wait(&job_id, left.min(POLL * 2)).await?;
    };
    bar.finish();
    if out.json {
        out.print_json(&JobView::new(&info, true))?;
    } else {
        println!(
            "job {id} ({}) {}",
            info.record.task,
            out.paint.state(info.state.as_str())
        );
        if let Some(e) = &info.error {
            if info.state != JobState::Succeeded {
                println!("  {}", clip(e, 200));
            }
        }
    }
    if info.state == JobState::Succeeded {
        Ok(())
    } else {
        Err(CliError::new(format!("job {id} {}", info.state))
            .hint(format!(
                "ork job {id} shows its error; ork retry {id} runs it again"
            ))
            .code_of(ENDED_BADLY))
    }
}

/// A progress bar on standard error: redrawn in place on a terminal,
/// one line per change otherwise.
struct Bar {
    tty: bool,
    paint: Paint,
    last: String,
    drawn: bool,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            tty: std::io::stderr().is_terminal(),
            paint: Paint::stderr(),
            last: String::new(),
            drawn: false,
        }
    }

    fn draw(&mut self, done: usize, total: usize, unit: &str, note: &str) {
        let filled = (done * BAR).checked_div(total).unwrap_or(BAR);
        let bar = format!(
            "{}{}",
            self.paint.sgr("32", &"█".repeat(filled)),
            self.paint.dim(&"░".repeat(BAR - filled))
        );
        let count = if unit == "%" {
            format!("{done:>3}%")
        } else {
            format!("{done}/{total} {unit}")
        };
        let text = format!("{bar} {count}  {}", clip(note, 60));
        if text == self.last {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{text}");
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
        self.last = text;
        self.drawn = true;
    }

    fn finish(&mut self) {
        if self.tty && self.drawn {
            eprintln!();
        }
        self.drawn = false;
    }
}
