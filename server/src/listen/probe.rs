//! `SocketProbe`: asks the kernel how many bytes wait unread on one connection's socket.
//!
//! The silence timer of an edge connection (`crate::ingest`) must never call an edge
//! silent while its frames wait on the socket: a server that falls behind (overload, a
//! stalled runtime, a frozen process) reads late, but the edge did send. The runtime's own
//! view cannot answer that: after a stall, tokio's reactor hands out at most 1,024
//! readiness events per turn, so with thousands of connections a task may see its timer
//! fire long before it learns its socket is readable. The kernel's receive queue
//! (`FIONREAD`) is the truth, whatever the runtime has noticed so far.
//!
//! The probe holds the socket's raw descriptor, not the socket: the connection owns that.
//! [`ProbeGuard`] lives inside the connection's I/O object and is dropped before the socket
//! is closed; from then on the probe answers `None`, so it never touches a descriptor
//! number the process may have reused. The one `unsafe` (the `ioctl`) is checked under the
//! same lock.
#![allow(unsafe_code)]

use std::os::fd::RawFd;
use std::sync::Arc;

use parking_lot::Mutex;

/// A handle that tells how many bytes wait unread in one connection's kernel receive queue.
///
/// Cheap to clone. `Default` is a probe with no socket (in-process router tests), which
/// always answers `None`.
#[derive(Debug, Clone, Default)]
pub struct SocketProbe(Option<Arc<Mutex<Option<RawFd>>>>);

/// Closes its [`SocketProbe`] when dropped; must be dropped before the socket is closed.
#[derive(Debug)]
pub struct ProbeGuard(Arc<Mutex<Option<RawFd>>>);

impl SocketProbe {
    /// A probe of `fd`, valid until the returned guard is dropped.
    pub fn new(fd: RawFd) -> (SocketProbe, ProbeGuard) {
        let shared = Arc::new(Mutex::new(Some(fd)));
        (SocketProbe(Some(shared.clone())), ProbeGuard(shared))
    }

    /// Bytes received by the kernel and not yet read by the server (TLS records included);
    /// `None` when unknown: no socket, the connection is gone, or the `ioctl` failed.
    pub fn unread_bytes(&self) -> Option<usize> {
        let shared = self.0.as_ref()?;
        let fd = shared.lock();
        let fd = (*fd)?;
        let mut unread: libc::c_int = 0;
        // SAFETY: `fd` is open: the guard clears it under this lock before the connection
        // closes its socket, and the lock is held across the call. FIONREAD writes one
        // `c_int` through the pointer, which points at a live local of that type.
        let status = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut unread) };
        (status == 0).then(|| usize::try_from(unread).unwrap_or(0))
    }
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn counts_unread_bytes_and_goes_blind_with_its_guard() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let (probe, guard) = SocketProbe::new(server.as_raw_fd());
        assert_eq!(probe.unread_bytes(), Some(0));
        client.write_all(b"hello").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while probe.unread_bytes() != Some(5) && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(probe.unread_bytes(), Some(5));
        drop(guard);
        assert_eq!(probe.unread_bytes(), None);
        assert_eq!(SocketProbe::default().unread_bytes(), None);
    }
}
