//! Test helpers: free ports, throwaway Redis and PostgreSQL servers (killed on drop, also
//! when a test fails), an HTTP server on loopback.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until `f` is true.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: plain kill(2) on a process this test started.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// A throwaway `redis-server` on a free loopback port.
pub struct RedisServer {
    pub port: u16,
    child: Child,
}

impl RedisServer {
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let server = Self { port, child };
        wait_until("redis-server to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn freeze(&self) {
        signal(self.child.id(), libc::SIGSTOP);
    }

    pub fn thaw(&self) {
        signal(self.child.id(), libc::SIGCONT);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.thaw();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway PostgreSQL cluster (`initdb` in a temp dir, run as user `postgres`).
pub struct PgCluster {
    pub port: u16,
    dir: tempfile::TempDir,
    running: bool,
}

fn as_postgres(program: &str) -> Command {
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        // PostgreSQL refuses to run as root.
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", program]);
        cmd
    } else {
        Command::new(program)
    };
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

fn pg_bin(name: &str) -> String {
    for dir in ["/usr/local/bin", "/usr/lib/postgresql/15/bin"] {
        let path = format!("{dir}/{name}");
        if std::path::Path::new(&path).exists() {
            return path;
        }
    }
    name.to_owned()
}

impl PgCluster {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        if unsafe { libc::geteuid() } == 0 {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the cluster dir failed");
        }
        let data = dir.path().join("data");
        let status = as_postgres(&pg_bin("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .status()
            .expect("initdb must be installed");
        assert!(status.success(), "initdb failed");
        let port = free_port();
        let mut cluster = Self {
            port,
            dir,
            running: false,
        };
        cluster.start_server();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn start_server(&mut self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=20",
            self.port,
            self.dir.path().display()
        );
        let status = as_postgres(&pg_bin("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-l"])
            .arg(self.dir.path().join("log"))
            .args(["-o", &opts, "-w", "start"])
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start failed");
        self.running = true;
    }

    pub fn stop(&mut self) {
        if self.running {
            let _ = as_postgres(&pg_bin("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .status();
            self.running = false;
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves `app` on a free loopback port.
pub async fn serve(app: axum::Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, handle)
}

/// A client without keep-alive reuse, so every request is a new connection.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}
