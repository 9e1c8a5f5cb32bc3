//! CPU time from `/proc`: a process's own (`/proc/PID/stat` utime + stime in clock ticks, and
//! the sum of its threads' `/proc/PID/task/*/schedstat` run time in nanoseconds), the whole
//! machine's busy time (`/proc/stat`), the database servers' (processes named `postgres` or
//! `redis-server`) and the load average.

use std::fs;

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn hz() -> f64 {
    // SAFETY: sysconf with a constant name has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(hz > 0, "sysconf(_SC_CLK_TCK)");
    hz as f64
}

/// utime + stime of process `pid` in clock ticks (`/proc/PID/stat` fields 14 and 15), all its
/// threads, living and exited.
pub fn stat_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    ticks_of(&stat)
}

fn ticks_of(stat: &str) -> Option<u64> {
    // the command name may hold spaces and parentheses: fields restart after the last ')'
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state): utime is field 14, stime field 15
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The run time of process `pid`'s living threads in nanoseconds (first field of each
/// `/proc/PID/task/TID/schedstat`): the same CPU time as [`stat_ticks`] at nanosecond
/// resolution (the server's threads live as long as it does).
pub fn schedstat_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        // a thread that ended between the listing and the read ran nothing since
        let Ok(s) = fs::read_to_string(path) else {
            continue;
        };
        total += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Busy clock ticks of the whole machine (`/proc/stat` `cpu` line: user, nice, system, irq,
/// softirq, steal).
pub fn machine_busy_ticks() -> u64 {
    let stat = fs::read_to_string("/proc/stat").expect("read /proc/stat");
    let line = stat.lines().next().expect("cpu line");
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal
    v[0] + v[1] + v[2] + v.get(5).unwrap_or(&0) + v.get(6).unwrap_or(&0) + v.get(7).unwrap_or(&0)
}

/// CPU ticks of the database servers the DB-bound handler uses: the PostgreSQL backends of
/// database `test` over 127.0.0.1 (the bench's own, and anyone else's on that database) and
/// every `redis-server` process. Counted as the request's work, not as foreign load; other
/// databases' backends and PostgreSQL's background processes count as foreign.
pub fn db_servers_ticks() -> u64 {
    let Ok(dir) = fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let comm = stat
            .find('(')
            .zip(stat.rfind(')'))
            .map(|(a, b)| &stat[a + 1..b]);
        let ours = match comm {
            Some("redis-server") => true,
            // "postgres: 15/main: postgres test 127.0.0.1(40436) idle"
            Some("postgres") => fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(" test 127.0.0.1("))
                .unwrap_or(false),
            _ => false,
        };
        if ours {
            total += ticks_of(&stat).unwrap_or(0);
        }
    }
    total
}

/// The 1-, 5- and 15-minute load averages.
pub fn loadavg() -> [f64; 3] {
    let s = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = s.split_whitespace().map(|f| f.parse().unwrap_or(f64::NAN));
    [(); 3].map(|_| it.next().unwrap_or(f64::NAN))
}
