//! Registering a Hyper-V service GUID on a Windows host.
//!
//! A VM can connect to a host's Hyper-V socket service only if the service's GUID has a
//! key under [`GUEST_COMMUNICATION_SERVICES`] in `HKEY_LOCAL_MACHINE`.
#![cfg_attr(not(windows), allow(dead_code))]

use std::io;

use uuid::Uuid;

use crate::error::error;

/// The registry key, under `HKEY_LOCAL_MACHINE`, that holds one subkey per service.
pub const GUEST_COMMUNICATION_SERVICES: &str =
    r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Virtualization\GuestCommunicationServices";

/// The `REG_SZ` value of a service's key that holds its friendly name.
pub const ELEMENT_NAME: &str = "ElementName";

/// The key of `service` under `HKEY_LOCAL_MACHINE`: [`GUEST_COMMUNICATION_SERVICES`]
/// followed by the GUID in its hyphenated form, as `New-Guid` prints it (key names are
/// compared without regard to case, so an uppercase registration is the same key).
///
/// ```
/// let key = hvsock::windows::service_key_path(&hvsock::sockaddr::service_from_port(80));
/// assert!(key.ends_with(r"\GuestCommunicationServices\00000050-facb-11e6-bd58-64006a7986d3"));
/// ```
pub fn service_key_path(service: &Uuid) -> String {
    format!(r"{GUEST_COMMUNICATION_SERVICES}\{}", service.hyphenated())
}

/// `s` as a NUL-terminated UTF-16 string for a `W` function; `InvalidInput` if it holds a
/// NUL, which would cut it short.
pub(crate) fn wide(s: &str, what: &str) -> io::Result<Vec<u16>> {
    if s.contains('\0') {
        return Err(error(io::ErrorKind::InvalidInput, format!("{what} contains a NUL character")));
    }
    Ok(s.encode_utf16().chain(Some(0)).collect())
}

/// Checks a service's friendly name: not empty, no NUL.
fn check_element_name(name: &str) -> io::Result<()> {
    if name.trim().is_empty() {
        return Err(error(io::ErrorKind::InvalidInput, "a service needs a non-empty name"));
    }
    wide(name, "the service name").map(drop)
}

/// The error for a failed registry call `call` on the key of `service`, from its Win32
/// error code; `ERROR_ACCESS_DENIED` (5) says that Administrator rights are needed.
fn registry_error(code: u32, call: &str, service: &Uuid) -> io::Error {
    const ERROR_ACCESS_DENIED: u32 = 5;
    let key = service_key_path(service);
    if code == ERROR_ACCESS_DENIED {
        return error(
            io::ErrorKind::PermissionDenied,
            format!(
                "registering Hyper-V service {service} needs Administrator rights: run this once \
                 from an elevated prompt ({call} on HKLM\\{key}: access denied)"
            ),
        );
    }
    let os = io::Error::from_raw_os_error(code as i32);
    error(os.kind(), format!("{call} on HKLM\\{key}: {os}"))
}

/// Registers `service` so that VMs may connect to it on this host: creates the key
/// [`service_key_path`] under `HKEY_LOCAL_MACHINE` with `RegCreateKeyExW` (64-bit view)
/// and, unless the key already has one, sets its `ElementName` (`REG_SZ`) to `name` with
/// `RegSetValueExW` (`RegQueryValueExW` checks for it).
///
/// Idempotent: registering a registered service changes nothing, and an existing
/// `ElementName`, perhaps another program's, is kept. Needs Administrator rights
/// (`PermissionDenied` otherwise); connecting and listening afterwards do not.
#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
pub fn register_service(service: &Uuid, name: &str) -> io::Result<()> {
    check_element_name(name)?;
    let (key, created) = Key::create(service)?;
    if !created && key.has_value(ELEMENT_NAME, service)? {
        return Ok(());
    }
    key.set_string(ELEMENT_NAME, name, service)
}

/// Whether `service` is registered on this host: whether its key [`service_key_path`]
/// exists under `HKEY_LOCAL_MACHINE` (`RegOpenKeyExW`, 64-bit view, read only). Needs no
/// special rights.
#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
pub fn is_service_registered(service: &Uuid) -> io::Result<bool> {
    use windows_sys::Win32::Foundation::ERROR_FILE_NOT_FOUND;
    use windows_sys::Win32::System::Registry::{
        RegOpenKeyExW, HKEY_LOCAL_MACHINE, KEY_QUERY_VALUE, KEY_WOW64_64KEY,
    };

    let path = wide(&service_key_path(service), "the key path")?;
    let mut key = std::ptr::null_mut();
    // SAFETY: `path` is NUL-terminated and outlives the call; `key` is valid for writes.
    let rc = unsafe {
        RegOpenKeyExW(HKEY_LOCAL_MACHINE, path.as_ptr(), 0, KEY_QUERY_VALUE | KEY_WOW64_64KEY, &mut key)
    };
    match rc {
        0 => {
            drop(Key(key));
            Ok(true)
        }
        ERROR_FILE_NOT_FOUND => Ok(false),
        code => Err(registry_error(code, "RegOpenKeyExW", service)),
    }
}

/// An open registry key, closed with `RegCloseKey` when dropped.
#[cfg(windows)]
struct Key(windows_sys::Win32::System::Registry::HKEY);

