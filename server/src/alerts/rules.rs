//! Alert rules: the YAML format of `--alert-rules`, its validation with line-numbered
//! errors, and the built-in set (itself written in that format, so `alert-rules defaults`
//! prints exactly what the server runs).
//!
//! Parsing only: evaluation is `eval.rs`, summaries are rendered by `summary.rs`.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::alerts::metric::Metric;
use crate::alerts::summary;

/// The built-in rules, active when no `--alert-rules` file is given.
pub const DEFAULT_RULES_YAML: &str = include_str!("default-rules.yml");

/// A validated set of rules, in file order; alert names are unique.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// The rules, in file order.
    pub rules: Vec<Rule>,
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Alert name (`alertname` label), `[A-Za-z_][A-Za-z0-9_]*`.
    pub alert: String,
    /// What is watched.
    pub metric: Metric,
    /// When the rule's condition holds.
    pub condition: Condition,
    /// How long the condition must hold before the alert fires (pending meanwhile).
    pub for_: Duration,
    /// Hysteresis: a firing alert resolves only once the value is past this level.
    /// Defaults to the threshold itself.
    pub clear: Option<f64>,
    /// A firing alert stays firing at least this long, so a value oscillating around
    /// the threshold cannot send a stream of notifications.
    pub min_firing: Duration,
    /// `info`, `warning` or `critical`.
    pub severity: Severity,
    /// Glob on host names the rule applies to; `None`: every host.
    pub hosts: Option<HostGlob>,
    /// Predict the value `ahead` by a linear fit over the last `over` instead of using it.
    pub predict: Option<Predict>,
    /// minijinja template of the one-line summary.
    pub summary: String,
    /// minijinja template of the longer description; `None`: a generated "why".
    pub description: Option<String>,
}

/// The comparison a rule makes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// Value strictly above the threshold.
    Above(f64),
    /// Value strictly below the threshold.
    Below(f64),
    /// `host_down`: no sample for `--offline-after`.
    Down,
}

/// Linear prediction settings (`predict: { over: 6h, ahead: 24h }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Predict {
    /// Fit window: the last `over` of values, kept at most 181 points per object.
    pub over: Duration,
    /// How far ahead of now the fitted line is read.
    pub ahead: Duration,
}

/// How urgent an alert is; becomes the `severity` label.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// A compiled host-name glob (`*`, `?`, `[...]`), with its source for display.
#[derive(Debug, Clone, PartialEq)]
pub struct HostGlob {
    source: String,
    pattern: glob::Pattern,
}

/// Why a rules file was refused; `line` is 1-based, `0` when the cause has no place.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RulesError {
    /// 1-based line of the cause.
    pub line: usize,
    /// What is wrong, with what was expected.
    pub message: String,
}

impl RuleSet {
    /// The built-in rules.
    pub fn defaults() -> RuleSet {
        // Cannot fail: the built-in file is parsed by a unit test.
        RuleSet::parse(DEFAULT_RULES_YAML).expect("the built-in rules parse")
    }

    /// Parses and validates a rules file's text.
    pub fn parse(text: &str) -> Result<RuleSet, RulesError> {
        let file: RulesFile = serde_yaml_ng::from_str(text).map_err(|e| {
            let line = e.location().map_or(0, |l| l.line());
            // serde_yaml_ng appends " at line L column C"; the line is reported apart.
            let message = e.to_string();
            let message = match message.rfind(" at line ") {
                Some(at) => message[..at].to_owned(),
                None => message,
            };
            RulesError { line, message }
        })?;
        Ok(RuleSet {
            rules: file.rules.0,
        })
    }

    /// Reads and parses a rules file; errors name the file and the line.
    pub fn load(path: &Path) -> anyhow::Result<RuleSet> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading alert rules {}: {e}", path.display()))?;
        RuleSet::parse(&text).map_err(|e| {
            anyhow::anyhow!("alert rules {}:{}: {}", path.display(), e.line, e.message)
        })
    }
}

