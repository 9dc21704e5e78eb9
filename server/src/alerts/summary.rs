//! Summaries and descriptions of alerts: the rule's minijinja template rendered with the
//! alert's values, and the generated "why" (value, threshold, since when).
//!
//! Text only: no autoescaping here, because every reader inserts it as text (the
//! dashboard with `textContent`, Alertmanager and webhooks as JSON strings, email as
//! plain text). Templates are checked when the rules file is read, so a render error at
//! runtime can only come from a bug; it is logged and the raw template is shown instead.

use std::collections::BTreeMap;
use std::time::Duration;

use minijinja::value::Value;
use minijinja::{Environment, UndefinedBehavior};

use utizmon_protocol::Process;

use crate::alerts::metric::Metric;
use crate::alerts::rules::{Condition, Rule};

/// How many processes a description names.
pub const TOP_PROCESSES: usize = 5;

/// What a template can read.
#[derive(Debug, Clone)]
pub struct TemplateContext<'a> {
    /// Host name.
    pub host: &'a str,
    /// Alert name.
    pub alertname: &'a str,
    /// `info`, `warning` or `critical`.
    pub severity: &'a str,
    /// The metric's name.
    pub metric: &'a str,
    /// The value the condition compared (the predicted one for `predict` rules).
    pub value: f64,
    /// The latest measured value (equals `value` unless the rule predicts).
    pub current: f64,
    /// The threshold; `None` for `host_down`.
    pub threshold: Option<f64>,
    /// The object label's value (`core`, `mountpoint`, `device`), `""` for host-wide.
    pub object: &'a str,
}

/// The summary template used when a rule gives none.
pub fn default_summary(metric: Metric, predicted: bool) -> &'static str {
    match metric {
        Metric::HostDown => "{{ host }} has sent no sample for {{ value | duration }}",
        _ if predicted => {
            "{{ alertname }} on {{ host }}{% if object %} ({{ object }}){% endif %}: {{ metric }} predicted to reach {{ value | round(3) }}"
        }
        m if m.is_ratio() => {
            "{{ alertname }} on {{ host }}{% if object %} ({{ object }}){% endif %}: {{ metric }} at {{ value | percent }}"
        }
        _ => {
            "{{ alertname }} on {{ host }}{% if object %} ({{ object }}){% endif %}: {{ metric }} at {{ value | round(2) }}"
        }
    }
}

/// Checks that `source` parses and renders with every variable a rule may use.
pub fn check(source: &str) -> Result<(), String> {
    let env = environment();
    let context = TemplateContext {
        host: "web-1",
        alertname: "Example",
        severity: "warning",
        metric: "cpu_usage_ratio",
        value: 0.5,
        current: 0.5,
        threshold: Some(0.4),
        object: "/",
    }
    .to_value(&["core", "mountpoint", "device"]);
    env.render_str(source, context)
        .map(|_| ())
        .map_err(|e| describe_template_error(&e))
}

/// Renders `template` for one alert; a failure (a bug: templates are checked at load)
/// is logged and the template text itself returned.
pub fn render(template: &str, context: &TemplateContext<'_>, rule: &Rule) -> String {
    let labels: &[&str] = match rule.metric.object_label() {
        Some(label) => &[label][..],
        None => &[],
    };
    let value = context.to_value(labels);
    match environment().render_str(template, value) {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(alert = rule.alert, error = %e, "rendering an alert template failed");
            template.to_owned()
        }
    }
}

/// The generated "why": value, comparison, threshold, `for` and since when.
pub fn why(rule: &Rule, context: &TemplateContext<'_>, active_since_ms: u64) -> String {
    let since = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + Duration::from_millis(active_since_ms),
    );
    let object = match rule.metric.object_label() {
        Some(label) => format!("{{{label}=\"{}\"}}", context.object),
        None => String::new(),
    };
    let shown = |v: f64| {
        if rule.metric.is_ratio() {
            format!("{v:.3} ({})", percent(v))
        } else {
            format!("{v:.3}")
        }
    };
    let hold = if rule.for_.is_zero() {
        String::new()
    } else {
        format!(" for at least {}", humantime::format_duration(rule.for_))
    };
    match rule.condition {
        Condition::Down => format!(
            "{} has sent no sample for {} (offline since {since})",
            context.host,
            duration(context.value)
        ),
        Condition::Above(t) | Condition::Below(t) => {
            let side = if matches!(rule.condition, Condition::Above(_)) {
                "above"
            } else {
                "below"
            };
            let subject = match rule.predict {
                Some(p) => format!(
                    "{}{object} is {} now and, by a linear fit over the last {}, will be {} in {}",
                    rule.metric,
                    shown(context.current),
                    humantime::format_duration(p.over),
                    shown(context.value),
                    humantime::format_duration(p.ahead)
                ),
                None => format!("{}{object} is {}", rule.metric, shown(context.value)),
            };
            format!(
                "{subject}, {side} the threshold {}{hold}; active since {since}",
                shown(t)
            )
        }
    }
}

