//! Memory: parses `/proc/meminfo` into the wire [`Memory`] section. Pure; the caller reads
//! the file.

use utizmon_protocol::Memory;

/// Parses `/proc/meminfo`. `None` when `MemTotal` is missing.
///
/// `used = MemTotal - MemAvailable`. Kernels before 3.14 have no `MemAvailable`; there it
/// is estimated as `MemFree + Buffers + Cached`. Every value is clamped so that
/// used/available never exceed total, as the protocol requires.
pub fn parse_meminfo(text: &str) -> Option<Memory> {
    let (mut total, mut available, mut free, mut buffers, mut cached) = (None, None, 0, 0, 0);
    let (mut swap_total, mut swap_free) = (0, 0);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let Some(bytes) = kib_to_bytes(rest) else {
            continue;
        };
        match key {
            "MemTotal" => total = Some(bytes),
            "MemAvailable" => available = Some(bytes),
            "MemFree" => free = bytes,
            "Buffers" => buffers = bytes,
            "Cached" => cached = bytes,
            "SwapTotal" => swap_total = bytes,
            "SwapFree" => swap_free = bytes,
            _ => {}
        }
    }
    let total_bytes = total?;
    let available_bytes = available
        .unwrap_or_else(|| free.saturating_add(buffers).saturating_add(cached))
        .min(total_bytes);
    Some(Memory {
        total_bytes,
        used_bytes: total_bytes - available_bytes,
        available_bytes,
        swap_total_bytes: swap_total,
        swap_used_bytes: swap_total.saturating_sub(swap_free),
        free_bytes: free.min(total_bytes),
        buffers_bytes: buffers,
        cached_bytes: cached,
    })
}

/// `"   16318412 kB"` -> bytes. Lines without a unit are plain numbers (counts).
fn kib_to_bytes(rest: &str) -> Option<u64> {
    let mut parts = rest.split_ascii_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => Some(value.saturating_mul(1024)),
        _ => Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:        2032500 kB
MemFree:          123456 kB
MemAvailable:    1434512 kB
Buffers:           50000 kB
Cached:           900000 kB
SwapCached:            0 kB
SwapTotal:        999420 kB
SwapFree:         899420 kB
HugePages_Total:       0
";

    #[test]
    fn used_is_total_minus_available() {
        let m = parse_meminfo(MEMINFO).unwrap();
        assert_eq!(m.total_bytes, 2_032_500 * 1024);
        assert_eq!(m.available_bytes, 1_434_512 * 1024);
        assert_eq!(m.used_bytes, (2_032_500 - 1_434_512) * 1024);
        assert_eq!(m.swap_total_bytes, 999_420 * 1024);
        assert_eq!(m.swap_used_bytes, 100_000 * 1024);
        assert_eq!(m.free_bytes, 123_456 * 1024);
        assert_eq!(m.buffers_bytes, 50_000 * 1024);
        assert_eq!(m.cached_bytes, 900_000 * 1024);
    }

    #[test]
    fn old_kernels_estimate_available() {
        let text = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 200 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(m.available_bytes, 310 * 1024);
        assert_eq!(m.swap_total_bytes, 0);
    }

    #[test]
    fn inconsistent_values_are_clamped() {
        let text = "MemTotal: 100 kB\nMemAvailable: 200 kB\nSwapTotal: 1 kB\nSwapFree: 5 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(m.available_bytes, m.total_bytes);
        assert_eq!(m.used_bytes, 0);
        assert_eq!(m.swap_used_bytes, 0);
    }

    #[test]
    fn missing_total_or_garbage_is_none() {
        assert_eq!(parse_meminfo(""), None);
        assert_eq!(parse_meminfo("MemTotal: lots kB\n"), None);
        assert_eq!(parse_meminfo("garbage\n\u{0}"), None);
    }
}
