//! VM name to VM GUID, through WMI, by a fixed PowerShell script that gets the name as data.
//!
//! The script is constant and passed with `-EncodedCommand`; the name travels in the
//! environment variable [`NAME_VARIABLE`] (UTF-16 on Windows, so any name survives), and
//! is compared with `-eq`, never parsed as code or as a wildcard. The script prints one
//! line per match (`vm<TAB>GUID`) or one error line (`error<TAB>category<TAB>id<TAB>message`),
//! which [`parse`] turns into a GUID or an error.
#![cfg_attr(not(windows), allow(dead_code))]

use std::io;

use uuid::Uuid;

use crate::error::error;

/// The environment variable that carries the VM name to the script.
pub(crate) const NAME_VARIABLE: &str = "HVSOCK_VM_NAME";

/// Prints the `Name` (the VM GUID) of every `Msvm_ComputerSystem` whose `ElementName`
/// equals the name, then `end`, so that a script that did not run (a stand-in
/// `powershell.exe`, a blocked script) is not taken for "no such VM". The host itself is
/// also an `Msvm_ComputerSystem`, whose `Name` is not a GUID: [`parse`] skips it.
/// The output encoding is set first, before errors stop the script, since a process
/// without a console cannot set it (and the output is ASCII but for error messages).
pub(crate) const SCRIPT: &str = "\
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
$ErrorActionPreference = 'Stop'
try {
  $name = $env:HVSOCK_VM_NAME
  Get-CimInstance -Namespace root/virtualization/v2 -ClassName Msvm_ComputerSystem |
    Where-Object { $_.ElementName -eq $name } |
    ForEach-Object { \"vm`t\" + $_.Name }
} catch {
  $message = $_.Exception.Message -replace '\\s+', ' '
  \"error`t\" + $_.CategoryInfo.Category + \"`t\" + $_.FullyQualifiedErrorId + \"`t\" + $message
}
'end'
";

/// The argument of PowerShell's `-EncodedCommand`: the script in UTF-16LE, in base64.
pub(crate) fn encoded_command(script: &str) -> String {
    let bytes: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64(&bytes)
}

/// Standard base64 (RFC 4648, with padding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Checks a VM name before it is looked up: not empty, and no NUL (which an environment
/// variable cannot hold).
pub(crate) fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains('\0') {
        return Err(error(io::ErrorKind::InvalidInput, format!("{name:?} is not a VM name")));
    }
    Ok(())
}

/// The VM GUID from the script's output for the VM `name`.
pub(crate) fn parse(stdout: &str, name: &str) -> io::Result<Uuid> {
    let mut found = Vec::new();
    let mut ended = false;
    for line in stdout.trim_start_matches('\u{feff}').lines() {
        let mut fields = line.trim_end().splitn(4, '\t');
        match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some("vm"), Some(id), None, None) => found.extend(id.trim().parse::<Uuid>().ok()),
            (Some("error"), Some(category), Some(id), message) => {
                return Err(wmi_error(category, id, message.unwrap_or(""), name))
            }
            (Some("end"), None, None, None) => ended = true,
            _ => {}
        }
    }
    if !ended {
        let said = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        return Err(error(
            io::ErrorKind::Other,
            format!(
                "cannot look up VM {name:?}: Windows PowerShell did not run the lookup ({})",
                if said.is_empty() {
                    "it printed nothing".to_string()
                } else {
                    format!("it printed: {said}")
                }
            ),
        ));
    }
    match found[..] {
        [guid] => Ok(guid),
        [] => Err(error(
            io::ErrorKind::NotFound,
            format!(
                "no VM named {name:?} on this host (Hyper-V lists VMs only to Administrators and \
                 members of \"Hyper-V Administrators\"; `Get-VM` shows the names)"
            ),
        )),
        _ => {
            let ids: Vec<String> = found.iter().map(|g| g.hyphenated().to_string()).collect();
            Err(error(
                io::ErrorKind::InvalidInput,
                format!("{} VMs are named {name:?}: use a GUID instead ({})", found.len(), ids.join(", ")),
            ))
        }
    }
}

/// The error for a failed WMI query, from PowerShell's error category and
/// fully-qualified error id (which holds the WMI `HRESULT`).
fn wmi_error(category: &str, id: &str, message: &str, name: &str) -> io::Error {
    /// `WBEM_E_ACCESS_DENIED`.
    const ACCESS_DENIED: &str = "0x80041003";
    /// `WBEM_E_INVALID_NAMESPACE`: there is no `root\virtualization\v2`.
    const INVALID_NAMESPACE: &str = "0x8004100e";
    let id_lower = id.to_ascii_lowercase();
    if category == "PermissionDenied" || id_lower.contains(ACCESS_DENIED) {
        error(
            io::ErrorKind::PermissionDenied,
            format!(
                "looking up VM {name:?} was denied ({message}): run as Administrator or as a member \
                 of the \"Hyper-V Administrators\" group, or give the VM's GUID (`(Get-VM NAME).Id`)"
            ),
        )
    } else if id_lower.contains(INVALID_NAMESPACE) {
        error(
            io::ErrorKind::Unsupported,
            format!(
                "cannot look up VM {name:?}: Hyper-V is not installed here (no WMI namespace \
                 root\\virtualization\\v2); VM names can only be looked up on a Hyper-V host"
            ),
        )
    } else {
        error(io::ErrorKind::Other, format!("looking up VM {name:?} through WMI failed: {message} ({id})"))
    }
}

