//! Log lines written by a background thread: the formatter's line goes into a bounded queue and
//! the logging thread never waits on stdout (a slow terminal or a full pipe). A full queue drops
//! the line and counts it; dropping the guard flushes the queue and reports what was lost.
//!
//! ```sh
//! LOG_FORMAT=json cargo run -p pf-log-enrich --example non_blocking
//! LOG_FORMAT=json cargo run -p pf-log-enrich --example non_blocking | (sleep 2; cat) # drops
//! ```

fn main() -> Result<(), pf_log_enrich::InitError> {
    // 64 lines of queue: small, so that a stalled reader shows the drop policy at once
    let guard = pf_log_enrich::Logging::from_env().non_blocking(64).init()?;
    for n in 0..1_000 {
        tracing::info!(n, "a line that never waits for stdout");
    }
    let stats = guard.writer_stats().expect("built with non_blocking");
    // the guard flushes what is queued (within LogConfig::shutdown_timeout) and prints a summary
    // on stderr when lines were dropped
    drop(guard);
    eprintln!("{}", stats.summary());
    Ok(())
}
