//! The URI grammar shared by every transport.
//!
//! | form | meaning |
//! |---|---|
//! | `vsock://:P`, `vsock://CID:P` (optional trailing `/`) | `AF_VSOCK`; CID decimal or `any`, `hypervisor`, `local`, `host`; no CID = any |
//! | `hvsock://VM/SERVICE`, `hvsock:///SERVICE`, `hvsock://VM:GUID` (linuxkit/virtsock's) | Hyper-V; VM a GUID, `wildcard`, `broadcast`, `children`, `loopback`, `parent`, `silohost` or a VM name; no VM = wildcard; SERVICE a GUID or a decimal vsock port |
//! | `hyperkit://:P/DIR`, `hyperkit://CID:P/DIR` | hyperkit; `/./rel` or `/../rel` for a relative DIR; CID = guest CID (default 3) |
//! | `hybrid://:P/UDS`, `hvsock:///UDS:P` | hybrid vsock (the second form is kata-containers'; it needs an absolute path) |
//! | `unix:///PATH`, `unix://./PATH` | plain Unix socket |
//! | `tcp://HOST:P`, `tcp://[V6]:P` | TCP |
//! | `vsock+seqpacket://CID:P`, `unix+seqpacket:///PATH` | messages (`SOCK_SEQPACKET`) instead of a byte stream: an [`Endpoint`](crate::Endpoint), for [`Seqpacket`](crate::Seqpacket) |
//!
//! linuxkit/virtsock's short forms `vsock`, `vsock://CID`, `hvsock` and `hvsock://VM`
//! name no port or service (its tools fill in their own, port 22099 and service
//! `3049197c-facb-...`): they are refused with the full form to write
//! ([`Reason::ShortForm`]).
//!
//! Schemes and well-known words ignore case. Numbers are decimal. Paths, VM names and
//! TCP hosts are percent-decoded (`%20` is a space); a NUL (`%00`) is refused there, as
//! the system would cut the name short at it. Parsing never touches the system: a VM
//! name is resolved only when the address is used.

use std::path::PathBuf;
use std::str::FromStr;

mod escape;
mod hyperv;
mod kind;
mod print;
mod virtsock;
pub(crate) use escape::{format_path, percent_decode, percent_encode};
use hyperv::{parse_guid, parse_hvsock, parse_vm};
pub use virtsock::{VIRTSOCK_PORT, VIRTSOCK_SERVICE};

use crate::error::escape_controls;
use crate::{Addr, HybridAddr, HyperkitAddr, TcpAddr, VsockAddr};

/// A URI that is not a valid address, with the part that is wrong.
///
/// ```
/// let err = "vsock://2:99999999999".parse::<hvsock::Addr>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid address `vsock://2:99999999999`: port `99999999999` is not a decimal number from 0 to 4294967295"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address `{uri}`: {reason}")]
pub struct ParseError {
    /// The URI as given.
    pub uri: String,
    /// What is wrong with it.
    pub reason: Reason,
}