/// Runs [`SCRIPT`] in Windows PowerShell (`CreateProcessW` through `std::process`) with
/// the name in [`NAME_VARIABLE`], and parses what it prints.
#[cfg(windows)]
pub(crate) fn vm_id_of_name(name: &str) -> io::Result<Uuid> {
    use std::path::PathBuf;
    use std::process::Command;

    check_name(name)?;
    let program = std::env::var_os("SystemRoot").map_or_else(
        || PathBuf::from("powershell.exe"),
        |root| PathBuf::from(root).join(r"System32\WindowsPowerShell\v1.0\powershell.exe"),
    );
    let output = super::output_of(
        Command::new(program)
            .args(["-NoProfile", "-NonInteractive", "-EncodedCommand", &encoded_command(SCRIPT)])
            .env(NAME_VARIABLE, name),
        "Windows PowerShell to look up the VM name",
    )?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match parse(&stdout, name) {
        Err(e) if !output.status.success() => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            Err(error(e.kind(), format!("{e}; PowerShell exited with {}: {}", output.status, stderr.trim())))
        }
        result => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn encoded_command_is_utf16le_base64() {
        // "ab" is 61 00 62 00 in UTF-16LE.
        assert_eq!(encoded_command("ab"), "YQBiAA==");
        assert_eq!(encoded_command(SCRIPT).len() % 4, 0);
    }

    #[test]
    fn script_reads_the_name_only_from_the_environment() {
        assert!(SCRIPT.contains(&format!("$env:{NAME_VARIABLE}")));
        assert!(SCRIPT.contains("-eq $name"), "names must be compared, not used as wildcards");
        assert!(SCRIPT.is_ascii());
    }

    #[test]
    fn one_match_gives_its_guid() {
        let out = "\u{feff}vm\t5F3C3E40-7A4B-4B4E-9B7C-0123456789AB\r\nend\r\n";
        let guid = parse(out, "My VM").unwrap();
        assert_eq!(guid.to_string(), "5f3c3e40-7a4b-4b4e-9b7c-0123456789ab");
    }

    #[test]
    fn the_host_entry_is_skipped() {
        // The host's own Msvm_ComputerSystem is named after the computer, not a GUID.
        let out = "vm\tDESKTOP-1234\nvm\t5f3c3e40-7a4b-4b4e-9b7c-0123456789ab\nend\n";
        assert!(parse(out, "DESKTOP-1234").is_ok());
        let err = parse("vm\tDESKTOP-1234\nend\n", "DESKTOP-1234").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn no_match_names_the_vm() {
        let err = parse("end\r\n", "Übungs-VM").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("no VM named \"Übungs-VM\""), "{err}");
        assert!(err.to_string().contains("Hyper-V Administrators"), "{err}");
    }

    #[test]
    fn duplicate_names_are_ambiguous() {
        let out = "vm\t5f3c3e40-7a4b-4b4e-9b7c-0123456789ab\nvm\t6f3c3e40-7a4b-4b4e-9b7c-0123456789ab\nend\n";
        let err = parse(out, "twin").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("2 VMs are named \"twin\""), "{err}");
        assert!(err.to_string().contains("6f3c3e40-7a4b-4b4e-9b7c-0123456789ab"), "{err}");
    }

    #[test]
    fn access_denied_asks_for_administrator() {
        let out = "error\tPermissionDenied\tHRESULT 0x80041003,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand\tAccess denied \n";
        let err = parse(out, "vm1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let text = err.to_string();
        assert!(text.contains("Administrator") && text.contains("Hyper-V Administrators"), "{text}");
        assert!(text.contains("Access denied"), "{text}");
        // A localised category still maps through the HRESULT.
        let err = parse("error\tX\tHRESULT 0X80041003,Y\tZugriff verweigert", "vm1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn missing_hyperv_is_unsupported() {
        let out = "error\tMetadataError\tHRESULT 0x8004100e,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand\tInvalid namespace \n";
        let err = parse(out, "vm1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(err.to_string().contains("Hyper-V is not installed"), "{err}");
    }

    #[test]
    fn other_errors_keep_the_message() {
        let err = parse("error\tNotSpecified\tSomeId\tThe RPC server is unavailable.", "vm1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert!(err.to_string().contains("The RPC server is unavailable. (SomeId)"), "{err}");
    }

    #[test]
    fn a_script_that_did_not_run_is_not_a_missing_vm() {
        for out in ["", "fixme:powershell:wmain stub\n", "vm\t5f3c3e40-7a4b-4b4e-9b7c-0123456789ab\n"] {
            let err = parse(out, "vm1").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Other, "{out:?}");
            assert!(err.to_string().contains("PowerShell did not run the lookup"), "{err}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("Ubuntu 24.04 (test) 'quoted' $x; `whoami`").is_ok());
        assert_eq!(check_name("").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(check_name("a\0b").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
