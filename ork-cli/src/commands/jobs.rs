//! `ork jobs` and `ork job`.

use ork_core::JobQuery;
use ork_core::{JobId, JobInfo, JobState};
use serde_json::Value;

use super::{unknown_id, Out};
use crate::connect::Conn;
use crate::error::{CliError, Result};
use crate::format::{ago, clip, duration, hex_dump, utc, Paint};
use crate::table::Table;
use crate::view::{codec_name, JobView};

/// Lists jobs.
pub(crate) async fn list(
    conn: &Conn,
    out: Out,
    queue: Option<String>,
    state: Option<JobState>,
    limit: usize,
    offset: usize,
) -> Result<()> {
    if let Some(q) = &queue {
        check_queue(conn, q).await?;
    }
    let mut query = JobQuery::default().page(offset, limit.max(1));
    query.queue = queue.clone();
    query.state = state;
    let jobs = conn.ork.list(&query).await?;
    if out.json {
        let views: Vec<JobView> = jobs.iter().map(|j| JobView::new(j, false)).collect();
        return out.print_json(&views);
    }
    if jobs.is_empty() {
        let what = state.map_or("jobs".to_owned(), |s| format!("{s} jobs"));
        let place = queue.map_or(format!("namespace `{}`", conn.namespace), |q| {
            format!("queue `{q}`")
        });
        println!("no {what} in {place}");
        if let Some(hint) = conn.empty_namespace_hint().await {
            eprintln!("hint: {hint}");
        }
        return Ok(());
    }
    let now = conn.ork.backend().now_ms().await?;
    print!("{}", job_table(&jobs, now, out.paint));
    if jobs.len() == query.effective_limit() {
        eprintln!(
            "(first {} shown; --offset {} for more)",
            jobs.len(),
            offset + jobs.len()
        );
    }
    Ok(())
}

/// A queue that exists, or an error listing those that do.
async fn check_queue(conn: &Conn, queue: &str) -> Result<()> {
    let counts = conn.ork.counts().await?;
    if counts.iter().any(|c| c.queue == queue) {
        return Ok(());
    }
    let err = CliError::new(format!(
        "no queue `{queue}` in namespace `{}`",
        conn.namespace
    ));
    Err(if counts.is_empty() {
        err.maybe_hint(conn.empty_namespace_hint().await)
    } else {
        let names: Vec<&str> = counts.iter().map(|c| c.queue.as_str()).collect();
        err.hint(format!("known queues: {}", names.join(", ")))
    })
}

fn job_table(jobs: &[JobInfo], now: u64, p: Paint) -> String {
    let mut t = Table::new(&["ID", "TASK", "QUEUE", "STATE", ">TRIES", "AGE", "INFO"]);
    for j in jobs {
        let info = match j.state {
            JobState::Running => format!("{}%", j.progress),
            JobState::Scheduled => {
                let due = j
                    .due_at_ms
                    .map_or_else(String::new, |d| format!("due {}", ago(now, d)));
                match &j.parked {
                    Some(why) => format!("parked: {why}, {due}"),
                    None => due,
                }
            }
            JobState::Waiting => format!("{} deps", j.record.deps.len()),
            _ => j.error.as_deref().map(|e| clip(e, 60)).unwrap_or_default(),
        };
        t.row(vec![
            j.record.id.to_string(),
            j.record.task.clone(),
            j.record.queue.clone(),
            p.state(j.state.as_str()),
            format!("{}/{}", j.attempts, j.record.retries + 1),
            ago(now, j.enqueued_at_ms),
            info,
        ]);
    }
    t.render(p)
}

