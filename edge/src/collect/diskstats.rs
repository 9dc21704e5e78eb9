//! Disk I/O: parses `/proc/diskstats` into cumulative counters per block device. Pure; the
//! caller reads the file.
//!
//! Devices are filtered exactly as node_exporter's default
//! `--collector.diskstats.device-exclude` does,
//! `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`: RAM disks, loop devices, floppies
//! and partitions of whole disks already counted are left out, so `node_disk_*` from
//! `/node-metrics` lists the same devices. Device-mapper and md devices stay.

use utizmon_protocol::{Disk, MAX_DISKS, MAX_TEXT_BYTES};

use super::clean_text;

/// Bytes per sector in `/proc/diskstats`: always 512, whatever the device's real sector.
const SECTOR_BYTES: u64 = 512;

/// Whether node_exporter's default device filter leaves `name` out.
pub fn is_excluded(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(|c: char| c.is_ascii_digit()) else {
        return false;
    };
    // The pattern ends in `\d+$`: strip every trailing digit, the rest must match a prefix.
    let stem = stem.trim_end_matches(|c: char| c.is_ascii_digit());
    if matches!(stem, "ram" | "zram" | "loop" | "fd") {
        return true;
    }
    // `(h|s|v|xv)d[a-z]`: a whole disk's partition such as sda1, vdb2, xvda1.
    let disk = stem
        .strip_prefix("xv")
        .or_else(|| stem.strip_prefix(['h', 's', 'v']));
    if let Some(rest) = disk.and_then(|d| d.strip_prefix('d')) {
        if rest.len() == 1 && rest.bytes().all(|b| b.is_ascii_lowercase()) {
            return true;
        }
    }
    // `nvme\d+n\d+p`: an NVMe namespace's partition such as nvme0n1p2.
    if let Some(rest) = stem.strip_prefix("nvme").and_then(|r| r.strip_suffix('p')) {
        if let Some((controller, namespace)) = rest.split_once('n') {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            return digits(controller) && digits(namespace);
        }
    }
    false
}

/// Parses `/proc/diskstats` into `out`, replacing its contents and reusing its entries.
///
/// Keeps at most [`MAX_DISKS`] devices in file order; malformed lines are skipped.
/// Returns false when the text has no device line at all (not even an excluded one), which
/// means the file is not what it should be.
pub fn parse_diskstats(text: &str, out: &mut Vec<Disk>) -> bool {
    let mut n = 0;
    let mut any = false;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(_major), Some(_minor), Some(name)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // reads, merged, sectors, ms reading, writes, merged, sectors, ms writing,
        // in flight, ms doing I/O, weighted ms: the 11 columns every kernel since 2.6 has.
        let mut columns = [0u64; 11];
        let mut n_columns = 0;
        for (slot, field) in columns.iter_mut().zip(fields) {
            match field.parse() {
                Ok(value) => *slot = value,
                Err(_) => break,
            }
            n_columns += 1;
        }
        if n_columns < columns.len() {
            continue;
        }
        any = true;
        if is_excluded(name) || n == MAX_DISKS {
            continue;
        }
        if out.len() == n {
            out.push(Disk::default());
        }
        let ms = |v: u64| v as f64 / 1000.0;
        let disk = &mut out[n];
        disk.device.clear();
        disk.device.push_str(&clean_text(name, MAX_TEXT_BYTES));
        disk.reads = columns[0];
        disk.reads_merged = columns[1];
        disk.read_bytes = columns[2].saturating_mul(SECTOR_BYTES);
        disk.read_seconds = ms(columns[3]);
        disk.writes = columns[4];
        disk.writes_merged = columns[5];
        disk.written_bytes = columns[6].saturating_mul(SECTOR_BYTES);
        disk.write_seconds = ms(columns[7]);
        disk.io_now = columns[8];
        disk.io_seconds = ms(columns[9]);
        disk.io_weighted_seconds = ms(columns[10]);
        n += 1;
    }
    out.truncate(n);
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISKSTATS: &str = "   7       0 loop0 10 0 20 1 0 0 0 0 0 4 1 0 0 0 0 0 0
 254       0 vda 30200 5714 2629698 20553 46420 63881 30699568 233398 2 15200 258461 5358 58 721792 4294 2999 215
 254       1 vda1 29000 5700 2600000 20000 46000 63000 30600000 233000 0 15000 250000
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 259       0 nvme0n1 100 0 800 10 50 0 400 5 0 12 15
 259       1 nvme0n1p1 90 0 700 9 40 0 300 4 0 11 13
 253       1 dm-0 5 0 8 1 5 0 8 1 0 2 2
   8      16 sdb 1 2 3 4 5 6 7 8 9 10
garbage
";

    #[test]
    fn parses_whole_disks_and_skips_partitions_and_virtual_devices() {
        let mut out = Vec::new();
        assert!(parse_diskstats(DISKSTATS, &mut out));
        let names: Vec<_> = out.iter().map(|d| d.device.as_str()).collect();
        // sdb has only 10 columns: malformed, skipped.
        assert_eq!(names, ["vda", "nvme0n1", "dm-0"]);
        let vda = &out[0];
        assert_eq!(vda.reads, 30_200);
        assert_eq!(vda.reads_merged, 5714);
        assert_eq!(vda.read_bytes, 2_629_698 * 512);
        assert_eq!(vda.read_seconds, 20.553);
        assert_eq!(vda.writes, 46_420);
        assert_eq!(vda.written_bytes, 30_699_568 * 512);
        assert_eq!(vda.write_seconds, 233.398);
        assert_eq!(vda.io_now, 2);
        assert_eq!(vda.io_seconds, 15.2);
        assert_eq!(vda.io_weighted_seconds, 258.461);
    }

    #[test]
    fn exclusion_matches_node_exporter_default_regex() {
        for name in [
            "ram0",
            "zram12",
            "loop7",
            "fd0",
            "sda1",
            "hdb3",
            "vda15",
            "xvda1",
            "nvme0n1p1",
            "nvme10n2p33",
        ] {
            assert!(is_excluded(name), "{name}");
        }
        for name in [
            "sda",
            "vda",
            "xvda",
            "nvme0n1",
            "dm-0",
            "md0",
            "sr0",
            "mmcblk0",
            "mmcblk0p1",
            "sdaa1",
            "nbd0",
            "loop",
            "ram",
            "sd1",
            "nvmep1",
        ] {
            assert!(!is_excluded(name), "{name}");
        }
    }

    #[test]
    fn garbage_gives_false_and_the_list_is_capped() {
        let mut out = vec![Disk::default(); 3];
        assert!(!parse_diskstats("", &mut out));
        assert!(out.is_empty());
        assert!(!parse_diskstats("1 2 sda x y z\n\u{0}", &mut out));
        let text: String = (0..200)
            .map(|i| format!("8 {i} dm-{i} 1 2 3 4 5 6 7 8 9 10 11\n"))
            .collect();
        assert!(parse_diskstats(&text, &mut out));
        assert_eq!(out.len(), MAX_DISKS);
    }
}
