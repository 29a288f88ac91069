//! The command line.

use std::time::Duration;

use clap::Parser;
use hvtools::conventions::{parse_secs, ConnectArgs};

const AFTER_HELP: &str = "\
ADDRESSES:
  vsock://CID:PORT      Linux AF_VSOCK (CID a number or any, hypervisor, local, host)
  vsock://:PORT         ... on any CID (to listen)
  hvsock://VM/SERVICE   Windows Hyper-V socket; VM a GUID, a VM name, wildcard, children,
                        loopback, parent, broadcast or silohost; SERVICE a GUID or a port
  hybrid://:PORT/UDS    Firecracker / Cloud Hypervisor / vhost-device-vsock host socket
  hyperkit://:PORT/DIR  hyperkit VM state directory (macOS)
  unix:///PATH          plain Unix socket;  tcp://HOST:PORT  TCP
  vsock+seqpacket://CID:PORT, unix+seqpacket:///PATH
                        message mode (SOCK_SEQPACKET): each line of standard input is
                        one message, each message received is written as one line
                        (--length-prefixed: a 4-byte big-endian length, then the bytes)

EXAMPLES:
  In a guest, serve a file on port 1234:     hvcat -l vsock://:1234 < file
  From a Firecracker host, fetch it:          hvcat hybrid://:1234/run/vm/v.sock > file
  Ask and read the answer (half-close):       echo status | hvcat vsock://2:5000
  Echo server for every connection:           hvcat -l --echo vsock://:7
  Shell per connection (no shell quoting):    hvcat -l -k -e /bin/cat vsock://:22
  Wait for a booting guest, 3 s per try:      hvcat --retry=20 -w 3 vsock://4:1234
  Fetch 64 MiB, fail if any is missing:       hvcat --expect-bytes 64M vsock://4:1234 > file
  Give up on a guest that stops answering:    hvcat -i 30 hybrid://:1234/run/vm/v.sock
  Is anything listening on guest port 22?     hvcat -z -v hybrid://:22/run/vm/v.sock
  And if not, why not?                        hvcat --doctor hybrid://:22/run/vm/v.sock
  The host side of a guest's vsock://2:52:    hvcat -l hybrid://:52/run/vm/v.sock
  Expose a guest's port 22 on a Unix socket:  hvcat -l -k unix:///run/g.sock --relay hybrid://:22/run/vm/v.sock
  Forward host TCP port 8080 into a guest:    hvcat -l -k tcp://127.0.0.1:8080 --relay vsock://4:80
  Echo for guests 3 and 4 only, 16 at a time: hvcat -l --echo -m 16 --allow 3,4 vsock://:7
  Ask and read the answer through a backend that loses half-closes (both ends framed):
    in the guest:  hvcat -l -k --framed -c 'my-server' vsock://:5000
    on the host:   echo status | hvcat --framed hybrid://:5000/run/vm/v.sock
  Plain Unix clients to that guest service:  hvcat -l -k unix:///run/s.sock --relay hybrid://:5000/run/vm/v.sock --relay-framed
  Messages: a message echo in a guest, and two messages to it (each line one message):
    in the guest:  hvcat -l --echo vsock+seqpacket://:6000
    in the guest:  printf 'hello\\nworld\\n' | hvcat vsock+seqpacket://1:6000
  Binary messages, length-prefixed both ways:  hvcat --length-prefixed unix+seqpacket:///run/agent.sock < requests > replies
  Messages relayed whole, Unix socket to guest:  hvcat -l -k unix+seqpacket:///run/m.sock --relay vsock+seqpacket://4:6000

EXIT STATUS:
  0 success, 1 connection or I/O failure, 2 bad usage or invalid address.";

