//! Connected pairs and listeners for the tests, on each platform.

use super::super::{Acceptor, Config, Conn};
use crate::Addr;

pub(super) use platform::{raw_pair, unwrap, unwrap_listener, wrap, wrap_listener, Io, Listening};

/// The driven end of a connection, with [`TINY`](super::TINY) or any other config, and
/// the plain blocking peer.
pub(super) fn driven(config: Config) -> (Conn<Io>, crate::Stream) {
    let (ours, theirs) = raw_pair();
    (Conn::new(wrap(ours), config).unwrap(), theirs)
}

/// Both ends driven.
pub(super) fn both_driven(config: Config) -> (Conn<Io>, Conn<Io>) {
    let (a, b) = raw_pair();
    (Conn::new(wrap(a), config).unwrap(), Conn::new(wrap(b), config).unwrap())
}

/// A driven TCP listener on loopback, and its address.
pub(super) fn listening() -> (Acceptor<Listening>, Addr) {
    let listener = crate::Listener::bind(&"tcp://127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().clone();
    (Acceptor::new(wrap_listener(listener)).unwrap(), addr)
}

#[cfg(unix)]
mod platform {
    use std::io::{self, Read, Write};
    use std::net::Shutdown;
    use std::os::fd::{AsRawFd, RawFd};
    use std::os::unix::net::UnixStream;

    use socket2::{Domain, Socket, Type};

    use super::super::super::{Blocking, BlockingListener};
    use crate::{transport, Addr};

    pub(in super::super) type Io = Interruptible<crate::Stream>;
    pub(in super::super) type Listening = Interruptible<crate::Listener>;

    /// A Unix socket pair.
    pub(in super::super) fn raw_pair() -> (crate::Stream, crate::Stream) {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None).unwrap();
        let stream = |s| crate::Stream::from_accepted(s, Addr::Unnamed, Addr::Unnamed);
        (stream(a), stream(b))
    }

    pub(in super::super) fn wrap(stream: crate::Stream) -> Io {
        stream.set_nonblocking(true).unwrap();
        Interruptible::new(stream)
    }

    pub(in super::super) fn wrap_listener(listener: crate::Listener) -> Listening {
        listener.set_nonblocking(true).unwrap();
        Interruptible::new(listener)
    }

    pub(in super::super) fn unwrap(io: Io) -> crate::Stream {
        io.inner.set_nonblocking(false).unwrap();
        io.inner
    }

    pub(in super::super) fn unwrap_listener(listening: Listening) -> crate::Listener {
        listening.inner.set_nonblocking(false).unwrap();
        listening.inner
    }

    /// A non-blocking socket made to block with `poll(2)`, which also watches a wake-up
    /// socket: [`Blocking::interrupt`] writes a byte to it, and the call blocked in
    /// `poll` returns `Interrupted`, as `CancelIoEx` makes a blocked call return on
    /// Windows.
    #[derive(Debug)]
    pub(in super::super) struct Interruptible<T> {
        inner: T,
        wake_read: UnixStream,
        wake_write: UnixStream,
    }

    impl<T: AsRawFd> Interruptible<T> {
        fn new(inner: T) -> Interruptible<T> {
            let (wake_read, wake_write) = UnixStream::pair().unwrap();
            wake_read.set_nonblocking(true).unwrap();
            wake_write.set_nonblocking(true).unwrap();
            Interruptible { inner, wake_read, wake_write }
        }

        /// Runs `op` once `poll` says it may not block (again while it says
        /// `WouldBlock`); `Interrupted` if woken first.
        fn blocking<R>(&self, events: i16, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
            loop {
                self.wait(events)?;
                match op(&self.inner) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    result => return result,
                }
            }
        }

        fn wait(&self, events: i16) -> io::Result<()> {
            let pollfd = |fd: RawFd, events| libc::pollfd { fd, events, revents: 0 };
            let mut fds =
                [pollfd(self.inner.as_raw_fd(), events), pollfd(self.wake_read.as_raw_fd(), libc::POLLIN)];
            // SAFETY: `fds` is an array of two initialised pollfd structs.
            while unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            if fds[1].revents == 0 {
                return Ok(());
            }
            let _ = (&self.wake_read).read(&mut [0u8; 64]);
            Err(io::ErrorKind::Interrupted.into())
        }

        /// Wakes a call blocked in `poll` (a full wake-up socket already wakes it).
        fn wake(&self) {
            let _ = (&self.wake_write).write(&[1]);
        }
    }

    impl Blocking for Interruptible<crate::Stream> {
        fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
            self.blocking(libc::POLLIN, |mut stream| stream.read(buf))
        }

        fn send(&self, buf: &[u8]) -> io::Result<usize> {
            self.blocking(libc::POLLOUT, |mut stream| stream.write(buf))
        }

        fn shutdown(&self, how: Shutdown) -> io::Result<()> {
            self.inner.shutdown(how)
        }

        fn interrupt(&self) {
            self.wake();
        }
    }

    impl BlockingListener for Interruptible<crate::Listener> {
        type Accepted = (crate::Stream, Addr);

        fn accept(&self) -> io::Result<(crate::Stream, Addr)> {
            let (socket, raw) = self.blocking(libc::POLLIN, |listener| listener.as_socket().accept())?;
            socket.set_nonblocking(false)?;
            let local = self.inner.local_addr();
            let peer = transport::peer_addr(local, &raw);
            Ok((crate::Stream::from_accepted(socket, local.clone(), peer.clone()), peer))
        }

        fn interrupt(&self) {
            self.wake();
        }
    }
}

#[cfg(windows)]
mod platform {
    use std::net::{Ipv4Addr, TcpListener, TcpStream};

    use socket2::Socket;

    use crate::Addr;

    /// On Windows the tests drive the very types the async API drives.
    pub(in super::super) type Io = crate::Stream;
    pub(in super::super) type Listening = crate::Listener;

    /// A TCP connection over loopback.
    pub(in super::super) fn raw_pair() -> (crate::Stream, crate::Stream) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (b, _) = listener.accept().unwrap();
        let stream =
            |s: TcpStream| crate::Stream::from_accepted(Socket::from(s), Addr::Unnamed, Addr::Unnamed);
        (stream(a), stream(b))
    }

    pub(in super::super) fn wrap(stream: crate::Stream) -> Io {
        stream
    }

    pub(in super::super) fn wrap_listener(listener: crate::Listener) -> Listening {
        listener
    }

    pub(in super::super) fn unwrap(io: Io) -> crate::Stream {
        io
    }

    pub(in super::super) fn unwrap_listener(listening: Listening) -> crate::Listener {
        listening
    }
}
