//! An axum server whose handlers enqueue tasks, with the worker pool and
//! the ork dashboard in the same process. Handlers and tasks share one app
//! state: the same `Arc<AppState>` goes to `Router::with_state` (handlers
//! take `State<Arc<AppState>>`) and to the worker's `.state(..)` (tasks read
//! it with `ctx.state::<Arc<AppState>>()`). The
//! dashboard lives under `/admin/jobs`, behind the app's own (toy) login;
//! only admins may act from it, and their actions land in its audit list.
//! Everything stops gracefully on Ctrl-C.
//!
//! ```text
//! cargo run --example axum --features dashboard
//! curl -X POST 'http://127.0.0.1:3000/resize?width=640'
//! curl 'http://127.0.0.1:3000/jobs/<id>'
//! curl 'http://127.0.0.1:3000/stats'
//! open 'http://127.0.0.1:3000/login?token=change-me'   # then /admin/jobs
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ork::prelude::*;
use ork::CancellationToken;
use serde::{Deserialize, Serialize};

/// What the handlers and the tasks share, behind one `Arc`: the ork client,
/// the app's settings, and what stands for its storage (a real app keeps
/// its database pool or clients here).
struct AppState {
    ork: Ork,
    /// The admin login's secret (a real app has users and sessions).
    admin_token: String,
    /// Thumbnails made by the tasks, read by the `/stats` handler.
    made: AtomicU64,
    /// Bytes of thumbnails "stored" by the tasks.
    stored_bytes: AtomicU64,
}

/// The one shared value: cheap to clone, the same for handlers and tasks.
type Shared = Arc<AppState>;

/// Who is logged in: what the app's login layer leaves on the request.
#[derive(Clone)]
struct User {
    name: String,
    admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Thumbnail {
    width: u32,
    bytes: u64,
}

/// Pretends to resize an image: a plain `fn`, so it runs on the blocking
/// pool. It records the thumbnail in the app state the handlers read.
#[ork::task(retries = 2, timeout = "30s")]
fn resize(ctx: Context, width: u32) -> ork::Result<Thumbnail> {
    std::thread::sleep(Duration::from_millis(200));
    let thumbnail = Thumbnail {
        width,
        bytes: u64::from(width) * 3 / 4,
    };
    let app = ctx.state::<Shared>();
    app.made.fetch_add(1, Ordering::Relaxed);
    app.stored_bytes
        .fetch_add(thumbnail.bytes, Ordering::Relaxed);
    Ok(thumbnail)
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
    State(app): State<Shared>,
    Query(params): Query<ResizeParams>,
) -> Result<Json<JobView>, (StatusCode, String)> {
    let job = app
        .ork
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
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, (StatusCode, String)> {
    let handle = app.ork.handle::<Thumbnail>(id.clone());
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

#[derive(Serialize)]
struct Stats {
    made: u64,
    stored_bytes: u64,
}

/// What the tasks have done, read from the state they share with handlers.
async fn stats(State(app): State<Shared>) -> Json<Stats> {
    Json(Stats {
        made: app.made.load(Ordering::Relaxed),
        stored_bytes: app.stored_bytes.load(Ordering::Relaxed),
    })
}

#[derive(Deserialize)]
struct LoginParams {
    token: String,
}

/// The toy login: the right token sets a session cookie.
async fn login(State(state): State<Shared>, Query(p): Query<LoginParams>) -> Response {
    if p.token != state.admin_token {
        return (StatusCode::UNAUTHORIZED, "wrong token").into_response();
    }
    let cookie = format!("session={}; Path=/; HttpOnly; SameSite=Strict", p.token);
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/admin/jobs".to_owned()),
        ],
    )
        .into_response()
}

/// The app's auth layer: no session, no admin pages. It leaves the user on
/// the request, where the dashboard's `authorize` callback reads it.
async fn require_login(State(state): State<Shared>, mut request: Request, next: Next) -> Response {
    let session = request
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .find_map(|kv| kv.trim().strip_prefix("session="))
        })
        .map(str::to_owned);
    if session.as_deref() != Some(state.admin_token.as_str()) {
        return (StatusCode::UNAUTHORIZED, "log in at /login?token=...").into_response();
    }
    request.extensions_mut().insert(User {
        name: "admin".into(),
        admin: true,
    });
    next.run(request).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ork = Ork::memory();
    let state: Shared = Arc::new(AppState {
        ork: ork.clone(),
        admin_token: std::env::var("ADMIN_TOKEN").unwrap_or_else(|_| "change-me".into()),
        made: AtomicU64::new(0),
        stored_bytes: AtomicU64::new(0),
    });
    let stop = CancellationToken::new();

    // The dashboard: actions only for admins, audited under their name.
    let dashboard = ork::dashboard::Dashboard::new(ork.clone())
        .title("resizer (dev)")
        .authorize(|parts| {
            let user = parts.extensions.get::<User>()?;
            user.admin.then(|| user.name.clone())
        })
        .router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_login,
        ));
    let app = Router::new()
        .route("/resize", post(enqueue_resize))
        .route("/jobs/{id}", get(show_job))
        .route("/stats", get(stats))
        .route("/login", get(login))
        .nest("/admin/jobs", dashboard)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    println!("dashboard: http://{}/admin/jobs", listener.local_addr()?);

    let server = axum::serve(listener, app).with_graceful_shutdown({
        let stop = stop.clone();
        async move { stop.cancelled().await }
    });
    // The same state for the tasks: `ctx.state::<Shared>()`.
    let worker = ork.worker().concurrency(4).state(state).run_until({
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
