//! A connection of `hvstress` and `hvbench`: plain, or speaking the framed protocol
//! (`--framed`) straight through the library, with no translator in between.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use hvsock::framed::Framed;
use hvsock::{Addr, ConnectOptions, Stream};

/// A plain or a framed connection.
#[derive(Debug)]
pub enum Conn {
    /// The stream itself.
    Plain(Stream),
    /// The stream, framed.
    Framed(Framed<Stream>),
}

impl Conn {
    /// Connects to `addr`, framed or not.
    pub fn connect(addr: &Addr, options: &ConnectOptions, framed: bool) -> io::Result<Conn> {
        Ok(Conn::new(Stream::connect_with(addr, options)?, framed))
    }

    /// `stream`, framed or not.
    pub fn new(stream: Stream, framed: bool) -> Conn {
        if framed {
            Conn::Framed(Framed::new(stream))
        } else {
            Conn::Plain(stream)
        }
    }

    /// The stream under any framing.
    pub fn stream(&self) -> &Stream {
        match self {
            Conn::Plain(stream) => stream,
            Conn::Framed(framed) => framed.get_ref(),
        }
    }

    /// Half-close: `shutdown(SHUT_WR)`, or a framed `ShutdownWrite`.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Conn::Plain(stream) => stream.shutdown(Shutdown::Write),
            Conn::Framed(framed) => framed.shutdown(Shutdown::Write),
        }
    }

    /// Closes: a plain stream is dropped; a framed one sends `Close` and waits for the
    /// peer's, so that a failure to close losslessly is reported.
    pub fn finish(self) -> io::Result<()> {
        match self {
            Conn::Plain(_) => Ok(()),
            Conn::Framed(framed) => framed.close(),
        }
    }
}

impl Read for &Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(stream) => (&mut &*stream).read(buf),
            Conn::Framed(framed) => (&mut &*framed).read(buf),
        }
    }
}

impl Write for &Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(stream) => (&mut &*stream).write(buf),
            Conn::Framed(framed) => (&mut &*framed).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
