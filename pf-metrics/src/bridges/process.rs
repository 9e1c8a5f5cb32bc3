//! Process metrics with the standard Prometheus client names.

use crate::encoding::collector::{Collector, MetricsEncoder};
use crate::encoding::format::MetricType;

/// Writes the standard process metrics that every Prometheus client library
/// exports, read from `/proc/self` at scrape time (Linux; elsewhere it writes
/// nothing): `process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
/// `process_start_time_seconds` and `process_threads`.
///
/// A scrape reads a few small `/proc` files (microseconds, no blocking I/O).
///
/// ```
/// use pf_metrics::{Format, MetricsRegistry, ProcessCollector};
///
/// let registry = MetricsRegistry::new();
/// registry.register_collector(ProcessCollector::new());
/// let text = registry.encode(Format::Prometheus);
/// # #[cfg(target_os = "linux")]
/// assert!(text.contains("# TYPE process_resident_memory_bytes gauge"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessCollector {
    _private: (),
}

impl ProcessCollector {
    /// A collector for the current process.
    pub fn new() -> Self {
        Self { _private: () }
    }
}

impl Collector for ProcessCollector {
    fn collect(&self, out: &mut MetricsEncoder<'_>) {
        #[cfg(target_os = "linux")]
        if let Some(p) = linux::read() {
            let gauge = |out: &mut MetricsEncoder<'_>, name: &str, help: &str, unit, value: f64| {
                out.family(name, help, MetricType::Gauge, unit)
                    .gauge(&[], value);
            };
            out.family(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                MetricType::Counter,
                Some("seconds"),
            )
            .counter(&[], p.cpu_seconds);
            gauge(
                out,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                Some("bytes"),
                p.resident_bytes,
            );
            gauge(
                out,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                Some("bytes"),
                p.virtual_bytes,
            );
            if let Some(fds) = p.open_fds {
                gauge(
                    out,
                    "process_open_fds",
                    "Number of open file descriptors.",
                    None,
                    fds,
                );
            }
            if let Some(max) = p.max_fds {
                gauge(
                    out,
                    "process_max_fds",
                    "Maximum number of open file descriptors.",
                    None,
                    max,
                );
            }
            if let Some(start) = p.start_time_seconds {
                gauge(
                    out,
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    Some("seconds"),
                    start,
                );
            }
            gauge(
                out,
                "process_threads",
                "Number of OS threads in the process.",
                None,
                p.threads,
            );
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (out, MetricType::Gauge);
    }
}

#[cfg(target_os = "linux")]
mod linux {
    pub(super) struct Process {
        pub(super) cpu_seconds: f64,
        pub(super) resident_bytes: f64,
        pub(super) virtual_bytes: f64,
        pub(super) open_fds: Option<f64>,
        pub(super) max_fds: Option<f64>,
        pub(super) start_time_seconds: Option<f64>,
        pub(super) threads: f64,
    }

    pub(super) fn read() -> Option<Process> {
        let ticks = rustix::param::clock_ticks_per_second().max(1) as f64;
        let page = rustix::param::page_size().max(1) as f64;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // `fields[0]` is field 3 (state) of proc(5).
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        let cpu_seconds = (field(14)? + field(15)?) / ticks;
        let threads = field(20)?;
        let start_ticks = field(22)?;
        let virtual_bytes = field(23)?;
        let resident_bytes = field(24)? * page;
        let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as f64);
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3))
                    .and_then(|v| v.parse::<f64>().ok())
            });
        Some(Process {
            cpu_seconds,
            resident_bytes,
            virtual_bytes,
            open_fds,
            max_fds,
            start_time_seconds: boot_time.map(|b| b + start_ticks / ticks),
            threads,
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::{Format, MetricsRegistry};

    fn value(text: &str, name: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
            .parse()
            .unwrap()
    }

    #[test]
    fn reads_plausible_values_of_this_process() {
        let registry = MetricsRegistry::new();
        registry.register_collector(ProcessCollector::new());
        let _file = std::fs::File::open("/proc/self/stat").unwrap(); // one more fd than stdio
        let text = registry.encode(Format::Prometheus);
        assert!(value(&text, "process_resident_memory_bytes") > 1_000_000.0);
        assert!(
            value(&text, "process_virtual_memory_bytes")
                >= value(&text, "process_resident_memory_bytes")
        );
        assert!(value(&text, "process_open_fds") >= 4.0);
        assert!(value(&text, "process_max_fds") >= value(&text, "process_open_fds"));
        assert!(value(&text, "process_threads") >= 1.0);
        assert!(value(&text, "process_cpu_seconds_total") >= 0.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = value(&text, "process_start_time_seconds");
        // Started before now, and not before the machine booted a year ago.
        assert!(
            start <= now + 1.0 && start > now - 365.0 * 86_400.0,
            "{start} vs {now}"
        );
        let om = registry.encode(Format::OpenMetrics);
        assert!(
            om.contains("# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n")
        );
    }
}
