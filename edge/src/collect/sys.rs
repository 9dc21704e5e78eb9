//! The edge's only `unsafe`: three libc functions (`sysconf`, `statvfs`, `uname`) that std does
//! not expose, each wrapped in a safe function that turns failure into `io::Error` or a
//! fallback. Everything that interprets the numbers lives in the collector modules.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;

/// Kernel clock ticks per second (`USER_HZ`), the unit of `/proc/stat` counters.
///
/// Falls back to 100, the value on every mainstream Linux architecture, if `sysconf` fails.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf takes an integer constant and touches no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// Bytes per memory page, the unit of RSS in `/proc/<pid>/stat`; 4096 if `sysconf` fails.
pub fn page_size() -> u64 {
    // SAFETY: as above, an integer query with no pointers.
    let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(bytes).ok().filter(|&b| b > 0).unwrap_or(4096)
}

/// Number of online logical CPUs, if the kernel tells.
pub fn online_cpus() -> Option<u32> {
    // SAFETY: as above, an integer query with no pointers.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).ok().filter(|&n| n > 0)
}

/// Size and free space of one mounted filesystem, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// `f_blocks * f_frsize`.
    pub size_bytes: u64,
    /// `f_bavail * f_frsize`: what unprivileged users may still write; never above size.
    pub avail_bytes: u64,
    /// `f_bfree * f_frsize`: free including the root reserve; never above size.
    pub free_bytes: u64,
    /// `f_files`: inodes in total.
    pub files: u64,
    /// `f_ffree`: free inodes; never above `files`.
    pub files_free: u64,
}

/// Calls `statvfs(2)` on `path`.
pub fn statvfs(path: &str) -> io::Result<Space> {
    let c_path = CString::new(path).map_err(|_| io::Error::other("path contains a NUL byte"))?;
    let mut stat = MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to writable
    // memory of the right type; the kernel fills it on success.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so the struct is initialised (and it was zeroed before).
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::unnecessary_cast)] // The field types differ between architectures.
    let block = if stat.f_frsize > 0 {
        stat.f_frsize as u64
    } else {
        stat.f_bsize as u64
    };
    #[allow(clippy::unnecessary_cast)]
    let size_bytes = (stat.f_blocks as u64).saturating_mul(block);
    #[allow(clippy::unnecessary_cast)]
    let avail_bytes = (stat.f_bavail as u64).saturating_mul(block).min(size_bytes);
    #[allow(clippy::unnecessary_cast)]
    let free_bytes = (stat.f_bfree as u64).saturating_mul(block).min(size_bytes);
    #[allow(clippy::unnecessary_cast)]
    let files = stat.f_files as u64;
    #[allow(clippy::unnecessary_cast)]
    let files_free = (stat.f_ffree as u64).min(files);
    Ok(Space {
        size_bytes,
        avail_bytes,
        free_bytes,
        files,
        files_free,
    })
}

/// The fields of `uname(2)` the edge reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uname {
    /// Network node name (the host name of this UTS namespace).
    pub nodename: String,
    /// Kernel release, e.g. `6.1.0-18-amd64`.
    pub release: String,
    /// Hardware name, e.g. `x86_64`.
    pub machine: String,
    /// Kernel build string, e.g. `#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1`.
    pub version: String,
    /// NIS domain name, `(none)` when unset.
    pub domainname: String,
}

/// Calls `uname(2)`.
pub fn uname() -> io::Result<Uname> {
    let mut uts = MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: `uts` points to writable memory of the right type; uname fills it on success.
    let rc = unsafe { libc::uname(uts.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: uname returned 0, so the struct is initialised (and it was zeroed before).
    let uts = unsafe { uts.assume_init() };
    Ok(Uname {
        nodename: c_field(&uts.nodename),
        release: c_field(&uts.release),
        machine: c_field(&uts.machine),
        version: c_field(&uts.version),
        domainname: c_field(&uts.domainname),
    })
}

/// A NUL-terminated `c_char` array as text, lossy on invalid UTF-8.
fn c_field(field: &[libc::c_char]) -> String {
    #[allow(clippy::unnecessary_cast)] // c_char is i8 or u8 depending on the architecture.
    let bytes: Vec<u8> = field
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_space_and_avail_fits() {
        let space = statvfs("/").unwrap();
        assert!(space.size_bytes > 0);
        assert!(space.avail_bytes <= space.size_bytes);
    }

    #[test]
    fn uname_names_a_kernel() {
        let uts = uname().unwrap();
        assert!(!uts.release.is_empty());
        assert!(!uts.machine.is_empty());
    }

    #[test]
    fn clock_ticks_are_positive() {
        assert!(clock_ticks_per_second() > 0);
        assert!(statvfs("/no/such/path").is_err());
    }
}
