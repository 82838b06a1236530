//! Connecting to the workers' Redis, with errors that say what to check.

use std::time::Duration;

use ork_core::{Error, Ork};
use ork_redis::redis;
use ork_redis::RedisBackend;

use crate::error::{CliError, Result, UNREACHABLE, USAGE};

/// How long connecting may take before the command gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(8);

/// A client on the workers' Redis, and where it points.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    /// The client.
    pub(crate) ork: Ork,
    /// The URL as given (with credentials).
    url: String,
    /// The namespace.
    pub(crate) namespace: String,
}

impl Conn {
    /// Connects, or says why not and what to do.
    pub(crate) async fn open(url: &str, namespace: &str) -> Result<Conn> {
        let shown = redact(url);
        probe(url, &shown).await?;
        let build = async {
            RedisBackend::builder(url)
                .namespace(namespace)
                .pool_size(1)
                .build()
                .await
        };
        let backend = match tokio::time::timeout(CONNECT_TIMEOUT, build).await {
            Ok(Ok(b)) => b,
            Ok(Err(Error::Invalid(msg))) => {
                return Err(CliError::new(msg)
                    .hint(
                        "URLs look like redis://[user:password@]host:6379[/db] or rediss://...; \
                         set --redis or ORK_REDIS_URL; namespaces are set with --namespace or ORK_NAMESPACE",
                    )
                    .code_of(USAGE))
            }
            Ok(Err(e)) => return Err(unreachable(&shown, &e.to_string())),
            Err(_) => return Err(unreachable(&shown, "no answer")),
        };
        Ok(Conn {
            ork: Ork::with_backend(backend),
            url: url.to_owned(),
            namespace: namespace.to_owned(),
        })
    }

    /// The URL without its password, for messages.
    pub(crate) fn shown_url(&self) -> String {
        redact(&self.url)
    }

    /// When this namespace holds nothing: a hint naming the namespaces this
    /// server does hold. `None` if the namespace is in use.
    pub(crate) async fn empty_namespace_hint(&self) -> Option<String> {
        let counts = self.ork.counts().await.ok()?;
        let flows = self.ork.backend().workflow_ids(0, 1).await.ok()?;
        let workers = self.ork.workers().await.ok()?;
        if !counts.is_empty() || !flows.is_empty() || !workers.is_empty() {
            return None;
        }
        let others = self.namespaces().await;
        let others: Vec<&String> = others.iter().filter(|n| **n != self.namespace).collect();
        Some(if others.is_empty() {
            format!(
                "namespace `{}` on {} is empty, and so is every other: are the workers using this Redis?",
                self.namespace,
                self.shown_url()
            )
        } else {
            let list: Vec<&str> = others.iter().map(|s| s.as_str()).collect();
            format!(
                "namespace `{}` is empty; this server has: {} (set --namespace or ORK_NAMESPACE)",
                self.namespace,
                list.join(", ")
            )
        })
    }

    /// The namespaces with queues on this server (`{ns}:queues` keys, and
    /// `{ns:i}:queues` for their shards; the layout is documented in
    /// ork-redis). Best effort: empty on any error.
    async fn namespaces(&self) -> Vec<String> {
        let scan = async {
            let client = redis::Client::open(self.url.as_str()).ok()?;
            let mut con = client.get_multiplexed_async_connection().await.ok()?;
            let mut found = Vec::new();
            let mut cursor = 0u64;
            for _ in 0..100 {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg("{*}:queues")
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut con)
                    .await
                    .ok()?;
                found.extend(keys.iter().filter_map(|k| {
                    let k = k.strip_prefix('{')?.strip_suffix("}:queues")?;
                    Some(k.to_owned())
                }));
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
            // Shard i of `ns` is `{ns:i}`: listed as `ns`.
            let bases: Vec<String> = found.clone();
            for name in &mut found {
                if let Some((base, i)) = name.rsplit_once(':') {
                    let shard = !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit());
                    if shard && bases.iter().any(|b| b == base) {
                        *name = base.to_owned();
                    }
                }
            }
            found.sort();
            found.dedup();
            Some(found)
        };
        tokio::time::timeout(Duration::from_secs(3), scan)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}

/// One plain connection and a PING: fails fast, with the server's own
/// reason, where the backend's pool would retry for a while.
async fn probe(url: &str, shown: &str) -> Result<()> {
    let Ok(client) = redis::Client::open(url) else {
        return Ok(()); // the builder explains a malformed URL
    };
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(3)));
    let ping = async {
        let mut con = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING").query_async::<String>(&mut con).await
    };
    match ping.await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == redis::ErrorKind::InvalidClientConfig => Ok(()),
        Err(e) => {
            let text = e.to_string();
            if ["NOAUTH", "WRONGPASS", "uthentication"]
                .iter()
                .any(|k| text.contains(k))
            {
                Err(CliError::new(format!("Redis at {shown} refused the credentials: {text}"))
                    .hint("put the ACL user and password in the URL: redis://user:password@host:6379 (--redis or ORK_REDIS_URL)")
                    .code_of(UNREACHABLE))
            } else {
                Err(unreachable(shown, &text))
            }
        }
    }
}

fn unreachable(shown: &str, why: &str) -> CliError {
    CliError::new(format!("cannot reach Redis at {shown}: {why}"))
        .hint(format!(
            "is redis-server running at {shown}? set --redis or ORK_REDIS_URL"
        ))
        .code_of(UNREACHABLE)
}

/// `redis://user:secret@host` → `redis://user:***@host`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((creds, host)) => {
            let user = creds.split_once(':').map_or("", |(u, _)| u);
            if creds.contains(':') {
                format!("{scheme}://{user}:***@{host}{path}")
            } else {
                format!("{scheme}://***@{host}{path}")
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("redis://app:s3cret@db:6379/2"),
            "redis://app:***@db:6379/2"
        );
        assert_eq!(redact("rediss://:pw@db"), "rediss://:***@db");
    }
}
