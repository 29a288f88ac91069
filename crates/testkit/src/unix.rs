//! The Unix-socket parts of the kit: a fake hybrid-vsock device, a listener whose
//! backlog is full, and an assertion of silence.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A hybrid-vsock device (Firecracker, vhost-device-vsock) played by the test.
pub struct FakeDevice {
    pub uds: PathBuf,
    listener: UnixListener,
}

impl FakeDevice {
    pub fn new(dir: &Path) -> Self {
        let uds = dir.join("vm.vsock");
        let listener = UnixListener::bind(&uds).unwrap();
        FakeDevice { uds, listener }
    }

    pub fn uri(&self, port: u32) -> hvsock::Addr {
        format!("hybrid://:{port}{}", self.uds.display()).parse().unwrap()
    }

    /// Accepts the next connection, and nothing more.
    pub fn accept(&self) -> UnixStream {
        self.listener.accept().unwrap().0
    }

    /// Accepts a connection and reads its request line, byte by byte as Firecracker does.
    pub fn accept_request(&self) -> (UnixStream, String) {
        let mut conn = self.accept();
        let line = read_request(&mut conn);
        (conn, line)
    }

    /// Serves one connection: checks the request, says `OK`, and hands the stream over.
    pub fn accept_ok(&self, port: u32) -> UnixStream {
        let mut conn = self.accept();
        answer_ok(&mut conn, port);
        conn
    }
}

/// Reads a request line from `conn`, byte by byte as Firecracker does.
pub fn read_request(conn: &mut UnixStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while conn.read(&mut byte).unwrap() == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    String::from_utf8(line).unwrap()
}

/// Plays the device's side of the handshake on an accepted `conn`: checks that the
/// request is `CONNECT <port>`, and says `OK`.
pub fn answer_ok(conn: &mut UnixStream, port: u32) {
    assert_eq!(read_request(conn), format!("CONNECT {port}\n"));
    conn.write_all(format!("OK {}\n", 1 << 30).as_bytes()).unwrap();
}

/// Asserts that nothing arrives on `conn` within `wait`.
pub fn assert_silent(conn: &UnixStream, wait: Duration) {
    conn.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 64];
    let mut reader = conn;
    match reader.read(&mut buf) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
        other => panic!("expected silence, got {other:?} {:?}", &buf[..4]),
    }
    conn.set_read_timeout(None).unwrap();
}

/// A Unix listener at `path` whose backlog is full, so that a new `connect(2)` to it can
/// never complete: `listen(0)`, and non-blocking connects queued until one is refused
/// with `EAGAIN`. Keep both values alive for as long as the jam should last.
pub fn jammed_listener(path: &Path) -> (socket2::Socket, Vec<socket2::Socket>) {
    jammed_listener_of(socket2::Type::STREAM, path)
}

/// [`jammed_listener`] with sockets of type `ty` (`SOCK_SEQPACKET` for message mode).
pub fn jammed_listener_of(ty: socket2::Type, path: &Path) -> (socket2::Socket, Vec<socket2::Socket>) {
    use socket2::{Domain, SockAddr, Socket};
    let listener = Socket::new(Domain::UNIX, ty, None).unwrap();
    listener.bind(&SockAddr::unix(path).unwrap()).unwrap();
    listener.listen(0).unwrap();
    let mut held = Vec::new();
    loop {
        let socket = Socket::new(Domain::UNIX, ty, None).unwrap();
        socket.set_nonblocking(true).unwrap();
        match socket.connect(&SockAddr::unix(path).unwrap()) {
            Ok(()) => held.push(socket),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return (listener, held),
            Err(e) => panic!("jamming {}: {e}", path.display()),
        }
        assert!(held.len() < 10_000, "the backlog of {} never filled", path.display());
    }
}
