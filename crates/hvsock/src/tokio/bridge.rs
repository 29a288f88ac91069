//! Joining two connections: what one sends, the other receives, with half-close carried
//! across. The heart of a relay.

use std::io;
use std::net::Shutdown;
use std::time::Duration;

use tokio::time::Instant;

use super::Stream;
use crate::idle::Activity;

/// Bytes that crossed a [`bridge`], in each direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Crossed {
    /// From the first stream to the second.
    pub a_to_b: u64,
    /// From the second stream to the first.
    pub b_to_a: u64,
}

/// The size of the buffer a direction takes while data flows.
const BUF_SIZE: usize = 64 * 1024;

/// Copies `a` to `b` and `b` to `a` at the same time. When one side reaches end-of-file,
/// the other is shut down for writing (so a half-close crosses the bridge); it returns
/// when both directions are done, or at the first error.
///
/// An idle bridge holds no buffer: a direction allocates one only while data flows, so
/// thousands of quiet connections cost little memory.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use hvsock::tokio::{bridge, Listener, Stream};
///
/// // Expose a guest's port 22 on a host Unix socket.
/// let listener = Listener::bind(&"unix:///run/guest-ssh.sock".parse().unwrap())?;
/// let guest: hvsock::Addr = "hybrid://:22/run/vm/v.sock".parse().unwrap();
/// loop {
///     let (client, _) = listener.accept().await?;
///     let guest = guest.clone();
///     tokio::spawn(async move {
///         let upstream = Stream::connect(&guest).await?;
///         bridge(&client, &upstream).await
///     });
/// }
/// # }
/// ```
pub async fn bridge(a: &Stream, b: &Stream) -> io::Result<Crossed> {
    join(a, b, None).await
}

/// As [`bridge`], but gives up with an [`io::ErrorKind::TimedOut`] error once nothing
/// has crossed, either way, for `idle`: a peer that vanished without closing (a paused
/// or killed VM) cannot hold the bridge for ever. The caller then drops both streams,
/// which closes them.
///
/// ```no_run
/// # async fn demo(client: hvsock::tokio::Stream, upstream: hvsock::tokio::Stream) {
/// use std::time::Duration;
///
/// match hvsock::tokio::bridge_with_idle_timeout(&client, &upstream, Duration::from_secs(300)).await {
///     Ok(crossed) => println!("{} bytes there, {} back", crossed.a_to_b, crossed.b_to_a),
///     Err(e) => eprintln!("relay ended: {e}"),
/// }
/// # }
/// ```
pub async fn bridge_with_idle_timeout(a: &Stream, b: &Stream, idle: Duration) -> io::Result<Crossed> {
    join(a, b, Some(idle)).await
}

async fn join(a: &Stream, b: &Stream, idle: Option<Duration>) -> io::Result<Crossed> {
    let last = Activity::default();
    let transfer = async { tokio::try_join!(pump(a, b, &last), pump(b, a, &last)) };
    tokio::pin!(transfer);
    let Some(idle) = idle else {
        let (a_to_b, b_to_a) = transfer.await?;
        return Ok(Crossed { a_to_b, b_to_a });
    };
    loop {
        // None: past the end of time, so never.
        let deadline = Instant::from_std(last.last()).checked_add(idle);
        tokio::select! {
            done = &mut transfer => {
                let (a_to_b, b_to_a) = done?;
                return Ok(Crossed { a_to_b, b_to_a });
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                // Nothing crossed while we slept to the deadline.
                if Instant::from_std(last.last()).checked_add(idle) == deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("idle timeout: nothing crossed either way for {} s", idle.as_secs_f64()),
                    ));
                }
            }
        }
    }
}

/// One direction: waits for data without a buffer, then drains what is there.
async fn pump(from: &Stream, to: &Stream, last: &Activity) -> io::Result<u64> {
    let mut total = 0;
    loop {
        from.readable().await?;
        let mut buf = vec![0u8; BUF_SIZE];
        loop {
            match from.try_read(&mut buf) {
                Ok(0) => {
                    to.shutdown_now(Shutdown::Write)?;
                    return Ok(total);
                }
                Ok(n) => {
                    last.moved();
                    write_all(to, &buf[..n], last).await?;
                    total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

async fn write_all(to: &Stream, mut data: &[u8], last: &Activity) -> io::Result<()> {
    while !data.is_empty() {
        match to.try_write(data) {
            Ok(n) => {
                last.moved();
                data = &data[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => to.writable().await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
