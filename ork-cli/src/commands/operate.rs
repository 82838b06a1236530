//! `ork retry`, `ork cancel`, `ork purge`, `ork pause`, `ork resume`: the
//! commands that change things.

use std::io::{BufRead, IsTerminal, Write};

use std::time::Duration;

use ork_core::backend::PauseTarget;
use ork_core::backend::SIGNAL_RETENTION;
use ork_core::{CancelOutcome, Codec, JobQuery};
use ork_core::{JobId, JobState};
use serde_json::json;

use super::{unknown_id, Out};
use crate::connect::Conn;
use crate::error::{CliError, Result};

/// Sends a signal (a JSON value) to the jobs waiting on `key`.
pub(crate) async fn signal(
    conn: &Conn,
    out: Out,
    key: &str,
    value: &str,
    keep: Option<Duration>,
) -> Result<()> {
    let parsed: serde_json::Value = serde_json::from_str(value).map_err(|e| {
        CliError::new(format!("the signal value is not JSON ({e})"))
            .hint("a JSON string needs its quotes: '\"shipped\"'")
            .code_of(crate::error::USAGE)
    })?;
    let ork = conn.ork.clone().with_codec(Codec::Json);
    let keep = keep.unwrap_or(SIGNAL_RETENTION);
    let woken = ork.signal_kept(key, &parsed, keep).await?;
    if out.json {
        return out.print_json(&json!({ "key": key, "woken": woken }));
    }
    println!("signal `{key}` sent: {woken} waiting job(s) woken; kept {keep:?} for later waiters");
    Ok(())
}

/// Retries one dead or cancelled job, or a workflow's failed nodes.
pub(crate) async fn retry(conn: &Conn, out: Out, id: &str) -> Result<()> {
    let job_id = JobId::from(id);
    let Some(info) = conn.ork.job(&job_id).await? else {
        if let Some(flow) = conn.ork.workflow(&job_id).await? {
            let revived = flow.retry().await?;
            if out.json {
                return out.print_json(&json!({ "workflow": id, "revived": revived }));
            }
            if revived == 0 {
                return Err(CliError::new(format!(
                    "workflow {id} has no dead or cancelled node to retry"
                )));
            }
            println!("workflow {id}: {revived} node(s) queued again");
            return Ok(());
        }
        return Err(unknown_id(conn, "job or workflow", id).await);
    };
    if !conn.ork.retry(&job_id).await? {
        return Err(CliError::new(format!(
            "job {id} is {}: only dead or cancelled jobs can be retried",
            info.state
        )));
    }
    if out.json {
        return out.print_json(&json!({ "job": id, "retried": true }));
    }
    println!("job {id} ({}) queued again", info.record.task);
    Ok(())
}

