//! The VM id of the WSL2 utility VM, which Hyper-V sockets to and from WSL2 need.
//!
//! WSL2 distributions run in one utility VM whose id changes every time WSL starts, and
//! which `HV_GUID_WILDCARD` and `HV_GUID_CHILDREN` do not match: a host listener for WSL2
//! must bind to this id. Recent WSL releases print it with `wslinfo --vm-id` inside a
//! distribution, without Administrator rights.
#![cfg_attr(not(windows), allow(dead_code))]

use std::io;

use uuid::Uuid;

use crate::error::error;

/// What runs, for messages: `wsl.exe` starts `wslinfo` in the default distribution
/// without a shell.
const COMMAND: &str = "wsl.exe --exec wslinfo --vm-id";

/// Text from `wsl.exe`: UTF-8 (what `wslinfo` prints, and `wsl.exe`'s own messages with
/// `WSL_UTF8=1`), or UTF-16LE (`wsl.exe`'s messages otherwise), told apart by NUL bytes.
pub(crate) fn decode(bytes: &[u8]) -> String {
    let utf16 =
        bytes.len() >= 2 && bytes.len().is_multiple_of(2) && bytes.iter().skip(1).step_by(2).any(|&b| b == 0);
    if utf16 {
        let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// The VM id in `wslinfo --vm-id`'s output: the first line that is a GUID, with or
/// without braces.
pub(crate) fn parse(output: &str) -> Option<Uuid> {
    output.trim_start_matches('\u{feff}').lines().find_map(|line| {
        let line = line.trim();
        let line = line.strip_prefix('{').and_then(|l| l.strip_suffix('}')).unwrap_or(line);
        Uuid::try_parse(line).ok()
    })
}

/// The error when no VM id came back; `output` is what the command printed.
fn no_vm_id(output: &str) -> io::Error {
    let said = output.split_whitespace().collect::<Vec<_>>().join(" ");
    error(
        io::ErrorKind::NotFound,
        format!(
            "no WSL2 VM id from `{COMMAND}` ({}): it needs WSL 2 and a WSL release whose wslinfo \
             has --vm-id (`wsl --update`); otherwise `hcsdiag list`, as Administrator, shows the \
             WSL VM's id, to use as the GUID in the address",
            if said.is_empty() { "it printed nothing" } else { &said }
        ),
    )
}

/// Runs `wsl.exe --exec wslinfo --vm-id` (`CreateProcessW` through `std::process`) and
/// parses what it prints.
#[cfg(windows)]
pub(crate) fn vm_id() -> io::Result<Uuid> {
    use std::process::Command;

    let output = super::output_of(
        Command::new("wsl.exe").args(["--exec", "wslinfo", "--vm-id"]).env("WSL_UTF8", "1"),
        "wsl.exe (is WSL installed?)",
    )?;
    let stdout = decode(&output.stdout);
    match parse(&stdout) {
        Some(id) if output.status.success() => Ok(id),
        _ => Err(no_vm_id(&format!("{stdout} {}", decode(&output.stderr)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0d1a6cf0-6c8e-4a4b-8d7e-3c2b1a0f9e8d";

    #[test]
    fn parses_a_bare_or_braced_guid() {
        let id: Uuid = ID.parse().unwrap();
        assert_eq!(parse(&format!("{ID}\n")), Some(id));
        assert_eq!(parse(&format!("{{{}}}\r\n", ID.to_uppercase())), Some(id));
        assert_eq!(parse(&format!("\u{feff}  {ID}  \r\n")), Some(id));
    }

    #[test]
    fn rejects_messages() {
        assert_eq!(parse("wslinfo: unrecognized option '--vm-id'\n"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("{not-a-guid}"), None);
    }

    #[test]
    fn decodes_utf16le_and_utf8() {
        let utf16: Vec<u8> = "Für WSL 2\r\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode(&utf16), "Für WSL 2\r\n");
        assert_eq!(decode("Für WSL 2".as_bytes()), "Für WSL 2");
        assert_eq!(decode(ID.as_bytes()), ID);
    }

    #[test]
    fn failure_explains_the_alternatives() {
        let err = no_vm_id("wslinfo: unrecognized option\n '--vm-id'");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let text = err.to_string();
        assert!(text.contains("(wslinfo: unrecognized option '--vm-id')"), "{text}");
        assert!(text.contains("hcsdiag list"), "{text}");
        assert!(no_vm_id(" ").to_string().contains("it printed nothing"));
    }
}
