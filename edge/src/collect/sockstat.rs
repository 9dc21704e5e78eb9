//! The `sockstat` collector: `/proc/net/sockstat` and `/proc/net/sockstat6` under
//! node_exporter's names (`sockets: used 290` -> `sockets_used`; `TCP: inuse 5 mem 1` ->
//! `TCP_inuse`, `TCP_mem`, and `TCP_mem_bytes` = pages x page size), for
//! `node_sockstat_*`. Pure.

use super::table::TableWriter;

/// Writes every `PROTO: key value ...` pair of `text`; `page_size` turns `mem` (pages)
/// into `mem_bytes` too.
pub fn parse_sockstat(text: &str, page_size: u64, out: &mut TableWriter<'_>) {
    for line in text.lines() {
        let Some((proto, rest)) = line.split_once(':') else {
            continue;
        };
        let mut words = rest.split_ascii_whitespace();
        while let (Some(key), Some(value)) = (words.next(), words.next()) {
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            out.set(&[proto, key], value);
            if key == "mem" {
                out.set(&[proto, "mem", "bytes"], value.saturating_mul(page_size));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::StatTable;

    use super::*;
    use crate::collect::table::fill;

    #[test]
    fn names_as_node_exporter() {
        let v4 =
            "sockets: used 290\nTCP: inuse 5 orphan 0 tw 1 alloc 7 mem 2\nUDP: inuse 2 mem 3\n\
                  UDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n";
        let v6 = "TCP6: inuse 3\nUDP6: inuse 1\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n";
        let mut table = StatTable::new();
        fill(&mut table, &mut String::new(), |w| {
            parse_sockstat(v4, 4096, w);
            parse_sockstat(v6, 4096, w);
        });
        assert_eq!(table["sockets_used"], 290);
        assert_eq!(table["TCP_tw"], 1);
        assert_eq!(table["TCP_mem_bytes"], 8192);
        assert_eq!(table["UDP_mem_bytes"], 3 * 4096);
        assert_eq!(table["FRAG6_memory"], 0);
        assert_eq!(table["TCP6_inuse"], 3);
        assert_eq!(table.len(), 20);
    }
}
