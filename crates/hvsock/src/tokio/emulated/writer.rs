//! The write side of a connection: writes queue bytes (at most a buffer's worth), a
//! thread sends them, then the half-close if one was asked for.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::reader::ReadSide;
use super::{interrupt_until, Blocking, Config, Wakers, STOP_LIMIT};

/// The bytes queued for sending and the state of the writer thread.
#[derive(Debug, Default)]
pub(super) struct WriteSide {
    state: Mutex<WriteState>,
    /// The thread waits here for work.
    signal: Condvar,
}

#[derive(Debug, Default)]
struct WriteState {
    /// Written and not yet taken by the thread.
    pending: Vec<u8>,
    /// `pending` and the bytes the thread is sending.
    queued: usize,
    /// Shut down for writing: no more writes.
    closed: bool,
    fin: Fin,
    failed: Option<Failure>,
    stop: Option<Stop>,
    wakers: Wakers,
}

/// The half-close (`shutdown(Write)`), sent after everything queued before it.
#[derive(Debug, Default)]
enum Fin {
    #[default]
    NotAsked,
    Asked,
    /// Done; its error until reported.
    Done(Option<io::Error>),
}

/// Why the thread should end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The connection was dropped: send what is queued, then shut down and wake the
    /// reader.
    Close,
    /// The socket goes back to blocking use: leave it as it is.
    Detach,
}

/// A failed send: the error itself for the first caller, the same kind and message for
/// every later one.
#[derive(Debug)]
struct Failure {
    first: Option<io::Error>,
    kind: io::ErrorKind,
    message: String,
}

impl Failure {
    fn new(err: io::Error) -> Failure {
        Failure { kind: err.kind(), message: err.to_string(), first: Some(err) }
    }

    fn error(&mut self) -> io::Error {
        self.first
            .take()
            .unwrap_or_else(|| io::Error::new(self.kind, format!("a send failed: {}", self.message)))
    }
}

enum Job {
    Send,
    Fin,
    Stop(Stop),
}

/// The writer thread: sends each batch of queued bytes in calls of at most
/// `config.chunk` bytes, then the half-close once asked for, until told to stop.
pub(super) fn run<S: Blocking>(io: &S, side: &WriteSide, read: &ReadSide, config: Config) {
    let mut batch = Vec::new();
    loop {
        match side.next_job(&mut batch) {
            Job::Send => {
                let sent = send_all(io, &batch, config.chunk);
                side.sent(batch.len(), sent);
                batch = Vec::new(); // an idle connection keeps no buffer
            }
            Job::Fin => side.fin_done(io.shutdown(Shutdown::Write)),
            Job::Stop(Stop::Close) => return close(io, read),
            Job::Stop(Stop::Detach) => return,
        }
    }
}

