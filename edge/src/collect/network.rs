//! Network interfaces: parses `/proc/net/dev` into cumulative byte, packet, error and drop
//! counters. Pure; the caller reads the file.

use utizmon_protocol::{Network, MAX_INTERFACES, MAX_TEXT_BYTES};

use super::clean_text;

/// Parses `/proc/net/dev` into `out`, replacing its contents and reusing its entries.
///
/// Every interface is kept, `lo` included, in file order, up to [`MAX_INTERFACES`].
/// Malformed lines are skipped. Returns false when the file has no interface at all.
pub fn parse_net_dev(text: &str, out: &mut Vec<Network>) -> bool {
    let mut n = 0;
    // The first two lines are column headers.
    for line in text.lines().skip(2) {
        if n == MAX_INTERFACES {
            break;
        }
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        // Receive: bytes packets errs drop fifo frame compressed multicast; then the same
        // for transmit (with colls and carrier): 16 columns.
        let mut columns = [0u64; 16];
        let mut n_columns = 0;
        for (slot, field) in columns.iter_mut().zip(counters.split_ascii_whitespace()) {
            match field.parse() {
                Ok(value) => *slot = value,
                Err(_) => break,
            }
            n_columns += 1;
        }
        if name.is_empty() || n_columns < 9 {
            continue;
        }
        if out.len() == n {
            out.push(Network::default());
        }
        let entry = &mut out[n];
        entry.device.clear();
        entry.device.push_str(&clean_text(name, MAX_TEXT_BYTES));
        entry.rx_bytes = columns[0];
        entry.rx_packets = columns[1];
        entry.rx_errors = columns[2];
        entry.rx_dropped = columns[3];
        entry.tx_bytes = columns[8];
        entry.tx_packets = columns[9];
        entry.tx_errors = columns[10];
        entry.tx_dropped = columns[11];
        n += 1;
    }
    out.truncate(n);
    n > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  324950     158    0    0    0     0          0         0   324950     158    0    0    0     0       0          0
  eth0: 462543181   14516    3    4    0     0          0         0   813871    9544    5    6    0     0       0          0
wlp3s0:1234 1 0 0 0 0 0 0 5678 1 0 0 0 0 0 0
";

    #[test]
    fn parses_every_interface() {
        let mut out = Vec::new();
        assert!(parse_net_dev(NET_DEV, &mut out));
        let got: Vec<_> = out
            .iter()
            .map(|n| (n.device.as_str(), n.rx_bytes, n.tx_bytes))
            .collect();
        assert_eq!(
            got,
            vec![
                ("lo", 324_950, 324_950),
                ("eth0", 462_543_181, 813_871),
                ("wlp3s0", 1234, 5678)
            ]
        );
        let eth0 = &out[1];
        assert_eq!(
            (eth0.rx_packets, eth0.rx_errors, eth0.rx_dropped),
            (14_516, 3, 4)
        );
        assert_eq!(
            (eth0.tx_packets, eth0.tx_errors, eth0.tx_dropped),
            (9544, 5, 6)
        );
    }

    #[test]
    fn reuses_and_shrinks_the_list() {
        let mut out = vec![Network::default(); 5];
        parse_net_dev(NET_DEV, &mut out);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn skips_malformed_lines_and_caps_the_count() {
        let mut out = Vec::new();
        assert!(!parse_net_dev(
            "h\nh\neth0: 1 2 3\n: 1 2 3 4 5 6 7 8 9\n",
            &mut out
        ));
        let mut text = String::from("h\nh\n");
        for i in 0..200 {
            text.push_str(&format!("veth{i}: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0\n"));
        }
        assert!(parse_net_dev(&text, &mut out));
        assert_eq!(out.len(), MAX_INTERFACES);
    }
}
