//! `ork status` and `ork workers`.

use ork_core::metrics;
use ork_core::{MemoryUsage, WorkerInfo};
use serde_json::json;

use super::Out;
use crate::connect::Conn;
use crate::error::Result;
use crate::format::{ago, duration, rate, Paint};
use crate::table::Table;

/// Queues with their counts, throughput and latencies; then the workers.
pub(crate) async fn status(conn: &Conn, out: Out) -> Result<()> {
    let snap = metrics::snapshot(&conn.ork).await?;
    let memory = conn.ork.backend().memory().await?;
    let paused = conn.ork.paused().await?;
    let caps = conn.ork.running_caps().await?;
    let limiters = conn.ork.backend().limiters().await?;
    if out.json {
        let limiters: Vec<_> = limiters
            .iter()
            .map(|(name, rate)| json!({ "name": name, "rate": rate.to_string() }))
            .collect();
        let paused: Vec<_> = paused
            .iter()
            .map(|p| json!({ "kind": p.target.kind(), "name": p.target.name(), "held": p.held }))
            .collect();
        return out.print_json(&json!({
            "namespace": conn.namespace,
            "redis": conn.shown_url(),
            "memory": memory,
            "now_ms": snap.now_ms,
            "window_ms": metrics::WINDOW.as_millis() as u64,
            "queues": snap.queues,
            "workers": snap.workers,
            "paused": paused,
            "running_caps": caps,
            "limiters": limiters,
        }));
    }
    let p = out.paint;
    println!(
        "{} {} on {}",
        p.bold("namespace"),
        conn.namespace,
        conn.shown_url()
    );
    if let Some(m) = memory {
        println!("{} {}", p.bold("memory"), memory_line(&m, p));
    }
    if snap.queues.is_empty() {
        println!("no queues yet");
        if let Some(hint) = conn.empty_namespace_hint().await {
            eprintln!("hint: {hint}");
        }
    } else {
        let mut t = Table::new(&[
            "QUEUE",
            ">WAITING",
            ">SCHEDULED",
            ">QUEUED",
            ">RUNNING",
            ">SUCCEEDED",
            ">DEAD",
            ">CANCELLED",
            ">DONE",
            ">FAILED",
            ">WAIT p50",
            ">RUN p50",
            ">RUN p95",
        ]);
        let ms = |q: Option<u64>| q.map_or_else(|| "-".to_owned(), duration);
        let (mut done, mut failed) = (0.0, 0.0);
        for q in &snap.queues {
            let c = &q.counts;
            let r = &q.recent;
            done += r.succeeded_per_sec;
            failed += r.dead_per_sec;
            let dead = if c.dead > 0 {
                p.sgr("31", &c.dead.to_string())
            } else {
                "0".to_owned()
            };
            t.row(vec![
                c.queue.clone(),
                c.waiting.to_string(),
                c.scheduled.to_string(),
                c.queued.to_string(),
                c.running.to_string(),
                c.succeeded.to_string(),
                dead,
                c.cancelled.to_string(),
                rate(r.succeeded_per_sec),
                rate(r.dead_per_sec),
                ms(r.wait.map(|q| q.p50_ms)),
                ms(r.run.map(|q| q.p50_ms)),
                ms(r.run.map(|q| q.p95_ms)),
            ]);
        }
        print!("\n{}", t.render(p));
        println!(
            "throughput (last {}s): {} done, {} failed",
            metrics::WINDOW.as_secs(),
            rate(done),
            rate(failed)
        );
    }
    if !paused.is_empty() {
        println!("\n{}", p.bold("paused"));
        for z in &paused {
            println!(
                "  {}  {} job(s) held  (ork resume --{} {})",
                p.sgr("33", &z.target.to_string()),
                z.held,
                z.target.kind(),
                z.target.name()
            );
        }
    }
    if !caps.is_empty() {
        println!("\n{}", p.bold("running caps"));
        for c in &caps {
            let line = format!(
                "  {}  {} of {} running, {} job(s) held",
                c.name, c.running, c.cap, c.held
            );
            println!(
                "{}",
                if c.running >= u64::from(c.cap) {
                    p.sgr("33", &line)
                } else {
                    line
                }
            );
        }
    }
    if !limiters.is_empty() {
        println!("\n{}", p.bold("rate limiters"));
        for (name, rate) in &limiters {
            println!("  {name}  {rate}");
        }
    }
    let w = &snap.workers;
    let slots: usize = w.iter().map(|w| w.concurrency).sum();
    let running: usize = w.iter().map(|w| w.running).sum();
    println!(
        "\n{} {} live, {running} of {slots} slots busy",
        p.bold("workers"),
        w.len()
    );
    if !w.is_empty() {
        print!("{}", worker_table(w, snap.now_ms, p));
    }
    Ok(())
}

