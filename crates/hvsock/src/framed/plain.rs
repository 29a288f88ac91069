//! A framed connection seen as a plain one: for code (or a child process) that needs a
//! socket of its own, half-close and all.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use super::{Framed, BATCH};
use crate::Stream;

/// The two threads that carry bytes between a framed connection and the plain socket
/// that [`Framed::into_plain`] gave; [`Translator::finish`] says how it ended.
#[derive(Debug)]
pub struct Translator {
    threads: [JoinHandle<()>; 2],
    outcome: Arc<Outcome>,
}

#[derive(Debug, Default)]
struct Outcome {
    /// The first failure of the receiving direction: it says best how the peer ended
    /// (a write to a peer that went away fails with a mere "broken pipe").
    receiving: Mutex<Option<io::Error>>,
    /// The first failure of sending, or of the close.
    sending: Mutex<Option<io::Error>>,
    /// The framed connection is being closed: errors from now on are the close's own.
    closing: AtomicBool,
}

impl Outcome {
    fn record(slot: &Mutex<Option<io::Error>>, err: io::Error) {
        let mut first = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        first.get_or_insert(err);
    }

    fn take(slot: &Mutex<Option<io::Error>>) -> Option<io::Error> {
        slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }
}

impl Framed<Stream> {
    /// Hands the framed connection over to two threads and returns a plain stream (one
    /// end of a Unix socket pair, with the framed stream's addresses) that behaves as the
    /// connection would on a backend that did everything right:
    ///
    /// - what is written to it is sent in `Data` frames; its half-close
    ///   (`shutdown(Write)`) sends `ShutdownWrite`;
    /// - the peer's data is read from it; the peer's `ShutdownWrite` is end-of-file; its
    ///   `Close` is end-of-file and a broken pipe to writes;
    /// - once it is closed (or both directions have ended) the framed connection is
    ///   closed with [`Framed::close`].
    ///
    /// A framed failure (the peer went away without finishing, a protocol error, a close
    /// not acknowledged) ends the plain stream both ways and is returned by
    /// [`Translator::finish`]. Its descriptor can be given to a child process.
    ///
    /// ```no_run
    /// use std::io::Read;
    /// use hvsock::framed::Framed;
    ///
    /// let stream = hvsock::Stream::connect(&"hybrid://:52/run/vm/v.sock".parse()?)?;
    /// let (mut plain, translator) = Framed::new(stream).into_plain()?;
    /// let mut all = Vec::new();
    /// plain.read_to_end(&mut all)?;
    /// drop(plain);
    /// translator.finish()?; // an error if the guest was killed mid-transfer
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_plain(self) -> io::Result<(Stream, Translator)> {
        let (ours, theirs) = UnixStream::pair()?;
        let (local, peer) = (self.get_ref().local_addr().clone(), self.get_ref().peer_addr().clone());
        let plain = Stream::from_accepted(socket2::Socket::from(OwnedFd::from(theirs)), local, peer);
        let framed = Arc::new(self);
        let ours = Arc::new(ours);
        let outcome = Arc::new(Outcome::default());
        let up = {
            let (framed, ours, outcome) = (Arc::clone(&framed), Arc::clone(&ours), Arc::clone(&outcome));
            thread::Builder::new().name("framed-up".into()).spawn(move || up(&framed, &ours, &outcome))?
        };
        let down = {
            let (ours, outcome) = (Arc::clone(&ours), Arc::clone(&outcome));
            thread::Builder::new().name("framed-down".into()).spawn(move || down(&framed, &ours, &outcome))
        };
        let down = down.inspect_err(|_| {
            // The sending thread then sees the plain side end, and closes.
            let _ = ours.shutdown(Shutdown::Both);
        })?;
        Ok((plain, Translator { threads: [up, down], outcome }))
    }
}

impl Translator {
    /// Waits until the framed connection is closed (after the plain stream is), and
    /// returns its first failure, if any.
    pub fn finish(self) -> io::Result<()> {
        for thread in self.threads {
            if thread.join().is_err() {
                return Err(io::Error::other("a framed translator thread panicked"));
            }
        }
        match Outcome::take(&self.outcome.receiving).or_else(|| Outcome::take(&self.outcome.sending)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The plain socket to the framed connection; then, once the plain side is done both
/// ways, the framed close.
fn up(framed: &Framed<Stream>, ours: &UnixStream, outcome: &Outcome) {
    let mut buf = vec![0u8; BATCH];
    loop {
        match (&mut &*ours).read(&mut buf) {
            Ok(0) => {
                if let Err(e) = framed.shutdown(Shutdown::Write) {
                    Outcome::record(&outcome.sending, e);
                }
                break;
            }
            Ok(n) => {
                if let Err(e) = (&mut &*framed).write_all(&buf[..n]) {
                    // The peer closed, or stopped reading: the plain side's writes
                    // fail from now on, as they would on a plain socket.
                    if e.kind() != io::ErrorKind::BrokenPipe {
                        Outcome::record(&outcome.sending, e);
                    }
                    let _ = ours.shutdown(Shutdown::Read);
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                Outcome::record(&outcome.sending, e);
                break;
            }
        }
    }
    wait_hangup(ours);
    outcome.closing.store(true, Ordering::Release);
    if let Err(e) = framed.close_ref() {
        Outcome::record(&outcome.sending, e);
    }
    let _ = ours.shutdown(Shutdown::Both);
}

/// The framed connection to the plain socket.
fn down(framed: &Framed<Stream>, ours: &UnixStream, outcome: &Outcome) {
    let mut buf = vec![0u8; BATCH];
    loop {
        match (&mut &*framed).read(&mut buf) {
            Ok(0) => {
                // End of file for the plain side; and once the peer closes (which may
                // come later), a broken pipe to its writes, as a plain socket would.
                if !framed.peer_closed() {
                    let _ = ours.shutdown(Shutdown::Write);
                    let _ = framed.wait_peer_close();
                }
                let _ = ours.shutdown(Shutdown::Both);
                return;
            }
            Ok(n) => {
                if (&mut &*ours).write_all(&buf[..n]).is_err() {
                    // The plain side reads no more: neither will the peer's writes land.
                    let _ = framed.shutdown(Shutdown::Read);
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                if !outcome.closing.load(Ordering::Acquire) {
                    Outcome::record(&outcome.receiving, e);
                }
                let _ = ours.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Waits until the plain socket is done both ways: its other end closed, or end of file
/// each way (`POLLHUP`).
fn wait_hangup(ours: &UnixStream) {
    let mut fds = libc::pollfd { fd: ours.as_raw_fd(), events: 0, revents: 0 };
    loop {
        // SAFETY: one valid pollfd, count 1; it only reports (no events asked but the
        // ones always reported: POLLHUP, POLLERR).
        let ready = unsafe { libc::poll(&mut fds, 1, -1) };
        if ready == 1 || (ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted) {
            return;
        }
    }
}
