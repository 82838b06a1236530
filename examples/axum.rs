//! An axum server whose handlers enqueue tasks, with the worker pool in the
//! same process. Both stop gracefully on Ctrl-C.
//!
//! ```text
//! cargo run --example axum
//! curl -X POST 'http://127.0.0.1:3000/resize?width=640'
//! curl 'http://127.0.0.1:3000/jobs/<id>'
//! ```

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use ork::prelude::*;
use ork::CancellationToken;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Thumbnail {
    width: u32,
    bytes: u64,
}

/// Pretends to resize an image: a plain `fn`, so it runs on the blocking pool.
#[ork::task(retries = 2, timeout = "30s")]
fn resize(width: u32) -> ork::Result<Thumbnail> {
    std::thread::sleep(Duration::from_millis(200));
    Ok(Thumbnail {
        width,
        bytes: u64::from(width) * 3 / 4,
    })
}

#[derive(Deserialize)]
struct ResizeParams {
    width: u32,
}

#[derive(Serialize)]
struct JobView {
    id: String,
    state: String,
    attempts: u32,
    result: Option<Thumbnail>,
    error: Option<String>,
}

async fn enqueue_resize(
    State(ork): State<Ork>,
    Query(params): Query<ResizeParams>,
) -> Result<Json<JobView>, (StatusCode, String)> {
    let job = ork
        .enqueue(resize::call(params.width))
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Json(JobView {
        id: job.id().to_string(),
        state: "queued".into(),
        attempts: 0,
        result: None,
        error: None,
    }))
}

async fn show_job(
    State(ork): State<Ork>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, (StatusCode, String)> {
    let handle = ork.handle::<Thumbnail>(id.clone());
    let info = handle
        .info()
        .await
        .map_err(|e| (StatusCode::NOT_FOUND, e.to_string()))?;
    let result = if info.state == ork::JobState::Succeeded {
        handle.result().await.ok()
    } else {
        None
    };
    Ok(Json(JobView {
        id,
        state: info.state.to_string(),
        attempts: info.attempts,
        result,
        error: info.error,
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ork = Ork::memory();
    let stop = CancellationToken::new();

    let app = Router::new()
        .route("/resize", post(enqueue_resize))
        .route("/jobs/{id}", get(show_job))
        .with_state(ork.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);

    let server = axum::serve(listener, app).with_graceful_shutdown({
        let stop = stop.clone();
        async move { stop.cancelled().await }
    });
    let worker = ork.worker().concurrency(4).run_until({
        let stop = stop.clone();
        async move { stop.cancelled().await }
    });

    tokio::spawn({
        let stop = stop.clone();
        async move {
            let _ = tokio::signal::ctrl_c().await;
            println!("shutting down: finishing running jobs");
            stop.cancel();
        }
    });

    let (served, worked) = tokio::join!(server, worker);
    served?;
    worked?;
    Ok(())
}