impl Rule {
    /// The threshold the condition compares with; `None` for `host_down`.
    pub fn threshold(&self) -> Option<f64> {
        match self.condition {
            Condition::Above(t) | Condition::Below(t) => Some(t),
            Condition::Down => None,
        }
    }

    /// Whether `value` meets the condition.
    pub fn holds(&self, value: f64) -> bool {
        match self.condition {
            Condition::Above(t) => value > t,
            Condition::Below(t) => value < t,
            Condition::Down => true,
        }
    }

    /// Whether a firing alert with `value` may resolve: past `clear` (or the threshold).
    pub fn cleared(&self, value: f64) -> bool {
        match self.condition {
            Condition::Above(t) => self.clear.map_or(value <= t, |c| value < c),
            Condition::Below(t) => self.clear.map_or(value >= t, |c| value > c),
            Condition::Down => false,
        }
    }

    /// Whether the rule watches `host`.
    pub fn applies_to(&self, host: &str) -> bool {
        self.hosts.as_ref().is_none_or(|g| g.pattern.matches(host))
    }
}

impl HostGlob {
    /// The glob as written in the rules file.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl Severity {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The file: one key, `rules`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rules: UniqueRules,
}

/// The list of rules, refusing a second rule with the same alert name where it appears.
struct UniqueRules(Vec<Rule>);

impl<'de> Deserialize<'de> for UniqueRules {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Rules;
        impl<'de> Visitor<'de> for Rules {
            type Value = UniqueRules;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of rules")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueRules, A::Error> {
                let mut rules: Vec<Rule> = Vec::new();
                while let Some(rule) = seq.next_element::<Rule>()? {
                    if rules.iter().any(|r| r.alert == rule.alert) {
                        return Err(de::Error::custom(format!(
                            "alert {} is defined twice; names must be unique",
                            rule.alert
                        )));
                    }
                    rules.push(rule);
                }
                Ok(UniqueRules(rules))
            }
        }
        deserializer.deserialize_seq(Rules)
    }
}

/// One rule as written; checked by `Rule::try_from`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    alert: String,
    metric: MetricName,
    above: Option<f64>,
    below: Option<f64>,
    #[serde(rename = "for", default)]
    for_: Option<HumanDuration>,
    clear: Option<f64>,
    min_firing: Option<HumanDuration>,
    severity: Option<Severity>,
    hosts: Option<String>,
    predict: Option<RawPredict>,
    summary: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPredict {
    over: HumanDuration,
    ahead: HumanDuration,
}

/// A metric name, refused with the list of known names.
struct MetricName(Metric);

impl<'de> Deserialize<'de> for MetricName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Checked inside the visitor, so the YAML parser still knows the scalar's line.
        deserializer.deserialize_str(ScalarVisitor("a metric name", |name: &str| {
            Metric::from_name(name).map(MetricName).ok_or_else(|| {
                let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown metric {name:?}; known metrics: {}",
                    known.join(", ")
                )
            })
        }))
    }
}

/// Parses a string scalar with `parse`, raising its error at the scalar.
struct ScalarVisitor<F>(&'static str, F);

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for ScalarVisitor<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.1)(v).map_err(E::custom)
    }
}

/// A duration such as `30s`, `5m`, `1h30m`.
struct HumanDuration(Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ScalarVisitor(
            "a duration such as 30s or 5m",
            |text: &str| {
                humantime::parse_duration(text.trim())
                    .map(HumanDuration)
                    .map_err(|e| format!("bad duration {text:?}: {e} (write e.g. 30s, 5m, 1h30m)"))
            },
        ))
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawRule::deserialize(deserializer)?;
        Rule::try_from(raw).map_err(de::Error::custom)
    }
}