/// Shows one job.
pub(crate) async fn show(conn: &Conn, out: Out, id: &str) -> Result<()> {
    let Some(info) = conn.ork.job(&JobId::from(id)).await? else {
        if conn.ork.workflow(&JobId::from(id)).await?.is_some() {
            return Err(CliError::new(format!("`{id}` is a workflow, not a job"))
                .hint(format!("ork workflow {id}")));
        }
        return Err(unknown_id(conn, "job", id).await);
    };
    let view = JobView::new(&info, true);
    let paused = conn.ork.paused().await?;
    let caps = conn.ork.running_caps().await?;
    let held = ork_core::backend::held_reason(&info, &paused, &caps);
    if out.json {
        let mut v = serde_json::to_value(&view)
            .map_err(|e| CliError::new(format!("could not write JSON: {e}")))?;
        if let (Some(obj), Some(why)) = (v.as_object_mut(), &held) {
            obj.insert("held".to_owned(), Value::from(why.clone()));
        }
        return out.print_json(&v);
    }
    let now = conn.ork.backend().now_ms().await?;
    let p = out.paint;
    let r = &info.record;
    println!(
        "{} {}  {}  (queue {}, priority {})",
        p.bold("job"),
        r.id,
        p.bold(&r.task),
        r.queue,
        r.priority
    );
    let field = |name: &str, value: String| println!("{:<10} {value}", p.dim(name));
    field(
        "state",
        format!(
            "{}  attempts {}/{}{}",
            p.state(info.state.as_str()),
            info.attempts,
            r.retries + 1,
            match info.state {
                JobState::Running if info.cancel_requested => {
                    format!("  progress {}%  cancelling", info.progress)
                }
                JobState::Running => format!("  progress {}%", info.progress),
                _ => String::new(),
            }
        ),
    );
    if let Some(why) = &held {
        field("held", p.sgr("33", why));
    }
    if let Some(e) = &info.error {
        field("error", p.sgr("31", e));
    }
    let at = |t: u64| format!("{} ({})", utc(t), ago(now, t));
    field("enqueued", at(info.enqueued_at_ms));
    if let Some(why) = &info.parked {
        field("parked", why.clone());
    }
    if let Some(d) = info.due_at_ms {
        let what = if info.waits_on().is_some() {
            "timeout"
        } else {
            "due"
        };
        field(what, at(d));
    }
    if let Some(s) = info.started_at_ms {
        field(
            "started",
            format!(
                "{}, waited {}",
                at(s),
                duration(s.saturating_sub(info.enqueued_at_ms))
            ),
        );
    }
    if let Some(f) = info.finished_at_ms {
        let ran = info
            .started_at_ms
            .map(|s| format!(", ran {}", duration(f.saturating_sub(s))))
            .unwrap_or_default();
        field("finished", format!("{}{ran}", at(f)));
    }
    if r.timeout_ms > 0 {
        field("timeout", duration(r.timeout_ms));
    }
    if let Some(w) = &r.workflow {
        field("workflow", format!("{w}  (ork workflow {w})"));
    }
    if let Some(parent) = &r.parent {
        field("parent", parent.to_string());
    }
    let children = conn.ork.backend().children(&r.id).await?;
    if !children.is_empty() {
        let shown: Vec<String> = children.iter().take(5).map(|c| c.to_string()).collect();
        let more = match children.len() {
            n if n > 5 => format!(" and {} more", n - 5),
            _ => String::new(),
        };
        field("children", format!("{}{more}", shown.join(", ")));
    }
    if !r.deps.is_empty() {
        let deps: Vec<String> = r.deps.iter().map(|d| d.to_string()).collect();
        field("after", deps.join(", "));
    }
    if let Some(u) = &r.unique {
        field("unique", u.clone());
    }
    field("codec", codec_name(r.codec).to_owned());
    if let Some(args) = &view.args {
        println!("{}", p.dim("arguments"));
        print!("{}", indent(&payload_text(args)));
    }
    if let Some(result) = &view.result {
        println!("{}", p.dim("result"));
        print!("{}", indent(&payload_text(result)));
    }
    Ok(())
}

/// A payload view (see `view::payload`) as text.
fn payload_text(v: &Value) -> String {
    match v["kind"].as_str() {
        Some("dropped") => format!("({})\n", v["note"].as_str().unwrap_or("")),
        Some("json") => {
            let mut s = serde_json::to_string_pretty(&v["value"]).unwrap_or_default();
            s.push('\n');
            s
        }
        Some("bytes") => {
            let bytes: Vec<u8> = v["hex"]
                .as_str()
                .unwrap_or("")
                .as_bytes()
                .chunks(2)
                .filter_map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
                .collect();
            let total = v["bytes"].as_u64().unwrap_or(0) as usize;
            let mut s = format!(
                "{total} byte{} of {}: {}\n",
                if total == 1 { "" } else { "s" },
                v["codec"].as_str().unwrap_or("?"),
                v["note"].as_str().unwrap_or("")
            );
            let shown = bytes.len().min(256);
            s.push_str(&hex_dump(&bytes[..shown], shown));
            if total > shown {
                s.push_str(&format!("... {} more bytes\n", total - shown));
            }
            s
        }
        Some("inputs") => {
            let mut s = "assembled at run time from:\n".to_owned();
            for (i, input) in v["inputs"].as_array().into_iter().flatten().enumerate() {
                let line = if let Some(id) = input["output_of"].as_str() {
                    format!("the output of {id}")
                } else if let Some(id) = input["output_or_error_of"].as_str() {
                    format!("the output (or error) of {id}")
                } else if let Some(ids) = input["outputs_of"].as_array() {
                    let ids: Vec<&str> = ids.iter().filter_map(Value::as_str).collect();
                    format!("the outputs of {}", ids.join(", "))
                } else if input.get("item").is_some() {
                    "an item of the mapped list".to_owned()
                } else {
                    payload_text(&input["value"])
                        .trim_end()
                        .replace('\n', "\n     ")
                };
                s.push_str(&format!("#{i}  {line}\n"));
            }
            s
        }
        _ => format!("{v}\n"),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
