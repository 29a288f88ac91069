//! What scenarios are written with: the fixture ([`Ctx`]) and the [`Scenario`]
//! type, host processes ([`host`]), guest jobs ([`guest`]), both-ways transfers
//! ([`transfer`]) and the checked exchanges built on them ([`exchange`]),
//! peers killed or stopped mid-transfer ([`kill`]), URIs ([`uri`]) and waits
//! ([`wait`]).
//!
//! Scenario files (`lab/scenarios/`) import this module and `crate::util`,
//! never one another; the parts of the lab they drive directly (the guest VM,
//! the hybrid socket, the hyperkit shim) are re-exported here.

pub mod ctx;
pub mod exchange;
pub mod guest;
pub mod host;
pub mod kill;
pub mod transfer;
pub mod uri;
pub mod wait;

pub use super::hybrid;
pub use super::hyperkit_shim::{host_socket_name, HyperkitShim};
pub use super::vm::{Mode, Vm, GUEST_CID};
pub use ctx::{Ctx, Scenario};
pub use guest::{Digests, Tool};
pub use host::{ensure_ok, hvstress_summary, Exit, HostProc, HostStdin};
