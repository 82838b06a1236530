//! The dashboard nested in an app's router under a prefix, over real HTTP:
//! the page and its files load under the prefix, the app's own layer wraps
//! it, and actions go through the authorize callback and into the audit
//! trail.

use std::time::Duration;

use axum::http::{HeaderValue, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use ork_core::backend::{ClaimRequest, Finish, Outcome};
use ork_core::job::JobRecord;
use ork_core::{JobId, JobState, Ork};
use ork_dashboard::Dashboard;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A dead letter, made through the backend directly.
async fn dead_job(ork: &Ork) -> JobId {
    let b = ork.backend();
    let id = b
        .enqueue(vec![JobRecord::new("mounted::fails", vec![])])
        .await
        .unwrap()[0]
        .id()
        .clone();
    let req = ClaimRequest::new("w", vec!["default".into()], 1, Duration::from_secs(30));
    let claimed = b.claim(&req).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let finish = [Finish {
        lease: claimed[0].lease.clone(),
        outcome: Outcome::Dead {
            error: "boom".into(),
        },
    }];
    assert_eq!(b.finish(&finish).await.unwrap(), vec![true]);
    id
}

/// The app's own layer: marks every response, the dashboard's included.
async fn stamp(request: Request<axum::body::Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("x-app", HeaderValue::from_static("stamped"));
    response
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(addr: std::net::SocketAddr, method: &str, path: &str, headers: &[&str]) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn nested_under_a_prefix_behind_the_apps_callback() {
    let ork = Ork::memory();
    let dead = dead_job(&ork).await;
    let dashboard = Dashboard::new(ork.clone())
        .title("shop jobs")
        .authorize(|parts| {
            let user = parts.headers.get("x-user")?.to_str().ok()?;
            (user == "alice").then(|| user.to_owned())
        });
    let app = Router::new()
        .route("/", get(|| async { "the app" }))
        .nest("/admin/jobs", dashboard.router())
        .layer(axum::middleware::from_fn(stamp));
    let addr = serve(app).await;

    // The page answers at the mount point and names it as its base.
    let page = send(addr, "GET", "/admin/jobs", &[]).await;
    assert_eq!(page.status, 200, "{}", page.head);
    assert!(
        page.head.contains("x-app: stamped"),
        "the app's layer applies"
    );
    assert!(page.body.contains("<base href=\"jobs/\">"), "{}", page.body);
    for file in ["assets/style.css", "assets/dag.js", "assets/app.js"] {
        assert!(
            page.body.contains(&format!("\"{file}\"")),
            "relative {file}"
        );
        let r = send(addr, "GET", &format!("/admin/jobs/{file}"), &[]).await;
        assert_eq!(r.status, 200, "{file}");
    }
    assert!(!page.body.contains("\"/assets"), "no absolute URL");

    let o = send(addr, "GET", "/admin/jobs/api/overview", &["X-User: alice"]).await;
    let o = o.json();
    assert_eq!(o["title"], "shop jobs");
    assert_eq!(o["actor"], "alice");
    assert_eq!(o["allow_actions"], true);
    let o = send(
        addr,
        "GET",
        "/admin/jobs/api/overview",
        &["X-User: mallory"],
    )
    .await;
    assert_eq!(o.json()["allow_actions"], false);

    // The callback refuses mallory: 403, and the job stays dead.
    let retry = format!("/admin/jobs/api/jobs/{dead}/retry");
    let r = send(
        addr,
        "POST",
        &retry,
        &["X-Ork-Action: 1", "X-User: mallory"],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(ork.job(&dead).await.unwrap().unwrap().state, JobState::Dead);
    // Without the action header (a cross-site form), even alice is refused.
    let r = send(addr, "POST", &retry, &["X-User: alice"]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Alice may.
    let r = send(addr, "POST", &retry, &["X-Ork-Action: 1", "X-User: alice"]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["retried"], true);
    assert_eq!(
        ork.job(&dead).await.unwrap().unwrap().state,
        JobState::Queued
    );

    // The audit trail: alice's retry, and nothing for the refused tries.
    let audit = send(addr, "GET", "/admin/jobs/api/audit", &[]).await.json();
    let audit = audit.as_array().unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["actor"], "alice");
    assert_eq!(audit[0]["action"], "retry");
    assert_eq!(audit[0]["target"], format!("job {dead}"));
    assert_eq!(audit[0]["outcome"], "retried");

    // The app's own routes are untouched.
    let home = send(addr, "GET", "/", &[]).await;
    assert_eq!((home.status, home.body.as_str()), (200, "the app"));
}

#[tokio::test]
async fn read_only_by_default() {
    let ork = Ork::memory();
    let dead = dead_job(&ork).await;
    let app = Router::new().nest("/jobs", ork_dashboard::router(ork.clone()));
    let addr = serve(app).await;
    let r = send(
        addr,
        "POST",
        &format!("/jobs/api/jobs/{dead}/retry"),
        &["X-Ork-Action: 1"],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("read-only"), "{}", r.body);
    let o = send(addr, "GET", "/jobs/api/overview", &[]).await.json();
    assert_eq!(o["allow_actions"], false);
    assert_eq!(o["title"], "ork");
    assert_eq!(o["memory"], Value::Null, "the memory engine has no limit");
    assert!(send(addr, "GET", "/jobs/api/audit", &[])
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
}

/// A job's detail lists its run-time children with their states, so a
/// map node's items or a parent's sub-tasks can be found from the page.
#[tokio::test]
async fn a_job_lists_its_run_time_children() {
    let ork = Ork::memory();
    let b = ork.backend();
    let parent = JobRecord::new("mounted::parent", vec![]);
    let parent_id = parent.id.clone();
    b.enqueue(vec![parent]).await.unwrap();
    let children: Vec<JobRecord> = (0..3)
        .map(|i| {
            let mut child = JobRecord::new("mounted::child", vec![]);
            child.id = parent_id.child(i);
            child.parent = Some(parent_id.clone());
            child
        })
        .collect();
    b.enqueue(children).await.unwrap();
    let app = Router::new().nest("/jobs", ork_dashboard::router(ork.clone()));
    let addr = serve(app).await;
    let j = send(addr, "GET", &format!("/jobs/api/jobs/{parent_id}"), &[])
        .await
        .json();
    assert_eq!(j["children_total"], 3, "{j}");
    let mut ids: Vec<String> = j["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["task"], "mounted::child");
            assert_eq!(c["state"], "queued");
            c["id"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    let want: Vec<String> = (0..3).map(|i| parent_id.child(i).to_string()).collect();
    assert_eq!(ids, want);
}
