//! The POST endpoints: retry, cancel, purge, pause, resume, signal. Each checks
//! that actions are allowed and who takes it, carries it out, logs it and
//! records it in the audit trail.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use ork_core::backend::{AuditEntry, PauseTarget};
use ork_core::JobId;
use ork_core::{CancelOutcome, Codec};
use serde_json::{json, Value};

use crate::api::{not_found, ApiError, ApiResult};
use crate::App;

/// Who may take this action: refuses (403) a read-only dashboard, a request
/// without the `X-Ork-Action` header (a cross-site form can't send it), and
/// one the app's callback refuses.
fn actor(app: &App, parts: &Parts) -> ApiResult<String> {
    if !app.allow_actions {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "read-only dashboard: actions are not allowed here".into(),
        ));
    }
    if !parts.headers.contains_key("x-ork-action") {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "actions need the X-Ork-Action header (sent by the dashboard page)".into(),
        ));
    }
    app.actor(parts).ok_or_else(|| {
        tracing::warn!(
            target: "ork_dashboard",
            path = %parts.uri.path(),
            "dashboard action refused by the authorize callback"
        );
        ApiError(
            StatusCode::FORBIDDEN,
            "you are not allowed to take actions on this dashboard".into(),
        )
    })
}

/// Logs an action that was carried out (or failed) and records it in the
/// audit trail. The answer is the action's, unless the trail can't be
/// written: then 502, saying what was done.
async fn audited(
    app: &App,
    actor: String,
    action: &str,
    target: String,
    result: ApiResult<(String, Value)>,
) -> ApiResult {
    let outcome = match &result {
        Ok((outcome, _)) => outcome.clone(),
        Err(ApiError(_, msg)) => format!("failed: {msg}"),
    };
    tracing::info!(
        target: "ork_dashboard",
        actor = %actor,
        action,
        on = %target,
        outcome = %outcome,
        "dashboard action"
    );
    let entry = AuditEntry::new(actor, action, target, outcome.clone());
    if let Err(e) = app.ork.backend().record_audit(&entry).await {
        return Err(ApiError(
            StatusCode::BAD_GATEWAY,
            format!("{action}: {outcome}, but the audit trail could not be written: {e}"),
        ));
    }
    result.map(|(_, body)| Json(body))
}

fn no_action(action: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("no action `{action}`"))
}

/// `retry` or `cancel` a job.
pub(crate) async fn job(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    parts: Parts,
) -> ApiResult {
    let who = actor(&app, &parts)?;
    if !matches!(action.as_str(), "retry" | "cancel") {
        return Err(no_action(&action));
    }
    let result = async {
        let job_id = JobId::from(id.as_str());
        let ork = &app.ork;
        let Some(info) = ork.job(&job_id).await? else {
            return Err(not_found("job", &id));
        };
        if action == "retry" {
            if ork.retry(&job_id).await? {
                Ok(("retried".to_owned(), json!({ "job": id, "retried": true })))
            } else {
                Err(ApiError(
                    StatusCode::CONFLICT,
                    format!(
                        "job {id} is {}: only dead or cancelled jobs can be retried",
                        info.state
                    ),
                ))
            }
        } else {
            let outcome = match ork.cancel(&job_id).await? {
                CancelOutcome::Cancelled => "cancelled",
                CancelOutcome::Requested => "requested",
                CancelOutcome::AlreadyFinished(_) => "already_finished",
                _ => "unknown",
            };
            Ok((outcome.to_owned(), json!({ "job": id, "outcome": outcome })))
        }
    }
    .await;
    audited(&app, who, &action, format!("job {id}"), result).await
}

