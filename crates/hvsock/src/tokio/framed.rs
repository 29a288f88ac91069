//! The framed protocol for tokio: see [`crate::framed`].

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::Stream;
use crate::framed::reader::ReadBuffer;
use crate::framed::{again, FrameError, Header, BATCH, BATCH_WIRE, DEFAULT_CLOSE_TIMEOUT, MAX_DATA};

/// A connection that speaks the framed protocol, for tokio: `AsyncRead` and
/// `AsyncWrite` as on a plain stream; `AsyncWriteExt::shutdown` sends `ShutdownWrite`
/// (the peer reads end-of-file and can still answer; the socket itself is not shut
/// down); [`Framed::close`] sends `Close` and waits, bounded, for the peer's answer.
///
/// Writes are gathered into one buffer (up to 256 KiB of payload) and sent in one
/// system call; as with `tokio::io::BufWriter`, `flush`, `shutdown` or `close` sends
/// what is left.
///
/// ```no_run
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # async fn demo() -> std::io::Result<()> {
/// let addr: hvsock::Addr = "hybrid://:52/run/vm/v.sock".parse().unwrap();
/// let mut framed = hvsock::tokio::Framed::new(hvsock::tokio::Stream::connect(&addr).await?);
/// framed.write_all(b"request").await?;
/// framed.shutdown().await?; // ShutdownWrite: the guest reads end-of-file
/// let mut reply = Vec::new();
/// framed.read_to_end(&mut reply).await?; // an error, not end-of-file, if the guest died
/// framed.close().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Framed<T = Stream> {
    inner: T,
    reader: ReadBuffer,
    /// Encoded frames not yet sent (from `sent` on).
    out: Vec<u8>,
    sent: usize,
    write_failed: Option<io::Error>,
    write_shut: bool,
    close_sent: bool,
    peer_closed: bool,
    peer_read_shut: bool,
    close_timeout: Duration,
}

fn broken_pipe(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, why.to_owned())
}

impl<T: AsyncRead + AsyncWrite + Unpin> Framed<T> {
    /// Speaks the framed protocol over `inner`, from its first byte.
    pub fn new(inner: T) -> Framed<T> {
        Framed {
            inner,
            reader: ReadBuffer::new(),
            out: Vec::new(),
            sent: 0,
            write_failed: None,
            write_shut: false,
            close_sent: false,
            peer_closed: false,
            peer_read_shut: false,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }

    /// How long [`Framed::close`] waits for the peer's `Close`.
    pub fn with_close_timeout(mut self, timeout: Duration) -> Framed<T> {
        self.close_timeout = timeout;
        self
    }

    /// The connection under the framing.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Whether the peer has sent `Close`.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Sends `Close` (after anything still buffered), waits for the peer's `Close` in
    /// answer, dropping data that arrives meanwhile, and fails if none comes within the
    /// close timeout or the connection ends first. Reading and writing are over after it;
    /// drop the stream to close the socket.
    pub async fn close(&mut self) -> io::Result<()> {
        let timeout = self.close_timeout;
        let work = async {
            self.queue_close();
            self.flush().await?;
            poll_fn(|cx| self.poll_drain(cx)).await
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(FrameError::CloseNotAcknowledged(timeout).into()))
    }

    fn queue(&mut self, header: Header) {
        self.out.extend_from_slice(&header.encode());
    }

    fn queue_close(&mut self) {
        if !self.close_sent {
            self.close_sent = true;
            self.queue(Header::Close);
        }
    }

    /// Decodes the buffer into `out`; a `Close` received is answered (queued, and sent
    /// as far as the socket takes it now).
    fn pump(&mut self, cx: &mut Context<'_>, out: &mut [u8]) -> io::Result<usize> {
        let (mut closed, mut read_shut) = (false, false);
        let n = self.reader.pump(out, |header| match header {
            Header::Close => closed = true,
            Header::ShutdownRead => read_shut = true,
            Header::ShutdownWrite | Header::Data(_) => {}
        })?;
        self.peer_closed |= closed;
        self.peer_read_shut |= read_shut;
        if self.peer_closed && !self.close_sent {
            self.queue_close();
            let _ = self.poll_send(cx);
        }
        Ok(n)
    }

    /// Receives more into the used-up read buffer.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut space = ReadBuf::new(self.reader.space());
        match ready!(Pin::new(&mut self.inner).poll_read(cx, &mut space)) {
            Ok(()) => {
                let n = space.filled().len();
                Poll::Ready(self.reader.received(n))
            }
            Err(e) => Poll::Ready(self.reader.receive_failed(e)),
        }
    }

    /// Reads and drops everything until the peer's `Close`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut discard = [0u8; MAX_DATA];
        loop {
            self.reader.check()?;
            while self.pump(cx, &mut discard)? > 0 {}
            if self.peer_closed {
                return Poll::Ready(Ok(()));
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) => return Poll::Ready(Err(FrameError::CloseCutOff.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Poll::Ready(Err(FrameError::CloseCutOff.into()))
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Sends the queued frames.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = &self.write_failed {
            return Poll::Ready(Err(again(e)));
        }
        while self.sent < self.out.len() {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.sent..])) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "the connection took no more bytes");
                    self.write_failed = Some(again(&e));
                    return Poll::Ready(Err(e));
                }
                Ok(n) => self.sent += n,
                Err(e) => {
                    self.write_failed = Some(again(&e));
                    return Poll::Ready(Err(e));
                }
            }
        }
        self.out.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    fn writable(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Some(e) = &self.write_failed {
            return Err(again(e));
        }
        if self.peer_closed {
            self.queue_close();
            let _ = self.poll_send(cx);
            return Err(broken_pipe("the peer closed the framed connection"));
        }
        if self.close_sent {
            return Err(broken_pipe("the framed connection is closed"));
        }
        if self.write_shut {
            return Err(broken_pipe("the framed connection is shut down for writing"));
        }
        if self.peer_read_shut {
            return Err(broken_pipe("the peer shut down reading (framed ShutdownRead)"));
        }
        Ok(())
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Framed<T> {
    /// Payload bytes; end-of-file once the peer has sent `ShutdownWrite` or `Close`; an
    /// error if the stream ends any other way.
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            this.reader.check()?;
            let n = this.pump(cx, buf.initialize_unfilled())?;
            if n > 0 {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.reader.decoder.finished() {
                return Poll::Ready(Ok(()));
            }
            ready!(this.poll_fill(cx))?;
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Framed<T> {
    /// Queues up to 256 KiB as `Data` frames, sending what was queued before once that
    /// much is waiting.
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.writable(cx)?;
        if this.out.len() - this.sent >= BATCH_WIRE {
            ready!(this.poll_send(cx))?;
        }
        let len = buf.len().min(BATCH);
        for chunk in buf[..len].chunks(MAX_DATA) {
            this.queue(Header::Data(chunk.len() as u16));
            this.out.extend_from_slice(chunk);
        }
        Poll::Ready(Ok(len))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Sends `ShutdownWrite` (once) after what is queued. The socket is not shut down.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.write_shut {
            self.write_shut = true;
            if !self.close_sent {
                self.queue(Header::ShutdownWrite);
            }
        }
        self.poll_flush(cx)
    }
}
