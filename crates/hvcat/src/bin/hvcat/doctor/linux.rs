//! The doctor's Linux checks: the vsock modules, `/dev/vsock` and the local CID.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::{Machine, Report};
/// Modules that give a guest its vsock, and what each is for.
const GUEST_TRANSPORTS: [(&str, &str); 3] = [
    ("vmw_vsock_virtio_transport", "virtio: a KVM/QEMU, Firecracker or Cloud Hypervisor guest"),
    ("hv_sock", "a Hyper-V guest"),
    ("vmw_vsock_vmci_transport", "VMware"),
];
/// The module that lets a KVM host give its guests vsock.
const HOST_TRANSPORT: &str = "vhost_vsock";
/// Every module of the vsock family that is worth naming.
const FAMILY: [&str; 7] = [
    "vsock",
    "vmw_vsock_virtio_transport",
    "vmw_vsock_virtio_transport_common",
    "hv_sock",
    "vmw_vsock_vmci_transport",
    "vhost_vsock",
    "vsock_loopback",
];

/// Loaded (`/proc/modules`) or built in (`/sys/module/NAME`): which of [`FAMILY`].
fn vsock_modules(machine: &Machine) -> io::Result<Vec<&'static str>> {
    let modules = fs::read_to_string(machine.path("/proc/modules"))?;
    let loaded: Vec<&str> = modules.lines().filter_map(|l| l.split_whitespace().next()).collect();
    let sys = machine.path("/sys/module");
    Ok(FAMILY.into_iter().filter(|m| loaded.contains(m) || sys.join(m).is_dir()).collect())
}

pub(super) fn linux_vsock(machine: &Machine, report: &mut Report) {
    let modules = match vsock_modules(machine) {
        Ok(modules) => Some(modules),
        Err(e) => {
            let path = machine.path("/proc/modules");
            report.note(
                format!("cannot read {}: {e}; which vsock modules are loaded is unknown", path.display()),
                "mount /proc (mount -t proc proc /proc)",
            );
            None
        }
    };
    let known = modules.clone().unwrap_or_default();
    let device = machine.path("/dev/vsock");
    let cid = if device_file(&device, report) { local_cid(&device, report) } else { None };
    let guest: Vec<&str> =
        GUEST_TRANSPORTS.iter().filter(|(m, _)| known.contains(m)).map(|(_, what)| *what).collect();
    let vhost_device = machine.path("/dev/vhost-vsock");
    let host = known.contains(&HOST_TRANSPORT) || vhost_device.exists();
    match (&modules, guest.is_empty() && !host, cid) {
        (Some(_), true, None) => report.fail(
            format!("no vsock transport is loaded (vsock modules: {})", list(&known)),
            "in a guest: modprobe vmw_vsock_virtio_transport (KVM/QEMU, Firecracker, Cloud Hypervisor) or modprobe hv_sock (Hyper-V); on a KVM host: modprobe vhost_vsock",
        ),
        (Some(_), true, Some(_)) => {
            report.ok(format!("vsock modules: {} (the transport is built into the kernel)", list(&known)))
        }
        (Some(_), false, _) => report.ok(format!("vsock modules: {}", list(&known))),
        (None, ..) => {}
    }
    let guest_cid = cid.filter(|c| (3..u32::MAX).contains(c));
    match (guest.is_empty() && guest_cid.is_none(), host) {
        (false, _) => report.ok(format!(
            "this is a guest ({}): it reaches its host at vsock://2:PORT{}",
            if guest.is_empty() { format!("CID {}", guest_cid.unwrap_or_default()) } else { guest.join(", ") },
            if host { "; it is also a vhost-vsock host (nested)" } else { "" }
        )),
        (true, true) => report.ok(format!(
            "this is a vhost-vsock host: it reaches a guest at vsock://CID:PORT, CID as given to QEMU (guest-cid=){}",
            if vhost_device.exists() { "" } else { "; but /dev/vhost-vsock is missing" }
        )),
        (true, false) => report.note(
            "this is neither a vsock guest nor a vhost-vsock host",
            "hosts of Firecracker and Cloud Hypervisor need neither: use hybrid://:PORT/UDS",
        ),
    }
}

fn list(modules: &[&str]) -> String {
    if modules.is_empty() {
        "none".into()
    } else {
        modules.join(", ")
    }
}

/// Whether `/dev/vsock` exists and is a character device; whether asking it for the CID
/// makes sense.
fn device_file(device: &Path, report: &mut Report) -> bool {
    match fs::metadata(device) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report.fail(
                format!("{} does not exist", device.display()),
                "load a vsock transport (see above); in a container, pass the device in (--device /dev/vsock)",
            );
            false
        }
        Err(e) => {
            report.fail(format!("cannot look at {}: {e}", device.display()), "run as root");
            false
        }
        Ok(meta) if !meta.file_type().is_char_device() => {
            report.fail(
                format!("{} is not a character device", device.display()),
                "remove it: the vsock module creates the real device (char 10:121 or dynamic)",
            );
            true // ask anyway: the ioctl's answer is the proof
        }
        Ok(meta) => {
            report.ok(format!("{}: character device, mode {:04o}", device.display(), meta.mode() & 0o7777));
            true
        }
    }
}

/// The CID, by `IOCTL_VM_SOCKETS_GET_LOCAL_CID` on the device (no socket).
fn local_cid(device: &Path, report: &mut Report) -> Option<u32> {
    let cid = hvsock::local_cid_at(device);
    match &cid {
        Ok(u32::MAX) => report.note(
            "the local CID is -1 (VMADDR_CID_ANY): no transport gives this machine a CID",
            "in a guest, load its transport (see above)",
        ),
        Ok(cid @ 0..=2) => {
            report.ok(format!("local CID {cid}: this machine is not a guest (2 is the host's)"))
        }
        Ok(cid) => report.ok(format!("local CID {cid}: the host reaches this guest at vsock://{cid}:PORT")),
        Err(e) => report.fail(
            format!("cannot read the local CID: {e}"),
            "load a vsock transport; a device that is not the kernel's cannot answer",
        ),
    }
    cid.ok()
}