/// Why a URI is not a valid address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// The URI is empty.
    #[error("empty address")]
    Empty,
    /// No `scheme://`.
    #[error("missing scheme: write vsock://CID:PORT, hvsock://VM/SERVICE, hybrid://:PORT/UDS, hyperkit://:PORT/DIR, unix:///PATH or tcp://HOST:PORT")]
    MissingScheme,
    /// A scheme that is not one of ours.
    #[error("unknown scheme `{0}`: expected vsock, hvsock, hybrid, hyperkit, unix or tcp")]
    UnknownScheme(String),
    /// The port is missing.
    #[error("missing port: {0}")]
    MissingPort(&'static str),
    /// The port is not a number in range.
    #[error("port `{text}` is not a decimal number from 0 to {max}")]
    BadPort {
        /// The port as written.
        text: String,
        /// The largest port of the scheme.
        max: u32,
    },
    /// The CID is not a number or a known word.
    #[error(
        "CID `{0}` is not a decimal number from 0 to 4294967295 nor one of any, hypervisor, local, host"
    )]
    BadCid(String),
    /// Something follows where the address should end.
    #[error("unexpected `{0}` after the port: this kind of address has no path")]
    UnexpectedPath(String),
    /// A path is needed but missing.
    #[error("missing path: {0}")]
    MissingPath(&'static str),
    /// A host part where none belongs.
    #[error("unexpected host `{host}`: {hint}")]
    UnexpectedHost {
        /// The host as written.
        host: String,
        /// The form to write instead.
        hint: &'static str,
    },
    /// A GUID that does not parse.
    #[error("`{0}` is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")]
    BadGuid(String),
    /// The Hyper-V service is missing.
    #[error("missing service: write hvsock://VM/SERVICE with SERVICE a GUID or a decimal port")]
    MissingService,
    /// The Hyper-V service is neither a GUID nor a port.
    #[error("service `{0}` is neither a GUID nor a decimal port from 0 to 4294967295")]
    BadService(String),
    /// `hvsock://VM:PORT/...`
    #[error("hvsock:// takes no port after the VM: write hvsock://VM/SERVICE{0}")]
    PortAfterVm(&'static str),
    /// A VM name that cannot be one.
    #[error("VM name `{name}` is not valid: {why}", name = escape_controls(.0), why = .1)]
    BadVmName(String, &'static str),
    /// A `%` not followed by two hex digits, or an escape that is not UTF-8.
    #[error("bad percent-escape in `{0}`: use %XX with two hex digits, forming UTF-8")]
    BadEscape(String),
    /// A `?query` or `#fragment`.
    #[error("`{0}` is not allowed in an address: percent-encode it (%3F for ?, %23 for #)")]
    QueryOrFragment(char),
    /// `tcp://` without a host.
    #[error("missing host: write tcp://HOST:PORT, e.g. tcp://127.0.0.1:8080")]
    MissingHost,
    /// One of linuxkit/virtsock's short forms (`vsock`, `vsock://2`, `hvsock://parent`),
    /// whose tools fill in a port or service of their own; a general tool has none.
    #[error("missing {what}: write {full} (linuxkit/virtsock's tools fill in their own: {virtsock})")]
    ShortForm {
        /// What is missing: `port`, `service`, or `address`.
        what: &'static str,
        /// The full form to write.
        full: String,
        /// What virtsock's tools would make of it.
        virtsock: String,
    },
    /// `SCHEME+seqpacket://` where only a byte stream is taken (an [`Addr`]; an
    /// [`crate::Endpoint`] takes both).
    #[error(
        "{0}+seqpacket:// asks for message mode (SOCK_SEQPACKET), which is not taken here: write {0}://"
    )]
    SeqpacketNotTaken(String),
    /// `SCHEME+seqpacket://` on a transport without messages.
    #[error("message mode (+seqpacket, SOCK_SEQPACKET) is not supported by the {0} transport: only vsock+seqpacket:// and unix+seqpacket:// carry messages")]
    SeqpacketUnsupported(&'static str),
    /// A NUL character, `%00` or as it is, in a path, a VM name or a host name.
    #[error("NUL (%00) in `{}`: a path, VM name or host name cannot contain one", escape_controls(.0))]
    Nul(String),
}

impl FromStr for Addr {
    type Err = ParseError;

    fn from_str(uri: &str) -> Result<Addr, ParseError> {
        parse(uri).map_err(|reason| ParseError { uri: uri.to_owned(), reason })
    }
}

const VSOCK_FORM: &str = "write vsock://CID:PORT or vsock://:PORT";
const HYPERKIT_FORM: &str = "write hyperkit://:PORT/DIR";
const HYBRID_FORM: &str = "write hybrid://:PORT/PATH/TO/UDS";
const UNIX_FORM: &str = "write unix:///ABS/PATH or unix://./REL/PATH";
const TCP_FORM: &str = "write tcp://HOST:PORT";

fn parse(uri: &str) -> Result<Addr, Reason> {
    if uri.is_empty() {
        return Err(Reason::Empty);
    }
    if let Some(c) = uri.chars().find(|c| *c == '?' || *c == '#') {
        return Err(Reason::QueryOrFragment(c));
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(virtsock::bare_scheme(uri).unwrap_or(Reason::MissingScheme));
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    if let Some((base, crate::SocketKind::Seqpacket)) = kind::split_kind(scheme) {
        return Err(Reason::SeqpacketNotTaken(base.to_ascii_lowercase()));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "vsock" => parse_vsock(authority, path),
        "hvsock" => parse_hvsock(authority, path),
        "hyperkit" => parse_hyperkit(authority, path),
        "hybrid" => parse_hybrid(authority, path),
        "unix" => parse_unix(authority, path),
        "tcp" => parse_tcp(authority, path),
        "" => Err(Reason::MissingScheme),
        other => Err(Reason::UnknownScheme(other.to_owned())),
    }
}

/// Splits `HOST:PORT` at its last colon; `None` if there is no colon.
fn split_port(authority: &str) -> Option<(&str, &str)> {
    authority.rsplit_once(':')
}

fn parse_u32_port(text: &str) -> Result<u32, Reason> {
    parse_decimal(text).ok_or_else(|| Reason::BadPort { text: text.to_owned(), max: u32::MAX })
}

/// A decimal `u32`: ASCII digits only, no sign, no prefix, no overflow.
fn parse_decimal(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_cid(text: &str) -> Result<u32, Reason> {
    match text {
        "" => Ok(VsockAddr::CID_ANY),
        _ => parse_decimal(text)
            .or_else(|| VsockAddr::cid_from_name(text))
            .ok_or_else(|| Reason::BadCid(text.to_owned())),
    }
}

/// `CID:PORT` or `:PORT`, as vsock and hyperkit write it.
fn parse_cid_port(authority: &str, form: &'static str) -> Result<(u32, u32), Reason> {
    let (cid, port) = split_port(authority).ok_or(Reason::MissingPort(form))?;
    if port.is_empty() {
        return Err(Reason::MissingPort(form));
    }
    Ok((parse_cid(cid)?, parse_u32_port(port)?))
}

fn parse_vsock(authority: &str, path: &str) -> Result<Addr, Reason> {
    virtsock::vsock_short_form(authority, path)?;
    let (cid, port) = parse_cid_port(authority, VSOCK_FORM)?;
    if !path.is_empty() && path != "/" {
        return Err(Reason::UnexpectedPath(path.to_owned()));
    }
    Ok(Addr::Vsock(VsockAddr::new(cid, port)))
}

fn parse_hyperkit(authority: &str, path: &str) -> Result<Addr, Reason> {
    let (cid, port) = parse_cid_port(authority, HYPERKIT_FORM)?;
    let dir = required_path(path, HYPERKIT_FORM)?;
    let guest_cid = if authority.starts_with(':') { HyperkitAddr::DEFAULT_GUEST_CID } else { cid };
    Ok(Addr::Hyperkit(HyperkitAddr { dir, port, guest_cid }))
}

fn parse_hybrid(authority: &str, path: &str) -> Result<Addr, Reason> {
    let (host, port) = split_port(authority).ok_or(Reason::MissingPort(HYBRID_FORM))?;
    if !host.is_empty() {
        return Err(Reason::UnexpectedHost { host: host.to_owned(), hint: HYBRID_FORM });
    }
    if port.is_empty() {
        return Err(Reason::MissingPort(HYBRID_FORM));
    }
    let port = parse_u32_port(port)?;
    Ok(Addr::Hybrid(HybridAddr::new(socket_file(required_path(path, HYBRID_FORM)?, HYBRID_FORM)?, port)))
}

fn parse_unix(authority: &str, path: &str) -> Result<Addr, Reason> {
    let path = match authority {
        "" => required_path(path, UNIX_FORM)?,
        "." | ".." => decode_path(&format!("{authority}{path}"))?,
        host => return Err(Reason::UnexpectedHost { host: host.to_owned(), hint: UNIX_FORM }),
    };
    Ok(Addr::Unix(socket_file(path, UNIX_FORM)?))
}

/// A socket is a file: a path that ends in `/`, `.` or `..` names none.
fn socket_file(path: PathBuf, form: &'static str) -> Result<PathBuf, Reason> {
    let names_a_file = path.file_name().is_some() && !path.as_os_str().to_string_lossy().ends_with('/');
    if names_a_file {
        Ok(path)
    } else {
        Err(Reason::MissingPath(form))
    }
}

fn parse_tcp(authority: &str, path: &str) -> Result<Addr, Reason> {
    let (host, port) = split_port(authority).ok_or(Reason::MissingPort(TCP_FORM))?;
    if port.is_empty() {
        return Err(Reason::MissingPort(TCP_FORM));
    }
    let port = parse_decimal(port)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| Reason::BadPort { text: port.to_owned(), max: u16::MAX.into() })?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) if v6.parse::<std::net::Ipv6Addr>().is_ok() => v6.to_owned(),
        Some(_) => return Err(Reason::UnexpectedHost { host: host.to_owned(), hint: TCP_FORM }),
        None if host.is_empty() => return Err(Reason::MissingHost),
        None if host.contains([':', '[', ']']) => {
            return Err(Reason::UnexpectedHost {
                host: host.to_owned(),
                hint: "write an IPv6 host in brackets: tcp://[::1]:PORT",
            })
        }
        None => match percent_decode(host)? {
            decoded if decoded.contains(':') => {
                return Err(Reason::UnexpectedHost { host: host.to_owned(), hint: TCP_FORM })
            }
            decoded => decoded,
        },
    };
    if !path.is_empty() && path != "/" {
        return Err(Reason::UnexpectedPath(path.to_owned()));
    }
    Ok(Addr::Tcp(TcpAddr { host, port }))
}

/// The path part of a URI as a filesystem path: `/abs` stays absolute, `/./rel` and
/// `/../rel` become relative.
fn required_path(path: &str, form: &'static str) -> Result<PathBuf, Reason> {
    if path.is_empty() || path == "/" {
        return Err(Reason::MissingPath(form));
    }
    let relative = ["/./", "/../"].iter().any(|p| path.starts_with(p)) || path == "/." || path == "/..";
    decode_path(if relative { &path[1..] } else { path })
}

fn decode_path(path: &str) -> Result<PathBuf, Reason> {
    percent_decode(path).map(PathBuf::from)
}

#[cfg(test)]
mod tests;