/// `retry` or `cancel` a workflow.
pub(crate) async fn workflow(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    parts: Parts,
) -> ApiResult {
    let who = actor(&app, &parts)?;
    if !matches!(action.as_str(), "retry" | "cancel") {
        return Err(no_action(&action));
    }
    let result = async {
        let Some(h) = app.ork.workflow(&JobId::from(id.as_str())).await? else {
            return Err(not_found("workflow", &id));
        };
        if action == "retry" {
            let revived = h.retry().await?;
            Ok((
                format!("{revived} node(s) revived"),
                json!({ "workflow": id, "revived": revived }),
            ))
        } else {
            h.cancel().await?;
            let state = h.state().await?.as_str();
            Ok((state.to_owned(), json!({ "workflow": id, "state": state })))
        }
    }
    .await;
    audited(&app, who, &action, format!("workflow {id}"), result).await
}

/// `purge` a queue (deletes its jobs that have not started), or `pause`
/// or `resume` it.
pub(crate) async fn queue(
    State(app): State<Arc<App>>,
    Path((queue, action)): Path<(String, String)>,
    parts: Parts,
) -> ApiResult {
    let who = actor(&app, &parts)?;
    let result = match action.as_str() {
        "purge" => match app.ork.purge(&queue).await {
            Ok(n) => Ok((
                format!("{n} deleted"),
                json!({ "queue": queue, "deleted": n }),
            )),
            Err(e) => Err(ApiError::from(e)),
        },
        "pause" | "resume" => set_paused(&app, PauseTarget::Queue(queue.clone()), &action).await,
        _ => return Err(no_action(&action)),
    };
    audited(&app, who, &action, format!("queue {queue}"), result).await
}

/// `pause` or `resume` a task.
pub(crate) async fn task(
    State(app): State<Arc<App>>,
    Path((task, action)): Path<(String, String)>,
    parts: Parts,
) -> ApiResult {
    let who = actor(&app, &parts)?;
    if !matches!(action.as_str(), "pause" | "resume") {
        return Err(no_action(&action));
    }
    let result = set_paused(&app, PauseTarget::Task(task.clone()), &action).await;
    audited(&app, who, &action, format!("task {task}"), result).await
}

/// Pauses or resumes a queue or task; the outcome says whether it changed.
async fn set_paused(app: &App, target: PauseTarget, action: &str) -> ApiResult<(String, Value)> {
    let pause = action == "pause";
    let changed = app.ork.backend().set_paused(&target, pause).await?;
    let outcome = match (pause, changed) {
        (true, true) => "paused",
        (true, false) => "already paused",
        (false, true) => "resumed",
        (false, false) => "not paused",
    };
    Ok((
        outcome.to_owned(),
        json!({ target.kind(): target.name(), "paused": pause, "changed": changed }),
    ))
}

/// `pause` or `resume` a schedule.
pub(crate) async fn schedule(
    State(app): State<Arc<App>>,
    Path((name, action)): Path<(String, String)>,
    parts: Parts,
) -> ApiResult {
    let who = actor(&app, &parts)?;
    let done = match action.as_str() {
        "pause" => app.ork.pause(&name).await,
        "resume" => app.ork.resume(&name).await,
        _ => return Err(no_action(&action)),
    };
    let result = match done {
        Ok(true) => Ok((
            format!("{action}d"),
            json!({ "schedule": name, "paused": action == "pause" }),
        )),
        Ok(false) => Err(not_found("schedule", &name)),
        Err(e) => Err(ApiError::from(e)),
    };
    audited(&app, who, &action, format!("schedule {name}"), result).await
}

/// `POST /api/signals/{key}`: sends the JSON body as a signal to the jobs
/// waiting on `key` (`ctx.wait_for`), encoded as JSON.
pub(crate) async fn signal(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    parts: Parts,
    body: Bytes,
) -> ApiResult {
    let who = actor(&app, &parts)?;
    let result = async {
        let value: Value = serde_json::from_slice(&body).map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("the signal value (the request body) is not JSON: {e}"),
            )
        })?;
        let ork = app.ork.clone().with_codec(Codec::Json);
        let woken = ork.signal(&key, &value).await?;
        Ok((
            format!("{woken} waiting job(s) woken"),
            json!({ "key": key, "woken": woken }),
        ))
    }
    .await;
    audited(&app, who, "signal", format!("signal {key}"), result).await
}
