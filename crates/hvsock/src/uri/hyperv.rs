//! The `hvsock://` grammar: Hyper-V VM ids and names, service GUIDs (or a vsock port
//! through the port <-> service template), and kata-containers' hybrid form
//! `hvsock:///PATH:PORT`.

use uuid::Uuid;

use super::{
    decode_path, parse_decimal, parse_u32_port, percent_decode, socket_file, virtsock, Reason, HYBRID_FORM,
};
use crate::sockaddr::service_from_port;
use crate::{Addr, HvAddr, HybridAddr, VmId};

pub(super) fn parse_hvsock(authority: &str, path: &str) -> Result<Addr, Reason> {
    if authority.is_empty() {
        if let Some((uds, port)) = kata_hybrid(path) {
            let uds = socket_file(decode_path(uds)?, HYBRID_FORM)?;
            return Ok(Addr::Hybrid(HybridAddr::new(uds, parse_u32_port(port)?)));
        }
    }
    if let Some(addr) = virtsock::hvsock_vm_colon_service(authority, path)? {
        return Ok(addr);
    }
    let vm = parse_vm(authority)?;
    let service = path.strip_prefix('/').unwrap_or(path);
    let service = service.strip_suffix('/').unwrap_or(service);
    if service.is_empty() && !authority.is_empty() {
        return Err(virtsock::hvsock_short_form(authority));
    }
    if service.is_empty() {
        return Err(Reason::MissingService);
    }
    Ok(Addr::HyperV(HvAddr::new(vm, parse_service(service)?)))
}

/// kata-containers' hybrid form `hvsock:///ABS/PATH:PORT`: an absolute path with a
/// `:PORT` suffix. A Hyper-V service never contains `:` or a second `/`, so the two
/// forms cannot be confused.
fn kata_hybrid(path: &str) -> Option<(&str, &str)> {
    let (uds, port) = path.rsplit_once(':')?;
    let looks_like_path = uds.len() > 1 && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    looks_like_path.then_some((uds, port))
}

pub(super) fn parse_vm(text: &str) -> Result<VmId, Reason> {
    if text.is_empty() {
        return Ok(VmId::WILDCARD);
    }
    if let Some((vm, _)) = text.rsplit_once(':') {
        let hint =
            if parse_decimal(vm).is_some() { " (for a Linux CID, write vsock://CID:PORT)" } else { "" };
        return Err(Reason::PortAfterVm(hint));
    }
    let name = percent_decode(text)?;
    if let Some(id) = VmId::from_word(&name) {
        return Ok(id);
    }
    if let Some(guid) = parse_guid(&name) {
        return Ok(VmId::Guid(guid));
    }
    if name.chars().any(char::is_control) {
        return Err(Reason::BadVmName(name, "it contains a control character"));
    }
    if name.chars().count() > 100 {
        return Err(Reason::BadVmName(name, "Hyper-V names are at most 100 characters"));
    }
    if looks_like_guid_attempt(&name) {
        return Err(Reason::BadGuid(name));
    }
    Ok(VmId::Name(name))
}

/// A GUID in its 36-character form, optionally in braces; either case.
pub(super) fn parse_guid(text: &str) -> Option<Uuid> {
    let inner = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or(text);
    if inner.len() != 36 {
        return None;
    }
    Uuid::try_parse(inner).ok()
}

/// Text shaped like a GUID (hex groups with dashes) that failed to parse is a typo, not
/// a VM name.
fn looks_like_guid_attempt(text: &str) -> bool {
    let inner = text.trim_start_matches('{').trim_end_matches('}');
    inner.matches('-').count() == 4 && inner.len() >= 32 && inner.len() <= 40
}

fn parse_service(text: &str) -> Result<Uuid, Reason> {
    if let Some(port) = parse_decimal(text) {
        return Ok(service_from_port(port));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reason::BadService(text.to_owned()));
    }
    parse_guid(text).ok_or_else(|| {
        if looks_like_guid_attempt(text) {
            Reason::BadGuid(text.to_owned())
        } else {
            Reason::BadService(text.to_owned())
        }
    })
}