impl TryFrom<RawRule> for Rule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Rule, String> {
        let name = &raw.alert;
        let valid_name = name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if name.is_empty() || !valid_name {
            return Err(format!(
                "alert name {name:?} must be letters, digits and underscores, not starting with a digit"
            ));
        }
        let metric = raw.metric.0;
        let finite = |what: &str, v: Option<f64>| match v {
            Some(v) if !v.is_finite() => {
                Err(format!("alert {name}: {what} must be a finite number"))
            }
            _ => Ok(v),
        };
        let above = finite("above", raw.above)?;
        let below = finite("below", raw.below)?;
        let clear = finite("clear", raw.clear)?;
        let condition = match (metric, above, below) {
            (Metric::HostDown, None, None) => Condition::Down,
            (Metric::HostDown, _, _) => {
                return Err(format!(
                    "alert {name}: host_down takes no threshold (drop above/below)"
                ))
            }
            (_, Some(t), None) => Condition::Above(t),
            (_, None, Some(t)) => Condition::Below(t),
            (_, Some(_), Some(_)) => {
                return Err(format!(
                    "alert {name}: give either above or below, not both"
                ))
            }
            (_, None, None) => {
                return Err(format!(
                    "alert {name}: {metric} needs a threshold: above: or below:"
                ))
            }
        };
        match (condition, clear) {
            (Condition::Above(t), Some(c)) if c > t => {
                return Err(format!(
                    "alert {name}: clear {c} must not be above the threshold {t}"
                ))
            }
            (Condition::Below(t), Some(c)) if c < t => {
                return Err(format!(
                    "alert {name}: clear {c} must not be below the threshold {t}"
                ))
            }
            (Condition::Down, Some(_)) => {
                return Err(format!("alert {name}: host_down takes no clear level"))
            }
            _ => {}
        }
        let predict = match raw.predict {
            None => None,
            Some(_) if metric == Metric::HostDown => {
                return Err(format!("alert {name}: host_down cannot be predicted"))
            }
            Some(p) if p.over.0 < Duration::from_secs(60) || p.ahead.0.is_zero() => {
                return Err(format!(
                    "alert {name}: predict needs over of at least 1m and a non-zero ahead"
                ))
            }
            Some(p) => Some(Predict {
                over: p.over.0,
                ahead: p.ahead.0,
            }),
        };
        let hosts = match raw.hosts {
            None => None,
            Some(source) => {
                let pattern = glob::Pattern::new(&source)
                    .map_err(|e| format!("alert {name}: bad hosts glob {source:?}: {e}"))?;
                Some(HostGlob { source, pattern })
            }
        };
        let summary = raw
            .summary
            .unwrap_or_else(|| summary::default_summary(metric, predict.is_some()).to_owned());
        summary::check(&summary).map_err(|e| format!("alert {name}: summary: {e}"))?;
        if let Some(description) = &raw.description {
            summary::check(description).map_err(|e| format!("alert {name}: description: {e}"))?;
        }
        Ok(Rule {
            alert: raw.alert,
            metric,
            condition,
            for_: raw.for_.map_or(Duration::ZERO, |d| d.0),
            clear,
            min_firing: raw.min_firing.map_or(Duration::ZERO, |d| d.0),
            severity: raw.severity.unwrap_or(Severity::Warning),
            hosts,
            predict,
            summary,
            description: raw.description,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> RulesError {
        RuleSet::parse(text).expect_err("the file is refused")
    }

    #[test]
    fn the_built_in_rules_parse_and_match_the_issue() {
        let set = RuleSet::defaults();
        let names: Vec<&str> = set.rules.iter().map(|r| r.alert.as_str()).collect();
        assert_eq!(
            names,
            [
                "HostDown",
                "CpuHigh",
                "MemoryHigh",
                "DiskAlmostFull",
                "DiskFillingUp",
                "LoadHigh",
                "SwapHigh"
            ]
        );
        let rule = |n: &str| set.rules.iter().find(|r| r.alert == n).unwrap().clone();
        assert_eq!(rule("HostDown").condition, Condition::Down);
        assert_eq!(rule("CpuHigh").condition, Condition::Above(0.9));
        assert_eq!(rule("CpuHigh").for_, Duration::from_secs(300));
        assert_eq!(rule("MemoryHigh").condition, Condition::Above(0.9));
        assert_eq!(rule("MemoryHigh").for_, Duration::from_secs(300));
        assert_eq!(rule("DiskAlmostFull").metric, Metric::FilesystemUsedRatio);
        assert_eq!(rule("DiskAlmostFull").for_, Duration::from_secs(300));
        assert_eq!(
            rule("DiskFillingUp").predict,
            Some(Predict {
                over: Duration::from_secs(6 * 3600),
                ahead: Duration::from_secs(24 * 3600)
            })
        );
        assert_eq!(rule("LoadHigh").metric, Metric::Load15PerCore);
        assert_eq!(rule("LoadHigh").condition, Condition::Above(2.0));
        assert_eq!(rule("LoadHigh").for_, Duration::from_secs(900));
        assert_eq!(rule("SwapHigh").metric, Metric::SwapUsedRatio);
    }

    #[test]
    fn the_issue_example_parses() {
        let set = RuleSet::parse(
            "rules:\n  - alert: CpuBusy\n    metric: cpu_usage_ratio\n    above: 0.5\n    for: 2s\n    clear: 0.4\n    severity: warning\n    hosts: \"web-*\"\n    summary: \"CPU on {{ host }} at {{ value | percent }}\"\n",
        )
        .unwrap();
        let rule = &set.rules[0];
        assert_eq!(rule.for_, Duration::from_secs(2));
        assert_eq!(rule.clear, Some(0.4));
        assert!(rule.applies_to("web-1"));
        assert!(!rule.applies_to("db-1"));
        assert!(rule.holds(0.51) && !rule.holds(0.5));
        assert!(!rule.cleared(0.45) && rule.cleared(0.39));
    }

    #[test]
    fn unknown_metric_names_its_line() {
        let e = error("rules:\n  - alert: A\n    metric: cpu_percent\n    above: 1\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("unknown metric \"cpu_percent\""), "{e}");
        assert!(e.message.contains("cpu_usage_ratio"), "{e}");
    }

    #[test]
    fn bad_duration_names_its_line() {
        let e = error(
            "rules:\n  - alert: A\n    metric: cpu_usage_ratio\n    above: 1\n    for: 5 parsecs\n",
        );
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("bad duration \"5 parsecs\""), "{e}");
    }

