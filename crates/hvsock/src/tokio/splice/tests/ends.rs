//! The four ends of a bridged connection for the tests: a blocking client and server
//! (Unix or TCP), and the bridge's two async streams between them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use crate::tokio::Stream;
use crate::Addr;

/// The transport of one side of the bridge.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Unix,
    Tcp,
}

/// A blocking peer of the bridge, usable from two threads at once (`&Peer` reads and
/// writes).
pub(super) enum Peer {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Peer {
    pub(super) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Peer::Unix(s) => s.shutdown(how),
            Peer::Tcp(s) => s.shutdown(how),
        }
    }

    /// Makes the close reset the connection: `SO_LINGER` of zero on TCP; a Unix socket
    /// closed with unread bytes resets its peer anyway.
    pub(super) fn reset_on_close(&self) {
        if let Peer::Tcp(s) = self {
            socket2::SockRef::from(s).set_linger(Some(Duration::ZERO)).unwrap();
        }
    }

    fn give_up_after(&self, limit: Duration) {
        let sock = match self {
            Peer::Unix(s) => socket2::SockRef::from(s),
            Peer::Tcp(s) => socket2::SockRef::from(s),
        };
        sock.set_read_timeout(Some(limit)).unwrap();
        sock.set_write_timeout(Some(limit)).unwrap();
    }

    /// Writes `data`, then shuts down for writing.
    pub(super) fn send_all(&self, data: &[u8]) -> io::Result<()> {
        let mut me = self;
        me.write_all(data)?;
        self.shutdown(Shutdown::Write)
    }

    /// Reads to end-of-file.
    pub(super) fn read_all(&self) -> Vec<u8> {
        let mut got = Vec::new();
        let mut me = self;
        me.read_to_end(&mut got).unwrap();
        got
    }
}

impl Read for &Peer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Peer::Unix(s) => (&*s).read(buf),
            Peer::Tcp(s) => (&*s).read(buf),
        }
    }
}

impl Write for &Peer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Peer::Unix(s) => (&*s).write(buf),
            Peer::Tcp(s) => (&*s).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// client <-> a == bridge == b <-> server. `a` and `b` are async: make them inside the
/// runtime they will be polled on (`Runtime::enter`).
pub(super) struct Ends {
    pub(super) client: Peer,
    pub(super) a: Stream,
    pub(super) b: Stream,
    pub(super) server: Peer,
    pub(super) _dir: tempfile::TempDir,
}

impl Ends {
    pub(super) fn new(front: Kind, back: Kind) -> Ends {
        let dir = tempfile::tempdir().unwrap();
        let (client, a) = accepted(front, &dir.path().join("front.sock"));
        let (b, server) = connected(back, &dir.path().join("back.sock"));
        for peer in [&client, &server] {
            peer.give_up_after(PEER_LIMIT);
        }
        Ends { client, a: Stream::from_std(a).unwrap(), b: Stream::from_std(b).unwrap(), server, _dir: dir }
    }

    /// A guard that, dropped while a test fails, shuts the bridge's ends down both ways,
    /// so that the peers' threads see end-of-file or `EPIPE` and the test fails at once
    /// rather than at [`PEER_LIMIT`].
    pub(super) fn unstick_on_panic(&self) -> impl Drop + '_ {
        struct Unstick<'a>(&'a Stream, &'a Stream);
        impl Drop for Unstick<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let _ = self.0.shutdown_now(Shutdown::Both);
                    let _ = self.1.shutdown_now(Shutdown::Both);
                }
            }
        }
        Unstick(&self.a, &self.b)
    }
}

/// A peer blocked this long fails (`SO_RCVTIMEO`, `SO_SNDTIMEO`): a broken bridge fails
/// its test instead of hanging it.
const PEER_LIMIT: Duration = Duration::from_secs(90);

/// A client connected to an `hvsock` listener, and the connection it accepted.
fn accepted(kind: Kind, path: &std::path::Path) -> (Peer, crate::Stream) {
    let addr: Addr = match kind {
        Kind::Unix => Addr::Unix(path.to_path_buf()),
        Kind::Tcp => "tcp://127.0.0.1:0".parse().unwrap(),
    };
    let listener = crate::Listener::bind(&addr).unwrap();
    let client = match listener.local_addr() {
        Addr::Unix(path) => Peer::Unix(UnixStream::connect(path).unwrap()),
        Addr::Tcp(tcp) => Peer::Tcp(TcpStream::connect(("127.0.0.1", tcp.port)).unwrap()),
        other => unreachable!("{other}"),
    };
    (client, listener.accept().unwrap().0)
}

/// An `hvsock` connection to a plain listener, and the server's end of it.
fn connected(kind: Kind, path: &std::path::Path) -> (crate::Stream, Peer) {
    match kind {
        Kind::Unix => {
            let listener = UnixListener::bind(path).unwrap();
            let b = crate::Stream::connect(&Addr::Unix(path.to_path_buf())).unwrap();
            (b, Peer::Unix(listener.accept().unwrap().0))
        }
        Kind::Tcp => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let b = crate::Stream::connect(&format!("tcp://127.0.0.1:{port}").parse().unwrap()).unwrap();
            (b, Peer::Tcp(listener.accept().unwrap().0))
        }
    }
}