/// "Top processes by CPU: nginx (pid 812, www-data) 41.0%, ..." for rules on CPU or load
/// (by CPU share) and on memory or swap (by resident memory), from the processes the
/// edge reported (protocol minor 1); `None` for other metrics or when it reported none.
pub fn top_processes(metric: Metric, processes: &[Process]) -> Option<String> {
    let by_cpu = match metric {
        Metric::CpuUsageRatio
        | Metric::CpuCoreUsageRatio
        | Metric::Load1PerCore
        | Metric::Load15PerCore => true,
        Metric::MemoryUsedRatio | Metric::SwapUsedRatio => false,
        _ => return None,
    };
    if processes.is_empty() {
        return None;
    }
    let mut list: Vec<&Process> = processes.iter().collect();
    if by_cpu {
        list.sort_by(|a, b| b.cpu_ratio.total_cmp(&a.cpu_ratio));
    } else {
        list.sort_by_key(|p| std::cmp::Reverse(p.rss_bytes));
    }
    let shown: Vec<String> = list
        .iter()
        .take(TOP_PROCESSES)
        .map(|p| {
            let amount = if by_cpu {
                percent(p.cpu_ratio)
            } else {
                bytes(p.rss_bytes as f64)
            };
            format!("{} (pid {}, {}) {amount}", p.name, p.pid, p.user)
        })
        .collect();
    let by = if by_cpu { "CPU" } else { "memory" };
    Some(format!("Top processes by {by}: {}", shown.join(", ")))
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("percent", percent);
    env.add_filter("duration", duration);
    env.add_filter("bytes", bytes);
    env
}

impl TemplateContext<'_> {
    /// The template variables, with the object's value also under each of `labels`.
    fn to_value(&self, labels: &[&str]) -> Value {
        let mut map: BTreeMap<String, Value> = BTreeMap::from([
            ("host".to_owned(), Value::from(self.host)),
            ("alertname".to_owned(), Value::from(self.alertname)),
            ("severity".to_owned(), Value::from(self.severity)),
            ("metric".to_owned(), Value::from(self.metric)),
            ("value".to_owned(), Value::from(self.value)),
            ("current".to_owned(), Value::from(self.current)),
            ("threshold".to_owned(), Value::from(self.threshold)),
            ("object".to_owned(), Value::from(self.object)),
        ]);
        for label in labels {
            map.insert((*label).to_owned(), Value::from(self.object));
        }
        Value::from(map)
    }
}

fn describe_template_error(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) if line > 1 => format!("{} (template line {line})", e.kind()),
        _ => match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        },
    }
}

/// `0.953` -> `95.3%`.
pub fn percent(value: f64) -> String {
    format!("{:.1}%", value * 100.0)
}

/// Seconds -> `1h 2m 5s` (whole seconds).
pub fn duration(seconds: f64) -> String {
    let seconds = if seconds.is_finite() && seconds > 0.0 {
        seconds.round() as u64
    } else {
        0
    };
    humantime::format_duration(Duration::from_secs(seconds)).to_string()
}

/// Bytes -> `1.5 MB` (SI units, as network rates are usually read).
pub fn bytes(value: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = value;
    let mut unit = 0;
    while v.abs() >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::RuleSet;

    fn context(value: f64) -> TemplateContext<'static> {
        TemplateContext {
            host: "web-1",
            alertname: "CpuHigh",
            severity: "warning",
            metric: "cpu_usage_ratio",
            value,
            current: value,
            threshold: Some(0.9),
            object: "",
        }
    }

    #[test]
    fn renders_host_and_percent() {
        let set = RuleSet::defaults();
        let rule = set.rules.iter().find(|r| r.alert == "CpuHigh").unwrap();
        assert_eq!(
            render(&rule.summary, &context(0.953), rule),
            "CPU on web-1 at 95.3%"
        );
    }

    #[test]
    fn object_labels_are_variables() {
        let set = RuleSet::defaults();
        let rule = set
            .rules
            .iter()
            .find(|r| r.alert == "DiskAlmostFull")
            .unwrap();
        let mut ctx = context(0.95);
        ctx.object = "/home";
        assert_eq!(
            render(&rule.summary, &ctx, rule),
            "Filesystem /home on web-1 is 95.0% full"
        );
    }

    #[test]
    fn why_says_value_threshold_and_since() {
        let set = RuleSet::defaults();
        let rule = set.rules.iter().find(|r| r.alert == "CpuHigh").unwrap();
        assert_eq!(
            why(rule, &context(0.953), 1_700_000_000_000),
            "cpu_usage_ratio is 0.953 (95.3%), above the threshold 0.900 (90.0%) for at least 5m; active since 2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn check_refuses_unknown_variables_and_filters() {
        assert!(check("{{ host }} {{ value | percent }} {{ mountpoint }}").is_ok());
        assert!(check("{{ hots }}").is_err());
        assert!(check("{{ value | percnt }}").is_err());
        assert!(check("{{ host ").is_err());
    }

    #[test]
    fn top_processes_by_cpu_or_memory() {
        let process = |name: &str, pid, cpu_ratio, rss_bytes| Process {
            pid,
            name: name.into(),
            user: "app".into(),
            cpu_ratio,
            rss_bytes,
        };
        let list: Vec<Process> = (1..=7)
            .map(|i| {
                process(
                    &format!("p{i}"),
                    i,
                    f64::from(i) / 100.0,
                    8_000_000 - u64::from(i) * 1_000_000,
                )
            })
            .collect();
        assert_eq!(
            top_processes(Metric::CpuUsageRatio, &list).unwrap(),
            "Top processes by CPU: p7 (pid 7, app) 7.0%, p6 (pid 6, app) 6.0%, p5 (pid 5, app) 5.0%, p4 (pid 4, app) 4.0%, p3 (pid 3, app) 3.0%"
        );
        assert_eq!(
            top_processes(Metric::MemoryUsedRatio, &list[..2]).unwrap(),
            "Top processes by memory: p1 (pid 1, app) 7.0 MB, p2 (pid 2, app) 6.0 MB"
        );
        assert_eq!(top_processes(Metric::FilesystemUsedRatio, &list), None);
        assert_eq!(top_processes(Metric::CpuUsageRatio, &[]), None);
    }

    #[test]
    fn filters_format_units() {
        assert_eq!(percent(0.5), "50.0%");
        assert_eq!(duration(65.4), "1m 5s");
        assert_eq!(bytes(1_500_000.0), "1.5 MB");
        assert_eq!(bytes(12.0), "12 B");
    }
}
