//! Fills a [`StatTable`] (the kernel statistics tables of protocol minor 2: `meminfo`,
//! `vmstat`, `netstat`, `sockstat`) in place, sample after sample: a field seen before
//! keeps its `String`, only a field that appears for the first time allocates, so a
//! steady host costs no allocation per sample. Pure.

use utizmon_protocol::{is_stat_name, stat_name, StatTable, MAX_STAT_FIELDS};

/// Writes the fields of one reading into a table (see [`fill`]).
pub struct TableWriter<'a> {
    table: &'a mut StatTable,
    /// The name being built (`Tcp` + `_` + `ActiveOpens`), reused.
    name: &'a mut String,
    /// Fields written in this reading.
    written: usize,
}

/// Runs `parse` over `table`, keeping the fields it sets and dropping those it no longer
/// sets (an interface family gone, a kernel upgrade: then the reading is made again on an
/// empty table). Returns how many fields the table holds.
pub fn fill(
    table: &mut StatTable,
    scratch: &mut String,
    parse: impl Fn(&mut TableWriter<'_>),
) -> usize {
    let mut writer = TableWriter {
        table,
        name: scratch,
        written: 0,
    };
    parse(&mut writer);
    if writer.written < writer.table.len() {
        // Which fields went stale is unknown without a mark per field: read again.
        writer.table.clear();
        writer.written = 0;
        parse(&mut writer);
    }
    writer.written
}

impl TableWriter<'_> {
    /// Sets the field named by `parts` joined with `_` to `value`. A name the protocol
    /// would refuse, or a field beyond [`MAX_STAT_FIELDS`], is skipped.
    pub fn set(&mut self, parts: &[&str], value: u64) {
        self.name.clear();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                self.name.push('_');
            }
            self.name.push_str(part);
        }
        if !is_stat_name(self.name) {
            return;
        }
        if let Some(slot) = self.table.get_mut(self.name.as_str()) {
            *slot = value;
        } else if self.table.len() < MAX_STAT_FIELDS {
            self.table.insert(stat_name(self.name), value);
        } else {
            return;
        }
        self.written += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_set_in_place_bad_names_skipped_and_gone_ones_dropped() {
        let mut table = StatTable::new();
        let mut scratch = String::new();
        let n = fill(&mut table, &mut scratch, |w| {
            w.set(&["Tcp", "ActiveOpens"], 5);
            w.set(&["Active(anon)"], 1);
            w.set(&["sockets", "used"], 7);
        });
        assert_eq!(n, 2);
        assert_eq!(table.get("Tcp_ActiveOpens"), Some(&5));
        assert_eq!(table.get("sockets_used"), Some(&7));
        let n = fill(&mut table, &mut scratch, |w| w.set(&["sockets", "used"], 9));
        assert_eq!(n, 1);
        assert_eq!(table.len(), 1, "Tcp_ActiveOpens is gone");
        assert_eq!(table.get("sockets_used"), Some(&9));
    }
}
