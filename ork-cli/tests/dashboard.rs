//! The dashboard in headless Chromium, driven through chromedriver's W3C
//! WebDriver HTTP API: the page loads without console errors, draws a
//! running workflow's graph and follows it live, and a dead letter retried
//! from the page runs again; a map over 1,000 items is one group node.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`; or set `ORK_CHROMIUM` and `ORK_CHROMEDRIVER`). Without
//! them the test is skipped with a message, unless `ORK_REQUIRE_BROWSER` is
//! set (as in CI), where it fails. A screenshot is written to
//! `target/tmp/ork-dashboard.png`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::request;
use common::{eventually, Dashboard, Env};
use ork::prelude::*;
use ork::{JobState, Schedule};
use serde_json::{json, Value};

#[derive(Default)]
struct Switch(AtomicBool);

#[derive(Default)]
struct Gate(AtomicBool);

#[ork::task]
async fn add(x: i64, y: i64) -> ork::Result<i64> {
    Ok(x + y)
}

#[ork::task]
async fn sum(xs: Vec<i64>) -> ork::Result<i64> {
    Ok(xs.iter().sum())
}

/// Fails (for good) until the switch is on.
#[ork::task]
async fn guarded(ctx: Context, label: String) -> Result<String, String> {
    if ctx.state::<Arc<Switch>>().0.load(Ordering::SeqCst) {
        Ok(label)
    } else {
        Err(format!("switch is off for {label}"))
    }
}

/// Holds until the gate opens.
#[ork::task]
async fn gated(ctx: Context, x: i64) -> ork::Result<i64> {
    ctx.progress(40);
    while !ctx.state::<Arc<Gate>>().0.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(x)
}

/// Waits for a signal on `key`.
#[ork::task]
async fn awaits(ctx: Context, key: String) -> ork::Result<Option<String>> {
    ctx.wait_for::<String>(&key, Duration::from_secs(600)).await
}

/// The numbers `0..n`.
#[ork::task]
async fn numbers(n: i64) -> ork::Result<Vec<i64>> {
    Ok((0..n).collect())
}

fn find(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in candidates {
        let found = std::env::split_paths(&path)
            .chain([
                PathBuf::from("/usr/bin"),
                PathBuf::from("/usr/lib/chromium"),
            ])
            .map(|d| d.join(name))
            .find(|p| p.is_file());
        if found.is_some() {
            return found;
        }
    }
    None
}