#[cfg(windows)]
impl Key {
    /// `RegCreateKeyExW` of the service's key in `HKEY_LOCAL_MACHINE`, for querying and
    /// setting values; whether the key was new.
    fn create(service: &Uuid) -> io::Result<(Key, bool)> {
        use windows_sys::Win32::System::Registry::{
            RegCreateKeyExW, HKEY_LOCAL_MACHINE, KEY_QUERY_VALUE, KEY_SET_VALUE, KEY_WOW64_64KEY,
            REG_CREATED_NEW_KEY, REG_OPTION_NON_VOLATILE,
        };

        let path = wide(&service_key_path(service), "the key path")?;
        let mut key = std::ptr::null_mut();
        let mut disposition = 0;
        // SAFETY: `path` is NUL-terminated and outlives the call; the class and security
        // attributes may be null; `key` and `disposition` are valid for writes.
        let rc = unsafe {
            RegCreateKeyExW(
                HKEY_LOCAL_MACHINE,
                path.as_ptr(),
                0,
                std::ptr::null(),
                REG_OPTION_NON_VOLATILE,
                KEY_QUERY_VALUE | KEY_SET_VALUE | KEY_WOW64_64KEY,
                std::ptr::null(),
                &mut key,
                &mut disposition,
            )
        };
        if rc != 0 {
            return Err(registry_error(rc, "RegCreateKeyExW", service));
        }
        Ok((Key(key), disposition == REG_CREATED_NEW_KEY))
    }

    /// `RegQueryValueExW` with no buffer: whether the value `name` exists.
    fn has_value(&self, name: &str, service: &Uuid) -> io::Result<bool> {
        use windows_sys::Win32::Foundation::ERROR_FILE_NOT_FOUND;
        use windows_sys::Win32::System::Registry::RegQueryValueExW;

        let name = wide(name, "the value name")?;
        // SAFETY: the key is open; `name` is NUL-terminated; type, data and size may all
        // be null when only the existence of the value is asked.
        let rc = unsafe {
            RegQueryValueExW(
                self.0,
                name.as_ptr(),
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        match rc {
            0 => Ok(true),
            ERROR_FILE_NOT_FOUND => Ok(false),
            code => Err(registry_error(code, "RegQueryValueExW", service)),
        }
    }

    /// `RegSetValueExW` of a `REG_SZ` value.
    fn set_string(&self, name: &str, value: &str, service: &Uuid) -> io::Result<()> {
        use windows_sys::Win32::System::Registry::{RegSetValueExW, REG_SZ};

        let name = wide(name, "the value name")?;
        let value = wide(value, "the value")?;
        let bytes = u32::try_from(value.len() * 2)
            .map_err(|_| error(io::ErrorKind::InvalidInput, "the value is too long for the registry"))?;
        // SAFETY: the key is open; `name` is NUL-terminated; `value` holds `bytes` bytes,
        // its terminating NUL included, as REG_SZ requires.
        let rc = unsafe { RegSetValueExW(self.0, name.as_ptr(), 0, REG_SZ, value.as_ptr().cast(), bytes) };
        if rc != 0 {
            return Err(registry_error(rc, "RegSetValueExW", service));
        }
        Ok(())
    }
}

#[cfg(windows)]
impl Drop for Key {
    /// `RegCloseKey`.
    fn drop(&mut self) {
        // SAFETY: the key was opened by `RegCreateKeyExW` or `RegOpenKeyExW` and is
        // closed only here.
        unsafe { windows_sys::Win32::System::Registry::RegCloseKey(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_path_is_under_guest_communication_services() {
        let service: Uuid = "3049197C-9A4E-4FBF-9367-97F792F16994".parse().unwrap();
        assert_eq!(
            service_key_path(&service),
            r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Virtualization\GuestCommunicationServices\3049197c-9a4e-4fbf-9367-97f792f16994"
        );
    }

    #[test]
    fn wide_strings_are_nul_terminated_utf16() {
        assert_eq!(wide("Ab", "x").unwrap(), vec![0x41, 0x62, 0]);
        // Non-BMP characters become surrogate pairs.
        assert_eq!(wide("é😀", "x").unwrap(), vec![0xe9, 0xd83d, 0xde00, 0]);
        let err = wide("a\0b", "the service name").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("the service name"), "{err}");
    }

    #[test]
    fn element_names_must_be_nonempty_and_nul_free() {
        assert!(check_element_name("hvsock hvsock://wildcard/5000").is_ok());
        assert!(check_element_name("Dienst für VMs").is_ok());
        assert_eq!(check_element_name(" ").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(check_element_name("a\0").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn access_denied_asks_for_administrator() {
        let service = crate::sockaddr::service_from_port(80);
        let err = registry_error(5, "RegCreateKeyExW", &service);
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let text = err.to_string();
        assert!(text.contains("Administrator"), "{text}");
        assert!(text.contains(r"GuestCommunicationServices\00000050-facb-11e6-bd58-64006a7986d3"), "{text}");
        let other = registry_error(1010, "RegSetValueExW", &service);
        assert!(other.to_string().starts_with("RegSetValueExW on HKLM\\SOFTWARE\\"), "{other}");
    }
}
