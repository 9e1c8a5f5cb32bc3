//! `promtool check metrics` (Debian's `prometheus` package) on an exposition.

use std::process::{Command, Stdio};

use crate::process::require_tool;

/// Runs `promtool check metrics` on `exposition`; `Err` with promtool's output when it complains.
pub fn promtool_check_metrics(exposition: &str) -> Result<(), String> {
    use std::io::Write;
    let promtool = require_tool("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// [`promtool_check_metrics`] for either exposition format. promtool 2.42
/// lints with the 0.0.4 text parser: in OpenMetrics (recognised by its
/// `# EOF` line) a counter family is named without `_total` (`# HELP
/// http_requests`) while its samples carry it, so that parser reports
/// "`<name>_total` no help text". That is the one complaint allowed, and only
/// for families whose OpenMetrics `# HELP` and `# TYPE ... counter` lines are
/// present; anything else is an `Err`.
pub fn promtool_check_exposition(exposition: &str) -> Result<(), String> {
    let Err(complaint) = promtool_check_metrics(exposition) else {
        return Ok(());
    };
    let openmetrics = exposition.ends_with("# EOF\n");
    let unexplained: Vec<&str> = complaint
        .lines()
        .filter(|l| {
            let explained = openmetrics
                && l.strip_suffix("_total no help text").is_some_and(|family| {
                    exposition.contains(&format!("# HELP {family} "))
                        && exposition.contains(&format!("# TYPE {family} counter\n"))
                });
            !explained && !l.trim().is_empty()
        })
        .collect();
    if unexplained.is_empty() {
        Ok(())
    } else {
        Err(complaint)
    }
}
