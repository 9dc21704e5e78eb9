//! Temperatures: hwmon chips (`/sys/class/hwmon/hwmon*/temp*_input`) and thermal zones
//! (`/sys/class/thermal/thermal_zone*/temp`).
//!
//! The list of sensors is discovered at most once a minute ([`Sensors::discover`]); each
//! sample then only reads the small value files. Chip names follow node_exporter's hwmon
//! collector (`<device type>_<device name>` from the `device` link, else the `name` file,
//! else `hwmonN`, lower-cased with anything outside `[a-z0-9:_]` turned into `_`), so
//! `node_hwmon_temp_celsius{chip,sensor}` matches it. [`chip_name`] and
//! [`parse_millidegrees`] are pure; the directory walk takes a root so tests run on a
//! fixture tree.

use std::fs;
use std::path::{Path, PathBuf};

use utizmon_protocol::{Temperature, MAX_TEMPERATURES, MAX_TEXT_BYTES};

use super::{clean_text, read_into};

/// One sensor found by discovery: where its value is and what to call it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensor {
    /// The file holding millidegrees Celsius.
    pub input: PathBuf,
    /// The wire entry, `celsius` filled on every read.
    pub entry: Temperature,
}

/// The discovered sensors of one host.
#[derive(Debug, Default)]
pub struct Sensors {
    sensors: Vec<Sensor>,
}

impl Sensors {
    /// Walks `<class_root>/hwmon` and `<class_root>/thermal` (normally `/sys/class`) for
    /// sensors, at most [`MAX_TEMPERATURES`]. Returns how many were found; a host without
    /// either directory simply has none.
    pub fn discover(&mut self, class_root: &Path) -> usize {
        self.sensors.clear();
        let mut buf = String::new();
        for chip_dir in sorted_entries(&class_root.join("hwmon"), "hwmon") {
            let chip = chip_name(&chip_dir);
            let mut inputs = sorted_entries(&chip_dir, "temp");
            inputs.retain(|p| p.to_string_lossy().ends_with("_input"));
            for input in inputs {
                let file = input.file_name().unwrap_or_default().to_string_lossy();
                let sensor = file.trim_end_matches("_input").to_owned();
                let label = read_into(
                    &chip_dir.join(format!("{sensor}_label")).to_string_lossy(),
                    &mut buf,
                )
                .map(|()| clean_text(buf.trim(), MAX_TEXT_BYTES))
                .unwrap_or_default();
                self.push(input, "hwmon", &chip, &sensor, label);
            }
        }
        for zone_dir in sorted_entries(&class_root.join("thermal"), "thermal_zone") {
            let name = zone_dir.file_name().unwrap_or_default().to_string_lossy();
            let zone = name.trim_start_matches("thermal_zone").to_owned();
            let zone_type = read_into(&zone_dir.join("type").to_string_lossy(), &mut buf)
                .map(|()| buf.trim().to_owned())
                .unwrap_or_default();
            if zone_type.is_empty() {
                continue;
            }
            self.push(
                zone_dir.join("temp"),
                "thermal_zone",
                &zone_type,
                &zone,
                String::new(),
            );
        }
        self.sensors.len()
    }

    fn push(&mut self, input: PathBuf, kind: &str, chip: &str, sensor: &str, label: String) {
        let (chip, sensor) = (
            clean_text(chip, MAX_TEXT_BYTES),
            clean_text(sensor, MAX_TEXT_BYTES),
        );
        if self.sensors.len() == MAX_TEMPERATURES || chip.is_empty() || sensor.is_empty() {
            return;
        }
        self.sensors.push(Sensor {
            input,
            entry: Temperature {
                kind: kind.to_owned(),
                chip,
                sensor,
                label,
                celsius: 0.0,
            },
        });
    }

    /// Whether discovery found nothing.
    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
    }

    /// Reads every sensor into `out` (replaced). Sensors that fail to read (a chip that
    /// answers `EIO` while asleep is common) are left out; returns how many failed.
    pub fn read(&self, buf: &mut String, out: &mut Vec<Temperature>) -> usize {
        out.clear();
        let mut failed = 0;
        for sensor in &self.sensors {
            let value = read_into(&sensor.input.to_string_lossy(), buf)
                .ok()
                .and_then(|()| parse_millidegrees(buf));
            match value {
                Some(celsius) => {
                    let mut entry = sensor.entry.clone();
                    entry.celsius = celsius;
                    out.push(entry);
                }
                None => failed += 1,
            }
        }
        failed
    }
}

/// `"45500\n"` -> 45.5 °C; `None` for garbage or anything outside -273.15..=1000 °C.
pub fn parse_millidegrees(text: &str) -> Option<f64> {
    let celsius = text.trim().parse::<i64>().ok()? as f64 / 1000.0;
    (-273.15..=1000.0).contains(&celsius).then_some(celsius)
}

