//! `ork schedules`.

use super::Out;
use crate::connect::Conn;
use crate::error::Result;
use crate::format::ago;
use crate::table::Table;
use crate::view::ScheduleView;

/// Lists periodic schedules with their next fire times and last run.
pub(crate) async fn list(conn: &Conn, out: Out) -> Result<()> {
    let schedules = conn.ork.schedules().await?;
    let views: Vec<ScheduleView> = schedules.iter().map(ScheduleView::new).collect();
    if out.json {
        return out.print_json(&views);
    }
    if views.is_empty() {
        println!("no schedules in namespace `{}`", conn.namespace);
        if let Some(hint) = conn.empty_namespace_hint().await {
            eprintln!("hint: {hint}");
        }
        return Ok(());
    }
    let now = conn.ork.backend().now_ms().await?;
    let p = out.paint;
    let mut t = Table::new(&["NAME", "TASK", "QUEUE", "WHEN", "NEXT", "LAST RUN"]);
    for s in &views {
        let next = if s.paused {
            p.sgr("33", "paused")
        } else {
            s.next_at_ms.map_or_else(
                || "-".to_owned(),
                |n| format!("{} ({})", crate::format::utc(n), ago(now, n)),
            )
        };
        let last = s.last_run.as_ref().map_or_else(
            || "never".to_owned(),
            |r| format!("{} {}", ago(now, r.tick_ms), p.state(r.state)),
        );
        t.row(vec![
            s.name.clone(),
            s.task.clone(),
            s.queue.clone(),
            s.when.clone(),
            next,
            last,
        ]);
    }
    print!("{}", t.render(p));
    Ok(())
}
