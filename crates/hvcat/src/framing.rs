//! `--framed`: a connection that speaks the framed protocol ([`hvsock::framed`]), seen by
//! the rest of the tools as a plain stream with a working half-close.
//!
//! The connection is handed to [`hvsock::framed::Framed::into_plain`]; what the tools
//! read, write, shut down and close is one end of a Unix socket pair, so every mode
//! (standard input and output, `--echo`, `--exec` with the socket as the command's
//! standard input and output, `--relay`, `-i`, `--expect-bytes`) works unchanged. How
//! the framed side ended (a peer that went away without finishing, a protocol error, a
//! close not acknowledged) is told by [`Framing::finish`] once the plain end is closed.

use std::io;

use hvsock::Stream;

/// The translator of a framed connection, if it is one.
#[derive(Debug)]
pub struct Framing {
    #[cfg(unix)]
    translator: Option<hvsock::framed::Translator>,
}

impl Framing {
    /// Nothing to finish: a plain connection.
    pub fn plain() -> Framing {
        Framing {
            #[cfg(unix)]
            translator: None,
        }
    }

    /// Waits until the framed connection is closed (the plain stream must be dropped
    /// first) and returns how it ended, naming `peer`.
    pub fn finish(self, peer: &str) -> io::Result<()> {
        #[cfg(unix)]
        if let Some(translator) = self.translator {
            return translator.finish().map_err(|e| io::Error::new(e.kind(), format!("{peer}: {e}")));
        }
        let _ = peer;
        Ok(())
    }

    /// [`Framing::finish`] off the async executor.
    pub async fn finish_async(self, peer: String) -> io::Result<()> {
        match tokio::task::spawn_blocking(move || self.finish(&peer)).await {
            Ok(result) => result,
            Err(e) => Err(io::Error::other(format!("the framed close failed: {e}"))),
        }
    }
}

/// With `framed`, the plain stream that stands for `stream` spoken framed; otherwise
/// `stream` itself.
pub fn wrap(stream: Stream, framed: bool) -> io::Result<(Stream, Framing)> {
    if !framed {
        return Ok((stream, Framing::plain()));
    }
    #[cfg(unix)]
    {
        let (plain, translator) = hvsock::framed::Framed::new(stream).into_plain()?;
        Ok((plain, Framing { translator: Some(translator) }))
    }
    #[cfg(not(unix))]
    Err(unsupported())
}

/// [`wrap`] for an async stream.
pub fn wrap_async(
    stream: hvsock::tokio::Stream,
    framed: bool,
) -> io::Result<(hvsock::tokio::Stream, Framing)> {
    if !framed {
        return Ok((stream, Framing::plain()));
    }
    #[cfg(unix)]
    {
        let (plain, framing) = wrap(stream.into_std()?, true)?;
        Ok((hvsock::tokio::Stream::from_std(plain)?, framing))
    }
    #[cfg(not(unix))]
    Err(unsupported())
}

#[cfg(not(unix))]
fn unsupported() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "--framed is not supported on this platform yet")
}
