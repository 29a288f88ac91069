//! Connecting again after failures that may pass, as [`crate::Stream::connect_with`]
//! does, without blocking a thread while waiting.

use std::future::Future;
use std::io;

use crate::stream::may_pass;
use crate::{ConnectOptions, Retry};

/// Runs `attempt` until it succeeds, fails for good, or `options.retry` allows no more
/// attempts; waits [`Retry::backoff`] between attempts, logging each retry at `info`.
pub(super) async fn with_retries<T, A>(
    options: &ConnectOptions,
    mut attempt: impl FnMut() -> A,
) -> io::Result<T>
where
    A: Future<Output = io::Result<T>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Ok(connected) => return Ok(connected),
            Err(e) if may_pass(&e) && options.retry.allows(tries) => {
                let wait = Retry::backoff(tries);
                tracing::info!("{e}; trying again in {wait:?} (attempt {})", tries + 1);
                tokio::time::sleep(wait).await;
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
