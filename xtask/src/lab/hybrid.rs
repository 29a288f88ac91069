//! The host side of vhost-device-vsock's "hybrid vsock" Unix-socket protocol
//! (as in Firecracker and Cloud Hypervisor), used by the lab's own checks and
//! by the hyperkit shim.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::{Context, Result};
use crate::{bail, ensure};

/// Connects to guest port `port` through the device socket `uds`: sends
/// `CONNECT <port>\n` and reads the `OK ...\n` line byte by byte, so no
/// stream data is consumed. Returns the stream, now joined to the guest.
pub fn connect(uds: &Path, port: u32, timeout: Duration) -> Result<UnixStream> {
    let mut stream = UnixStream::connect(uds).with_context(|| format!("connect {}", uds.display()))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(format!("CONNECT {port}\n").as_bytes())?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        match stream.read(&mut byte) {
            Ok(0) => bail!(
                "{} closed before answering CONNECT {port} (no listener on guest port {port}?)",
                uds.display()
            ),
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(e).with_context(|| format!("waiting for OK to CONNECT {port}")),
        }
        ensure!(line.len() < 64, "overlong reply to CONNECT {port}: {line:?}");
    }
    let text = String::from_utf8_lossy(&line);
    ensure!(text.starts_with("OK "), "CONNECT {port} answered {text:?}");
    stream.set_read_timeout(None)?;
    Ok(stream)
}

/// The Unix socket path where the device delivers guest connections to
/// host port `port`.
pub fn listen_path(uds: &Path, port: u32) -> PathBuf {
    let mut s = uds.as_os_str().to_owned();
    s.push(format!("_{port}"));
    PathBuf::from(s)
}
