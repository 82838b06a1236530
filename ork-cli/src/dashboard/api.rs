//! The dashboard's JSON API.

use std::sync::Arc;

use axum::extract::Request;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ork_core::backend::{CancelOutcome, JobQuery};
use ork_core::{metrics, JobId, JobState};
use serde::Deserialize;
use serde_json::{json, Value};

use super::App;
use crate::view::{JobView, ScheduleView, WorkflowSummary, WorkflowView};

/// An error as JSON: `{"error": "..."}` with a status.
#[derive(Debug)]
pub(crate) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<ork_core::Error> for ApiError {
    fn from(e: ork_core::Error) -> Self {
        let status = match e {
            ork_core::Error::UnknownJob(_) => StatusCode::NOT_FOUND,
            ork_core::Error::Invalid(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        };
        ApiError(status, e.to_string())
    }
}

type ApiResult<T = Json<Value>> = Result<T, ApiError>;

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("no {what} with id {id}"))
}

fn to_json<T: serde::Serialize>(v: &T) -> ApiResult {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Queues, rates and workers.
pub(crate) async fn overview(State(app): State<Arc<App>>) -> ApiResult {
    let snap = metrics::snapshot(&app.conn.ork).await?;
    Ok(Json(json!({
        "namespace": app.conn.namespace,
        "redis": app.conn.shown_url(),
        "allow_actions": app.allow_actions,
        "now_ms": snap.now_ms,
        "window_ms": metrics::WINDOW.as_millis() as u64,
        "queues": snap.queues,
        "workers": snap.workers,
    })))
}

/// A page of jobs (`limit` 0: 100; at most 500).
#[derive(Debug, Deserialize)]
pub(crate) struct JobsParams {
    queue: Option<String>,
    state: Option<String>,
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    limit: usize,
}

/// Lists jobs.
pub(crate) async fn jobs(State(app): State<Arc<App>>, Query(p): Query<JobsParams>) -> ApiResult {
    let limit = if p.limit == 0 { 100 } else { p.limit.min(500) };
    let mut query = JobQuery::default().page(p.offset, limit);
    query.queue = p.queue.filter(|q| !q.is_empty());
    query.state = match p.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            JobState::parse(s)
                .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, format!("unknown state `{s}`")))?,
        ),
    };
    let jobs = app.conn.ork.list(&query).await?;
    let views: Vec<JobView> = jobs.iter().map(|j| JobView::new(j, false)).collect();
    to_json(&views)
}

/// One job, with arguments and result.
pub(crate) async fn job(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    match app.conn.ork.job(&JobId::from(id.as_str())).await? {
        Some(info) => to_json(&JobView::new(&info, true)),
        None => Err(not_found("job", &id)),
    }
}

/// Refuses an action unless allowed and asked by the page (a cross-site
/// form can't send the header).
fn check_action(app: &App, headers: &HeaderMap) -> ApiResult<()> {
    if !app.allow_actions {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "read-only dashboard: start it with `ork dashboard --allow-actions` to retry and cancel"
                .into(),
        ));
    }
    if !headers.contains_key("x-ork-action") {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "actions need the X-Ork-Action header (sent by the dashboard page)".into(),
        ));
    }
    Ok(())
}

/// `retry` or `cancel` a job.
pub(crate) async fn job_action(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    check_action(&app, &headers)?;
    let job_id = JobId::from(id.as_str());
    let ork = &app.conn.ork;
    let Some(info) = ork.job(&job_id).await? else {
        return Err(not_found("job", &id));
    };
    match action.as_str() {
        "retry" => {
            if ork.retry(&job_id).await? {
                Ok(Json(json!({ "job": id, "retried": true })))
            } else {
                Err(ApiError(
                    StatusCode::CONFLICT,
                    format!(
                        "job {id} is {}: only dead or cancelled jobs can be retried",
                        info.state
                    ),
                ))
            }
        }
        "cancel" => {
            let outcome = match ork.cancel(&job_id).await? {
                CancelOutcome::Cancelled => "cancelled",
                CancelOutcome::Requested => "requested",
                CancelOutcome::AlreadyFinished(_) => "already_finished",
                _ => "unknown",
            };
            Ok(Json(json!({ "job": id, "outcome": outcome })))
        }
        _ => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no action `{action}`"),
        )),
    }
}

/// A page of workflows.
#[derive(Debug, Deserialize)]
pub(crate) struct WorkflowsParams {
    #[serde(default)]
    limit: usize,
}

/// Workflows, newest first.
pub(crate) async fn workflows(
    State(app): State<Arc<App>>,
    Query(p): Query<WorkflowsParams>,
) -> ApiResult {
    let limit = if p.limit == 0 { 30 } else { p.limit.min(200) };
    let handles = app.conn.ork.workflows(0, limit).await?;
    let mut out = Vec::with_capacity(handles.len());
    for h in &handles {
        out.push(WorkflowSummary::new(h, &h.nodes().await?));
    }
    to_json(&out)
}

/// One workflow with every node.
pub(crate) async fn workflow(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let Some(h) = app.conn.ork.workflow(&JobId::from(id.as_str())).await? else {
        return Err(not_found("workflow", &id));
    };
    let nodes = h.nodes().await?;
    to_json(&WorkflowView::new(&h, &nodes))
}

/// `retry` or `cancel` a workflow.
pub(crate) async fn workflow_action(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    check_action(&app, &headers)?;
    let Some(h) = app.conn.ork.workflow(&JobId::from(id.as_str())).await? else {
        return Err(not_found("workflow", &id));
    };
    match action.as_str() {
        "retry" => Ok(Json(json!({ "workflow": id, "revived": h.retry().await? }))),
        "cancel" => {
            h.cancel().await?;
            Ok(Json(
                json!({ "workflow": id, "state": h.state().await?.as_str() }),
            ))
        }
        _ => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no action `{action}`"),
        )),
    }
}

/// Periodic schedules.
pub(crate) async fn schedules(State(app): State<Arc<App>>) -> ApiResult {
    let list = app.conn.ork.schedules().await?;
    let views: Vec<ScheduleView> = list.iter().map(ScheduleView::new).collect();
    to_json(&views)
}

/// Prometheus text.
pub(crate) async fn metrics(State(app): State<Arc<App>>) -> Response {
    match metrics::render(&app.conn.ork).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("# error: {e}\n")).into_response(),
    }
}

/// On a loopback bind, answers only requests addressed to a loopback name:
/// a page on another site that rebinds its DNS name to 127.0.0.1 gets 403.
pub(crate) async fn loopback_host(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    if app.loopback {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !is_loopback_host(host) {
            return ApiError(
                StatusCode::FORBIDDEN,
                format!("refused: Host `{host}` is not a loopback address (the dashboard listens on loopback)"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// `localhost`, `127.0.0.1:7000`, `[::1]:7000` and the like.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((n, port)) if !n.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => n,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "localhost:7000",
            "127.0.0.1:7000",
            "[::1]:7000",
            "[::1]",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:7000",
            "10.0.0.1:7000",
            "localhost.evil:80",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
