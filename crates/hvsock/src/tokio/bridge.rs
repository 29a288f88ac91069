//! Joining two connections: what one sends, the other receives, with half-close carried
//! across. The heart of a relay.

use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::backend::StreamBackend;
#[cfg(target_os = "linux")]
use super::splice;
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
/// thousands of quiet connections cost little memory. On Linux, between Unix and TCP
/// sockets (`unix://`, `hybrid://`, `hyperkit://` and `tcp://` ends), the bytes do not
/// come up to user space at all: they are moved with `splice(2)` through a pipe, which
/// a direction holds only while data flows (from a small pool; a burst that cannot have
/// one, at the limit of open files, is copied instead). That needs `SIGPIPE` ignored, as
/// Rust programs have it; where it is not, or for vsock and Hyper-V ends, the bytes are
/// copied through a 64 KiB buffer.
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
    let mut pumps = [Pump::new(a, b), Pump::new(b, a)];
    let transfer = poll_fn(|cx| poll_both(cx, (a, b), &mut pumps, &last));
    tokio::pin!(transfer);
    let Some(idle) = idle else {
        return transfer.await;
    };
    loop {
        // None: past the end of time, so never.
        let deadline = Instant::from_std(last.last()).checked_add(idle);
        tokio::select! {
            done = &mut transfer => return done,
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

/// Both directions: done when both are, failed at the first error.
fn poll_both(
    cx: &mut Context<'_>,
    (a, b): (&Stream, &Stream),
    [there, back]: &mut [Pump; 2],
    last: &Activity,
) -> Poll<io::Result<Crossed>> {
    let there_done = there.poll(cx, (a, b), last)?.is_ready();
    let back_done = back.poll(cx, (b, a), last)?.is_ready();
    if there_done && back_done {
        return Poll::Ready(Ok(Crossed { a_to_b: there.total, b_to_a: back.total }));
    }
    Poll::Pending
}

/// What ended a burst of data in one direction.
pub(super) enum Burst {
    /// The source would block, and everything read from it is written: the buffer or
    /// pipe goes back.
    Drained,
    /// End-of-file, everything before it written.
    Eof,
}

/// One direction: waits holding nothing until there is data to read and room to write
/// it, then moves it through a pipe
/// (`splice(2)`, Linux, between Unix and TCP sockets) or a buffer until the source would
/// block; the pipe or buffer is held only while data flows.
struct Pump {
    state: State,
    /// Bytes written to the destination.
    total: u64,
    /// Whether this direction may splice.
    #[cfg(target_os = "linux")]
    splice: bool,
}

enum State {
    /// Waiting for the source to become readable.
    Waiting,
    /// A burst through a buffer: `buf[start..end]` is still to be written.
    Copying { buf: Vec<u8>, start: usize, end: usize },
    /// A burst through a pipe.
    #[cfg(target_os = "linux")]
    Splicing(splice::Pipe),
    /// End-of-file carried across.
    Done,
}

impl Pump {
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
    fn new(from: &Stream, to: &Stream) -> Pump {
        Pump {
            state: State::Waiting,
            total: 0,
            #[cfg(target_os = "linux")]
            splice: splice::qualifies(from, to),
        }
    }

    /// Moves what there is; `Ready` once end-of-file has been carried across (with
    /// `shutdown(2)` of the destination for writing).
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        (from, to): (&Stream, &Stream),
        last: &Activity,
    ) -> Poll<io::Result<()>> {
        loop {
            let burst = match &mut self.state {
                State::Done => return Poll::Ready(Ok(())),
                State::Waiting => {
                    // Both ends ready before a pipe or buffer is taken: a new connection's
                    // write readiness is known only once the reactor has reported it, and
                    // a burst would otherwise hold its pipe until then.
                    ready!(from.poll_read_ready_priv(cx))?;
                    ready!(to.poll_write_ready_priv(cx))?;
                    self.state = self.start_burst((from, to));
                    continue;
                }
                State::Copying { buf, start, end } => {
                    ready!(poll_copy(cx, (from, to), (buf, start, end), last, &mut self.total))?
                }
                #[cfg(target_os = "linux")]
                State::Splicing(pipe) => {
                    ready!(splice::poll_burst(pipe, cx, (from, to), last, &mut self.total))?
                }
            };
            let ended = std::mem::replace(&mut self.state, State::Waiting);
            #[cfg(target_os = "linux")]
            if let State::Splicing(pipe) = ended {
                pipe.give_back((from, to));
            }
            #[cfg(not(target_os = "linux"))]
            drop(ended);
            if let Burst::Eof = burst {
                self.state = State::Done;
                to.shutdown_now(Shutdown::Write)?;
            }
        }
    }

    /// A pipe if this direction splices and one can be had, else a buffer for what
    /// `from` holds.
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
    fn start_burst(&self, (from, to): (&Stream, &Stream)) -> State {
        #[cfg(target_os = "linux")]
        if self.splice {
            if let Some(pipe) = splice::Pipe::take((from, to)) {
                return State::Splicing(pipe);
            }
        }
        State::Copying { buf: vec![0u8; first_read(from)], start: 0, end: 0 }
    }
}

/// The size of a burst's first buffer: what `from` holds (`ioctl(FIONREAD)`), at most
/// [`BUF_SIZE`], so that a short message does not take (and fragment the heap with) a
/// 64 KiB buffer; [`BUF_SIZE`] where that is not known. A burst that fills it goes on
/// with [`BUF_SIZE`].
#[cfg(unix)]
fn first_read(from: &Stream) -> usize {
    use std::os::fd::AsRawFd;
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, the bytes waiting to be read.
    match unsafe { libc::ioctl(from.as_raw_fd(), libc::FIONREAD, &mut queued) } {
        0 => usize::try_from(queued).unwrap_or(0).clamp(1, BUF_SIZE),
        _ => BUF_SIZE,
    }
}

#[cfg(not(unix))]
fn first_read(_: &Stream) -> usize {
    BUF_SIZE
}

/// What one write of a burst into `to` (`send(2)` from a buffer, `splice(2)` from a pipe)
/// came to: the bytes that went out, added to `total` and recorded in `last`; 0 when
/// none went out yet (interrupted, or `to` writable again after it would have blocked,
/// which this waits for). A write of nothing is an error (`WriteZero`).
pub(super) fn poll_written(
    cx: &mut Context<'_>,
    to: &Stream,
    wrote: io::Result<usize>,
    (last, total): (&Activity, &mut u64),
) -> Poll<io::Result<usize>> {
    match wrote {
        Ok(0) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
        Ok(n) => {
            *total += n as u64;
            last.moved();
            Poll::Ready(Ok(n))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            ready!(to.poll_write_ready_priv(cx))?;
            Poll::Ready(Ok(0))
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Poll::Ready(Ok(0)),
        Err(e) => Poll::Ready(Err(e)),
    }
}

/// A burst through `buf`: reads (`recv(2)`) and writes (`send(2)`) until `from` would
/// block with everything written, or ends.
fn poll_copy(
    cx: &mut Context<'_>,
    (from, to): (&Stream, &Stream),
    (buf, start, end): (&mut Vec<u8>, &mut usize, &mut usize),
    last: &Activity,
    total: &mut u64,
) -> Poll<io::Result<Burst>> {
    loop {
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        if *start < *end {
            let n = ready!(poll_written(cx, to, to.try_write(&buf[*start..*end]), (last, total)))?;
            if n > 0 {
                #[cfg(all(test, target_os = "linux"))]
                splice::tests::copied(n);
                *start += n;
                coop.made_progress();
            }
            continue;
        }
        if *end == buf.len() && buf.len() < BUF_SIZE {
            *buf = vec![0u8; BUF_SIZE]; // more came than the first read asked for
        }
        match from.try_read(buf) {
            Ok(0) => return Poll::Ready(Ok(Burst::Eof)),
            Ok(n) => {
                (*start, *end) = (0, n);
                last.moved();
                coop.made_progress();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Ready(Ok(Burst::Drained)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}
