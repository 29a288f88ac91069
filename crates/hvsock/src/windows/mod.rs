//! Windows helpers for Hyper-V sockets: VM name to VM id, the WSL2 VM id, and service
//! registration.
//!
//! ```no_run
//! # #[cfg(windows)] {
//! use hvsock::windows;
//!
//! // Once per service, as Administrator: let VMs connect to this host's service.
//! let service = hvsock::sockaddr::service_from_port(5000);
//! windows::register_service(&service, "hvsock example")?;
//!
//! // The GUID behind `hvsock://my-vm/...`.
//! let vm = windows::vm_id_of_name("my-vm")?;
//! println!("{vm}");
//! # }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The helpers that call Windows exist only on Windows; what they compute from plain
//! data (the registry key of a service, the parsing of the tools' output) is here on
//! every platform, so it is tested everywhere.
//!
//! See `docs/windows.md` for addresses, registration, Administrator rights and WSL2.

use std::time::Duration;

mod lookup;
mod registry;
mod wsl;

pub use registry::{service_key_path, ELEMENT_NAME, GUEST_COMMUNICATION_SERVICES};

#[cfg(windows)]
pub use registry::{is_service_registered, register_service};

/// How long a Hyper-V `connect` waits for the listener when
/// [`ConnectOptions::timeout`](crate::ConnectOptions::timeout) is not set: 2 s, as Linux's
/// own vsock connect timeout.
///
/// Hyper-V does not refuse a connection to a service that nobody listens on yet: the
/// `connect` waits, and may wait forever even after a listener appears. A bounded wait,
/// with [`Retry`](crate::Retry) for servers that are still starting, avoids that.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The VM name that stands for the WSL2 utility VM (ASCII case ignored): `hvsock://wsl/SERVICE`.
pub const WSL_VM_NAME: &str = "wsl";

/// The GUID of the Hyper-V VM called `name`, from WMI (`Msvm_ComputerSystem` in
/// `root\virtualization\v2`, whose `ElementName` is the name Hyper-V Manager shows).
///
/// Runs Windows PowerShell's `Get-CimInstance` in a child process; the name reaches the
/// script as data (an environment variable), never as code, so any name, spaces and
/// non-ASCII characters included, is looked up as it is. Names compare as PowerShell's
/// `-eq` does (case ignored).
///
/// Errors: `NotFound` when no VM has that name, `PermissionDenied` when WMI refuses
/// (run as Administrator or as a member of "Hyper-V Administrators"), `InvalidInput`
/// when several VMs share the name, `Unsupported` when Hyper-V is not installed.
#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
pub fn vm_id_of_name(name: &str) -> std::io::Result<uuid::Uuid> {
    lookup::vm_id_of_name(name)
}

/// The VM id of the WSL2 utility VM, from `wsl.exe --exec wslinfo --vm-id`.
///
/// This starts WSL's default distribution if none runs (the VM and its id exist only
/// while WSL runs) and needs a WSL release whose `wslinfo` has `--vm-id`; the id changes
/// every time WSL restarts. Without that option, `hcsdiag list` (as Administrator) shows it.
#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
pub fn wsl_vm_id() -> std::io::Result<uuid::Uuid> {
    wsl::vm_id()
}

/// The GUID that `vm` stands for: a GUID as it is, the name `wsl` as
/// [`wsl_vm_id`], any other name as [`vm_id_of_name`].
///
/// Hyper-V sockets call this when an address is used, never when it is parsed. A
/// Hyper-V VM that is really called `wsl` has to be given by its GUID.
#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
pub fn resolve_vm(vm: &crate::VmId) -> std::io::Result<uuid::Uuid> {
    match vm {
        crate::VmId::Guid(guid) => Ok(*guid),
        crate::VmId::Name(name) if name.eq_ignore_ascii_case(WSL_VM_NAME) => wsl_vm_id(),
        crate::VmId::Name(name) => vm_id_of_name(name),
    }
}

/// Runs `command` with no standard input and returns its standard output, or an error
/// that names `what` (the program, for the user) when it cannot be started.
#[cfg(windows)]
fn output_of(command: &mut std::process::Command, what: &str) -> std::io::Result<std::process::Output> {
    use std::process::Stdio;

    command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| crate::error::error(e.kind(), format!("cannot run {what}: {e}")))
}
