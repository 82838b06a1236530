//! The ork dashboard as an axum [`Router`]: mount it in your own server,
//! behind your own auth, next to your worker pool.
//!
//! ```ignore
//! let app = axum::Router::new()
//!     .route("/", get(home))
//!     .nest(
//!         "/admin/jobs",
//!         ork_dashboard::Dashboard::new(ork.clone())
//!             .title("shop jobs")
//!             .authorize(|parts| parts.extensions.get::<User>().filter(|u| u.admin).map(|u| u.name.clone()))
//!             .router(),
//!     )
//!     .layer(my_login_layer);
//! ```
//!
//! The page (`assets/`, built in with `include_str!`) polls a JSON API and
//! draws queues, workers, schedules, dead letters, jobs, each workflow's
//! DAG (a `flow.map` as one group node with its item counts, however many
//! items; a click lists them), the storage server's memory and the audit
//! trail. Every URL the page uses is relative to the mount point (the page
//! names it in a `<base>` tag), so the router works nested under any
//! prefix, also behind a proxy that rewrites it. The app's own layers
//! (auth, sessions, tracing) wrap it like any other route.
//!
//! # Actions and who takes them
//!
//! Read-only unless [`Dashboard::allow_actions`] or [`Dashboard::authorize`]:
//! the POST endpoints answer 403 otherwise. They also require an
//! `X-Ork-Action` header, which the page sends and a cross-site form can't.
//! With [`Dashboard::authorize`], a callback given the request's
//! [`Parts`] (headers, extensions your auth layer set, the URI) names the
//! actor, or refuses with `None` (403). Without one, the actor is the
//! [`Actor`] extension of the request, if a layer set one, else `anonymous`.
//!
//! Every action is logged (`tracing::info!`, target `ork_dashboard`) with
//! its actor, and recorded in the backend's audit trail
//! ([`Admin::record_audit`](ork_core::backend::Admin::record_audit); on Redis a
//! capped list), which the page shows.
//!
//! | route | returns |
//! |-------|---------|
//! | `GET /` | the page |
//! | `GET /api/overview` | title, queues with counts, rates and latencies, workers, memory, paused queues and tasks, the actor |
//! | `GET /api/jobs?queue=&state=&offset=&limit=` | jobs |
//! | `GET /api/jobs/{id}` | one job with arguments and result |
//! | `POST /api/jobs/{id}/retry`, `.../cancel` | acts on a job |
//! | `GET /api/workflows?limit=` | workflows, newest first |
//! | `GET /api/workflows/{id}` | a workflow with every node |
//! | `POST /api/workflows/{id}/retry`, `.../cancel` | acts on a workflow |
//! | `POST /api/queues/{queue}/purge` | deletes a queue's unstarted jobs |
//! | `POST /api/signals/{key}` | sends the JSON body as a signal to the jobs waiting on `key` |
//! | `POST /api/queues/{queue}/pause`, `.../resume` | pauses or resumes a queue across the fleet |
//! | `POST /api/tasks/{task}/pause`, `.../resume` | pauses or resumes a task across the fleet |
//! | `GET /api/schedules` | periodic schedules |
//! | `POST /api/schedules/{name}/pause`, `.../resume` | acts on a schedule |
//! | `GET /api/audit?limit=` | the audit trail, newest first |
//! | `GET /metrics` | Prometheus text (see `ork_core::metrics`) |

mod actions;
mod api;
mod assets;
#[doc(hidden)]
pub mod view;

use std::fmt;
use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use ork_core::Ork;

/// Who took an action, as the audit trail names them.
///
/// An auth layer in front of the dashboard can insert one into the
/// request's extensions; without an [`authorize`](Dashboard::authorize)
/// callback, the dashboard attributes actions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

