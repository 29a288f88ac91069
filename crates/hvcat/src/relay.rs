//! `--relay`: every accepted connection bridged to a new connection elsewhere.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hvsock::tokio::{bridge, bridge_with_idle_timeout, Listener, Stream};
use hvsock::{Addr, ConnectOptions, ListenOptions};
use tracing::{info, warn};

/// Listens on `from` and relays each connection to `to`: one connection, or with
/// `keep_open` every connection, concurrently; a connection on which nothing crosses
/// for `idle` is closed. A failing connection is logged and never stops the listener.
pub fn run(
    from: &Addr,
    to: Addr,
    listen: &ListenOptions,
    connect: ConnectOptions,
    keep_open: bool,
    idle: Option<Duration>,
) -> io::Result<()> {
    raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = Listener::bind_with(from, listen)?;
        info!("relaying {} to {to}", listener.local_addr());
        let target = Arc::new((to, connect));
        loop {
            let (client, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!("{e}");
                    tokio::time::sleep(hvtools::ACCEPT_PAUSE).await;
                    continue;
                }
            };
            let target = Arc::clone(&target);
            let session = tokio::spawn(async move {
                let (to, connect) = &*target;
                if let Err(e) = relay_one(client, &peer, to, connect, idle).await {
                    warn!("{e}");
                }
            });
            if !keep_open {
                let _ = session.await;
                return Ok(());
            }
        }
    })
}

async fn relay_one(
    client: Stream,
    peer: &Addr,
    to: &Addr,
    connect: &ConnectOptions,
    idle: Option<Duration>,
) -> io::Result<()> {
    let started = Instant::now();
    let upstream = Stream::connect_with(to, connect).await?;
    let crossed = match idle {
        Some(idle) => bridge_with_idle_timeout(&client, &upstream, idle).await,
        None => bridge(&client, &upstream).await,
    };
    let crossed = crossed.map_err(|e| io::Error::new(e.kind(), format!("relaying {peer} to {to}: {e}")))?;
    info!(
        "{peer} -> {to}: {} bytes there, {} bytes back in {:.3} s",
        crossed.a_to_b,
        crossed.b_to_a,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A relay holds two descriptors per connection: lift the soft limit on open files to
/// the hard one (`setrlimit(RLIMIT_NOFILE)`), as a server of many connections should.
#[cfg(unix)]
fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write one valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                warn!("cannot raise the open-file limit: {}", io::Error::last_os_error());
            }
        }
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit() {}
