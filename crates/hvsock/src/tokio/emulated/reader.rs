//! The read side of a connection: a thread that reads ahead into a bounded queue, and
//! the polls that take from it.

use std::collections::VecDeque;
use std::io;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::ReadBuf;

use super::{Blocking, Config, Wakers};

/// What the reader thread has read and not yet been taken, and how reading ended.
#[derive(Debug, Default)]
pub(super) struct ReadSide {
    state: Mutex<ReadState>,
    /// The thread waits here for room, and whoever stops it waits here for it to exit.
    signal: Condvar,
}

#[derive(Debug, Default)]
struct ReadState {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the first chunk already taken.
    taken: usize,
    /// Bytes in `chunks` not yet taken.
    queued: usize,
    end: End,
    /// Shut down for reading here: later data is dropped, a failing `recv` is the end.
    shut: bool,
    /// Nobody reads any more (the connection was dropped or is being detached).
    stop: bool,
    /// The thread waits for room.
    waiting: bool,
    exited: bool,
    wakers: Wakers,
}

/// How reading ended, once the queue has been taken.
#[derive(Debug, Default)]
enum End {
    #[default]
    Open,
    Eof,
    /// An error, reported once; end-of-file after it.
    Failed(io::Error),
}

/// The reader thread: reads at most `config.chunk` bytes at a time while the queue has
/// room, until end-of-file, an error, or [`ReadSide::stop`].
pub(super) fn run<S: Blocking>(io: &S, side: &ReadSide, config: Config) {
    let mut scratch = vec![0u8; config.chunk];
    while let Some(room) = side.wait_for_room(config.buffer) {
        let want = room.min(scratch.len());
        let result = io.recv(&mut scratch[..want]);
        if !side.deliver(io, result, &scratch) {
            break;
        }
    }
    side.exited();
}

impl ReadSide {
    fn lock(&self) -> MutexGuard<'_, ReadState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until the queue has room, then says how much; `None` once stopped.
    fn wait_for_room(&self, buffer: usize) -> Option<usize> {
        let mut state = self.lock();
        loop {
            if state.stop {
                return None;
            }
            if state.queued < buffer {
                return Some(buffer - state.queued);
            }
            state.waiting = true;
            state = self.signal.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            state.waiting = false;
        }
    }

    /// Queues what a `recv` gave (the first bytes of `scratch`), or records how reading
    /// ended; whether to read on.
    fn deliver<S: Blocking>(&self, io: &S, result: io::Result<usize>, scratch: &[u8]) -> bool {
        let mut state = self.lock();
        let go_on = match result {
            Ok(0) => {
                state.finish(End::Eof);
                false
            }
            Ok(_) if state.shut => true,
            Ok(n) => {
                state.chunks.push_back(scratch[..n].to_vec());
                state.queued += n;
                true
            }
            Err(e) if io.is_interruption(&e) => true,
            Err(_) if state.shut => {
                state.finish(End::Eof);
                false
            }
            Err(e) => {
                state.finish(End::Failed(e));
                false
            }
        };
        let go_on = go_on && !state.stop;
        let wakers = state.wakers.take();
        drop(state);
        wakers.wake();
        go_on
    }

    /// Marks the thread gone.
    fn exited(&self) {
        let mut state = self.lock();
        state.exited = true;
        let wakers = state.wakers.take();
        drop(state);
        self.signal.notify_all();
        wakers.wake();
    }

    /// Reads into `buf` what is queued; end-of-file (nothing read) or the error once
    /// the queue is empty and reading has ended; otherwise waits.
    pub(super) fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        if state.queued > 0 {
            state.take(buf.remaining(), |bytes| buf.put_slice(bytes));
            self.made_room(&state);
            return Poll::Ready(Ok(()));
        }
        match state.ended() {
            Some(result) => Poll::Ready(result.map(drop)),
            None => {
                state.wakers.register(cx.waker());
                Poll::Pending
            }
        }
    }

    /// As [`ReadSide::poll_read`] without waiting: `WouldBlock` instead.
    pub(super) fn try_read(&self, dst: &mut [u8]) -> io::Result<usize> {
        let mut state = self.lock();
        if state.queued > 0 {
            let mut n = 0;
            state.take(dst.len(), |bytes| {
                dst[n..n + bytes.len()].copy_from_slice(bytes);
                n += bytes.len();
            });
            self.made_room(&state);
            return Ok(n);
        }
        state.ended().unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()))
    }

    /// Ready once something is queued or reading has ended.
    pub(super) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        if state.queued > 0 || !matches!(state.end, End::Open) {
            return Poll::Ready(Ok(()));
        }
        state.wakers.register(cx.waker());
        Poll::Pending
    }

    fn made_room(&self, state: &ReadState) {
        if state.waiting {
            self.signal.notify_all();
        }
    }

    /// After a local `shutdown(Read)`: what is queued is still read, then end-of-file;
    /// what arrives later is dropped.
    pub(super) fn shut(&self) {
        let mut state = self.lock();
        state.shut = true;
        state.finish(End::Eof);
        let wakers = state.wakers.take();
        drop(state);
        wakers.wake();
    }

    /// Tells the thread to read no more: it leaves when it waits for room, or when its
    /// `recv` returns.
    pub(super) fn stop(&self) {
        self.lock().stop = true;
        self.signal.notify_all();
    }

    /// Waits at most `pause` for the thread to exit; whether it has.
    pub(super) fn wait_exited(&self, pause: Duration) -> bool {
        super::wait_for(&self.signal, self.lock(), pause, |state| state.exited)
    }

    /// What a detached connection would lose: bytes read ahead and not taken, or an
    /// error not yet reported.
    pub(super) fn leftover(&self) -> io::Result<usize> {
        let mut state = self.lock();
        match std::mem::take(&mut state.end) {
            End::Failed(e) => Err(e),
            _ => Ok(state.queued),
        }
    }
}

impl ReadState {
    /// Takes up to `max` queued bytes, in order, handing each piece to `put`.
    fn take(&mut self, max: usize, mut put: impl FnMut(&[u8])) {
        let mut left = max;
        while left > 0 {
            let Some(front) = self.chunks.front() else { break };
            let piece = &front[self.taken..];
            let n = piece.len().min(left);
            put(&piece[..n]);
            left -= n;
            self.queued -= n;
            self.taken += n;
            if self.taken == front.len() {
                self.chunks.pop_front();
                self.taken = 0;
            }
        }
    }

    /// Records how reading ended, unless it already has.
    fn finish(&mut self, end: End) {
        if matches!(self.end, End::Open) {
            self.end = end;
        }
    }

    /// With the queue empty: `Some(Ok(0))` at end-of-file, the error once (then
    /// end-of-file), `None` while reading goes on.
    fn ended(&mut self) -> Option<io::Result<usize>> {
        match std::mem::replace(&mut self.end, End::Eof) {
            End::Open => {
                self.end = End::Open;
                None
            }
            End::Eof => Some(Ok(0)),
            End::Failed(e) => Some(Err(e)),
        }
    }
}