    #[test]
    fn yaml_syntax_error_names_its_line() {
        let e = error("rules:\n  - alert: A\n    metric: [cpu\n  above: 1\n");
        assert!(e.line >= 3, "{e}");
    }

    #[test]
    fn semantic_errors_name_the_rule_line() {
        for (text, needle) in [
            ("rules:\n  - alert: A\n    metric: cpu_usage_ratio\n", "needs a threshold"),
            ("rules:\n  - alert: A\n    metric: cpu_usage_ratio\n    above: 1\n    below: 0\n", "not both"),
            ("rules:\n  - alert: A\n    metric: cpu_usage_ratio\n    above: 0.5\n    clear: 0.6\n", "clear 0.6"),
            ("rules:\n  - alert: A\n    metric: host_down\n    above: 1\n", "no threshold"),
            ("rules:\n  - alert: 9x\n    metric: host_down\n", "alert name"),
            ("rules:\n  - alert: A\n    metric: host_down\n    summary: \"{{ host \"\n", "summary"),
            ("rules:\n  - alert: A\n    metric: host_down\n  - alert: A\n    metric: host_down\n", "defined twice"),
            ("rules:\n  - alert: A\n    metric: host_down\n    severity: loud\n", "unknown variant"),
            ("rules:\n  - alert: A\n    metric: host_down\n    treshold: 1\n", "unknown field"),
        ] {
            let e = error(text);
            assert!(e.line >= 2, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }
}
