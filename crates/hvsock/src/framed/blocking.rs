//! The blocking framed stream.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use super::codec::{data_headers, Header, HEADER_LEN, MAX_DATA};
use super::reader::ReadBuffer;
use super::transport::Transport;
use super::{again, FrameError, BATCH, BATCH_FRAMES, DEFAULT_CLOSE_TIMEOUT};
use crate::Stream;

/// A connection that speaks the framed protocol (see [the module](super)): `Read` and
/// `Write` as on a plain stream, a half-close that survives any backend, and a close
/// that waits for the peer's acknowledgement.
///
/// One thread may read while another writes (`&Framed` is `Read` and `Write`); the close
/// never reads behind a reader's back.
///
/// ```no_run
/// use std::io::{Read, Write};
/// use std::net::Shutdown;
/// use hvsock::framed::Framed;
///
/// // A Firecracker or vhost-device-vsock host: the backend would turn a plain
/// // half-close into a full close and lose the reply.
/// let stream = hvsock::Stream::connect(&"hybrid://:52/run/vm/v.sock".parse()?)?;
/// let mut framed = Framed::new(stream);
/// framed.write_all(b"request")?;
/// framed.shutdown(Shutdown::Write)?; // a ShutdownWrite frame: the guest reads end-of-file
/// let mut reply = Vec::new();
/// framed.read_to_end(&mut reply)?; // an error, not end-of-file, if the guest died
/// framed.close()?; // Close, and the guest's Close in answer
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Framed<S: Transport = Stream> {
    inner: S,
    reader: Mutex<ReadBuffer>,
    writer: Mutex<Writer>,
    /// The peer's `Close` has arrived.
    peer_closed: AtomicBool,
    /// The peer's `ShutdownRead` has arrived.
    peer_read_shut: AtomicBool,
    /// We shut down reading.
    read_shut: AtomicBool,
    close_timeout: Duration,
}

#[derive(Debug, Default)]
struct Writer {
    write_shut: bool,
    read_shut_sent: bool,
    close_sent: bool,
    failed: Option<io::Error>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn broken_pipe(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, why.to_owned())
}

impl<S: Transport> Framed<S> {
    /// Speaks the framed protocol over `inner`, from its first byte. The close waits at
    /// most [`DEFAULT_CLOSE_TIMEOUT`] for the peer's acknowledgement.
    pub fn new(inner: S) -> Framed<S> {
        Framed {
            inner,
            reader: Mutex::new(ReadBuffer::new()),
            writer: Mutex::new(Writer::default()),
            peer_closed: AtomicBool::new(false),
            peer_read_shut: AtomicBool::new(false),
            read_shut: AtomicBool::new(false),
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }

    /// How long [`Framed::close`] waits for the peer's `Close`.
    pub fn with_close_timeout(mut self, timeout: Duration) -> Framed<S> {
        self.close_timeout = timeout;
        self
    }

    /// The connection under the framing.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Whether the peer has sent `Close` (then reads give end-of-file and writes fail).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed.load(Ordering::Acquire)
    }

