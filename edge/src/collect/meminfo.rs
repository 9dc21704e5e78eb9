//! The `meminfo` collector: every line of `/proc/meminfo` under node_exporter's names
//! (`Active(anon):  123 kB` -> `Active_anon_bytes` = 125952; `HugePages_Total:  0` ->
//! `HugePages_Total` = 0), for `node_memory_*`. Pure.

use super::table::TableWriter;

/// Writes each parseable line of `text` (`/proc/meminfo`); lines it cannot read are skipped.
pub fn parse_meminfo_table(text: &str, out: &mut TableWriter<'_>) {
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some(key) = key.strip_suffix(':') else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        // node_exporter: `Active(anon)` -> `Active_anon`; a unit (always kB) -> `_bytes`.
        let (base, inner) = match key.split_once('(') {
            Some((base, rest)) => (base, rest.strip_suffix(')').unwrap_or(rest)),
            None => (key, ""),
        };
        let bytes = fields.next().is_some();
        let value = if bytes {
            value.saturating_mul(1024)
        } else {
            value
        };
        match (inner.is_empty(), bytes) {
            (true, false) => out.set(&[base], value),
            (true, true) => out.set(&[base, "bytes"], value),
            (false, false) => out.set(&[base, inner], value),
            (false, true) => out.set(&[base, inner, "bytes"], value),
        }
    }
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::StatTable;

    use super::*;
    use crate::collect::table::fill;

    #[test]
    fn names_and_units_as_node_exporter() {
        let text = "MemTotal:        2030444 kB\nActive(anon):      12300 kB\n\
                    HugePages_Total:       0\nHugepagesize:       2048 kB\ngarbage\nBad: x kB\n";
        let mut table = StatTable::new();
        let n = fill(&mut table, &mut String::new(), |w| {
            parse_meminfo_table(text, w)
        });
        assert_eq!(n, 4);
        assert_eq!(table["MemTotal_bytes"], 2_030_444 * 1024);
        assert_eq!(table["Active_anon_bytes"], 12_300 * 1024);
        assert_eq!(table["HugePages_Total"], 0);
        assert_eq!(table["Hugepagesize_bytes"], 2048 * 1024);
    }
}
