//! `ork dashboard`: a web page and a JSON API served by the same binary.
//!
//! The page (`assets/`, built in with `include_str!`) polls the API and
//! draws queues, workers, dead letters, jobs and each workflow's DAG.
//! Read-only unless started with `--allow-actions`: the POST endpoints
//! answer 403 otherwise. They also require an `X-Ork-Action` header (which a
//! cross-site form can't send). On a loopback bind, every request must name
//! a loopback `Host` (against DNS rebinding).
//!
//! | route | returns |
//! |-------|---------|
//! | `GET /` | the page |
//! | `GET /api/overview` | namespace, queues with counts, rates and latencies, workers |
//! | `GET /api/jobs?queue=&state=&offset=&limit=` | jobs |
//! | `GET /api/jobs/{id}` | one job with arguments and result |
//! | `POST /api/jobs/{id}/retry`, `.../cancel` | acts on a job |
//! | `GET /api/workflows?limit=` | workflows, newest first |
//! | `GET /api/workflows/{id}` | a workflow with every node |
//! | `POST /api/workflows/{id}/retry`, `.../cancel` | acts on a workflow |
//! | `GET /api/schedules` | periodic schedules |
//! | `GET /metrics` | Prometheus text (see `ork_core::metrics`) |

mod api;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use crate::connect::Conn;
use crate::error::{CliError, Result};

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) conn: Conn,
    pub(crate) allow_actions: bool,
    /// Whether the server listens on loopback only (then `Host` is checked).
    pub(crate) loopback: bool,
}

/// The routes.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/app.js", get(app_js))
        .route("/assets/dag.js", get(dag_js))
        .route("/assets/style.css", get(style_css))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/overview", get(api::overview))
        .route("/api/jobs", get(api::jobs))
        .route("/api/jobs/{id}", get(api::job))
        .route("/api/jobs/{id}/{action}", post(api::job_action))
        .route("/api/workflows", get(api::workflows))
        .route("/api/workflows/{id}", get(api::workflow))
        .route("/api/workflows/{id}/{action}", post(api::workflow_action))
        .route("/api/schedules", get(api::schedules))
        .route("/metrics", get(api::metrics))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            api::loopback_host,
        ))
        .with_state(app)
}

/// Serves until Ctrl-C.
pub(crate) async fn serve(conn: Conn, bind: SocketAddr, allow_actions: bool) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
        CliError::new(format!("cannot listen on {bind}: {e}"))
            .hint("pick another address with --bind, e.g. --bind 127.0.0.1:7001")
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::new(e.to_string()))?;
    let loopback = bind.ip().is_loopback();
    if !loopback {
        eprintln!(
            "warning: listening on {addr}, beyond this machine; the dashboard has no login{}",
            if allow_actions {
                ", and --allow-actions lets anyone who reaches it retry and cancel jobs"
            } else {
                ""
            }
        );
    }
    println!(
        "ork dashboard: http://{addr}/  (namespace `{}` on {}; {})",
        conn.namespace,
        conn.shown_url(),
        if allow_actions {
            "actions allowed"
        } else {
            "read-only; --allow-actions to retry and cancel"
        }
    );
    let app = Arc::new(App {
        conn,
        allow_actions,
        loopback,
    });
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| CliError::new(format!("dashboard stopped: {e}")))
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("../../assets/index.html"),
    )
}

async fn app_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../assets/app.js"),
    )
}

async fn dag_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../assets/dag.js"),
    )
}

async fn style_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../assets/style.css"),
    )
}
