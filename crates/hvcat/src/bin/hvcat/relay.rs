//! `--relay`: every accepted connection bridged to a new connection elsewhere.

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hvsock::tokio::{bridge, bridge_with_idle_timeout, Listener, Stream};
use hvsock::{Addr, ConnectOptions, ListenOptions};
use hvtools::framing::{self, Framing};
use hvtools::serve::{self, AcceptFailures, Limits, ACCEPT_PAUSE};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::descriptors;

/// How to relay.
pub struct Plan {
    pub listen: ListenOptions,
    pub connect: ConnectOptions,
    /// Serve connection after connection, concurrently; otherwise one.
    pub keep_open: bool,
    /// Close a connection on which nothing crosses for this long.
    pub idle: Option<Duration>,
    pub limits: Limits,
    /// Whether the accepted connections, and the ones to the target, speak the framed
    /// protocol.
    pub framed: (bool, bool),
}

/// Listens on `from` and relays each connection to `to`, as `plan` says. A failing
/// connection is logged and never stops the listener.
pub fn run(from: &Addr, to: Addr, plan: Plan) -> io::Result<()> {
    descriptors::raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = Listener::bind_with(from, &plan.listen)?;
        info!("relaying {} to {to}", listener.local_addr());
        let target = Arc::new((to, plan.connect, plan.idle, plan.framed));
        if !plan.keep_open {
            let (client, peer) = accept_admitted(&listener, &plan.limits).await?;
            drop(listener); // one connection: stop listening, as plain -l does
            let (to, connect, idle, framed) = &*target;
            return relay_one(client, &peer, to, connect, *idle, *framed).await;
        }
        // At most --max-conns connections at once, and no more than descriptors allow.
        let each = descriptors::per_connection(plan.framed);
        let cap = match (plan.limits.max_conns, descriptors::connection_cap(&listener, each)) {
            (Some(max), Some(fits)) if fits < max => {
                warn!("--max-conns {max}: the limit of open files allows {fits} connections at once, so {fits} it is");
                Some((fits, Cap::Descriptors))
            }
            (Some(max), _) => Some((max, Cap::Asked)),
            (None, fits) => fits.map(|fits| (fits, Cap::Descriptors)),
        };
        let slots = cap.map(|(max, why)| (max, why, Arc::new(Semaphore::new(max))));
        let said = AtomicBool::new(false);
        let mut failures = AcceptFailures::default();
        loop {
            let slot = match &slots {
                Some((max, why, slots)) => {
                    if slots.available_permits() == 0 {
                        match why {
                            Cap::Asked => serve::say_full(*max, &said),
                            Cap::Descriptors => descriptors::say_full(*max, each, &said),
                        }
                    }
                    Some(Arc::clone(slots).acquire_owned().await.expect("the semaphore is never closed"))
                }
                None => None,
            };
            let (client, peer) = match accept_admitted(&listener, &plan.limits).await {
                Ok(accepted) => accepted,
                Err(e) => {
                    if let Some(said) = failures.failed(&e) {
                        warn!("{said}");
                    }
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            };
            if let Some(said) = failures.succeeded() {
                warn!("{said}");
            }
            let target = Arc::clone(&target);
            // Most of an idle relayed connection's memory: 1,224 bytes with Rust 1.95 on
            // x86-64 (2,856 before the connect was boxed and the bridge polled by hand).
            tokio::spawn(async move {
                let (to, connect, idle, framed) = &*target;
                if let Err(e) = relay_one(client, &peer, to, connect, *idle, *framed).await {
                    warn!("{e}");
                }
                drop(slot);
            });
        }
    })
}

/// Where a relay's cap on connections at once comes from.
enum Cap {
    /// `--max-conns`.
    Asked,
    /// The limit of open files ([`descriptors::connection_cap`]).
    Descriptors,
}

/// Accepts the next connection that the limits' filter admits; refused ones are closed
/// and logged.
async fn accept_admitted(listener: &Listener, limits: &Limits) -> io::Result<(Stream, Addr)> {
    loop {
        let (client, peer) = listener.accept().await?;
        if serve::admits(limits.filter.as_ref().map_or(Ok(()), |f| f.check_async(&client))) {
            return Ok((client, peer));
        }
    }
}

async fn relay_one(
    client: Stream,
    peer: &Addr,
    to: &Addr,
    connect: &ConnectOptions,
    idle: Option<Duration>,
    framed: (bool, bool),
) -> io::Result<()> {
    let started = Instant::now();
    // Boxed, so that the connect's future (retries, the hybrid handshake) is on the heap
    // only while it runs: an idle relayed connection's task holds just the bridge.
    let [(client, client_framing), (upstream, upstream_framing)] =
        Box::pin(open(client, peer, to, connect, framed)).await?;
    let crossed = match idle {
        Some(idle) => bridge_with_idle_timeout(&client, &upstream, idle).await,
        None => bridge(&client, &upstream).await,
    };
    // Named only now: an idle connection holds no string for its peer.
    let from = serve::name_peer(peer, client.local_addr());
    if let Err(e) = &crossed {
        // Said while both connections are still open, so that the log has it by the
        // time either peer sees its end.
        warn!("relaying {from} to {to}: {e}");
    }
    drop((client, upstream));
    let framed_ends = (
        client_framing.finish_async(from.clone()).await,
        upstream_framing.finish_async(to.to_string()).await,
    );
    let Ok(crossed) = crossed else { return Ok(()) };
    framed_ends
        .0
        .and(framed_ends.1)
        .map_err(|e| io::Error::new(e.kind(), format!("relaying {from} to {to}: {e}")))?;
    info!(
        "{from} -> {to}: {} bytes there, {} bytes back in {:.3} s",
        crossed.a_to_b,
        crossed.b_to_a,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The client's end, framed if it speaks so, and a new connection to `to`.
async fn open(
    client: Stream,
    peer: &Addr,
    to: &Addr,
    connect: &ConnectOptions,
    framed: (bool, bool),
) -> io::Result<[(Stream, Framing); 2]> {
    let (client, client_framing) = framing::wrap_async(client, framed.0)?;
    // A client that leaves while the upstream keeps us waiting (a full backlog, a guest
    // that does not answer) is not waited for.
    let upstream = tokio::select! {
        upstream = Stream::connect_with(to, connect) => upstream?,
        _ = client.closed() => {
            let from = serve::name_peer(peer, client.local_addr());
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("{from} closed before {to} answered; gave up connecting"),
            ))
        }
    };
    Ok([(client, client_framing), framing::wrap_async(upstream, framed.1)?])
}
