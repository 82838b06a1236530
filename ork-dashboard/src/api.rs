//! The dashboard's JSON API.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ork_core::{metrics, JobId, JobInfo, JobQuery, JobState};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::App;

use crate::view::{is_map, ItemsView, JobView, ScheduleView, WorkflowSummary, WorkflowView};

/// An error as JSON: `{"error": "..."}` with a status.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) StatusCode, pub(crate) String);

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

pub(crate) type ApiResult<T = Json<Value>> = Result<T, ApiError>;

pub(crate) fn not_found(what: &str, id: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("no {what} with id {id}"))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> ApiResult {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Queues, rates and workers, the storage server's memory, and who this
/// request may act as.
pub(crate) async fn overview(State(app): State<Arc<App>>, parts: Parts) -> ApiResult {
    let snap = metrics::snapshot(&app.ork).await?;
    // A server that won't tell (an ACL without INFO) still gets its page.
    let memory = match app.ork.backend().memory().await {
        Ok(m) => m.map(|m| {
            json!({
                "used_bytes": m.used_bytes,
                "max_bytes": m.max_bytes,
                "percent": m.ratio().map(|r| (r * 1000.0).round() / 10.0),
            })
        }),
        Err(e) => Some(json!({ "error": e.to_string() })),
    };
    let paused: Vec<Value> = app
        .ork
        .paused()
        .await?
        .iter()
        .map(|p| json!({ "kind": p.target.kind(), "name": p.target.name(), "held": p.held }))
        .collect();
    let actor = if app.allow_actions {
        app.actor(&parts)
    } else {
        None
    };
    Ok(Json(json!({
        "title": app.title,
        "allow_actions": actor.is_some(),
        "actor": actor,
        "memory": memory,
        "now_ms": snap.now_ms,
        "window_ms": metrics::WINDOW.as_millis() as u64,
        "queues": snap.queues,
        "workers": snap.workers,
        "paused": paused,
        "running_caps": app.ork.running_caps().await?,
    })))
}

/// How much of the audit trail.
#[derive(Debug, Deserialize)]
pub(crate) struct AuditParams {
    #[serde(default)]
    limit: usize,
}

/// The audit trail, newest first (`limit` 0: 50).
pub(crate) async fn audit(State(app): State<Arc<App>>, Query(p): Query<AuditParams>) -> ApiResult {
    let limit = if p.limit == 0 { 50 } else { p.limit };
    to_json(&app.ork.backend().audit_log(limit).await?)
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
    let jobs = app.ork.list(&query).await?;
    let views: Vec<JobView> = jobs.iter().map(|j| JobView::new(j, false)).collect();
    to_json(&views)
}

/// One job, with arguments and result.
pub(crate) async fn job(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let id = JobId::from(id.as_str());
    let Some(info) = app.ork.job(&id).await? else {
        return Err(not_found("job", id.as_str()));
    };
    let mut view = JobView::new(&info, true);
    let backend = app.ork.backend();
    let mut ids = backend.children(&id).await?;
    view.children_total = Some(ids.len());
    ids.truncate(crate::view::CHILDREN_SHOWN);
    let children = backend.jobs(&ids).await?;
    view.children = Some(
        children
            .iter()
            .flatten()
            .map(crate::view::ChildView::new)
            .collect(),
    );
    to_json(&view)
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
    let handles = app.ork.workflows(0, limit).await?;
    let mut out = Vec::with_capacity(handles.len());
    for h in &handles {
        out.push(WorkflowSummary::new(h, &h.nodes().await?));
    }
    to_json(&out)
}

/// One workflow with every node.
pub(crate) async fn workflow(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let Some(h) = app.ork.workflow(&JobId::from(id.as_str())).await? else {
        return Err(not_found("workflow", &id));
    };
    let nodes = h.nodes().await?;
    let mut view = WorkflowView::new(&h, &nodes);
    // With `cancelling`, which the nodes alone can't tell.
    view.state = h.state().await?.as_str();
    for (node, status) in view.nodes.iter_mut().zip(&nodes) {
        if is_map(status) {
            let items = map_items(&app, &JobId::from(node.id.as_str())).await?;
            node.items = Some(ItemsView::count(&node.task, &items));
        }
    }
    to_json(&view)
}

/// A map node's items (its run-time children), looked up in chunks.
async fn map_items(app: &App, id: &JobId) -> ApiResult<Vec<Option<JobInfo>>> {
    let backend = app.ork.backend();
    let ids = backend.children(id).await?;
    let mut items = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        items.extend(backend.jobs(chunk).await?);
    }
    Ok(items)
}

/// Periodic schedules.
pub(crate) async fn schedules(State(app): State<Arc<App>>) -> ApiResult {
    let list = app.ork.schedules().await?;
    let views: Vec<ScheduleView> = list.iter().map(ScheduleView::new).collect();
    to_json(&views)
}

/// Prometheus text.
pub(crate) async fn metrics(State(app): State<Arc<App>>) -> Response {
    match metrics::render(&app.ork).await {
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