    /// Sends `ShutdownWrite` (`Shutdown::Write`: the peer reads end-of-file, and can
    /// still answer), `ShutdownRead` (`Shutdown::Read`: the peer's writes fail, ours to
    /// read give end-of-file), or both. Each is sent once; the socket itself is not shut
    /// down, which is the point.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mut writer = lock(&self.writer);
        if matches!(how, Shutdown::Read | Shutdown::Both) && !writer.read_shut_sent {
            self.read_shut.store(true, Ordering::Release);
            writer.read_shut_sent = true;
            if !writer.close_sent {
                self.send_control(&mut writer, Header::ShutdownRead)?;
            }
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) && !writer.write_shut {
            writer.write_shut = true;
            if !writer.close_sent {
                self.send_control(&mut writer, Header::ShutdownWrite)?;
            }
        }
        Ok(())
    }

    /// Sends `Close`, waits for the peer's `Close` in answer (data that arrives
    /// meanwhile is dropped), then closes the connection. Fails if the peer does not
    /// answer within the close timeout ([`FrameError::CloseNotAcknowledged`]) or goes
    /// away first ([`FrameError::CloseCutOff`]).
    pub fn close(self) -> io::Result<()> {
        self.close_ref()
    }

    /// [`Framed::close`] through a shared reference; the connection is shut down both
    /// ways at the end, which wakes any thread still blocked on it.
    pub(crate) fn close_ref(&self) -> io::Result<()> {
        let result = self.send_close_and_wait();
        let _ = self.inner.shutdown(Shutdown::Both);
        result
    }

    /// After the peer's `ShutdownWrite`: waits, with no time limit, for its `Close` (or
    /// the end of the connection, an error). Anything else would break the protocol.
    #[cfg(unix)]
    pub(crate) fn wait_peer_close(&self) -> io::Result<()> {
        let mut reader = lock(&self.reader);
        let mut nothing = [0u8; 1];
        loop {
            reader.check()?;
            self.pump(&mut reader, &mut nothing)?;
            if self.peer_closed() {
                return Ok(());
            }
            if self.fill(&mut reader)? == 0 {
                return Err(FrameError::CloseCutOff.into());
            }
        }
    }

    fn send_close_and_wait(&self) -> io::Result<()> {
        let deadline = Instant::now() + self.close_timeout;
        {
            let mut writer = lock(&self.writer);
            if let Some(e) = &writer.failed {
                return Err(again(e));
            }
            if !writer.close_sent {
                writer.close_sent = true;
                self.send_control(&mut writer, Header::Close)?;
            }
        }
        let mut discard = [0u8; MAX_DATA];
        loop {
            if self.peer_closed() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(FrameError::CloseNotAcknowledged(self.close_timeout).into());
            }
            let mut reader = match self.reader.try_lock() {
                Ok(reader) => reader,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    // Another thread is reading: it will see the answer.
                    std::thread::sleep(left.min(Duration::from_millis(5)));
                    continue;
                }
            };
            reader.check()?;
            while self.pump(&mut reader, &mut discard)? > 0 {}
            if self.peer_closed() {
                return Ok(());
            }
            self.inner.set_read_timeout(Some(left))?;
            match self.fill(&mut reader) {
                Ok(0) => return Err(FrameError::CloseCutOff.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(FrameError::CloseCutOff.into())
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(FrameError::CloseNotAcknowledged(self.close_timeout).into())
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Decodes what the buffer holds into `out`, acting on control frames.
    fn pump(&self, reader: &mut ReadBuffer, out: &mut [u8]) -> io::Result<usize> {
        reader.pump(out, |header| self.on_control(header))
    }

    fn on_control(&self, header: Header) {
        match header {
            Header::Close => {
                self.peer_closed.store(true, Ordering::Release);
                // Answer at once if no write is under way (else the next write or the
                // close will).
                if let Ok(mut writer) = self.writer.try_lock() {
                    if !writer.close_sent && writer.failed.is_none() {
                        writer.close_sent = true;
                        let _ = self.send_control(&mut writer, Header::Close);
                    }
                }
            }
            Header::ShutdownRead => self.peer_read_shut.store(true, Ordering::Release),
            Header::ShutdownWrite | Header::Data(_) => {}
        }
    }

    /// Reads more of the stream into the (used-up) buffer; 0 at its end, an error
    /// there unless the peer finished.
    fn fill(&self, reader: &mut ReadBuffer) -> io::Result<usize> {
        loop {
            match self.inner.recv(reader.space()) {
                Ok(n) => return reader.received(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return reader.receive_failed(e),
            }
        }
    }

    fn read_framed(&self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || self.read_shut.load(Ordering::Acquire) {
            return Ok(0);
        }
        let mut reader = lock(&self.reader);
        loop {
            reader.check()?;
            let n = self.pump(&mut reader, out)?;
            if n > 0 {
                return Ok(n);
            }
            if reader.decoder.finished() {
                return Ok(0);
            }
            self.fill(&mut reader)?;
        }
    }

    fn writable(&self, writer: &mut Writer) -> io::Result<()> {
        if let Some(e) = &writer.failed {
            return Err(again(e));
        }
        if writer.close_sent && !self.peer_closed() {
            return Err(broken_pipe("the framed connection is closed"));
        }
        if writer.write_shut {
            return Err(broken_pipe("the framed connection is shut down for writing"));
        }
        if self.peer_closed() {
            if !writer.close_sent {
                writer.close_sent = true;
                self.send_control(writer, Header::Close)?;
            }
            return Err(broken_pipe("the peer closed the framed connection"));
        }
        if self.peer_read_shut.load(Ordering::Acquire) {
            return Err(broken_pipe("the peer shut down reading (framed ShutdownRead)"));
        }
        Ok(())
    }

    fn write_framed(&self, buf: &[u8]) -> io::Result<usize> {
        let mut writer = lock(&self.writer);
        self.writable(&mut writer)?;
        if buf.is_empty() {
            return Ok(0);
        }
        let len = buf.len().min(BATCH);
        let mut headers = [[0u8; HEADER_LEN]; BATCH_FRAMES];
        let frames = data_headers(len, &mut headers);
        let mut slices = [IoSlice::new(&[]); 2 * BATCH_FRAMES];
        for (i, (header, payload)) in headers[..frames].iter().zip(buf[..len].chunks(MAX_DATA)).enumerate() {
            slices[2 * i] = IoSlice::new(header);
            slices[2 * i + 1] = IoSlice::new(payload);
        }
        self.send_all(&mut writer, &mut slices[..2 * frames])?;
        Ok(len)
    }

    fn send_control(&self, writer: &mut Writer, header: Header) -> io::Result<()> {
        let bytes = header.encode();
        self.send_all(writer, &mut [IoSlice::new(&bytes)])
    }

    /// Sends every byte of `slices` in as few system calls as the socket takes. Once
    /// part of a frame is out, a failure leaves the stream unusable (and says so again
    /// to every later write).
    fn send_all(&self, writer: &mut Writer, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
        let mut sent_any = false;
        while !slices.is_empty() {
            match self.inner.send_vectored(slices) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "the connection took no more bytes");
                    writer.failed = Some(again(&e));
                    return Err(e);
                }
                Ok(n) => {
                    sent_any = true;
                    IoSlice::advance_slices(&mut slices, n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let timeout = matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut);
                    if sent_any || !timeout {
                        writer.failed = Some(again(&e));
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl<S: Transport> Read for &Framed<S> {
    /// Payload bytes, from as many frames as the buffer holds; 0 once the peer has sent
    /// `ShutdownWrite` or `Close`; an error if the stream ends any other way.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_framed(buf)
    }
}

impl<S: Transport> Write for &Framed<S> {
    /// Up to [`super::BATCH`] bytes as `Data` frames of at most 4096 bytes, in one
    /// `sendmsg(2)` where the socket takes them all.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_framed(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: Transport> Read for Framed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_framed(buf)
    }
}

impl<S: Transport> Write for Framed<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_framed(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
