//! A stand-in for hyperkit's virtio-sock host side, built on the real guest's
//! vhost-device-vsock, so `hyperkit://` URIs can be tested against a real
//! kernel AF_VSOCK peer.
//!
//! - Host -> guest: listens on `<dir>/connect`; like hyperkit, does a single
//!   `read` of at most 18 bytes and requires the whole header `%08x.%08x\n`
//!   (CID.port, hex) from it, refuses a CID other than the configured guest
//!   CID by closing, then opens the hybrid socket with `CONNECT <port>` and
//!   relays. Like hyperkit it never writes an acknowledgement.
//! - Guest -> host: for each configured port P, listens on the device's
//!   `<uds>_P` and forwards to `<dir>/00000002.%08x` (P in hex).
//!
//! Relays carry a half-close through (EOF on one side becomes
//! `shutdown(SHUT_WR)` on the other).

use std::io::{self, Read};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::hybrid;
use crate::util::{Context, Result};

/// Length of the hyperkit connect header, `%08x.%08x\n`.
const HEADER_LEN: usize = 18;

/// The running shim; dropping it stops accepting and shuts every relayed stream.
pub struct HyperkitShim {
    stop: Arc<AtomicBool>,
    acceptors: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// What happened, for assertions and failure messages.
    events: Mutex<Vec<String>>,
    /// Every stream the shim handed out, to shut down on drop.
    streams: Mutex<Vec<UnixStream>>,
}

impl Shared {
    fn event(&self, e: String) {
        self.events.lock().unwrap().push(e);
    }
    fn track(&self, s: &UnixStream) {
        if let Ok(c) = s.try_clone() {
            self.streams.lock().unwrap().push(c);
        }
    }
}

/// The hyperkit socket name for the host end of guest connections to `port`.
pub fn host_socket_name(port: u32) -> String {
    format!("00000002.{port:08x}")
}

impl HyperkitShim {
    /// Starts the shim in `dir` for the guest behind the device socket `uds`.
    pub fn start(dir: &Path, uds: &Path, guest_cid: u32, guest_to_host_ports: &[u32]) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared::default());
        let mut acceptors = Vec::new();

        let connect = bind(&dir.join("connect"))?;
        let uds_owned = uds.to_path_buf();
        acceptors.push(accept_loop(connect, &stop, &shared, move |client, shared| {
            host_to_guest(client, &uds_owned, guest_cid, shared)
        }));
        for &port in guest_to_host_ports {
            let listener = bind(&hybrid::listen_path(uds, port))?;
            let target = dir.join(host_socket_name(port));
            acceptors.push(accept_loop(listener, &stop, &shared, move |device, shared| {
                guest_to_host(device, &target, shared)
            }));
        }
        Ok(HyperkitShim { stop, acceptors, shared })
    }

    /// Everything the shim did so far, one line per event.
    pub fn events(&self) -> Vec<String> {
        self.shared.events.lock().unwrap().clone()
    }
}

impl Drop for HyperkitShim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.acceptors.drain(..) {
            let _ = t.join();
        }
        for s in self.shared.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn bind(path: &Path) -> Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Accepts until `stop`, handling each connection on its own thread.
fn accept_loop(
    listener: UnixListener,
    stop: &Arc<AtomicBool>,
    shared: &Arc<Shared>,
    handler: impl Fn(UnixStream, &Shared) + Send + Sync + 'static,
) -> JoinHandle<()> {
    let stop = stop.clone();
    let shared = shared.clone();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    shared.track(&stream);
                    let (shared, handler) = (shared.clone(), handler.clone());
                    std::thread::spawn(move || handler(stream, &shared));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    shared.event(format!("accept failed: {e}"));
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    })
}

/// Parses `%08x.%08x\n` into (cid, port).
fn parse_header(h: &[u8]) -> Option<(u32, u32)> {
    if h.len() != HEADER_LEN || h[8] != b'.' || h[17] != b'\n' {
        return None;
    }
    let text = std::str::from_utf8(&h[..17]).ok()?;
    let hex = |s: &str| (s.len() == 8).then(|| u32::from_str_radix(s, 16).ok()).flatten();
    Some((hex(&text[..8])?, hex(&text[9..])?))
}

/// Logs why a connection is dropped and closes it (no reply, as hyperkit).
fn reject(stream: &UnixStream, shared: &Shared, why: String) {
    shared.event(why);
    let _ = stream.shutdown(Shutdown::Both);
}

fn host_to_guest(mut client: UnixStream, uds: &Path, guest_cid: u32, shared: &Shared) {
    let mut header = [0u8; HEADER_LEN];
    // One read of at most 18 bytes, as hyperkit does: a header split over
    // two writes, or anything else, is refused.
    let n = match client.read(&mut header) {
        Ok(n) => n,
        Err(e) => return reject(&client, shared, format!("connect: read failed: {e}")),
    };
    let Some((cid, port)) = parse_header(&header[..n]) else {
        let got = String::from_utf8_lossy(&header[..n]).into_owned();
        return reject(
            &client,
            shared,
            format!("connect: bad header {got:?} (want %08x.%08x\\n in one write)"),
        );
    };
    shared.event(format!("connect: header cid {cid} port {port}"));
    if cid != guest_cid {
        return reject(&client, shared, format!("connect: refused cid {cid} (guest is {guest_cid})"));
    }
    match hybrid::connect(uds, port, Duration::from_secs(10)) {
        Ok(guest) => {
            shared.track(&guest);
            relay(client, guest, &format!("host->guest port {port}"), shared);
        }
        Err(e) => reject(&client, shared, format!("connect: guest port {port}: {e}")),
    }
}

fn guest_to_host(device: UnixStream, target: &PathBuf, shared: &Shared) {
    match UnixStream::connect(target) {
        Ok(host) => {
            shared.track(&host);
            relay(device, host, &format!("guest->{}", target.display()), shared);
        }
        Err(e) => reject(&device, shared, format!("guest->host: connect {}: {e}", target.display())),
    }
}

/// Copies both ways until both directions hit EOF, passing each EOF on as
/// a write shutdown; logs the byte counts.
fn relay(a: UnixStream, b: UnixStream, what: &str, shared: &Shared) {
    let (a2, b2) = match (a.try_clone(), b.try_clone()) {
        (Ok(a2), Ok(b2)) => (a2, b2),
        _ => return shared.event(format!("{what}: clone failed")),
    };
    let forward = std::thread::spawn(move || pump(a, b2));
    let back = pump(b, a2);
    let forward = forward.join().unwrap_or_else(|_| "panicked".into());
    shared.event(format!("{what}: a->b {forward}, b->a {back}"));
}

fn pump(mut from: UnixStream, mut to: UnixStream) -> String {
    let result = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
    match result {
        Ok(n) => format!("{n} bytes"),
        Err(e) => format!("error ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parsing() {
        assert_eq!(parse_header(b"00000004.00001234\n"), Some((4, 0x1234)));
        assert_eq!(parse_header(b"00000004.0000123\n"), None);
        assert_eq!(parse_header(b"00000004:00001234\n"), None);
        assert_eq!(parse_header(b"00000004.00001234\nX"), None);
        assert_eq!(parse_header(b"0000000g.00001234\n"), None);
        assert_eq!(host_socket_name(0x1234), "00000002.00001234");
    }
}
