//! Host facts sent once per connection in the hello: names, versions, CPU model, cores,
//! boot time. Parsers are pure; [`host_info`] reads the files and never fails (a missing
//! fact is an empty string or zero).

use std::fs;
use std::io::Read;

use utizmon_protocol::{HostInfo, MAX_CORES, MAX_HOST_NAME_BYTES, MAX_TEXT_BYTES};

use super::{clean_text, sys};

/// How much of `/proc/cpuinfo` to read: the model is in the first entries, and the whole
/// file is about 1 KiB per core (a megabyte on the largest machines).
const CPUINFO_HEAD_BYTES: u64 = 64 * 1024;

/// The system host name (`uname -n`), if there is a usable one.
pub fn system_host_name() -> Option<String> {
    let name = sys::uname()
        .map(|uts| uts.nodename)
        .or_else(|_| fs::read_to_string("/proc/sys/kernel/hostname"))
        .ok()?;
    let name = clean_text(name.trim(), MAX_HOST_NAME_BYTES);
    (!name.is_empty()).then_some(name)
}

/// Gathers the host facts for a hello, filed under `host_name`.
pub fn host_info(host_name: &str) -> HostInfo {
    let (os_name, os_version) = fs::read_to_string("/etc/os-release")
        .or_else(|_| fs::read_to_string("/usr/lib/os-release"))
        .map(|text| parse_os_release(&text))
        .unwrap_or_else(|_| ("Linux".to_owned(), String::new()));
    let uts = sys::uname().unwrap_or_default();
    let cpuinfo = read_head("/proc/cpuinfo", CPUINFO_HEAD_BYTES);
    let cores = sys::online_cpus()
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .and_then(|n| u32::try_from(n.get()).ok())
        })
        .unwrap_or(1)
        .min(MAX_CORES as u32);
    let boot_time = fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|text| parse_boot_time(&text))
        .unwrap_or(0);
    let arch = if uts.machine.is_empty() {
        std::env::consts::ARCH.to_owned()
    } else {
        uts.machine
    };
    HostInfo {
        host_name: host_name.to_owned(),
        os_name: clean_text(&os_name, MAX_TEXT_BYTES),
        os_version: clean_text(&os_version, MAX_TEXT_BYTES),
        kernel: clean_text(&uts.release, MAX_TEXT_BYTES),
        arch: clean_text(&arch, MAX_TEXT_BYTES),
        cpu_model: clean_text(
            &parse_cpu_model(&cpuinfo).unwrap_or_default(),
            MAX_TEXT_BYTES,
        ),
        cores,
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        boot_time,
        kernel_version: clean_text(&uts.version, MAX_TEXT_BYTES),
        nodename: clean_text(&uts.nodename, MAX_TEXT_BYTES),
        domainname: clean_text(&uts.domainname, MAX_TEXT_BYTES),
    }
}

/// The first `limit` bytes of a file as text (lossy), empty if unreadable.
fn read_head(path: &str, limit: u64) -> String {
    let mut bytes = Vec::new();
    let _ = fs::File::open(path).and_then(|file| file.take(limit).read_to_end(&mut bytes));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `NAME` and `VERSION_ID` (falling back to `VERSION`) from os-release, unquoted.
pub fn parse_os_release(text: &str) -> (String, String) {
    let (mut name, mut version_id, mut version) = (None, None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match key.trim() {
            "NAME" => name = Some(value),
            "VERSION_ID" => version_id = Some(value),
            "VERSION" => version = Some(value),
            _ => {}
        }
    }
    (
        name.unwrap_or_else(|| "Linux".to_owned()),
        version_id.or(version).unwrap_or_default(),
    )
}

fn unquote(value: &str) -> String {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

/// CPU model of the first core: `model name` on x86, other keys on ARM, POWER and RISC-V.
pub fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    const KEYS: [&str; 5] = ["model name", "Processor", "cpu model", "uarch", "cpu"];
    for key in KEYS {
        for line in cpuinfo.lines() {
            if let Some((k, v)) = line.split_once(':') {
                let v = v.trim();
                if k.trim() == key && !v.is_empty() {
                    return Some(v.to_owned());
                }
            }
        }
    }
    None
}

/// `btime` from `/proc/stat`: boot time in Unix seconds.
pub fn parse_boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_name_and_version() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release(text),
            ("Debian GNU/Linux".to_owned(), "12".to_owned())
        );
        // Arch has no VERSION_ID at all; some distros quote with single quotes.
        assert_eq!(
            parse_os_release("NAME='Arch Linux'\nBUILD_ID=rolling\n"),
            ("Arch Linux".to_owned(), String::new())
        );
        assert_eq!(parse_os_release("").0, "Linux");
    }

    #[test]
    fn cpu_model_on_several_architectures() {
        assert_eq!(
            parse_cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n").as_deref(),
            Some("AMD EPYC 7B13")
        );
        assert_eq!(
            parse_cpu_model("Processor\t: ARMv7 Processor rev 4 (v7l)\n").as_deref(),
            Some("ARMv7 Processor rev 4 (v7l)")
        );
        assert_eq!(
            parse_cpu_model("processor : 0\ncpu : POWER9 (raw)\n").as_deref(),
            Some("POWER9 (raw)")
        );
        assert_eq!(parse_cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn boot_time_from_stat() {
        assert_eq!(
            parse_boot_time("cpu 1 2 3 4\nbtime 1732400000\n"),
            Some(1_732_400_000)
        );
        assert_eq!(parse_boot_time("cpu 1 2 3 4\n"), None);
    }

    #[test]
    fn host_info_of_this_machine_passes_validation() {
        let info = host_info("test-host");
        assert!(info.cores >= 1);
        assert!(info.boot_time > 0);
        let hello = utizmon_protocol::Hello {
            version: utizmon_protocol::PROTOCOL_VERSION,
            minor: 0,
            run_id: "r".into(),
            run_secret: None,
            interval_ms: 1000,
            host: info,
        };
        hello.validate().unwrap();
    }
}