/// chromedriver and a browser session, both ended on drop.
struct Browser {
    driver: Child,
    base: String,
    session: Option<String>,
    _profile: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        let profile = std::env::temp_dir().join(format!(
            "ork-chromium-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: None,
            _profile: TempDir(profile.clone()),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = request("GET", &format!("{}/status", browser.base), &[], None)
                .ok()
                .and_then(|r| serde_json::from_str::<Value>(&r.body).ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1400,1100",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let v = browser.call("POST", "/session", Some(caps));
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        browser.session = Some(id);
        browser
    }

    /// A WebDriver command; returns its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let url = format!("{}{path}", self.base);
        let r = request(method, &url, &[], body.as_deref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let v: Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", r.body));
        assert!(r.status < 300, "{method} {path}: {} {v}", r.status);
        v["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let id = self.session.as_deref().expect("a session");
        self.call(method, &format!("/session/{id}{path}"), body)
    }

    fn goto(&self, url: &str) {
        self.session("POST", "/url", Some(json!({ "url": url })));
    }

    fn eval(&self, script: &str) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Evaluates `script` until it returns something truthy.
    fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.eval(script);
            if !(v.is_null() || v == false || v == 0 || v == "") {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; page: {}\nconsole: {:#?}",
                self.eval("return document.body.innerText"),
                self.console()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the element `css` finds. The page redraws its lists and its
    /// graph every second: an element replaced between finding it and
    /// clicking it is stale, and is found again.
    fn click(&self, css: &str) {
        let session = self.session.as_deref().expect("a session");
        for _ in 0..20 {
            let el = self.session(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            );
            let id = el
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("no element {css}: {el}"))
                .to_owned();
            let url = format!("{}/session/{session}/element/{id}/click", self.base);
            let r = request("POST", &url, &[], Some("{}"))
                .unwrap_or_else(|e| panic!("click {css}: {e}"));
            if r.status < 300 {
                return;
            }
            assert!(
                r.body.contains("stale element reference"),
                "click {css}: {} {}",
                r.status,
                r.body
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("click {css}: the element went stale 20 times in a row");
    }

    /// The browser console since the last call.
    fn console(&self) -> Vec<Value> {
        self.session("POST", "/se/log", Some(json!({ "type": "browser" })))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Sets a cookie for the current page's site.
    fn set_cookie(&self, name: &str, value: &str) {
        self.session(
            "POST",
            "/cookie",
            Some(json!({ "cookie": { "name": name, "value": value, "path": "/" } })),
        );
    }

    fn screenshot(&self) -> Vec<u8> {
        let v = self.session("GET", "/screenshot", None);
        base64(v.as_str().expect("base64 PNG"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = request("DELETE", &format!("{}/session/{id}", self.base), &[], None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Runs blocking WebDriver calls without stalling the runtime's workers.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | (u32::from(*d) << (18 - 6 * i)));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

/// chromium and chromedriver, or `None` (the test is skipped) unless
/// `ORK_REQUIRE_BROWSER` is set.
fn browser_binaries(test: &str) -> Option<(PathBuf, PathBuf)> {
    let chromium = find(
        "ORK_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let chromedriver = find("ORK_CHROMEDRIVER", &["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        let msg = "chromium and chromedriver are needed for the dashboard browser test: \
                   apt-get install chromium chromium-driver (or set ORK_CHROMIUM and ORK_CHROMEDRIVER)";
        if std::env::var_os("ORK_REQUIRE_BROWSER").is_some() {
            panic!("{msg}");
        }
        eprintln!("SKIPPED {test}: {msg}");
        return None;
    };
    Some((chromium, chromedriver))
}

/// Console errors (`SEVERE`) since the last look.
fn console_errors(browser: &Browser) -> Vec<Value> {
    blocking(|| browser.console())
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let Some((chromium, chromedriver)) = browser_binaries("the_dashboard_in_a_real_browser") else {
        return;
    };

    let env = Env::new().await;
    let switch = Arc::new(Switch::default());
    let gate = Arc::new(Gate::default());
    let worker = env
        .ork
        .worker()
        .id("browser-worker")
        .concurrency(8)
        .lease(Duration::from_secs(5))
        .state(switch.clone())
        .state(gate.clone())
        .start()
        .unwrap();
    let dead = env
        .ork
        .enqueue(guarded::call("from the page".into()))
        .await
        .unwrap();
    let dead_id = dead.id().to_string();
    eventually("the job to die", Duration::from_secs(20), || async {
        (dead.status().await.ok()? == JobState::Dead).then_some(())
    })
    .await;
    let mut flow = Workflow::new("browser-diamond");
    let a = flow.add(add::call(1, 2));
    let b = flow.add(add::call(3, 4));
    let held = flow.add(gated::flow(a));
    let total = flow.add(sum::flow(flow.all([a, b, held])));
    flow.add(add::flow(total, 100));
    let run = env.ork.submit(flow).await.unwrap();
    let flow_id = run.id().to_string();
    eventually("the gate to run", Duration::from_secs(20), || async {
        let nodes = run.nodes().await.ok()?;
        (nodes[2].state() == Some(JobState::Running)).then_some(())
    })
    .await;

    let daily = Schedule::cron("0 30 6 * * *").unwrap();
    env.ork
        .schedule("daily-report", daily, add::call(0, 0))
        .await
        .unwrap();

    let dash = Dashboard::start(&env, &["--allow-actions"]);
    let page = dash.url(&format!("/#workflow={flow_id}"));
    let browser = tokio::task::spawn_blocking(move || {
        let browser = Browser::start(&chromium, &chromedriver);
        browser.goto(&page);
        browser
    })
    .await
    .unwrap();

    // The running workflow's graph: five nodes, five edges, node 2 running.
    let script = format!(
        "const svg = document.querySelector('#dag');
         if (svg.getAttribute('data-workflow') !== '{flow_id}') return false;
         const nodes = svg.querySelectorAll('g.node');
         const held = svg.querySelector('g.node[data-index=\"2\"]');
         return nodes.length === 5 && held && held.getAttribute('data-state') === 'running'
           ? {{ edges: svg.querySelectorAll('path.edge').length,
                states: Array.from(nodes).map(n => n.getAttribute('data-state')) }}
           : false;"
    );
    let graph = blocking(|| browser.wait_for("the workflow graph", &script));
    assert_eq!(graph["edges"], 5, "{graph}");
    assert_eq!(
        graph["states"],
        json!(["succeeded", "succeeded", "running", "waiting", "waiting"])
    );
    // Each panel fills from its own request: wait for all of them.
    let wants = [
        "default",
        "browser-worker",
        "browser-diamond",
        "switch is off for from the page",
        "daily-report",
        "cron `0 30 6 * * *`",
    ];
    let script = format!(
        "const t = document.body.innerText;
         return {wants:?}.every(w => t.includes(w)) ? t : false;"
    );
    let text = blocking(|| browser.wait_for("every panel", &script));
    let text = text.as_str().unwrap();
    for want in wants {
        assert!(text.contains(want), "the page shows {want:?}: {text}");
    }
    assert!(text.contains("actions allowed"), "{text}");

    // Retry the dead letter from the page: it runs again and succeeds.
    switch.0.store(true, Ordering::SeqCst);
    let button = format!("#dead button[data-action=\"retry\"][data-id=\"{dead_id}\"]");
    let exists = format!("return !!document.querySelector('{button}')");
    blocking(|| browser.wait_for("the retry button", &exists));
    blocking(|| browser.click(&button));
    let h = env.ork.handle::<String>(dead_id.as_str());
    // The click's request is asynchronous: wait for the job to run again.
    let info = eventually(
        "the retried job to succeed",
        Duration::from_secs(20),
        || async {
            let info = h.info().await.ok()?;
            (info.state == JobState::Succeeded).then_some(info)
        },
    )
    .await;
    assert_eq!(info.attempts, 1, "a fresh attempt count");
    assert_eq!(h.result().await.unwrap(), "from the page");
    let gone = format!("return !document.querySelector('#dead tr[data-id=\"{dead_id}\"]')");
    blocking(|| browser.wait_for("the dead letter to leave the list", &gone));

    // Node states update live.
    gate.0.store(true, Ordering::SeqCst);
    blocking(|| {
        browser.wait_for(
            "every node to succeed on the page",
            "const n = document.querySelectorAll('#dag g.node[data-state=\"succeeded\"]');
             return n.length === 5
               && document.querySelector('#dag').getAttribute('data-state') === 'succeeded';",
        )
    });

    // The whole page catches up (its lists refresh every 2 s): screenshot.
    blocking(|| {
        browser.wait_for(
            "the workflow list to catch up",
            "const row = document.querySelector('#workflows tbody tr .state');
             return row && row.textContent === 'succeeded';",
        )
    });
    let text = blocking(|| browser.eval("return document.body.innerText"));
    let text = text.as_str().unwrap();
    assert!(
        !text.contains("null") && !text.contains("undefined") && !text.contains("NaN"),
        "no missing values shown: {text}"
    );
    let png = blocking(|| browser.screenshot());
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ork-dashboard.png");
    std::fs::write(&shot, png).unwrap();
    eprintln!("screenshot: {}", shot.display());

    // Pause the queue from the page, then resume it.
    let pause = "#queues tr[data-queue=\"default\"] button[data-action=\"pause\"]";
    blocking(|| {
        browser.wait_for(
            "the pause button",
            &format!("return !!document.querySelector('{pause}')"),
        )
    });
    blocking(|| browser.click(pause));
    blocking(|| {
        browser.wait_for(
            "the queue to show as paused",
            "const row = document.querySelector('#queues tr[data-queue=\"default\"]');
             return row && row.getAttribute('data-paused') === '1'
               && row.innerText.includes('paused');",
        )
    });
    let paused = env.ork.paused().await.unwrap();
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0].target.name(), "default");
    let resume = "#queues tr[data-queue=\"default\"] button[data-action=\"resume\"]";
    blocking(|| browser.click(resume));
    blocking(|| {
        browser.wait_for(
            "the queue to run again",
            "const row = document.querySelector('#queues tr[data-queue=\"default\"]');
             return row && row.getAttribute('data-paused') === '0';",
        )
    });
    assert!(env.ork.paused().await.unwrap().is_empty());

    // Clicking a node opens its job.
    blocking(|| browser.click("#dag g.node[data-index=\"4\"]"));
    let detail = blocking(|| {
        browser.wait_for(
            "the node's job",
            "const d = document.querySelector('#detail');
             return !d.hidden && d.innerText.includes('Arguments') ? d.innerText : false;",
        )
    });
    assert!(
        detail.as_str().unwrap().contains(&format!("{flow_id}.4")),
        "{detail}"
    );

    // A waiting job's page says what it waits for, and its button sends
    // the signal (the value the page asks for is answered here).
    let waiting = env
        .ork
        .enqueue(awaits::call("page:1".into()))
        .await
        .unwrap();
    let id = waiting.id().to_string();
    let row = format!("#jobs tr[data-id=\"{id}\"]");
    blocking(|| {
        browser.eval(
            "const s = document.querySelector('#jobs-state');
             s.value = 'scheduled';
             s.dispatchEvent(new Event('change'));",
        )
    });
    blocking(|| {
        browser.wait_for(
            "the waiting job in the list",
            &format!(
                "const r = document.querySelector('{row}');
                 return r && r.innerText.includes('signal `page:1`') ? r.innerText : false;"
            ),
        )
    });
    blocking(|| {
        browser.eval(&format!(
            "document.querySelector('{row}')
               .dispatchEvent(new MouseEvent('click', {{ bubbles: true }}));"
        ))
    });
    let shown = blocking(|| {
        browser.wait_for(
            "the waiting job's page",
            "const d = document.querySelector('#detail');
             return !d.hidden && d.querySelector('button[data-action=\"signal\"]')
               ? d.innerText : false;",
        )
    });
    assert!(
        shown.as_str().unwrap().contains("signal `page:1`, timeout"),
        "{shown}"
    );
    blocking(|| {
        browser.eval(
            "window.prompt = () => '\"from the page\"';
             document.querySelector('#detail button[data-action=\"signal\"]')
               .dispatchEvent(new MouseEvent('click', { bubbles: true }));",
        )
    });
    let got = tokio::time::timeout(Duration::from_secs(20), waiting.result())
        .await
        .expect("the signal from the page arrives");
    assert_eq!(got.unwrap(), Some("from the page".to_owned()));

    let errors: Vec<Value> = blocking(|| browser.console())
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    drop(browser);
    drop(dash);
    worker.shutdown().await;
}

/// A `flow.map` over 1,000 items is drawn as one group node with the item
/// count and per-state counts that follow the run, not as 1,000 boxes; a
/// click on it lists its items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_item_map_is_one_group_node() {
    let Some((chromium, chromedriver)) = browser_binaries("a_thousand_item_map_is_one_group_node")
    else {
        return;
    };
    let env = Env::new().await;
    let gate = Arc::new(Gate::default());
    let worker = env
        .ork
        .worker()
        .concurrency(8)
        .prefetch(8)
        .state(gate.clone())
        .start()
        .unwrap();
    let mut flow = Workflow::new("browser-map");
    let list = flow.add(numbers::call(1000));
    let items = flow.map(list, gated::flow);
    let total = flow.add(sum::flow(items));
    let run = env.ork.submit(flow).await.unwrap();
    let flow_id = run.id().to_string();

    let dash = Dashboard::start(&env, &[]);
    let page = dash.url(&format!("/#workflow={flow_id}"));
    let browser = tokio::task::spawn_blocking(move || {
        let browser = Browser::start(&chromium, &chromedriver);
        browser.goto(&page);
        browser
    })
    .await
    .unwrap();
    // What the graph shows of the map: `false` until it shows `want`.
    let map_node = |want: &str| {
        format!(
            "const svg = document.querySelector('#dag');
             if (svg.getAttribute('data-workflow') !== '{flow_id}') return false;
             const map = svg.querySelector('g.node.group');
             if (!map || !({want})(map.getAttribute('data-item-states'))) return false;
             return {{ nodes: svg.querySelectorAll('g.node').length,
                      boxes: svg.querySelectorAll('rect.box').length,
                      index: map.getAttribute('data-index'),
                      items: map.getAttribute('data-items'),
                      states: map.getAttribute('data-item-states'),
                      text: Array.from(map.querySelectorAll('text')).map(t => t.textContent) }};"
        )
    };

    // While the gate holds them: some items run, the rest are queued.
    let running = "s => /^running:\\d+,queued:\\d+$/.test(s)";
    let seen = blocking(|| browser.wait_for("the map's items to run", &map_node(running)));
    assert_eq!(seen["nodes"], 3, "three nodes, not 1,002: {seen}");
    assert_eq!(seen["boxes"], 3, "{seen}");
    assert_eq!(seen["index"], "1");
    assert_eq!(seen["items"], "1000");
    let counts: Vec<u64> = seen["states"]
        .as_str()
        .unwrap()
        .split(',')
        .map(|p| p.split_once(':').unwrap().1.parse().unwrap())
        .collect();
    let (run_n, queued) = (counts[0], counts[1]);
    assert_eq!(run_n + queued, 1000, "{seen}");
    // Claimed jobs are running to the engine, buffered ones included.
    assert!(
        (1..=16).contains(&run_n),
        "at most the pool's 8 slots and 8 buffered: {seen}"
    );
    assert_eq!(
        seen["text"],
        json!([
            "#1 map ×1000 gated",
            format!("{run_n} running · {queued} queued")
        ])
    );
    let png = blocking(|| browser.screenshot());
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ork-dashboard-map.png");
    std::fs::write(&shot, png).unwrap();
    eprintln!("screenshot: {}", shot.display());

    // Expanding it: a click lists its items. The graph is drawn anew every
    // second, so the click is dispatched in the page, where no redraw can
    // come between finding the node and clicking it.
    blocking(|| {
        browser.eval(
            "document.querySelector('#dag g.node.group')
               .dispatchEvent(new MouseEvent('click', { bubbles: true }));",
        )
    });
    let listed = blocking(|| {
        browser.wait_for(
            "the map's items",
            "const d = document.querySelector('#detail');
             return !d.hidden && d.innerText.includes('Run-time children (1000)')
               ? d.querySelectorAll('table.children tr').length : false;",
        )
    });
    assert_eq!(listed, 200, "the first 200 of them");

    // The gate opens: every item succeeds, and the counts follow.
    gate.0.store(true, Ordering::SeqCst);
    let done = blocking(|| {
        browser.wait_for(
            "every item to succeed",
            &map_node("s => s === 'succeeded:1000'"),
        )
    });
    assert_eq!(done["nodes"], 3, "{done}");
    assert_eq!(
        done["text"],
        json!(["#1 map ×1000 gated", "1000 succeeded"])
    );
    assert_eq!(run.output(total).await.unwrap(), (0..1000).sum::<i64>());
    let errors = console_errors(&browser);
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    drop(browser);
    drop(dash);
    worker.shutdown().await;
}

/// The `user` cookie of a request, as a toy login would read it.
fn cookie_user(parts: &axum::http::request::Parts) -> Option<String> {
    let cookies = parts
        .headers
        .get(axum::http::header::COOKIE)?
        .to_str()
        .ok()?;
    cookies
        .split(';')
        .find_map(|c| c.trim().strip_prefix("user="))
        .map(str::to_owned)
}

/// The dashboard router nested in an app under `/admin/jobs`, with an
/// authorize callback that lets only alice act: the page loads without
/// console errors, alice's retry from the page runs the job again and shows
/// in the audit list under her name, and mallory's is refused with 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mounted_dashboard_in_a_real_browser() {
    let Some((chromium, chromedriver)) =
        browser_binaries("the_mounted_dashboard_in_a_real_browser")
    else {
        return;
    };
    let env = Env::new().await;
    let switch = Arc::new(Switch::default());
    let worker = env
        .ork
        .worker()
        .id("mounted-worker")
        .concurrency(4)
        .state(switch.clone())
        .start()
        .unwrap();
    let mut dead = Vec::new();
    for label in ["alice's", "mallory's"] {
        let h = env.ork.enqueue(guarded::call(label.into())).await.unwrap();
        eventually("the job to die", Duration::from_secs(20), || async {
            (h.status().await.ok()? == JobState::Dead).then_some(())
        })
        .await;
        dead.push(h.id().to_string());
    }

    let dashboard = ork_dashboard::Dashboard::new(env.ork.clone())
        .title("shop jobs")
        .authorize(|parts| cookie_user(parts).filter(|u| u == "alice"));
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "the shop" }))
        .nest("/admin/jobs", dashboard.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The page first as nobody (read-only), then as alice.
    let page = format!("{base}/admin/jobs");
    let browser = tokio::task::spawn_blocking(move || {
        let browser = Browser::start(&chromium, &chromedriver);
        browser.goto(&page);
        browser.set_cookie("user", "alice");
        browser.goto(&page);
        browser
    })
    .await
    .unwrap();
    let button = format!(
        "#dead button[data-action=\"retry\"][data-id=\"{}\"]",
        dead[0]
    );
    blocking(|| {
        browser.wait_for(
            "alice's retry button",
            &format!("return !!document.querySelector('{button}')"),
        )
    });
    let text = blocking(|| browser.eval("return document.body.innerText"));
    let text = text.as_str().unwrap();
    for want in [
        "shop jobs",
        "signed in as alice",
        "actions allowed",
        "mounted-worker",
    ] {
        assert!(text.contains(want), "the page shows {want:?}: {text}");
    }
    // The server's memory, as far as the engine reports it.
    match env.ork.backend().memory().await.unwrap() {
        Some(m) => {
            let want = if m.max_bytes.is_some() {
                " of "
            } else {
                "(no maxmemory)"
            };
            let shown =
                blocking(|| browser.eval("return document.querySelector('#memory').innerText"));
            let shown = shown.as_str().unwrap();
            assert!(
                shown.starts_with("Redis memory ") && shown.contains(want),
                "{shown}"
            );
        }
        None => {
            let shown =
                blocking(|| browser.eval("return document.querySelector('#memory').innerText"));
            assert_eq!(shown, "", "nothing to show");
        }
    }
    let errors = console_errors(&browser);
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // Alice retries from the page: the job runs again, and the audit list
    // shows her action.
    switch.0.store(true, Ordering::SeqCst);
    blocking(|| browser.click(&button));
    let h = env.ork.handle::<String>(dead[0].as_str());
    eventually(
        "the retried job to succeed",
        Duration::from_secs(20),
        || async { (h.status().await.ok()? == JobState::Succeeded).then_some(()) },
    )
    .await;
    let row = blocking(|| {
        browser.wait_for(
            "the audit row",
            "const rows = document.querySelectorAll('#audit tbody tr[data-action]');
             return rows.length === 1 ? rows[0].innerText : false;",
        )
    });
    let row = row.as_str().unwrap();
    assert!(row.contains("alice"), "{row}");
    assert!(row.contains("retry"), "{row}");
    assert!(row.contains(&format!("job {}", dead[0])), "{row}");
    let errors = console_errors(&browser);
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // Mallory's same action is refused with 403, and the job stays dead.
    let retry = format!("{base}/admin/jobs/api/jobs/{}/retry", dead[1]);
    let r = tokio::task::spawn_blocking(move || {
        common::http::post(
            &retry,
            &[("X-Ork-Action", "1"), ("Cookie", "user=mallory")],
            None,
        )
    })
    .await
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    let h = env.ork.handle::<String>(dead[1].as_str());
    assert_eq!(h.status().await.unwrap(), JobState::Dead);
    // And her page offers no action.
    blocking(|| {
        browser.set_cookie("user", "mallory");
        browser.goto(&format!("{base}/admin/jobs"));
        browser.wait_for(
            "the read-only page",
            "const mode = document.querySelector('#mode');
             return mode.textContent === 'read-only'
               && document.querySelectorAll('#dead tbody tr[data-id]').length === 1
               && !document.querySelector('#dead button');",
        )
    });
    let audit = env.ork.backend().audit_log(10).await.unwrap();
    assert_eq!(audit.len(), 1, "only alice's action: {audit:?}");
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].action.as_str()),
        ("alice", "retry")
    );

    drop(browser);
    server.abort();
    worker.shutdown().await;
}
