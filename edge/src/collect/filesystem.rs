//! Filesystems: picks the real filesystems out of `/proc/self/mounts`. Pure; the caller
//! reads the file and calls `statvfs` on each [`Mount`].
//!
//! Skipped, as node_exporter does by default:
//! - pseudo and in-memory filesystems ([`is_pseudo`]): proc, sysfs, tmpfs, devtmpfs,
//!   cgroup/cgroup2, squashfs (snaps), nsfs, `overlay` (container layers: the disk behind
//!   them is reported under its own device, and every container would otherwise show up as
//!   a copy of it), ...;
//! - network filesystems ([`is_network`]): `statvfs` on an unreachable NFS or CIFS server
//!   blocks, and a monitoring agent must never hang on the thing it monitors;
//! - mountpoints under `/proc`, `/sys`, `/dev`, `/run/credentials` and container runtimes'
//!   private trees;
//! - a device mounted a second time (bind mounts, btrfs subvolumes): only its first
//!   mountpoint is kept, because the numbers would be the same.

use utizmon_protocol::{MAX_FILESYSTEMS, MAX_TEXT_BYTES};

use super::clean_text;

/// One mount worth reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Device or source, e.g. `/dev/vda1`.
    pub source: String,
    /// Where it is mounted, with `\040`-style escapes decoded: the path to `statvfs`.
    pub path: String,
    /// `path` as a protocol label: control characters replaced, cut to the text limit.
    pub mountpoint: String,
    /// Filesystem type, e.g. `ext4`.
    pub fstype: String,
    /// `source` as a protocol label (node_exporter's `device`).
    pub device: String,
}

/// Types that hold no disk space of their own.
pub fn is_pseudo(fstype: &str) -> bool {
    matches!(
        fstype,
        "autofs"
            | "binfmt_misc"
            | "bpf"
            | "cgroup"
            | "cgroup2"
            | "configfs"
            | "debugfs"
            | "devpts"
            | "devtmpfs"
            | "efivarfs"
            | "erofs"
            | "fusectl"
            | "hugetlbfs"
            | "iso9660"
            | "mqueue"
            | "nsfs"
            | "nfsd"
            | "overlay"
            | "proc"
            | "procfs"
            | "pstore"
            | "ramfs"
            | "rootfs"
            | "rpc_pipefs"
            | "securityfs"
            | "selinuxfs"
            | "squashfs"
            | "sysfs"
            | "tmpfs"
            | "tracefs"
            | "aufs"
            | "shiftfs"
            | "fuse.lxcfs"
            | "fuse.gvfsd-fuse"
            | "fuse.portal"
            | "fuse.snapfuse"
    )
}

/// Types whose `statvfs` may block on a remote server.
pub fn is_network(fstype: &str) -> bool {
    matches!(
        fstype,
        "nfs"
            | "nfs4"
            | "cifs"
            | "smb3"
            | "smbfs"
            | "ceph"
            | "glusterfs"
            | "fuse.glusterfs"
            | "fuse.sshfs"
            | "fuse.s3fs"
            | "fuse.rclone"
            | "9p"
            | "afs"
            | "lustre"
            | "davfs"
    )
}

