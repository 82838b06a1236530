//! A TCP relay in front of a server, to cut a client off without closing
//! its connections: `block` stops forwarding both ways (a partition),
//! `drop_replies` swallows what the server sends (a lost reply) and
//! signals `dropped` each time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub struct Relay {
    port: u16,
    blocked: Arc<AtomicBool>,
    pub drop_replies: Arc<AtomicBool>,
    pub dropped: Arc<Notify>,
}

impl Relay {
    pub async fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let relay = Relay {
            port,
            blocked: Arc::new(AtomicBool::new(false)),
            drop_replies: Arc::new(AtomicBool::new(false)),
            dropped: Arc::new(Notify::new()),
        };
        let (blocked, drop, dropped) = (
            relay.blocked.clone(),
            relay.drop_replies.clone(),
            relay.dropped.clone(),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                // The server is down: the client sees a closed socket.
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, blocked.clone(), None));
                tokio::spawn(pipe(
                    sr,
                    cw,
                    blocked.clone(),
                    Some((drop.clone(), dropped.clone())),
                ));
            }
        });
        relay
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops (or resumes) forwarding, both ways.
    pub fn block(&self, on: bool) {
        self.blocked.store(on, Ordering::SeqCst);
    }
}

/// Copies one direction; `drop` (server to client only) swallows data
/// while its flag is set.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    blocked: Arc<AtomicBool>,
    drop: Option<(Arc<AtomicBool>, Arc<Notify>)>,
) {
    let wait = || async {
        while blocked.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        wait().await;
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some((flag, dropped)) = &drop {
            if flag.load(Ordering::SeqCst) {
                dropped.notify_one();
                continue;
            }
        }
        wait().await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
