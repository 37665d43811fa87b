//! Running the real binary: a server child process and CLI invocations.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_trainyard")
}

/// A `trainyard server` child process on a free port.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
}

/// With an S3 store in the tests' environment (`.ci/seaweedfs`'s `TY_TEST_S3_*`), a
/// server's objects and registry blobs go there, under a prefix of its own (the same for
/// the same data directory, so a restarted server finds its data): the server's own
/// variables, set in its environment only.
pub fn s3_object_store(data_dir: &Path) -> Vec<(String, String)> {
    let variable = |name: &str| std::env::var(format!("TY_TEST_S3_{name}")).ok();
    let (Some(endpoint), Some(bucket), Some(key), Some(secret)) =
        (variable("ENDPOINT"), variable("BUCKET"), variable("ACCESS_KEY_ID"), variable("SECRET_ACCESS_KEY"))
    else {
        return Vec::new();
    };
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.display().to_string().as_bytes());
    let prefix: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    [
        ("TRAINYARD_OBJECT_STORE", format!("s3://{bucket}/t-{prefix}")),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_REGION", variable("REGION").unwrap_or_else(|| "us-east-1".into())),
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// With `TY_TEST_SERVERS_ON_POSTGRES=1` beside `TY_TEST_DATABASE_URL` (`.ci/postgres`), a
/// server keeps its metadata in PostgreSQL, in a database of its own named after its data
/// directory (so a restarted server finds its data), created here with `psql` if missing.
pub fn postgres_database(data_dir: &Path) -> Vec<(String, String)> {
    let (Ok(admin), Ok(_)) = (std::env::var("TY_TEST_DATABASE_URL"), std::env::var("TY_TEST_SERVERS_ON_POSTGRES"))
    else {
        return Vec::new();
    };
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.display().to_string().as_bytes());
    let name: String = "d_".to_string() + &digest.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>();
    vec![("TRAINYARD_DATABASE".into(), create_database(&admin, &name))]
}

/// The URL of database `name` beside `admin`'s (`TY_TEST_DATABASE_URL`), created with
/// `psql` unless it exists.
pub fn create_database(admin: &str, name: &str) -> String {
    let exists = Command::new("psql")
        .args([admin, "-qAtc", &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'")])
        .output()
        .expect("psql runs");
    if !String::from_utf8_lossy(&exists.stdout).contains('1') {
        let created = Command::new("psql").args([admin, "-qc", &format!("CREATE DATABASE {name}")]).output().unwrap();
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    }
    let (base, _) = admin.rsplit_once('/').expect("a database URL ends in /NAME");
    format!("{base}/{name}")
}

impl ServerProcess {
    pub fn start(data_dir: &Path) -> ServerProcess {
        ServerProcess::start_with(data_dir, &[])
    }

    /// A server with more `TRAINYARD_*` settings in its environment.
    pub fn start_with(data_dir: &Path, settings: &[(&str, &str)]) -> ServerProcess {
        ServerProcess::start_configured(data_dir, settings, postgres_database(data_dir))
    }

    /// A server on SQLite whatever `TY_TEST_SERVERS_ON_POSTGRES` says: for tests of the
    /// database file itself.
    pub fn start_on_sqlite(data_dir: &Path) -> ServerProcess {
        ServerProcess::start_configured(data_dir, &[], Vec::new())
    }

    fn start_configured(data_dir: &Path, settings: &[(&str, &str)], database: Vec<(String, String)>) -> ServerProcess {
        let mut command = Command::new(binary());
        command
            .args(["server", "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("TRAINYARD_DELIVERY_BASE_BACKOFF_MS", "50")
            .env("TRAINYARD_DELIVERY_MAX_BACKOFF_MS", "500")
            .envs(s3_object_store(data_dir))
            .envs(database)
            .envs(settings.iter().copied());
        ServerProcess::spawn(command, data_dir.to_path_buf())
    }

    /// `trainyard server` as the README has it: run in `cwd`, no `--data-dir` (so
    /// `cwd/.trainyard`).
    pub fn start_in(cwd: &Path) -> ServerProcess {
        let mut command = Command::new(binary());
        command
            .args(["server", "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0"])
            .current_dir(cwd)
            .env_remove("TRAINYARD_DATA_DIR");
        ServerProcess::spawn(command, cwd.join(".trainyard"))
    }

    /// A server logging at debug level to `log` (stderr there; stdout too, once started).
    pub fn start_logged(data_dir: &Path, log: &Path) -> ServerProcess {
        let mut command = Command::new(binary());
        let file = std::fs::File::create(log).unwrap();
        command
            .args(["server", "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("TRAINYARD_LOG", "debug")
            .envs(postgres_database(data_dir))
            .stderr(file);
        ServerProcess::spawn(command, data_dir.to_path_buf())
    }

    fn spawn(mut command: Command, data_dir: PathBuf) -> ServerProcess {
        if !command.get_envs().any(|(key, _)| key == "TRAINYARD_LOG") {
            command.env("TRAINYARD_LOG", "warn").stderr(Stdio::inherit());
        }
        let mut child = command.stdout(Stdio::piped()).spawn().expect("start the server");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines.next().expect("server printed its URL").unwrap();
            if let Some(url) = line.strip_prefix("trainyard listening on ") {
                break url.trim().to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServerProcess { child, url, data_dir }
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin.token")).unwrap().trim().to_string()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not stop within 10 s of SIGTERM");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the CLI with `args` against `data_dir`'s server.
pub fn cli(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env("TRAINYARD_DATA_DIR", data_dir)
        .env_remove("TRAINYARD_ENDPOINT")
        .env_remove("TRAINYARD_TOKEN")
        .output()
        .expect("run the CLI")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}
