//! The operating-system handle of a [`crate::Stream`] or [`crate::Listener`]: a file
//! descriptor on Unix, a `SOCKET` on Windows.

/// Implements `AsFd` and `AsRawFd` (Unix) or `AsSocket` and `AsRawSocket` (Windows) for
/// a type whose `socket` field is a `socket2::Socket`.
macro_rules! impl_os_handle {
    ($type:ty) => {
        #[cfg(unix)]
        #[cfg_attr(docsrs, doc(cfg(unix)))]
        impl std::os::fd::AsFd for $type {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(&self.socket)
            }
        }

        #[cfg(unix)]
        #[cfg_attr(docsrs, doc(cfg(unix)))]
        impl std::os::fd::AsRawFd for $type {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.socket)
            }
        }

        #[cfg(windows)]
        #[cfg_attr(docsrs, doc(cfg(windows)))]
        impl std::os::windows::io::AsSocket for $type {
            fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
                std::os::windows::io::AsSocket::as_socket(&self.socket)
            }
        }

        #[cfg(windows)]
        #[cfg_attr(docsrs, doc(cfg(windows)))]
        impl std::os::windows::io::AsRawSocket for $type {
            fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
                std::os::windows::io::AsRawSocket::as_raw_socket(&self.socket)
            }
        }
    };
}

pub(crate) use impl_os_handle;
