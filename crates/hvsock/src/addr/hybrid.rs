//! "Hybrid" vsock: the Unix-socket host side of Firecracker, Cloud Hypervisor and
//! vhost-device-vsock.

use std::ffi::OsString;
use std::path::PathBuf;

/// A guest port behind a hybrid-vsock Unix socket (Firecracker's `uds_path`, Cloud
/// Hypervisor's `--vsock socket=`, vhost-device-vsock's `--uds-path`).
///
/// Connecting sends `CONNECT <port>\n` on `uds` and waits for `OK ...\n`; listening binds
/// `<uds>_<port>`, where the device connects when the guest connects to the host's port.
///
/// ```
/// use hvsock::HybridAddr;
///
/// let addr = HybridAddr::new("/run/vm/v.sock", 52);
/// assert_eq!(addr.listen_path(), std::path::Path::new("/run/vm/v.sock_52"));
/// assert_eq!(addr.to_string(), "hybrid://:52/run/vm/v.sock");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HybridAddr {
    /// The device's Unix socket.
    pub uds: PathBuf,
    /// The vsock port in the guest (connect) or on the host (listen).
    pub port: u32,
}

impl HybridAddr {
    /// An address for `port` behind the Unix socket `uds`.
    pub fn new(uds: impl Into<PathBuf>, port: u32) -> Self {
        HybridAddr { uds: uds.into(), port }
    }

    /// The socket a listener binds for guest -> host connections: `<uds>_<port>`.
    pub fn listen_path(&self) -> PathBuf {
        let mut path = OsString::from(self.uds.as_os_str());
        path.push(format!("_{}", self.port));
        PathBuf::from(path)
    }
}
