//! hyperkit's host side of virtio-vsock (macOS): Unix sockets in the VM's state directory.

use std::path::{Path, PathBuf};

/// A guest port behind hyperkit's virtio-vsock device, reached through the Unix sockets
/// hyperkit keeps in `dir` (for Docker Desktop, `~/Library/Containers/com.docker.docker/Data/vms/0`).
///
/// ```
/// use hvsock::HyperkitAddr;
///
/// let addr = HyperkitAddr::new("/var/run/vm", 80);
/// assert_eq!(addr.connect_header(), *b"00000003.00000050\n");
/// assert_eq!(addr.listen_path(), std::path::Path::new("/var/run/vm/00000002.00000050"));
/// assert_eq!(addr.to_string(), "hyperkit://:80/var/run/vm");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HyperkitAddr {
    /// The directory holding hyperkit's `connect` socket.
    pub dir: PathBuf,
    /// The vsock port in the guest (connect) or on the host (listen).
    pub port: u32,
    /// The guest's CID, as given to hyperkit's `guest_cid=` (Docker Desktop and LinuxKit use 3).
    pub guest_cid: u32,
}

impl HyperkitAddr {
    /// The guest CID that Docker Desktop and LinuxKit give hyperkit.
    pub const DEFAULT_GUEST_CID: u32 = 3;
    /// The length of the header a connection starts with.
    pub const HEADER_LEN: usize = 18;

    /// An address in `dir` for `port`, with the default guest CID.
    pub fn new(dir: impl Into<PathBuf>, port: u32) -> Self {
        HyperkitAddr { dir: dir.into(), port, guest_cid: Self::DEFAULT_GUEST_CID }
    }

    /// The socket a host -> guest connection goes through: `<dir>/connect`.
    pub fn connect_path(&self) -> PathBuf {
        self.dir.join("connect")
    }

    /// The 18 bytes a host -> guest connection must send first, in one write:
    /// `%08x.%08x\n` (guest CID and port in lowercase hex).
    pub fn connect_header(&self) -> [u8; Self::HEADER_LEN] {
        let text = format!("{:08x}.{:08x}\n", self.guest_cid, self.port);
        let mut header = [0u8; Self::HEADER_LEN];
        header.copy_from_slice(text.as_bytes());
        header
    }

    /// The socket hyperkit connects to when the guest connects to the host's `port`:
    /// `<dir>/00000002.%08x`.
    pub fn listen_path(&self) -> PathBuf {
        self.dir.join(format!("00000002.{:08x}", self.port))
    }

    /// The directory, for use in messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_eighteen_bytes_of_lowercase_hex() {
        let mut addr = HyperkitAddr::new("d", 0xABCDEF01);
        addr.guest_cid = 0x1F;
        assert_eq!(&addr.connect_header(), b"0000001f.abcdef01\n");
        assert_eq!(HyperkitAddr::new("d", u32::MAX).connect_header().len(), 18);
        assert_eq!(HyperkitAddr::new("d", u32::MAX).listen_path(), Path::new("d/00000002.ffffffff"));
        assert_eq!(HyperkitAddr::new("/x", 1).connect_path(), Path::new("/x/connect"));
    }
}
