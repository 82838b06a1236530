//! Redis Sentinel: finding the primary, and following it through a failover.
//!
//! A `redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]`
//! URL (`rediss+sentinel://` for TLS) names the sentinels and the service
//! they watch. [`Resolver::primary`] asks the sentinels, in order, for the
//! service's primary (`SENTINEL get-master-addr-by-name`) and takes the
//! first answer that says `master` to `ROLE` itself: a server still
//! starting, or demoted, is passed over.
//!
//! [`PrimaryConn`] is a multiplexed connection that follows the primary. It
//! does not reconnect to a fixed address (a primary that comes back after
//! a failover is stale, and empty if it kept no data): when a command
//! fails on the connection (I/O error, timeout, dropped connection) or the
//! server answers `READONLY` (it was demoted), the connection is dropped,
//! the error goes to the caller, and the next command asks the sentinels
//! again. Callers retry as they do after any connection error; every
//! write ork makes is idempotent or fenced, so a retry is safe.
//!
//! A primary replaced while it stays up gives no error until the sentinels
//! demote it, seconds later. So the resolver also asks the sentinels every
//! second whom they name; each new name starts an epoch, and connections
//! (shared and blocking) made in an older epoch are dropped before their
//! next use.
//!
//! `url.rs` reads the URL, `resolver.rs` asks the sentinels, `primary.rs`
//! is the connection.

mod primary;
mod resolver;
mod url;

pub(crate) use primary::PrimaryConn;
pub(crate) use resolver::Resolver;
pub(crate) use url::SentinelUrl;
