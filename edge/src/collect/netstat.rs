//! The `netstat` collector: node_exporter's default fields of `/proc/net/netstat`,
//! `/proc/net/snmp` (header and value line pairs per protocol) and `/proc/net/snmp6` (one
//! `Ip6InOctets 123` per line), named `Proto_Field` (`Tcp_ActiveOpens`, `Ip6_InOctets`),
//! for `node_netstat_*`. The fields are those of node_exporter 1.5's default
//! `--collector.netstat.fields`. Pure.

use super::table::TableWriter;

/// Whether node_exporter's default netstat regex takes `proto` `_` `field`:
/// `^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$`.
pub fn is_default_field(proto: &str, field: &str) -> bool {
    if field == "InErrors" || field == "InErrs" {
        return true;
    }
    match proto {
        "Ip" => field == "Forwarding",
        "Ip6" | "IpExt" => matches!(field, "InOctets" | "OutOctets"),
        "Icmp" | "Icmp6" => matches!(field, "InMsgs" | "OutMsgs"),
        "TcpExt" => {
            field.starts_with("Listen")
                || field.starts_with("Syncookies")
                || matches!(field, "TCPSynRetrans" | "TCPTimeouts")
        }
        "Tcp" => matches!(
            field,
            "ActiveOpens"
                | "InSegs"
                | "OutSegs"
                | "OutRsts"
                | "PassiveOpens"
                | "RetransSegs"
                | "CurrEstab"
        ),
        "Udp" | "Udp6" => matches!(
            field,
            "InDatagrams" | "OutDatagrams" | "NoPorts" | "RcvbufErrors" | "SndbufErrors"
        ),
        _ => false,
    }
}

/// Writes the default fields of `/proc/net/netstat` or `/proc/net/snmp` text: each
/// protocol is a line of names (`Tcp: RtoAlgorithm RtoMin ...`) followed by a line of
/// values (`Tcp: 1 200 ...`). A value that is not a counter (`MaxConn -1`) is skipped.
pub fn parse_netstat(text: &str, out: &mut TableWriter<'_>) {
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (Some((proto, names)), Some((proto2, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        if proto != proto2 {
            continue;
        }
        for (field, value) in names
            .split_ascii_whitespace()
            .zip(values.split_ascii_whitespace())
        {
            if is_default_field(proto, field) {
                if let Ok(value) = value.parse::<u64>() {
                    out.set(&[proto, field], value);
                }
            }
        }
    }
}

/// Writes the default fields of `/proc/net/snmp6` text (`Ip6InOctets  123`): the protocol
/// is the name up to its `6`, as node_exporter splits it.
pub fn parse_snmp6(text: &str, out: &mut TableWriter<'_>) {
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(six) = key.find('6') else {
            continue;
        };
        let (proto, field) = key.split_at(six + 1);
        if is_default_field(proto, field) {
            if let Ok(value) = value.parse::<u64>() {
                out.set(&[proto, field], value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::StatTable;

    use super::*;
    use crate::collect::table::fill;

    const SNMP: &str = "Ip: Forwarding DefaultTTL InReceives InHdrErrors\nIp: 1 64 1000 0\n\
        Icmp: InMsgs InErrors OutMsgs\nIcmp: 5 1 6\n\
        Tcp: RtoAlgorithm MaxConn ActiveOpens PassiveOpens CurrEstab InSegs InErrs\nTcp: 1 -1 30 4 2 900 0\n\
        Udp: InDatagrams NoPorts InErrors OutDatagrams\nUdp: 10 1 0 11\n";
    const NETSTAT: &str =
        "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPTimeouts TCPLossProbes\n\
        TcpExt: 0 3 4 7 9\nIpExt: InNoRoutes InOctets OutOctets\nIpExt: 0 123456 654321\n";
    const SNMP6: &str = "Ip6InReceives  100\nIp6InOctets  2000\nIcmp6InMsgs 3\nUdp6InDatagrams 4\nUdpLite6InErrors 0\n";

    #[test]
    fn default_fields_of_all_three_files() {
        let mut table = StatTable::new();
        fill(&mut table, &mut String::new(), |w| {
            parse_netstat(SNMP, w);
            parse_netstat(NETSTAT, w);
            parse_snmp6(SNMP6, w);
        });
        let names: Vec<&str> = table.keys().map(|k| &**k).collect();
        assert_eq!(
            names,
            [
                "Icmp6_InMsgs",
                "Icmp_InErrors",
                "Icmp_InMsgs",
                "Icmp_OutMsgs",
                "Ip6_InOctets",
                "IpExt_InOctets",
                "IpExt_OutOctets",
                "Ip_Forwarding",
                "TcpExt_ListenDrops",
                "TcpExt_ListenOverflows",
                "TcpExt_SyncookiesSent",
                "TcpExt_TCPTimeouts",
                "Tcp_ActiveOpens",
                "Tcp_CurrEstab",
                "Tcp_InErrs",
                "Tcp_InSegs",
                "Tcp_PassiveOpens",
                "Udp6_InDatagrams",
                "UdpLite6_InErrors",
                "Udp_InDatagrams",
                "Udp_InErrors",
                "Udp_NoPorts",
                "Udp_OutDatagrams",
            ]
        );
        assert_eq!(table["IpExt_OutOctets"], 654_321);
        assert_eq!(table["Tcp_ActiveOpens"], 30);
    }
}
