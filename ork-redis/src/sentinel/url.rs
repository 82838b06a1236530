//! The `redis+sentinel://` URL.

/// What a `redis+sentinel://` URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentinelUrl {
    /// `host:port` of each sentinel (port 26379 when not given).
    pub(crate) sentinels: Vec<(String, u16)>,
    /// The name the sentinels know the primary by.
    pub(crate) service: String,
    /// `rediss+sentinel://`: TLS to the sentinels and to the primary.
    pub(crate) tls: bool,
    /// `user:password@` as written (percent-encoded), for the primary.
    pub(crate) credentials: String,
    /// The database number, as written (empty for 0).
    pub(crate) db: String,
}

/// The sentinels' default port.
const SENTINEL_PORT: u16 = 26379;

impl SentinelUrl {
    /// Parses a sentinel URL; `None` when `url` is not one (another scheme).
    pub(crate) fn parse(url: &str) -> Option<Result<SentinelUrl, String>> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("redis+sentinel://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("rediss+sentinel://") {
            (true, r)
        } else {
            return None;
        };
        Some(Self::parse_rest(tls, rest))
    }

    fn parse_rest(tls: bool, rest: &str) -> Result<SentinelUrl, String> {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, hosts) = match authority.rsplit_once('@') {
            Some((c, h)) => (format!("{c}@"), h),
            None => (String::new(), authority),
        };
        let mut sentinels = Vec::new();
        for host in hosts.split(',').filter(|h| !h.is_empty()) {
            sentinels.push(host_port(host)?);
        }
        if sentinels.is_empty() {
            return Err("a sentinel URL names at least one sentinel".to_owned());
        }
        let path = path.split(['?', '#']).next().unwrap_or("");
        let mut parts = path.split('/').filter(|p| !p.is_empty());
        let service = parts
            .next()
            .ok_or(
                "a sentinel URL ends with the service name: redis+sentinel://host:26379/mymaster",
            )?
            .to_owned();
        let db = parts.next().unwrap_or("").to_owned();
        if !db.is_empty() && db.parse::<u32>().is_err() {
            return Err(format!("database {db:?} is not a number"));
        }
        if parts.next().is_some() {
            return Err("a sentinel URL's path is /service or /service/db".to_owned());
        }
        Ok(SentinelUrl {
            sentinels,
            service,
            tls,
            credentials,
            db,
        })
    }

    /// The URL of a sentinel.
    pub(super) fn sentinel_url(&self, (host, port): &(String, u16)) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}:{port}", bracketed(host))
    }

    /// The URL of the primary at this address.
    pub(super) fn primary_url(&self, host: &str, port: u16) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!(
            "{scheme}://{}{}:{port}/{}",
            self.credentials,
            bracketed(host),
            self.db
        )
    }
}

fn host_port(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("sentinel address {s:?} is not host:port");
    // [v6]:port, [v6], host:port, host
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => SENTINEL_PORT,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            Ok((host.to_owned(), port.parse().map_err(|_| bad())?))
        }
        Some(_) => Err(bad()),
        None => Ok((s.to_owned(), SENTINEL_PORT)),
    }
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::SentinelUrl;

    #[test]
    fn parses_sentinel_urls() {
        let u = SentinelUrl::parse("redis+sentinel://a:1,b,[::1]:3/mymaster/2")
            .unwrap()
            .unwrap();
        assert_eq!(
            u.sentinels,
            vec![
                ("a".to_owned(), 1),
                ("b".to_owned(), 26379),
                ("::1".to_owned(), 3)
            ]
        );
        assert_eq!(u.service, "mymaster");
        assert_eq!(u.primary_url("::1", 7), "redis://[::1]:7/2");
        let u = SentinelUrl::parse("rediss+sentinel://u:p%40@h:9/svc")
            .unwrap()
            .unwrap();
        assert!(u.tls);
        assert_eq!(
            u.primary_url("10.0.0.1", 6379),
            "rediss://u:p%40@10.0.0.1:6379/"
        );
        assert!(SentinelUrl::parse("redis://h:1").is_none());
        assert!(SentinelUrl::parse("redis+sentinel://h:1").unwrap().is_err());
        assert!(SentinelUrl::parse("redis+sentinel:///svc")
            .unwrap()
            .is_err());
        assert!(SentinelUrl::parse("redis+sentinel://h:x/svc")
            .unwrap()
            .is_err());
    }
}