fn send_all<S: Blocking>(io: &S, data: &[u8], chunk: usize) -> io::Result<()> {
    let mut sent = 0;
    while sent < data.len() {
        let end = data.len().min(sent + chunk);
        match io.send(&data[sent..end]) {
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "the connection took no more bytes"))
            }
            Ok(n) => sent += n,
            // Only an abort interrupts a send, and it shuts the socket down first: the
            // next attempt fails for good.
            Err(e) if io.is_interruption(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The end of a dropped connection, once what was queued has been sent: shut it down
/// both ways (the peer sees end-of-file) and interrupt the reader until it has gone.
fn close<S: Blocking>(io: &S, read: &ReadSide) {
    let _ = io.shutdown(Shutdown::Both);
    if !interrupt_until(|| io.interrupt(), |pause| read.wait_exited(pause), STOP_LIMIT) {
        tracing::debug!(
            "the reader thread of a closed connection is still blocked; it ends with the connection"
        );
    }
}

impl WriteSide {
    fn lock(&self) -> MutexGuard<'_, WriteState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for something to do: a batch to send (swapped into `batch`), the
    /// half-close, or the end. Sending comes first, then the half-close.
    fn next_job(&self, batch: &mut Vec<u8>) -> Job {
        let mut state = self.lock();
        loop {
            if state.failed.is_none() {
                if !state.pending.is_empty() {
                    std::mem::swap(&mut state.pending, batch);
                    return Job::Send;
                }
                if matches!(state.fin, Fin::Asked) {
                    return Job::Fin;
                }
            }
            if let Some(stop) = state.stop {
                return Job::Stop(stop);
            }
            state = self.signal.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Accounts for a batch of `len` bytes sent, or for the failure that drops
    /// everything queued.
    fn sent(&self, len: usize, result: io::Result<()>) {
        let mut state = self.lock();
        state.queued -= len;
        if let Err(e) = result {
            state.failed = Some(Failure::new(e));
            state.queued = 0;
            state.pending = Vec::new();
        }
        self.wake(state);
    }

    fn fin_done(&self, result: io::Result<()>) {
        let mut state = self.lock();
        state.fin = Fin::Done(result.err());
        self.wake(state);
    }

    fn wake(&self, mut state: MutexGuard<'_, WriteState>) {
        let wakers = state.wakers.take();
        drop(state);
        wakers.wake();
    }

    /// Queues what fits of `bufs` (at most `buffer` bytes queued in all). `None` when
    /// the queue is full (registering `waker`, if any, to be woken when it is not).
    fn put(&self, bufs: &[IoSlice<'_>], buffer: usize, waker: Option<&Waker>) -> Option<io::Result<usize>> {
        let mut state = self.lock();
        if let Some(failure) = &mut state.failed {
            return Some(Err(failure.error()));
        }
        if state.closed {
            return Some(Err(io::Error::new(io::ErrorKind::BrokenPipe, "shut down for writing")));
        }
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        let room = buffer.saturating_sub(state.queued);
        if len == 0 {
            return Some(Ok(0));
        }
        if room == 0 {
            if let Some(waker) = waker {
                state.wakers.register(waker);
            }
            return None;
        }
        let was_idle = state.pending.is_empty();
        let mut left = room.min(len);
        let taken = left;
        for buf in bufs {
            let n = buf.len().min(left);
            state.pending.extend_from_slice(&buf[..n]);
            left -= n;
        }
        state.queued += taken;
        drop(state);
        if was_idle {
            self.signal.notify_all();
        }
        Some(Ok(taken))
    }

    /// Queues what fits of `bufs`, or waits for room.
    pub(super) fn poll_write(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        buffer: usize,
    ) -> Poll<io::Result<usize>> {
        self.put(bufs, buffer, Some(cx.waker())).map_or(Poll::Pending, Poll::Ready)
    }

    /// Queues what fits of `buf`: `WouldBlock` if nothing does.
    pub(super) fn try_write(&self, buf: &[u8], buffer: usize) -> io::Result<usize> {
        self.put(&[IoSlice::new(buf)], buffer, None).unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()))
    }

    /// Ready once a write would not wait: there is room, or it would fail.
    pub(super) fn poll_ready(&self, cx: &mut Context<'_>, buffer: usize) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        if state.queued < buffer || state.failed.is_some() || state.closed {
            return Poll::Ready(Ok(()));
        }
        state.wakers.register(cx.waker());
        Poll::Pending
    }

    /// Ready once everything queued has been sent, or sending failed.
    pub(super) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        if let Some(failure) = &mut state.failed {
            return Poll::Ready(Err(failure.error()));
        }
        if state.queued == 0 {
            return Poll::Ready(Ok(()));
        }
        state.wakers.register(cx.waker());
        Poll::Pending
    }

    /// Asks for the half-close after what is queued, and waits until it is done.
    pub(super) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        if let Some(failure) = &mut state.failed {
            return Poll::Ready(Err(failure.error()));
        }
        match &mut state.fin {
            Fin::Done(err) => return Poll::Ready(err.take().map_or(Ok(()), Err)),
            Fin::NotAsked => {
                state.closed = true;
                state.fin = Fin::Asked;
                self.signal.notify_all();
            }
            Fin::Asked => {}
        }
        state.wakers.register(cx.waker());
        Poll::Pending
    }

    /// Asks for the half-close after what is queued, without waiting.
    pub(super) fn shut(&self) {
        let mut state = self.lock();
        state.closed = true;
        if matches!(state.fin, Fin::NotAsked) {
            state.fin = Fin::Asked;
            self.signal.notify_all();
        }
    }

    /// The connection was dropped: the thread sends what is queued, then closes.
    /// Whether anything is still to be sent.
    pub(super) fn close(&self) -> bool {
        let mut state = self.lock();
        state.stop = Some(Stop::Close);
        self.signal.notify_all();
        state.queued > 0
    }

    /// Bytes written and not yet sent.
    pub(super) fn unsent(&self) -> usize {
        self.lock().queued
    }

    /// Lets the thread go, leaving the socket as it is.
    pub(super) fn detach(&self) {
        self.lock().stop = Some(Stop::Detach);
        self.signal.notify_all();
    }
}
