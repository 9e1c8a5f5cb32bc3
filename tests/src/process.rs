//! Child processes that are stopped even when a test fails, free ports, bounded polling, and
//! the demo binary.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released for the child to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Calls `f` every `interval` until it gives `Some` or `timeout` passes (`None` then).
pub fn poll<T>(
    timeout: Duration,
    interval: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(interval);
    }
}

/// Waits until `done` holds, checking every 20 ms; panics naming `what` after 30 s (a bound
/// against hangs, not a timing assertion).
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let held = poll(Duration::from_secs(30), Duration::from_millis(20), || {
        done().then_some(())
    });
    assert!(held.is_some(), "timed out waiting for {what}");
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port` (panics after 30 s).
pub fn wait_for_port(what: &str, port: u16) {
    wait_until(what, || TcpStream::connect(("127.0.0.1", port)).is_ok());
}

/// A child process killed (SIGKILL) and reaped on drop.
pub struct ChildGuard {
    name: String,
    child: Option<Child>,
}

impl ChildGuard {
    /// Spawns `cmd`, naming it in messages.
    pub fn spawn(name: &str, cmd: &mut Command) -> Self {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_owned(),
            child: Some(child),
        }
    }

    /// The OS process ID.
    pub fn id(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends `signal` (`kill` syntax: `-STOP`, `-CONT`, `-TERM`, ...); panics if `kill` fails.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {signal} {} ({})", self.id(), self.name);
    }

    /// Takes the child's piped stdout.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.as_mut()?.stdout.take()
    }

    /// Takes the child's piped stderr.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.as_mut()?.stderr.take()
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; returns whether it exited.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads `stdout` on a thread; returns the first line for which `pick` gives
/// `Some`, within `timeout`, plus a receiver of every later line.
pub fn wait_for_line<T: Send + 'static>(
    stdout: ChildStdout,
    timeout: Duration,
    pick: impl Fn(&str) -> Option<T> + Send + 'static,
) -> (T, mpsc::Receiver<String>) {
    let (found_tx, found_rx) = mpsc::channel();
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut found = Some(found_tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &found
                && let Some(v) = pick(&line)
            {
                let _ = tx.send(v);
                found = None;
                continue;
            }
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let value = found_rx
        .recv_timeout(timeout)
        .expect("the expected line within the timeout");
    (value, line_rx)
}

/// A command running the demo `binary` on `127.0.0.1:0` with stdin closed, the variables
/// that change its behaviour cleared (`DATABASE_URL`, `REDIS_URL`, `LOG_CLOUD_SHIPPING`,
/// `LOG_FORMAT`, `HEALTH_DETAILS_TOKEN`), then `envs` set.
pub fn demo_command(binary: &Path, envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary);
    cmd.args(["--addr", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("LOG_CLOUD_SHIPPING")
        .env_remove("LOG_FORMAT")
        .env_remove("HEALTH_DETAILS_TOKEN")
        .envs(envs.iter().copied())
        .stdin(Stdio::null());
    cmd
}

/// The demo binary started on a free loopback port, killed on drop.
pub struct Demo {
    /// The process.
    pub process: ChildGuard,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Lines it printed on stdout after the "listening on" line.
    pub stdout: mpsc::Receiver<String>,
}

impl Demo {
    /// Starts `binary` (pass `env!("CARGO_BIN_EXE_pf-demo")`) with extra environment (see
    /// [`demo_command`]).
    pub fn start(binary: &Path, envs: &[(&str, &str)]) -> Self {
        let mut cmd = demo_command(binary, envs);
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut process = ChildGuard::spawn("pf-demo", &mut cmd);
        let stdout = process.take_stdout().expect("piped stdout");
        let (addr, stdout) = wait_for_line(stdout, Duration::from_secs(30), |line| {
            line.strip_prefix("listening on http://")
                .and_then(|a| a.trim().parse::<SocketAddr>().ok())
        });
        Self {
            process,
            addr,
            stdout,
        }
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Finds a tool on PATH or fails with what to install.
pub fn require_tool(tool: &str, debian_package: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{tool}` is not installed: `apt-get install {debian_package}` (scripts/test does this)")
        })
}

/// Polls `readyz_url` until it answers 200 (panics after 30 s): a service
/// that connects its dependencies after it starts listening is ready then.
pub fn wait_until_ready(readyz_url: &str) {
    let mut last = None;
    let ready = poll(Duration::from_secs(30), Duration::from_millis(50), || {
        let status = crate::http::get(readyz_url).map(|r| r.status);
        let ok = matches!(status, Ok(200));
        last = Some(status);
        ok.then_some(())
    });
    assert!(
        ready.is_some(),
        "{readyz_url} not ready within 30 s (last: {last:?})"
    );
}

/// A directory under the system's temp dir, removed (with what is in it) on drop.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates `$TMPDIR/pf-<label>-<pid>-<n>`.
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pf-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch dir");
        Self(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The demo binary started on a free loopback port with *every* line of its stdout and stderr
/// kept (including what it prints before listening, such as the log-shipping start-up line);
/// killed on drop.
pub struct CapturedDemo {
    /// The process.
    pub process: ChildGuard,
    /// Where it listens.
    pub addr: SocketAddr,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl CapturedDemo {
    /// Starts `binary` (pass `env!("CARGO_BIN_EXE_pf-demo")`) with extra environment (see
    /// [`demo_command`]).
    pub fn start(binary: &Path, envs: &[(&str, &str)]) -> Self {
        use std::sync::{Arc, Mutex};
        let mut cmd = demo_command(binary, envs);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut process = ChildGuard::spawn("pf-demo", &mut cmd);
        let out = process.take_stdout().expect("piped stdout");
        let err = process.take_stderr().expect("piped stderr");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let readers = vec![
            {
                let stdout = stdout.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(out).lines() {
                        let Ok(line) = line else { break };
                        if let Some(a) = line.strip_prefix("listening on http://")
                            && let Ok(a) = a.trim().parse::<SocketAddr>()
                        {
                            let _ = addr_tx.send(a);
                        }
                        stdout.lock().expect("lock").push(line);
                    }
                })
            },
            {
                let stderr = stderr.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(err).lines() {
                        let Ok(line) = line else { break };
                        stderr.lock().expect("lock").push(line);
                    }
                })
            },
        ];
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "the demo did not print where it listens; stderr: {:?}",
                    stderr.lock().expect("lock")
                )
            });
        Self {
            process,
            addr,
            stdout,
            stderr,
            readers,
        }
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The stdout lines printed so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("lock").clone()
    }

    /// SIGTERM, waits for a successful exit (at most `timeout`) and for both pipes to close;
    /// returns all of stdout and stderr.
    pub fn stop(mut self, timeout: Duration) -> (String, String) {
        let status = self
            .process
            .terminate(timeout)
            .expect("the demo exits on SIGTERM");
        assert!(status.success(), "demo exit status {status:?}");
        for r in self.readers.drain(..) {
            r.join().expect("reader thread");
        }
        let out = self.stdout.lock().expect("lock").join("\n");
        let err = self.stderr.lock().expect("lock").join("\n");
        (out, err)
    }
}
