//! `ork wait`: follows a workflow (or a job) to its end with a progress bar.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
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
    let Some(flow) = conn.ork.workflow(&job_id).await? else {
        return wait_job(conn, out, id, deadline).await;
    };
    let mut bar = Bar::new(Unit::Nodes);
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
        bar.draw(done, nodes.len(), &note);
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

async fn wait_job(conn: &Conn, out: Out, id: &str, deadline: Option<Instant>) -> Result<()> {
    let job_id = JobId::from(id);
    let mut bar = Bar::new(Unit::Percent);
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
        bar.draw(done, 100, info.state.as_str());
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

/// What a bar counts: the nodes of a workflow, or a job's percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Nodes,
    Percent,
}

/// The progress of a wait, on standard error: indicatif's bar, redrawn in
/// place and cut to the terminal's width, when that is a terminal; one plain
/// line per change otherwise (a pipe, a log file, a CI job).
struct Bar {
    unit: Unit,
    to: Target,
}

enum Target {
    /// The bar, and where it goes once there is something to draw.
    Terminal(ProgressBar, Option<ProgressDrawTarget>),
    /// The last line printed.
    Lines(String),
}

impl Bar {
    fn new(unit: Unit) -> Bar {
        if std::io::stderr().is_terminal() {
            Bar::drawn(unit, ProgressDrawTarget::stderr(), Paint::stderr().is_on())
        } else {
            Bar {
                unit,
                to: Target::Lines(String::new()),
            }
        }
    }

    /// A bar drawn on `target`, from the first [`draw`](Bar::draw) on.
    fn drawn(unit: Unit, target: ProgressDrawTarget, colour: bool) -> Bar {
        let bar = ProgressBar::hidden().with_style(style(unit, colour));
        Bar {
            unit,
            to: Target::Terminal(bar, Some(target)),
        }
    }

    fn draw(&mut self, done: usize, total: usize, note: &str) {
        let unit = self.unit;
        match &mut self.to {
            Target::Terminal(bar, target) => {
                if let Some(target) = target.take() {
                    bar.set_draw_target(target);
                }
                bar.set_length(total as u64);
                bar.set_message(note.replace(['\n', '\r'], " "));
                bar.set_position(done as u64);
            }
            Target::Lines(last) => {
                let text = match unit {
                    Unit::Nodes => format!("{done}/{total} nodes  {}", clip(note, 60)),
                    Unit::Percent => format!("{done:>3}%  {}", clip(note, 60)),
                };
                if text != *last {
                    eprintln!("{text}");
                    *last = text;
                }
            }
        }
    }

    /// Leaves the bar as it is, for the lines that follow.
    fn finish(&mut self) {
        if let Target::Terminal(bar, None) = &self.to {
            bar.abandon();
        }
    }
}

/// The bar's look: 30 + 1 + at most 13 + 2 columns before the message,
/// which gets what is left of the line (34 columns of an 80-column
/// terminal) and is cut there.
fn style(unit: Unit, colour: bool) -> ProgressStyle {
    let bar = if colour {
        format!("{{bar:{BAR}.green/dim}}")
    } else {
        format!("{{bar:{BAR}}}")
    };
    let count = match unit {
        Unit::Nodes => "{pos}/{len} nodes",
        Unit::Percent => "{pos:>3}%",
    };
    ProgressStyle::with_template(&format!("{bar} {count}  {{wide_msg}}"))
        .expect("the templates are valid (tested)")
        .progress_chars("█░")
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::InMemoryTerm;

    #[test]
    fn the_bar_keeps_to_one_line_of_an_80_column_terminal() {
        let term = InMemoryTerm::new(10, 80);
        let target = ProgressDrawTarget::term_like_with_hz(Box::new(term.clone()), 255);
        let mut bar = Bar::drawn(Unit::Nodes, target, true);
        let running = "running #12 billing::invoices::render_monthly_statement, \
                       #13 billing::invoices::render_monthly_statement";
        for (done, note) in [(0, running), (100, "1 dead"), (344, running)] {
            bar.draw(done, 345, &format!("3 dead  {note}"));
            let screen = term.contents();
            assert_eq!(screen.lines().count(), 1, "{screen:?}");
            assert!(
                screen.contains(&format!(" {done}/345 nodes  3 dead")),
                "{screen:?}"
            );
        }
        bar.draw(345, 345, "");
        bar.finish();
        let screen = term.contents();
        assert_eq!(screen.lines().count(), 1, "{screen:?}");
        assert!(screen.ends_with(" 345/345 nodes"), "{screen:?}");

        // Before the first draw nothing shows, even when it ends at once.
        let term = InMemoryTerm::new(10, 80);
        let target = ProgressDrawTarget::term_like(Box::new(term.clone()));
        Bar::drawn(Unit::Percent, target, false).finish();
        assert_eq!(term.contents(), "");
    }

    #[test]
    fn a_long_note_is_cut_at_the_edge() {
        let term = InMemoryTerm::new(10, 80);
        let target = ProgressDrawTarget::term_like(Box::new(term.clone()));
        let mut bar = Bar::drawn(Unit::Percent, target, false);
        bar.draw(40, 100, &"x".repeat(200));
        bar.finish();
        let screen = term.contents();
        assert_eq!(screen.lines().count(), 1, "{screen:?}");
        assert_eq!(screen.chars().count(), 80, "{screen:?}");
        assert!(screen.contains(" 40%  xxx"), "{screen:?}");
    }
}
