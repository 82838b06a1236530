//! A workflow as a typed DAG: fan-out, fan-in and data edges.
//!
//! Run with `cargo run --example workflow`.

use ork::prelude::*;
use ork::workflow::Workflow;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Page {
    url: String,
    words: usize,
}

/// Pretends to fetch a page.
#[ork::task(retries = 2)]
async fn fetch(url: String) -> ork::Result<Page> {
    let words = url.len() * 100;
    Ok(Page { url, words })
}

/// Lists the pages of a site: known only at run time.
#[ork::task]
async fn list_urls(site: String) -> ork::Result<Vec<String>> {
    Ok((1..=4).map(|i| format!("{site}/post/{i}")).collect())
}

/// Fan-in: receives every page of a group.
#[ork::task]
async fn total_words(pages: Vec<Page>) -> ork::Result<usize> {
    Ok(pages.iter().map(|p| p.words).sum())
}

/// Receives two inputs of different types from two branches.
#[ork::task]
async fn render(home_words: usize, posts: Vec<Page>) -> ork::Result<String> {
    let mut report = format!("home pages: {home_words} words\n");
    for p in posts {
        report.push_str(&format!("  {:<32} {:>5} words\n", p.url, p.words));
    }
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ork = Ork::memory();
    let worker = ork.worker().concurrency(8).start()?;

    let mut flow = Workflow::new("site-report");
    // Fan-out over a list known now, then fan-in.
    let a = flow.add(fetch::call("https://example.org".into()));
    let b = flow.add(fetch::call("https://example.org/about".into()));
    let home = flow.add(total_words::flow(flow.all([a, b])));
    // Fan-out over a list known only at run time.
    let urls = flow.add(list_urls::call("https://example.org".into()));
    let posts = flow.map(urls, fetch::flow);
    // A node fed by two branches: data edges checked by the compiler.
    let report = flow.add(render::flow(home, posts));

    let run = ork.submit(flow).await?;
    println!("workflow {} submitted", run.id());
    print!("{}", run.output(report).await?);
    println!("state: {}", run.wait().await?);
    for node in run.nodes().await? {
        println!(
            "  node {} {:<24} deps {:?} -> {}",
            node.index,
            node.task,
            node.deps,
            node.state().map_or("expired".into(), |s| s.to_string())
        );
    }
    worker.shutdown().await;
    Ok(())
}
