//! linuxkit/virtsock's URI forms. `hvsock://VM:GUID` is accepted as `hvsock://VM/GUID`.
//! Its short forms (`vsock`, `vsock://CID`, `hvsock`, `hvsock://VM`) leave the port or
//! service to its tools, which fill in their own ([`VIRTSOCK_PORT`],
//! [`VIRTSOCK_SERVICE`]); a general tool has no such default, so they are refused with
//! the full form to write.

use super::{parse_cid, parse_guid, parse_vm, Reason};
use crate::{Addr, HvAddr};

/// linuxkit/virtsock's tools' own port, which they use when a URI names none (0x5653).
pub const VIRTSOCK_PORT: u32 = 0x5653;
/// linuxkit/virtsock's tools' own Hyper-V service, used when a URI names none.
pub const VIRTSOCK_SERVICE: &str = "3049197c-facb-11e6-bd58-64006a7986d3";

/// virtsock's bare `vsock` and `hvsock`: the full forms to write instead.
pub(super) fn bare_scheme(uri: &str) -> Option<Reason> {
    let (full, virtsock) = match uri.to_ascii_lowercase().as_str() {
        "vsock" => {
            ("vsock://:PORT to listen or vsock://CID:PORT to connect", format!("vsock://:{VIRTSOCK_PORT}"))
        }
        "hvsock" => ("hvsock://VM/SERVICE", format!("hvsock:///{VIRTSOCK_SERVICE}")),
        _ => return None,
    };
    Some(Reason::ShortForm { what: "address", full: full.into(), virtsock })
}

/// `vsock://CID` (or `vsock://CID/`): a CID and no port.
pub(super) fn vsock_short_form(authority: &str, path: &str) -> Result<(), Reason> {
    if authority.is_empty() || authority.contains(':') || !(path.is_empty() || path == "/") {
        return Ok(());
    }
    parse_cid(authority)?;
    Err(Reason::ShortForm {
        what: "port",
        full: format!("vsock://{authority}:PORT"),
        virtsock: format!("vsock://{authority}:{VIRTSOCK_PORT}"),
    })
}

/// `hvsock://VM` (or `hvsock://VM/`): a VM and no service.
pub(super) fn hvsock_short_form(authority: &str) -> Reason {
    Reason::ShortForm {
        what: "service",
        full: format!("hvsock://{authority}/SERVICE"),
        virtsock: format!("hvsock://{authority}/{VIRTSOCK_SERVICE}"),
    }
}

/// linuxkit/virtsock's `hvsock://VM:SERVICE` with SERVICE a GUID (and VM possibly
/// empty): the same address as `hvsock://VM/SERVICE`. A decimal after the colon is left
/// to `parse_vm`'s error, as a port there could be meant for vsock.
pub(super) fn hvsock_vm_colon_service(authority: &str, path: &str) -> Result<Option<Addr>, Reason> {
    let Some((vm, service)) = authority.rsplit_once(':') else { return Ok(None) };
    let Some(service) = parse_guid(service) else { return Ok(None) };
    if !(path.is_empty() || path == "/") {
        return Err(Reason::UnexpectedPath(path.to_owned()));
    }
    Ok(Some(Addr::HyperV(HvAddr::new(parse_vm(vm)?, service))))
}
