//! [`RedisExt`]: `Ork::redis(url)`.

use std::future::Future;

use ork_core::{Ork, Result};

use crate::RedisBackend;

/// Opens an [`Ork`] client on Redis: `Ork::redis(url).await?`.
///
/// ```no_run
/// use ork_core::Ork;
/// use ork_redis::RedisExt;
///
/// # async fn demo() -> ork_core::Result<()> {
/// let ork = Ork::redis("redis://127.0.0.1:6379").await?;
/// # Ok(()) }
/// ```
///
/// For a namespace, a pool size or TLS roots, build a
/// [`RedisBackend`] and pass it to [`Ork::with_backend`].
pub trait RedisExt: Sized {
    /// Connects to Redis at `url` with the default settings.
    fn redis(url: &str) -> impl Future<Output = Result<Self>> + Send + 'static;
}

impl RedisExt for Ork {
    fn redis(url: &str) -> impl Future<Output = Result<Self>> + Send + 'static {
        let url = url.to_owned();
        async move {
            let backend = RedisBackend::connect(&url).await?;
            Ok(Ork::with_backend(backend))
        }
    }
}
