//! Open file handles: parses `/proc/sys/fs/file-nr` (allocated, unused, maximum). Pure.

use utizmon_protocol::FileHandles;

/// `"754\t0\t2466170\n"` -> allocated 754, maximum 2466170. `None` on garbage. The
/// allocated count is capped at the maximum, as the protocol requires.
pub fn parse_file_nr(text: &str) -> Option<FileHandles> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<u64>);
    let allocated = fields.next()?.ok()?;
    let _unused = fields.next()?.ok()?;
    let maximum = fields.next()?.ok()?;
    Some(FileHandles {
        allocated: if maximum > 0 {
            allocated.min(maximum)
        } else {
            allocated
        },
        maximum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_nr() {
        assert_eq!(
            parse_file_nr("754\t0\t2466170\n"),
            Some(FileHandles {
                allocated: 754,
                maximum: 2_466_170
            })
        );
        assert_eq!(parse_file_nr("1 0"), None);
        assert_eq!(parse_file_nr("a b c"), None);
        assert_eq!(parse_file_nr("9 0 5").map(|f| f.allocated), Some(5));
    }
}
