//! The `vmstat` collector: node_exporter's default fields of `/proc/vmstat`
//! (`--collector.vmstat.fields="^(oom_kill|pgpg|pswp|pg.*fault).*"`: page-ins and -outs,
//! swap-ins and -outs, page faults, OOM kills), for `node_vmstat_*`. Pure.

use super::table::TableWriter;

/// Whether node_exporter's default vmstat regex takes `name`.
pub fn is_default_field(name: &str) -> bool {
    name.starts_with("oom_kill")
        || name.starts_with("pgpg")
        || name.starts_with("pswp")
        || name
            .strip_prefix("pg")
            .is_some_and(|rest| rest.contains("fault"))
}

/// Writes the default fields of `text` (`/proc/vmstat`: `name value` lines).
pub fn parse_vmstat(text: &str, out: &mut TableWriter<'_>) {
    for line in text.lines() {
        let Some((name, value)) = line.split_once(' ') else {
            continue;
        };
        if !is_default_field(name) {
            continue;
        }
        if let Ok(value) = value.trim().parse::<u64>() {
            out.set(&[name], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::StatTable;

    use super::*;
    use crate::collect::table::fill;

    #[test]
    fn only_the_default_fields() {
        let text = "nr_free_pages 1000\npgpgin 12\npgpgout 13\npswpin 0\npswpout 0\n\
                    pgfault 9999\npgmajfault 77\noom_kill 1\nthp_fault_alloc 5\npgsteal_kswapd 3\n";
        let mut table = StatTable::new();
        fill(&mut table, &mut String::new(), |w| parse_vmstat(text, w));
        let names: Vec<&str> = table.keys().map(|k| &**k).collect();
        assert_eq!(
            names,
            [
                "oom_kill",
                "pgfault",
                "pgmajfault",
                "pgpgin",
                "pgpgout",
                "pswpin",
                "pswpout"
            ]
        );
        assert_eq!(table["pgfault"], 9999);
    }
}
