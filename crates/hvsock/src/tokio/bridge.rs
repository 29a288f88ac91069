//! Joining two connections: what one sends, the other receives, with half-close carried
//! across. The heart of a relay.

use std::io;
use std::net::Shutdown;

use super::Stream;

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
    let (a_to_b, b_to_a) = tokio::try_join!(pump(a, b), pump(b, a))?;
    Ok(Crossed { a_to_b, b_to_a })
}

/// One direction: waits for data without a buffer, then drains what is there.
async fn pump(from: &Stream, to: &Stream) -> io::Result<u64> {
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
                    write_all(to, &buf[..n]).await?;
                    total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

async fn write_all(to: &Stream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match to.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => to.writable().await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