/// Retries every dead letter (of one queue, or all).
pub(crate) async fn retry_all_dead(conn: &Conn, out: Out, queue: Option<&str>) -> Result<()> {
    const PAGE: usize = 500;
    let mut retried = Vec::new();
    let mut skipped = 0;
    loop {
        let mut query = JobQuery::state(JobState::Dead).page(skipped, PAGE);
        query.queue = queue.map(str::to_owned);
        let page = conn.ork.list(&query).await?;
        if page.is_empty() {
            break;
        }
        for job in &page {
            if conn.ork.retry(&job.record.id).await? {
                retried.push(job.record.id.to_string());
            } else {
                // Changed state meanwhile: it stays in the list; step over it.
                skipped += 1;
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    if out.json {
        return out.print_json(&json!({ "retried": retried }));
    }
    let place = queue.map_or_else(String::new, |q| format!(" in queue `{q}`"));
    if retried.is_empty() {
        println!("no dead letters{place}");
    } else {
        println!("{} dead letter(s){place} queued again", retried.len());
    }
    Ok(())
}

/// Cancels a job, or every node of a workflow.
pub(crate) async fn cancel(conn: &Conn, out: Out, id: &str) -> Result<()> {
    let job_id = JobId::from(id);
    if conn.ork.job(&job_id).await?.is_none() {
        if let Some(flow) = conn.ork.workflow(&job_id).await? {
            flow.cancel().await?;
            let state = flow.state().await?;
            if out.json {
                return out.print_json(&json!({ "workflow": id, "state": state.as_str() }));
            }
            println!("workflow {id} cancelled: nodes not started will not run (now {state})");
            return Ok(());
        }
        return Err(unknown_id(conn, "job or workflow", id).await);
    }
    let outcome = match conn.ork.cancel(&job_id).await {
        Err(ork_core::Error::UnknownJob(_)) => {
            return Err(unknown_id(conn, "job or workflow", id).await)
        }
        other => other?,
    };
    let (word, text, ok) = match outcome {
        CancelOutcome::Cancelled => ("cancelled", format!("job {id} cancelled"), true),
        CancelOutcome::Requested => (
            "requested",
            format!("job {id} is running: asked it to stop (its task sees it through its Context)"),
            true,
        ),
        CancelOutcome::AlreadyFinished(state) => (
            "already_finished",
            format!("job {id} already finished ({state}): nothing to cancel"),
            false,
        ),
        _ => ("unknown", format!("job {id}: {outcome:?}"), true),
    };
    if out.json {
        out.print_json(&json!({ "job": id, "outcome": word }))?;
    } else if ok {
        println!("{text}");
    }
    if ok {
        Ok(())
    } else if out.json {
        Err(CliError::new(text))
    } else {
        Err(CliError::new(text).hint(format!(
            "`ork retry {id}` runs a dead or cancelled job again"
        )))
    }
}

/// Pauses (`pause`) or resumes a queue or a task.
pub(crate) async fn pause(conn: &Conn, out: Out, target: PauseTarget, pause: bool) -> Result<()> {
    let changed = conn.ork.backend().set_paused(&target, pause).await?;
    if out.json {
        return out.print_json(&json!({
            target.kind(): target.name(),
            "paused": pause,
            "changed": changed,
        }));
    }
    let flag = format!("--{} {}", target.kind(), target.name());
    match (pause, changed) {
        (true, true) => println!(
            "{target} paused: its jobs stay queued and none starts until `ork resume {flag}` \
             (attempts already running go on)"
        ),
        (true, false) => println!("{target} was already paused"),
        (false, true) => println!("{target} resumed"),
        (false, false) => println!("{target} was not paused"),
    }
    Ok(())
}

/// Deletes the unstarted jobs of a queue, after asking.
pub(crate) async fn purge(conn: &Conn, out: Out, queue: &str, yes: bool) -> Result<()> {
    let counts = conn.ork.counts().await?;
    let Some(c) = counts.iter().find(|c| c.queue == queue) else {
        let names: Vec<&str> = counts.iter().map(|c| c.queue.as_str()).collect();
        let err = CliError::new(format!(
            "no queue `{queue}` in namespace `{}`",
            conn.namespace
        ));
        return Err(if names.is_empty() {
            err.maybe_hint(conn.empty_namespace_hint().await)
        } else {
            err.hint(format!("known queues: {}", names.join(", ")))
        });
    };
    let unstarted = c.waiting + c.scheduled + c.queued;
    if !yes {
        eprint!(
            "Delete {unstarted} unstarted job(s) from queue `{queue}` in namespace `{}` \
             ({} waiting, {} scheduled, {} queued)? Running and finished jobs stay. [y/N] ",
            conn.namespace, c.waiting, c.scheduled, c.queued
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let read = std::io::stdin().lock().read_line(&mut answer).unwrap_or(0);
        if read == 0 && !std::io::stdin().is_terminal() {
            eprintln!();
        }
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Err(CliError::new("not confirmed: nothing deleted")
                .hint(format!("answer y, or pass --yes: ork purge {queue} --yes")));
        }
    }
    let deleted = conn.ork.purge(queue).await?;
    if out.json {
        return out.print_json(&json!({ "queue": queue, "deleted": deleted }));
    }
    println!("deleted {deleted} job(s) from queue `{queue}`");
    Ok(())
}
