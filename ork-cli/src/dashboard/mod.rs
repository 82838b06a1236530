//! `ork dashboard`: the dashboard router of `ork-dashboard`, served alone,
//! with what a standalone server needs in front of it: a login (bearer
//! token or basic auth, failed attempts rate-limited per client address),
//! and on a loopback bind a `Host` check against DNS rebinding.
//!
//! Plain HTTP: TLS belongs to a reverse proxy in front (see `--help`).

mod auth;
mod guard;

use std::net::SocketAddr;
use std::sync::Arc;

use ork_dashboard::Dashboard;

use crate::cli::DashboardArgs;
use crate::connect::Conn;
use crate::error::{CliError, Result, USAGE};

pub(crate) use auth::Login;

impl Login {
    /// The login the options ask for; refuses a bind beyond loopback
    /// without one (unless `--no-auth`).
    pub(crate) fn from_args(opts: &DashboardArgs) -> Result<Login> {
        let login = if let Some(path) = &opts.auth_token_file {
            Login::token_file(path)?
        } else if let Some(path) = &opts.basic_auth_file {
            Login::basic_file(path)?
        } else {
            Login::None
        };
        if matches!(login, Login::None) && !opts.no_auth && !opts.bind.ip().is_loopback() {
            return Err(CliError::new(format!(
                "refusing to serve the dashboard on {} without a login: anyone who reaches it could read every job's arguments{}",
                opts.bind,
                if opts.allow_actions { " and retry, cancel or purge them" } else { "" }
            ))
            .hint(
                "pass --auth-token-file FILE or --basic-auth-file FILE (and put TLS in front with a reverse proxy), \
                 bind to 127.0.0.1, or pass --no-auth if the network is trusted",
            )
            .code_of(USAGE));
        }
        Ok(login)
    }
}

/// Serves until Ctrl-C.
pub(crate) async fn serve(conn: Conn, opts: &DashboardArgs, login: Login) -> Result<()> {
    let bind = opts.bind;
    let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
        CliError::new(format!("cannot listen on {bind}: {e}"))
            .hint("pick another address with --bind, e.g. --bind 127.0.0.1:7001")
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::new(e.to_string()))?;
    let loopback = bind.ip().is_loopback();
    // Actions are logged (with their actor) on standard error.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .try_init();
    if !loopback && matches!(login, Login::None) {
        eprintln!(
            "warning: listening on {addr}, beyond this machine, without a login (--no-auth){}",
            if opts.allow_actions {
                ", and --allow-actions lets anyone who reaches it retry, cancel and purge"
            } else {
                ""
            }
        );
    }
    println!(
        "ork dashboard: http://{addr}/  (namespace `{}` on {}; {}; {})",
        conn.namespace,
        conn.shown_url(),
        if opts.allow_actions {
            "actions allowed"
        } else {
            "read-only; --allow-actions to retry and cancel"
        },
        login.describe(),
    );
    let mut dashboard = Dashboard::new(conn.ork.clone()).title(format!("ork · {}", conn.namespace));
    if opts.allow_actions {
        dashboard = dashboard.allow_actions();
    }
    let guard = Arc::new(guard::Guard::new(login, loopback));
    let app = dashboard
        .router::<()>()
        .layer(axum::middleware::from_fn_with_state(guard, guard::check));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| CliError::new(format!("dashboard stopped: {e}")))
}
