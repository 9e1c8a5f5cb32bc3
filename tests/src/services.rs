//! Throwaway dependencies for tests that stop, freeze or misconfigure them: a `redis-server`
//! and a PostgreSQL cluster (`initdb` in a temp dir), each on a free loopback port and
//! stopped on drop, also when the test fails. The shared instances of the project's machines
//! (PostgreSQL on 5432, Redis on 6379) are never touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::process::{ChildGuard, free_port, require_tool, wait_for_port};

/// A throwaway `redis-server` on a free loopback port (no persistence), killed on drop.
pub struct RedisServer {
    process: ChildGuard,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one with the default configuration.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts one with extra command-line options (e.g. `["--requirepass", "pw"]`).
    pub fn start_with(extra: &[&str]) -> Self {
        let binary = require_tool("redis-server", "redis-server");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut cmd = Command::new(binary);
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let process = ChildGuard::spawn("redis-server", &mut cmd);
        wait_for_port("redis-server to listen", port);
        Self {
            process,
            port,
            _dir: dir,
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the process (SIGSTOP): connections stay open and nothing answers.
    pub fn freeze(&self) {
        self.process.signal("-STOP");
    }

    /// Resumes it (SIGCONT).
    pub fn thaw(&self) {
        self.process.signal("-CONT");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A frozen process would not die before the kill is reaped: resume it first.
        let _ = Command::new("kill")
            .args(["-CONT", &self.process.id().to_string()])
            .status();
    }
}

/// A throwaway PostgreSQL cluster (trust authentication, user `postgres`) on a free loopback
/// port, run as user `postgres` when the test runs as root; stopped on drop.
pub struct PgCluster {
    port: u16,
    dir: tempfile::TempDir,
    running: bool,
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn as_postgres(program: &Path) -> Command {
    let mut cmd = if running_as_root() {
        // PostgreSQL refuses to run as root.
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn pg_bin(name: &str) -> PathBuf {
    let versioned = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name));
    ["/usr/local/bin"]
        .into_iter()
        .map(|d| Path::new(d).join(name))
        .chain(versioned)
        .find(|p| p.is_file())
        .unwrap_or_else(|| require_tool(name, "postgresql"))
}

impl PgCluster {
    /// Creates the cluster (`initdb`) and starts it.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        if running_as_root() {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown of the cluster dir failed");
        }
        let status = as_postgres(&pg_bin("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(dir.path().join("data"))
            .status()
            .expect("initdb");
        assert!(status.success(), "initdb failed");
        let mut cluster = Self {
            port: free_port(),
            dir,
            running: false,
        };
        cluster.start_server();
        cluster
    }

    /// Starts the server again after [`PgCluster::stop`] (same port and data).
    pub fn start_server(&mut self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=20",
            self.port,
            self.dir.path().display()
        );
        let status = as_postgres(&pg_bin("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-o", &opts, "-w", "start"])
            .status()
            .expect("pg_ctl start");
        assert!(status.success(), "pg_ctl start failed");
        self.running = true;
    }

    /// Stops the server at once (`pg_ctl -m immediate`); connections break.
    pub fn stop(&mut self) {
        if self.running {
            let _ = as_postgres(&pg_bin("pg_ctl"))
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .status();
            self.running = false;
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