/// A netcat for hypervisor sockets: copies standard input to a VM socket and the
/// socket to standard output, at the same time.
///
/// At the end of standard input hvcat shuts down its side for writing (the peer sees
/// end-of-file) and goes on reading until the peer closes.
#[derive(Parser, Debug)]
#[command(name = "hvcat", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The address to connect to, or with -l to listen on (see ADDRESSES)
    #[arg(value_name = "URI", required_unless_present_any = ["local_cid", "doctor"])]
    pub uri: Option<String>,

    /// Listen on URI and serve one connection
    #[arg(short = 'l', long)]
    pub listen: bool,

    /// With -l: go on serving connections (at the same time with --echo or --exec)
    #[arg(short = 'k', long, requires = "listen")]
    pub keep_open: bool,

    /// With -l: send every connection back what it sends (implies -k)
    #[arg(long, requires = "listen", conflicts_with_all = ["exec", "sh_exec"])]
    pub echo: bool,

    /// With -l: connect each accepted connection to URI2 and relay bytes both ways
    /// (half-close carried across), many connections at once with -k
    #[arg(long, value_name = "URI2", requires = "listen", conflicts_with_all = ["echo", "exec", "sh_exec"])]
    pub relay: Option<String>,

    /// Speak the framed protocol on the connection to or from URI (the peer must too):
    /// half-close and close carried in-band, for backends that lose them
    /// (vhost-device-vsock, Firecracker); a peer that ends without finishing is an error
    #[arg(long)]
    pub framed: bool,

    /// In message mode (+seqpacket URIs): read each message from standard input, and write
    /// each received, as a 4-byte big-endian length and its bytes, instead of one per line
    /// (for messages that hold newlines or binary data)
    #[arg(long)]
    pub length_prefixed: bool,

    /// With --relay: speak the framed protocol on the connection to URI2
    #[arg(long, requires = "relay")]
    pub relay_framed: bool,

    /// Run CMD for each connection, with the connection as its standard input and output;
    /// CMD is split at white space and run without a shell
    #[arg(short = 'e', long, value_name = "CMD", conflicts_with = "sh_exec")]
    pub exec: Option<String>,

    /// As --exec, but CMD runs through /bin/sh -c
    #[arg(short = 'c', long, value_name = "CMD")]
    pub sh_exec: Option<String>,

    /// With -k or --echo: serve at most N connections at once; more wait to be accepted
    /// until one ends (a relay: no more than its limit of open files allows)
    #[arg(short = 'm', long, value_name = "N", requires = "listen", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_conns: Option<u32>,

    /// With -l: admit only these peers, closing any other at once (logged): vsock CIDs
    /// (3, host, local), Hyper-V VM GUIDs or names, or for tcp:// IP addresses
    #[arg(long, value_name = "PEER,...", requires = "listen", value_delimiter = ',')]
    pub allow: Vec<String>,

    /// With -l on unix://, hybrid:// or hyperkit://: admit only processes of these user
    /// ids (on hybrid and hyperkit sockets the peer is the VMM, not the guest)
    #[arg(long, value_name = "UID,...", requires = "listen", value_delimiter = ',')]
    pub allow_uid: Vec<u32>,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Permissions of a listening socket file (hybrid, hyperkit, unix), in octal
    #[arg(long, value_name = "OCTAL", value_parser = parse_mode, default_value = "600")]
    pub mode: u32,

    /// Only check that URI accepts connections: connect, close at once, exit 0 if it did
    /// and 1 naming the reason if not (hyperkit never confirms: there a close within
    /// 250 ms counts as refused)
    #[arg(short = 'z', long, conflicts_with_all = ["listen", "exec", "sh_exec", "idle_timeout", "expect_bytes"])]
    pub probe: bool,

    /// Close a connection on which nothing has moved, either way, for SECS seconds, and
    /// fail (a peer that vanished without closing: a paused or killed VM)
    #[arg(short = 'i', long, value_name = "SECS", value_parser = parse_idle, conflicts_with_all = ["exec", "sh_exec"])]
    pub idle_timeout: Option<Duration>,

    /// Fail unless exactly BYTES arrive from the peer (e.g. 1048576, 64K, 10M, 2G): a
    /// sender killed mid-transfer closes just as one that has finished, so only the
    /// length tells them apart
    #[arg(long, value_name = "BYTES", value_parser = hvtools::parse_size, conflicts_with_all = ["echo", "exec", "sh_exec", "relay"])]
    pub expect_bytes: Option<u64>,

    /// Do not shut down the socket for writing at the end of standard input
    #[arg(long)]
    pub no_shutdown: bool,

    /// Say on standard error what happens: addresses, bytes each way, duration
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Register URI's Hyper-V service GUID in the Windows registry and exit, or with -l
    /// then listen (needs Administrator once per GUID; Windows only)
    #[arg(long, alias = "register-guid")]
    pub register: bool,

    /// Print this machine's vsock CID and exit
    #[arg(long, exclusive = true)]
    pub local_cid: bool,

    /// Say what this machine can do (vsock modules, /dev/vsock, its CID, host or guest)
    /// and, with URI, why connecting to it fails: one line per finding, with what to do
    /// next; exit 1 if any finding is a failure
    #[arg(long, conflicts_with_all = ["listen", "probe", "register", "relay", "exec", "sh_exec"])]
    pub doctor: bool,
}

fn parse_idle(text: &str) -> Result<Duration, String> {
    parse_secs(text).and_then(|d| {
        if d.is_zero() {
            Err(format!("`{text}`: the idle timeout must be more than 0"))
        } else {
            Ok(d)
        }
    })
}

/// Octal digits only: `from_str_radix` alone would also take a sign (`+600`).
fn parse_mode(text: &str) -> Result<u32, String> {
    Some(text)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| (b'0'..=b'7').contains(&b)))
        .and_then(|t| u32::from_str_radix(t, 8).ok())
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("`{text}` is not an octal mode from 0 to 777"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes() {
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert!(parse_mode("800").is_err() && parse_mode("1777").is_err() && parse_mode("x").is_err());
        for bad in ["+600", "+0", "", " 600", "6_0", "-0"] {
            assert_eq!(
                parse_mode(bad),
                Err(format!("`{bad}` is not an octal mode from 0 to 777")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parses_idle_timeouts() {
        assert_eq!(parse_idle("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_idle("0").unwrap_err().contains("more than 0"));
        assert!(parse_idle("-1").is_err() && parse_idle("x").is_err());
    }

    #[test]
    fn command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