/// Mountpoints that belong to the kernel or to container runtimes, not to the user.
fn is_private_mountpoint(mountpoint: &str) -> bool {
    const PREFIXES: [&str; 7] = [
        "/proc",
        "/sys",
        "/dev",
        "/run/credentials",
        "/var/lib/docker",
        "/var/lib/containers/storage",
        "/var/lib/kubelet/pods",
    ];
    PREFIXES.iter().any(|prefix| {
        mountpoint
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Parses `/proc/self/mounts` into the mounts worth a `statvfs`, in file order, at most
/// [`MAX_FILESYSTEMS`]. `out` is replaced.
pub fn select_mounts(text: &str, out: &mut Vec<Mount>) {
    out.clear();
    for line in text.lines() {
        if out.len() == MAX_FILESYSTEMS {
            break;
        }
        let mut fields = line.split_ascii_whitespace();
        let (Some(source), Some(mountpoint), Some(fstype)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if is_pseudo(fstype) || is_network(fstype) {
            continue;
        }
        let mountpoint = unescape(mountpoint);
        if !mountpoint.starts_with('/') || is_private_mountpoint(&mountpoint) {
            continue;
        }
        let source = unescape(source);
        // Device paths identify the disk; other sources ("none", ZFS dataset names) are
        // only duplicates when everything matches.
        let duplicate = out.iter().any(|m| {
            m.source == source
                && (source.starts_with('/') || (m.fstype == fstype && m.path == mountpoint))
        });
        if duplicate {
            continue;
        }
        out.push(Mount {
            device: clean_text(&source, MAX_TEXT_BYTES),
            source,
            mountpoint: clean_text(&mountpoint, MAX_TEXT_BYTES),
            path: mountpoint,
            fstype: clean_text(fstype, MAX_TEXT_BYTES),
        });
    }
}

/// Decodes the octal escapes the kernel uses in mount tables (`\040` space, `\011` tab,
/// `\012` newline, `\134` backslash). Anything else is kept as written.
pub fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let digits = &bytes[i + 1..(i + 4).min(bytes.len())];
            if digits.len() == 3 && digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=12334460k 0 0
tmpfs /dev/shm tmpfs rw,relatime 0 0
/dev/vda1 / ext4 rw,relatime,discard 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw 0 0
/dev/vda1 /etc/hosts ext4 rw,relatime 0 0
/dev/vdb1 /mnt/my\\040disk xfs rw 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0
overlay /merged overlay rw 0 0
/dev/loop3 /snap/core/123 squashfs ro 0 0
server:/export /mnt/nfs nfs4 rw 0 0
rpool/home /home zfs rw 0 0
rpool/ROOT /srv zfs rw 0 0
/dev/vdc1 /var/lib/docker vfat rw 0 0
/dev/vda2 /boot/efi vfat rw 0 0
short line
";

    #[test]
    fn keeps_only_real_filesystems_once() {
        let mut out = Vec::new();
        select_mounts(MOUNTS, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|m| (m.mountpoint.as_str(), m.fstype.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/", "ext4"),
                ("/mnt/my disk", "xfs"),
                ("/home", "zfs"),
                ("/srv", "zfs"),
                ("/boot/efi", "vfat"),
            ]
        );
    }

    #[test]
    fn pseudo_and_network_types() {
        for fstype in [
            "proc", "sysfs", "tmpfs", "devtmpfs", "cgroup", "cgroup2", "overlay",
        ] {
            assert!(is_pseudo(fstype), "{fstype}");
        }
        for fstype in ["squashfs", "nsfs", "fuse.lxcfs"] {
            assert!(is_pseudo(fstype), "{fstype}");
        }
        for fstype in ["ext4", "xfs", "btrfs", "zfs", "vfat", "f2fs"] {
            assert!(!is_pseudo(fstype) && !is_network(fstype), "{fstype}");
        }
        assert!(is_network("nfs4") && is_network("cifs"));
    }

    #[test]
    fn private_mountpoints_match_whole_components() {
        assert!(is_private_mountpoint("/dev"));
        assert!(is_private_mountpoint("/dev/shm"));
        assert!(!is_private_mountpoint("/devices"));
        assert!(!is_private_mountpoint("/"));
    }

    #[test]
    fn unescapes_octal_sequences() {
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("/x\\134y"), "/x\\y");
        assert_eq!(unescape("/odd\\"), "/odd\\");
        assert_eq!(unescape("/bad\\09z"), "/bad\\09z");
        assert_eq!(unescape("/end\\04"), "/end\\04");
    }

    #[test]
    fn control_characters_in_mountpoints_are_replaced() {
        let mut out = Vec::new();
        select_mounts("/dev/sdz1 /mnt/new\\012line ext4 rw 0 0\n", &mut out);
        assert_eq!(out[0].mountpoint, "/mnt/new?line");
    }

    #[test]
    fn caps_the_list() {
        let text: String = (0..300)
            .map(|i| format!("/dev/sd{i} /mnt/{i} ext4 rw 0 0\n"))
            .collect();
        let mut out = Vec::new();
        select_mounts(&text, &mut out);
        assert_eq!(out.len(), MAX_FILESYSTEMS);
    }
}