/// The live workers.
pub(crate) async fn workers(conn: &Conn, out: Out) -> Result<()> {
    let now = conn.ork.backend().now_ms().await?;
    let workers = conn.ork.workers().await?;
    if out.json {
        return out.print_json(&workers);
    }
    if workers.is_empty() {
        println!("no live workers in namespace `{}`", conn.namespace);
        if let Some(hint) = conn.empty_namespace_hint().await {
            eprintln!("hint: {hint}");
        }
        return Ok(());
    }
    print!("{}", worker_table(&workers, now, out.paint));
    Ok(())
}

fn worker_table(workers: &[WorkerInfo], now: u64, p: Paint) -> String {
    let mut t = Table::new(&[
        "WORKER",
        "INSTANCE",
        "HOST",
        ">PID",
        "QUEUES",
        ">RUNNING",
        ">PROCESSED",
        "UP",
        "SEEN",
    ]);
    for w in workers {
        t.row(vec![
            w.id.clone(),
            // Tells apart pools that share an id; empty from older orks.
            if w.instance.is_empty() {
                "-".to_owned()
            } else {
                w.instance.clone()
            },
            w.host.clone(),
            w.pid.to_string(),
            w.queues.join(","),
            format!("{}/{}", w.running, w.concurrency),
            w.processed.to_string(),
            ago(now, w.started_at_ms),
            ago(now, w.last_seen_ms),
        ]);
    }
    t.render(p)
}

/// Redis memory: used against `maxmemory`, with the share, in red past 80%
/// (the mark the backend warns at) and with what happens at 100%.
fn memory_line(m: &MemoryUsage, p: Paint) -> String {
    let used = bytes(m.used_bytes);
    match (m.max_bytes, m.ratio()) {
        (Some(max), Some(ratio)) => {
            let percent = format!("{:.0}%", ratio * 100.0);
            let line = format!("{used} of {} maxmemory ({percent})", bytes(max));
            if ratio >= 1.0 {
                p.sgr("31", &format!("{line}: full, enqueues are refused"))
            } else if ratio >= 0.8 {
                p.sgr("33", &line)
            } else {
                line
            }
        }
        _ => format!("{used} (no maxmemory limit)"),
    }
}

/// A byte count in binary units, as Redis shows them.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod memory_tests {
    use super::{bytes, memory_line};
    use crate::format::Paint;
    use ork_core::MemoryUsage;

    #[test]
    fn memory_is_shown_against_the_limit() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
        let full = MemoryUsage::new(3 * 1024 * 1024 + 10, Some(3 * 1024 * 1024));
        assert_eq!(
            memory_line(&full, Paint::plain()),
            "3.0 MiB of 3.0 MiB maxmemory (100%): full, enqueues are refused"
        );
        let some = MemoryUsage::new(1024 * 1024, Some(4 * 1024 * 1024));
        assert_eq!(
            memory_line(&some, Paint::plain()),
            "1.0 MiB of 4.0 MiB maxmemory (25%)"
        );
        let unlimited = MemoryUsage::new(2048, None);
        assert_eq!(
            memory_line(&unlimited, Paint::plain()),
            "2.0 KiB (no maxmemory limit)"
        );
    }
}
