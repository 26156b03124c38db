//! Verdicts and how they are shown: a table for people, JUnit XML for CI systems.
//!
//! A case that could not even be run (the backend unreachable, the orders adapter broken) is a
//! failure, never "not applicable": a kit that passes because it could not look would be
//! worse than none.

use std::fmt::Write as _;
use std::time::Duration;

/// What one case found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The backend kept the rule.
    Pass,
    /// The backend broke the rule (or the case could not run): what was seen.
    Fail(String),
    /// The rule cannot be observed on this backend from outside: why, and what would make it
    /// observable.
    NotApplicable(String),
}

impl Verdict {
    /// `pass`, `FAIL`, `n/a`: the table's spelling.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "FAIL",
            Verdict::NotApplicable(_) => "n/a",
        }
    }

    /// The explanation (empty for a pass).
    pub fn detail(&self) -> &str {
        match self {
            Verdict::Pass => "",
            Verdict::Fail(why) | Verdict::NotApplicable(why) => why,
        }
    }
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseReport {
    /// The case's stable name (`idempotent_replay`).
    pub id: &'static str,
    /// The contract rule it proves, in `docs/contract.md`'s numbering (`§1 rule 1`).
    pub rule: &'static str,
    /// One line: what is checked.
    pub title: &'static str,
    /// What was found.
    pub verdict: Verdict,
    /// How long it took.
    pub elapsed: Duration,
}

/// Counts of each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Not applicable.
    pub not_applicable: usize,
}

/// The totals of `reports`.
pub fn totals(reports: &[CaseReport]) -> Totals {
    let mut totals = Totals::default();
    for report in reports {
        match report.verdict {
            Verdict::Pass => totals.passed += 1,
            Verdict::Fail(_) => totals.failed += 1,
            Verdict::NotApplicable(_) => totals.not_applicable += 1,
        }
    }
    totals
}

/// The table printed on stdout: one row per case, then the totals.
pub fn table(reports: &[CaseReport]) -> String {
    let id_width = reports.iter().map(|r| r.id.len()).max().unwrap_or(4).max(4);
    let rule_width = reports
        .iter()
        .map(|r| r.rule.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<id_width$}  {:<rule_width$}  {:<4}  {:>6}  what / why",
        "case", "rule", "", "ms"
    );
    for report in reports {
        let detail = match report.verdict.detail() {
            "" => report.title.to_owned(),
            why => format!("{} — {why}", report.title),
        };
        let _ = writeln!(
            out,
            "{:<id_width$}  {:<rule_width$}  {:<4}  {:>6}  {detail}",
            report.id,
            report.rule,
            report.verdict.label(),
            report.elapsed.as_millis(),
        );
    }
    let t = totals(reports);
    let _ = writeln!(
        out,
        "\n{} passed, {} failed, {} not applicable",
        t.passed, t.failed, t.not_applicable
    );
    out
}

/// JUnit XML (the Surefire dialect every CI system reads): one `testsuite`, one `testcase`
/// per case named after it, `failure` for a fail and `skipped` for not applicable, the rule
/// and the explanation in the message.
pub fn junit(reports: &[CaseReport], total: Duration) -> String {
    let t = totals(reports);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"checkout-guard-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        reports.len(),
        t.failed,
        t.not_applicable,
        total.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"contract\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
        reports.len(),
        t.failed,
        t.not_applicable,
        total.as_secs_f64()
    );
    for report in reports {
        let _ = write!(
            out,
            "    <testcase classname=\"contract.{}\" name=\"{}\" time=\"{:.3}\"",
            escape(&report.rule.replace(' ', "_")),
            escape(report.id),
            report.elapsed.as_secs_f64()
        );
        match &report.verdict {
            Verdict::Pass => out.push_str("/>\n"),
            Verdict::Fail(why) => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}: {}</failure>\n    </testcase>",
                    escape(why),
                    escape(report.rule),
                    escape(report.title)
                );
            }
            Verdict::NotApplicable(why) => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(why)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// XML text and attribute escaping; control characters (invalid in XML 1.0) become spaces.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<CaseReport> {
        vec![
            CaseReport {
                id: "a",
                rule: "§1 rule 1",
                title: "t",
                verdict: Verdict::Pass,
                elapsed: Duration::from_millis(3),
            },
            CaseReport {
                id: "b",
                rule: "§2 rule 3",
                title: "t",
                verdict: Verdict::Fail("saw <409> & \"x\"".into()),
                elapsed: Duration::ZERO,
            },
            CaseReport {
                id: "c",
                rule: "§3",
                title: "t",
                verdict: Verdict::NotApplicable("no change".into()),
                elapsed: Duration::ZERO,
            },
        ]
    }

    #[test]
    fn junit_names_every_case_and_escapes() {
        let xml = junit(&sample(), Duration::from_secs(1));
        assert!(xml.contains("tests=\"3\" failures=\"1\" skipped=\"1\""));
        assert!(xml.contains("name=\"b\""));
        assert!(xml.contains("saw &lt;409&gt; &amp; &quot;x&quot;"));
        assert!(xml.contains("<skipped message=\"no change\"/>"));
    }

    #[test]
    fn table_counts() {
        let text = table(&sample());
        assert!(
            text.contains("1 passed, 1 failed, 1 not applicable"),
            "{text}"
        );
    }
}
