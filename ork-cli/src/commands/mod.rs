//! The subcommands, one file per group.

mod jobs;
mod operate;
mod schedules;
mod status;
mod wait;
mod workflows;

use serde::Serialize;

use crate::cli::{Args, Command};
use crate::connect::Conn;
use crate::error::{CliError, Result};
use crate::format::Paint;

/// How to print: tables (with or without colour) or JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Out {
    /// JSON instead of tables.
    pub(crate) json: bool,
    /// Colours for standard output.
    pub(crate) paint: Paint,
}

impl Out {
    /// Prints a value as pretty JSON.
    pub(crate) fn print_json<T: Serialize>(&self, value: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| CliError::new(format!("could not write JSON: {e}")))?;
        println!("{text}");
        Ok(())
    }
}

/// Runs a parsed command line.
pub(crate) async fn run(args: Args) -> Result<()> {
    let out = Out {
        json: args.json,
        paint: Paint::stdout(),
    };
    // The dashboard's options are checked before anything connects.
    let login = match &args.command {
        Command::Dashboard(opts) => Some(crate::dashboard::Login::from_args(opts)?),
        _ => None,
    };
    let conn = Conn::open(&args.redis, &args.namespace).await?;
    match args.command {
        Command::Status => status::status(&conn, out).await,
        Command::Workers => status::workers(&conn, out).await,
        Command::Jobs {
            queue,
            state,
            limit,
            offset,
        } => jobs::list(&conn, out, queue, state, limit, offset).await,
        Command::Job { id } => jobs::show(&conn, out, &id).await,
        Command::Retry {
            id,
            all_dead,
            queue,
        } => match id {
            Some(id) if !all_dead => operate::retry(&conn, out, &id).await,
            _ => operate::retry_all_dead(&conn, out, queue.as_deref()).await,
        },
        Command::Cancel { id } => operate::cancel(&conn, out, &id).await,
        Command::Signal { key, value, keep } => {
            operate::signal(&conn, out, &key, &value, keep).await
        }
        Command::Purge { queue, yes } => operate::purge(&conn, out, &queue, yes).await,
        Command::Pause(what) => operate::pause(&conn, out, what.target(), true).await,
        Command::Resume(what) => operate::pause(&conn, out, what.target(), false).await,
        Command::Schedules => schedules::list(&conn, out).await,
        Command::Workflows { limit } => workflows::list(&conn, out, limit).await,
        Command::Workflow { id } => workflows::show(&conn, out, &id).await,
        Command::Wait { id, timeout } => wait::wait(&conn, out, &id, timeout).await,
        Command::Dashboard(opts) => {
            let login = login.unwrap_or(crate::dashboard::Login::None);
            crate::dashboard::serve(conn, &opts, login).await
        }
    }
}

/// The error for an id that names no job (nor workflow).
pub(crate) async fn unknown_id(conn: &Conn, what: &str, id: &str) -> CliError {
    let hint = match conn.empty_namespace_hint().await {
        Some(h) => h,
        None => format!(
            "finished jobs are kept only for their result TTL; `ork jobs` and `ork workflows` list what namespace `{}` holds",
            conn.namespace
        ),
    };
    CliError::new(format!(
        "no {what} with id `{id}` in namespace `{}`",
        conn.namespace
    ))
    .hint(hint)
}
