//! The results: one row per figure with its anchor, the ratio bgops/anchor and the target of
//! issue 6 where there is one; printed as a table per scenario and written as JSON.

use std::fmt::Write as _;

use serde::Serialize;

/// How a figure is shown.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub enum Unit {
    /// Per second.
    PerSec,
    /// Milliseconds.
    Ms,
    /// CPU seconds per 1,000 operations.
    CpuPer1k,
    /// Megabytes (MiB).
    Mb,
    /// Seconds.
    Secs,
    /// Cores' worth of CPU.
    Cores,
}

/// A check against a target.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// As written in the issue.
    pub text: String,
    /// Whether this run met it.
    pub met: bool,
}

/// One figure.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The scenario it belongs to (the table it is printed in).
    pub scenario: String,
    /// What it measures.
    pub metric: String,
    /// Its unit.
    pub unit: Unit,
    /// The bgops figure.
    pub bgops: f64,
    /// What it is compared with, if anything.
    pub anchor_name: Option<String>,
    /// The anchor's figure.
    pub anchor: Option<f64>,
    /// `bgops / anchor`.
    pub ratio: Option<f64>,
    /// The target, if the issue sets one.
    pub target: Option<Target>,
}

/// Every figure of a run, plus free-form details.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The machine and the parameters.
    pub machine: serde_json::Value,
    /// Run parameters.
    pub params: serde_json::Value,
    /// The figures, in print order.
    pub rows: Vec<Row>,
    /// Notes and raw numbers per scenario.
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    /// Adds a figure; returns it so an anchor or a target can be attached.
    pub fn add(&mut self, scenario: &str, metric: &str, unit: Unit, bgops: f64) -> &mut Row {
        self.rows.push(Row {
            scenario: scenario.to_owned(),
            metric: metric.to_owned(),
            unit,
            bgops,
            anchor_name: None,
            anchor: None,
            ratio: None,
            target: None,
        });
        self.rows.last_mut().expect("just pushed")
    }

    /// Records a detail under `scenario`.
    pub fn detail(&mut self, scenario: &str, value: serde_json::Value) {
        self.details.insert(scenario.to_owned(), value);
    }

    /// The tables, one per scenario in first-seen order.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut scenarios: Vec<&str> = Vec::new();
        for r in &self.rows {
            if !scenarios.contains(&r.scenario.as_str()) {
                scenarios.push(&r.scenario);
            }
        }
        for s in scenarios {
            let _ = writeln!(out, "\n== {s}");
            let _ = writeln!(
                out,
                "  {:<34} {:>12}   {:<34} {:>12} {:>8}   target",
                "metric", "bgops", "anchor", "", "ratio"
            );
            for r in self.rows.iter().filter(|r| r.scenario == s) {
                let anchor = r.anchor.map_or(String::new(), |a| fmt(a, r.unit));
                let ratio = r.ratio.map_or(String::new(), |x| format!("{x:.2}×"));
                let target = r.target.as_ref().map_or(String::new(), |t| {
                    format!("{} {}", t.text, if t.met { "MET" } else { "MISSED" })
                });
                let _ = writeln!(
                    out,
                    "  {:<34} {:>12}   {:<34} {:>12} {:>8}   {}",
                    r.metric,
                    fmt(r.bgops, r.unit),
                    r.anchor_name.as_deref().unwrap_or(""),
                    anchor,
                    ratio,
                    target
                );
            }
        }
        out
    }
}

impl Row {
    /// Compares with an anchor figure.
    pub fn anchor(&mut self, name: &str, value: f64) -> &mut Self {
        self.anchor_name = Some(name.to_owned());
        self.anchor = Some(value);
        self.ratio = Some(self.bgops / value);
        self
    }

    /// Attaches a target: `met` says whether this run met it.
    pub fn target(&mut self, text: &str, met: bool) -> &mut Self {
        self.target = Some(Target {
            text: text.to_owned(),
            met,
        });
        self
    }
}

/// A figure in its unit, with thousands separators for rates.
pub fn fmt(v: f64, unit: Unit) -> String {
    if !v.is_finite() {
        return "n/a".to_owned();
    }
    match unit {
        Unit::PerSec => format!("{}/s", thousands(v.round() as i64)),
        Unit::Ms => format!("{v:.2} ms"),
        Unit::CpuPer1k => format!("{v:.3} s"),
        Unit::Mb => format!("{v:.1} MiB"),
        Unit::Secs => format!("{v:.2} s"),
        Unit::Cores => format!("{v:.2} cores"),
    }
}

fn thousands(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_renders() {
        assert_eq!(fmt(1_234_567.4, Unit::PerSec), "1,234,567/s");
        assert_eq!(fmt(999.0, Unit::PerSec), "999/s");
        assert_eq!(fmt(f64::NAN, Unit::Ms), "n/a");
        let mut r = Report::default();
        r.add("submit", "202/s", Unit::PerSec, 20_000.0)
            .anchor("apalis", 5_000.0)
            .target("≥ 2× apalis", true);
        let text = r.render();
        assert!(text.contains("== submit"));
        assert!(text.contains("4.00×"));
        assert!(text.contains("MET"));
    }
}
