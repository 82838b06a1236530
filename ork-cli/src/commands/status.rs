//! `ork status` and `ork workers`.

use ork_core::backend::WorkerInfo;
use ork_core::metrics;
use serde_json::json;

use super::Out;
use crate::connect::Conn;
use crate::error::Result;
use crate::format::{ago, duration, rate, Paint};
use crate::table::Table;

/// Queues with their counts, throughput and latencies; then the workers.
pub(crate) async fn status(conn: &Conn, out: Out) -> Result<()> {
    let snap = metrics::snapshot(&conn.ork).await?;
    if out.json {
        return out.print_json(&json!({
            "namespace": conn.namespace,
            "redis": conn.shown_url(),
            "now_ms": snap.now_ms,
            "window_ms": metrics::WINDOW.as_millis() as u64,
            "queues": snap.queues,
            "workers": snap.workers,
        }));
    }
    let p = out.paint;
    println!(
        "{} {} on {}",
        p.bold("namespace"),
        conn.namespace,
        conn.shown_url()
    );
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