type Authorize = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// The dashboard's options; [`router`](Dashboard::router) builds the routes.
#[derive(Clone)]
pub struct Dashboard {
    ork: Ork,
    allow_actions: bool,
    authorize: Option<Authorize>,
    title: String,
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dashboard")
            .field("allow_actions", &self.allow_actions)
            .field("authorize", &self.authorize.is_some())
            .field("title", &self.title)
            .finish_non_exhaustive()
    }
}

impl Dashboard {
    /// A read-only dashboard of `ork`'s engine, titled `ork`.
    pub fn new(ork: Ork) -> Dashboard {
        Dashboard {
            ork,
            allow_actions: false,
            authorize: None,
            title: "ork".to_owned(),
        }
    }

    /// No actions: every POST answers 403 (the default).
    pub fn read_only(mut self) -> Dashboard {
        self.allow_actions = false;
        self
    }

    /// Lets the page retry, cancel, purge, pause and resume, as whoever the
    /// request's [`Actor`] extension names (else `anonymous`).
    pub fn allow_actions(mut self) -> Dashboard {
        self.allow_actions = true;
        self
    }

    /// Allows actions, each only if `decide` names the actor for that
    /// request (`Some(name)`); `None` refuses it with 403. `decide` sees
    /// the request's parts: headers, URI, and the extensions the app's auth
    /// layer inserted (its user, its session).
    pub fn authorize<F>(mut self, decide: F) -> Dashboard
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.allow_actions = true;
        self.authorize = Some(Arc::new(decide));
        self
    }

    /// The label at the top of the page and in its title: which app, which
    /// environment, which namespace.
    pub fn title(mut self, title: impl Into<String>) -> Dashboard {
        self.title = title.into();
        self
    }

    /// The routes, ready to [`nest`](Router::nest) under any prefix (or to
    /// serve alone). `S` is the app's state type: the dashboard has its own.
    pub fn router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let app = Arc::new(App {
            ork: self.ork,
            allow_actions: self.allow_actions,
            authorize: self.authorize,
            title: self.title,
        });
        Router::new()
            .route("/", get(assets::index))
            .route("/assets/app.js", get(assets::app_js))
            .route("/assets/dag.js", get(assets::dag_js))
            .route("/assets/style.css", get(assets::style_css))
            .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
            .route("/api/overview", get(api::overview))
            .route("/api/jobs", get(api::jobs))
            .route("/api/jobs/{id}", get(api::job))
            .route("/api/jobs/{id}/{action}", post(actions::job))
            .route("/api/workflows", get(api::workflows))
            .route("/api/workflows/{id}", get(api::workflow))
            .route("/api/workflows/{id}/{action}", post(actions::workflow))
            .route("/api/queues/{queue}/{action}", post(actions::queue))
            .route("/api/signals/{key}", post(actions::signal))
            .route("/api/tasks/{task}/{action}", post(actions::task))
            .route("/api/schedules", get(api::schedules))
            .route("/api/schedules/{name}/{action}", post(actions::schedule))
            .route("/api/audit", get(api::audit))
            .route("/metrics", get(api::metrics))
            .with_state(app)
    }
}

/// The dashboard of `ork` with the default options (read-only, titled
/// `ork`): `app.nest("/admin/jobs", ork_dashboard::router(ork.clone()))`.
/// See [`Dashboard`] for actions, auth and the title.
pub fn router<S>(ork: Ork) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Dashboard::new(ork).router()
}

/// What every handler shares.
struct App {
    ork: Ork,
    allow_actions: bool,
    authorize: Option<Authorize>,
    title: String,
}

impl App {
    /// Who this request acts as, if anyone may: the callback's answer, or
    /// without one the [`Actor`] extension (else `anonymous`).
    fn actor(&self, parts: &Parts) -> Option<String> {
        match &self.authorize {
            Some(decide) => decide(parts),
            None => Some(
                parts
                    .extensions
                    .get::<Actor>()
                    .map_or_else(|| "anonymous".to_owned(), |a| a.0.clone()),
            ),
        }
    }
}
