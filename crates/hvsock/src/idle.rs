//! Idle timeouts: a connection on which nothing has moved, either way, for too long is
//! shut down, so that a peer that vanished without closing (a paused or killed VM, a
//! backend that never reports the close) cannot hold a program for ever.
//!
//! [`Activity`] records when bytes last moved; copy loops record each move (through
//! [`Activity::count`], or [`Activity::moved`] by hand). A blocking program has a
//! [`Watchdog`] thread shut the connection down; the async
//! [`bridge_with_idle_timeout`](crate::tokio::bridge_with_idle_timeout) reads the same
//! record from a timer.
//!
//! ```no_run
//! use std::io::Read;
//! use std::sync::Arc;
//! use std::time::Duration;
//! use hvsock::idle::{Activity, Watchdog};
//!
//! let stream = hvsock::Stream::connect(&"hybrid://:52/run/vm/v.sock".parse()?)?;
//! let activity = Arc::new(Activity::default());
//! let watchdog = Watchdog::start(&stream, &activity, Duration::from_secs(30))?;
//! let mut got = Vec::new();
//! activity.count(&stream).read_to_end(&mut got)?; // ends at end-of-file, or after 30 s of silence
//! watchdog.finish()?; // `TimedOut` if it was the silence
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::Stream;

/// When bytes last moved on a connection, in either direction, and whether its
/// [`Watchdog`] shut it down for idling. Copy loops call [`Activity::moved`] after each
/// successful transfer (one relaxed store per chunk).
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Nanoseconds from `start` to the last move.
    last: AtomicU64,
    idled_out: AtomicBool,
}

impl Default for Activity {
    fn default() -> Self {
        Activity { start: Instant::now(), last: AtomicU64::new(0), idled_out: AtomicBool::new(false) }
    }
}

impl Activity {
    /// Records that bytes moved now.
    pub fn moved(&self) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.store(nanos, Ordering::Relaxed);
    }

    /// When bytes last moved (the start, if they never did).
    pub fn last(&self) -> Instant {
        self.start + Duration::from_nanos(self.last.load(Ordering::Relaxed))
    }

    /// Whether the connection was shut down because nothing moved: what ended the copy
    /// loops then is not the peer.
    pub fn idled_out(&self) -> bool {
        self.idled_out.load(Ordering::SeqCst)
    }

    /// Wraps a reader or writer so that each successful call records a move.
    pub fn count<T>(&self, inner: T) -> Counted<'_, T> {
        Counted { inner, activity: self }
    }
}

/// A reader or writer whose successful calls are recorded in an [`Activity`].
pub struct Counted<'a, T> {
    inner: T,
    activity: &'a Activity,
}

impl<T: Read> Read for Counted<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.activity.moved();
        Ok(n)
    }
}

impl<T: Write> Write for Counted<'_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.activity.moved();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Watches one connection on a thread of its own: once nothing has moved for `limit`,
/// it marks the [`Activity`] idled out and shuts the connection down both ways
/// (`shutdown(2)` with `SHUT_RDWR`), which wakes any read or write blocked on it.
pub struct Watchdog {
    activity: Arc<Activity>,
    limit: Duration,
    /// Dropped when the connection is done: wakes the thread, which then exits.
    done: Option<Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching `stream` (through a clone of its handle) and `activity`.
    pub fn start(stream: &Stream, activity: &Arc<Activity>, limit: Duration) -> io::Result<Watchdog> {
        let stream = stream.try_clone()?;
        let (done, wake) = mpsc::channel::<()>();
        let watched = Arc::clone(activity);
        let thread = thread::Builder::new().spawn(move || loop {
            let deadline = watched.last() + limit;
            let now = Instant::now();
            if now >= deadline {
                watched.idled_out.store(true, Ordering::SeqCst);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            match wake.recv_timeout(deadline - now) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        })?;
        Ok(Watchdog { activity: Arc::clone(activity), limit, done: Some(done), thread: Some(thread) })
    }

    /// Stops watching; a [`io::ErrorKind::TimedOut`] error if the connection had been
    /// shut down for idling.
    pub fn finish(mut self) -> io::Result<()> {
        self.stop();
        if self.activity.idled_out() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("nothing moved either way for {} s; closed the connection", self.limit.as_secs_f64()),
            ));
        }
        Ok(())
    }

    fn stop(&mut self) {
        self.done.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn pair(dir: &std::path::Path) -> (Stream, std::os::unix::net::UnixStream) {
        let path = dir.join("s");
        let listener = UnixListener::bind(&path).unwrap();
        let addr = format!("unix://{}", path.display()).parse().unwrap();
        let stream = Stream::connect(&addr).unwrap();
        (stream, listener.accept().unwrap().0)
    }

    #[test]
    fn an_idle_connection_is_shut_down_after_the_limit_and_a_busy_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (stream, mut peer) = pair(dir.path());
        let activity = Arc::new(Activity::default());
        let started = Instant::now();
        let dog = Watchdog::start(&stream, &activity, Duration::from_millis(300)).unwrap();
        // Busy for 600 ms: a byte every 50 ms keeps the connection alive.
        let mut counted = activity.count(&stream);
        let mut byte = [0u8; 1];
        while started.elapsed() < Duration::from_millis(600) {
            peer.write_all(b"x").unwrap();
            counted.read_exact(&mut byte).unwrap();
            thread::sleep(Duration::from_millis(50));
        }
        // Then idle: the blocked read is woken by the shutdown, as end-of-file.
        let idle_from = Instant::now();
        assert_eq!(counted.read(&mut byte).unwrap(), 0);
        let waited = idle_from.elapsed();
        assert!(activity.idled_out(), "the watchdog fired");
        let err = dog.finish().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(err.to_string(), "nothing moved either way for 0.3 s; closed the connection");
        assert!(
            waited >= Duration::from_millis(240) && waited < Duration::from_millis(400),
            "woke after {waited:?}"
        );
        let mut rest = Vec::new();
        assert_eq!(peer.read_to_end(&mut rest).unwrap(), 0, "the peer sees the close");
    }

    #[test]
    fn finishing_early_stops_the_watch_without_firing() {
        let dir = tempfile::tempdir().unwrap();
        let (stream, _peer) = pair(dir.path());
        let dog = Watchdog::start(&stream, &Arc::default(), Duration::from_secs(60)).unwrap();
        let started = Instant::now();
        assert!(dog.finish().is_ok());
        assert!(started.elapsed() < Duration::from_secs(1));
        let activity = Activity::default();
        thread::sleep(Duration::from_millis(2));
        activity.moved();
        assert!(activity.last() > activity.start);
    }
}