/// node_exporter's name for the hwmon chip in `dir` (see the module comment).
pub fn chip_name(dir: &Path) -> String {
    if let Ok(device) = fs::canonicalize(dir.join("device")) {
        let name = clean_metric_name(&device.file_name().unwrap_or_default().to_string_lossy());
        let kind = device
            .parent()
            .and_then(Path::file_name)
            .map(|t| clean_metric_name(&t.to_string_lossy()))
            .unwrap_or_default();
        match (kind.is_empty(), name.is_empty()) {
            (false, false) => return format!("{kind}_{name}"),
            (true, false) => return name,
            _ => {}
        }
    }
    if let Ok(name) = fs::read_to_string(dir.join("name")) {
        let name = clean_metric_name(&name);
        if !name.is_empty() {
            return name;
        }
    }
    let real = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    clean_metric_name(&real.file_name().unwrap_or_default().to_string_lossy())
}

/// Lower case, every character outside `[a-z0-9:_]` replaced by `_`, `_` trimmed at both
/// ends: node_exporter's `cleanMetricName`.
pub fn clean_metric_name(name: &str) -> String {
    let cleaned: String = name
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | ':' | '_' => c,
            _ => '_',
        })
        .collect();
    cleaned.trim_matches('_').to_owned()
}

/// Entries of `dir` whose names start with `prefix`, sorted naturally (`temp2` before
/// `temp10`); empty when the directory is missing.
fn sorted_entries(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .take(4 * MAX_TEMPERATURES)
        .collect();
    paths.sort_by_key(|p| {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let digits: String = name.chars().filter(char::is_ascii_digit).collect();
        (
            name.len(),
            digits.parse::<u64>().unwrap_or(0),
            name.into_owned(),
        )
    });
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/sys` with one coretemp chip (device link), one named chip without a device,
    /// and two thermal zones.
    fn fixture() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let write = |p: &str, text: &str| {
            let path = r.join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        };
        write("devices/platform/coretemp.0/x", "");
        write("class/hwmon/hwmon1/name", "coretemp\n");
        write("class/hwmon/hwmon1/temp1_input", "45000\n");
        write("class/hwmon/hwmon1/temp1_label", "Package id 0\n");
        write("class/hwmon/hwmon1/temp2_input", "41500\n");
        write("class/hwmon/hwmon1/temp10_input", "garbage\n");
        std::os::unix::fs::symlink(
            r.join("devices/platform/coretemp.0"),
            r.join("class/hwmon/hwmon1/device"),
        )
        .unwrap();
        write("class/hwmon/hwmon0/name", "ACPI TZ\n");
        write("class/hwmon/hwmon0/temp1_input", "27800\n");
        write("class/thermal/thermal_zone0/type", "acpitz\n");
        write("class/thermal/thermal_zone0/temp", "27800\n");
        write("class/thermal/thermal_zone1/type", "x86_pkg_temp\n");
        write("class/thermal/thermal_zone1/temp", "-5000\n");
        write("class/thermal/cooling_device0/type", "Fan\n");
        root
    }

    #[test]
    fn discovers_and_reads_chips_and_zones_with_node_exporter_names() {
        let root = fixture();
        let mut sensors = Sensors::default();
        assert_eq!(sensors.discover(&root.path().join("class")), 6);
        let mut out = Vec::new();
        let failed = sensors.read(&mut String::new(), &mut out);
        assert_eq!(failed, 1, "temp10 holds garbage");
        let got: Vec<_> = out
            .iter()
            .map(|t| {
                (
                    t.kind.as_str(),
                    t.chip.as_str(),
                    t.sensor.as_str(),
                    t.label.as_str(),
                    t.celsius,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("hwmon", "acpi_tz", "temp1", "", 27.8),
                (
                    "hwmon",
                    "platform_coretemp_0",
                    "temp1",
                    "Package id 0",
                    45.0
                ),
                ("hwmon", "platform_coretemp_0", "temp2", "", 41.5),
                ("thermal_zone", "acpitz", "0", "", 27.8),
                ("thermal_zone", "x86_pkg_temp", "1", "", -5.0),
            ]
        );
    }

    #[test]
    fn a_host_without_sensors_has_none() {
        let root = tempfile::tempdir().unwrap();
        let mut sensors = Sensors::default();
        assert_eq!(sensors.discover(root.path()), 0);
        assert!(sensors.is_empty());
    }

    #[test]
    fn values_and_names_are_cleaned() {
        assert_eq!(parse_millidegrees("45500\n"), Some(45.5));
        assert_eq!(parse_millidegrees("-300000"), None);
        assert_eq!(parse_millidegrees("2000000"), None);
        assert_eq!(parse_millidegrees("x"), None);
        assert_eq!(clean_metric_name("coretemp.0"), "coretemp_0");
        assert_eq!(clean_metric_name("_PCI 0000:00__"), "pci_0000:00");
    }
}
