//! What the adapter tests (`grpc.rs`, `http.rs`) share: a server on each transport, in
//! a runtime of its own that a test can drop to play a server that goes away, and a
//! fake hybrid device that relays to it.

use std::io;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;

use hvsock::tokio::Listener;
use hvsock::Addr;
use hvsock_testkit::*;

/// The transports every adapter test runs on.
pub const TRANSPORTS: [Transport; 3] = [Transport::Unix, Transport::Tcp, Transport::Hybrid];

#[derive(Clone, Copy, Debug)]
pub enum Transport {
    Unix,
    Tcp,
    Hybrid,
}

/// A listener on a transport, bound in the server's own runtime, and the address a
/// client dials to reach it.
pub struct Served {
    pub runtime: tokio::runtime::Runtime,
    #[allow(dead_code)] // grpc.rs reads it, http.rs does not
    pub listen: Addr,
    pub dial: Addr,
    _dir: tempfile::TempDir,
}

/// The guest port the fake device connects hybrid clients to.
const PORT: u32 = 50051;

impl Served {
    /// Binds on `transport` in a new runtime, and hands the listener to `serve`, which
    /// is spawned on that runtime.
    pub fn new<F>(transport: Transport, serve: impl FnOnce(Listener) -> F) -> Served
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let dir = tempfile::tempdir().unwrap();
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let _entered = runtime.enter();
        let (listener, dial) = match transport {
            Transport::Unix => {
                let listener = Listener::bind(&unix(&dir.path().join("server.sock"))).unwrap();
                let dial = listener.local_addr().clone();
                (listener, dial)
            }
            Transport::Tcp => {
                let listener = Listener::bind(&"tcp://127.0.0.1:0".parse().unwrap()).unwrap();
                let dial = listener.local_addr().clone();
                (listener, dial)
            }
            Transport::Hybrid => {
                let guest = dir.path().join("guest.sock");
                let listener = Listener::bind(&unix(&guest)).unwrap();
                let device = FakeDevice::new(dir.path());
                let dial = device.uri(PORT);
                thread::spawn(move || relay(device, &guest));
                (listener, dial)
            }
        };
        let listen = listener.local_addr().clone();
        runtime.spawn(serve(listener));
        Served { runtime, listen, dial, _dir: dir }
    }

    /// The server goes away as a killed process would: every task of its runtime
    /// dropped, and with them every connection.
    pub fn kill(self) {
        self.runtime.shutdown_background();
    }
}

/// An address nothing listens on, and its text.
pub fn nothing_listening(dir: &Path) -> Addr {
    unix(&dir.join("nobody.sock"))
}

fn unix(path: &Path) -> Addr {
    format!("unix://{}", path.display()).parse().unwrap()
}

/// Plays the hybrid device: for each client, the handshake, then a relay to the
/// guest's listener; a side that closes is closed on the other.
fn relay(device: FakeDevice, guest: &Path) {
    loop {
        let mut client = device.accept();
        answer_ok(&mut client, PORT);
        let server = UnixStream::connect(guest).unwrap();
        let (client2, server2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        thread::spawn(move || pipe(client, server));
        thread::spawn(move || pipe(server2, client2));
    }
}

fn pipe(mut from: UnixStream, mut to: UnixStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// The whole chain of `e`'s sources, as one line.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Asserts that `e` (or a source of it) names `addr`, and prints the whole chain.
pub fn assert_names(e: &(dyn std::error::Error + 'static), addr: &Addr) {
    let text = chain(e);
    assert!(text.contains(&addr.to_string()), "{text}");
    eprintln!("{text}");
}
