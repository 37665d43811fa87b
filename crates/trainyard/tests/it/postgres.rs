//! The server with its metadata in PostgreSQL (`--database`, `TRAINYARD_DATABASE`): on the
//! PostgreSQL at `TY_TEST_DATABASE_URL` (`.ci/postgres start DIR`; CI sets it), each
//! test on a database of its own. Without it those tests skip, saying so; the refusals of a
//! bad or unreachable database run everywhere.

use serde_json::{json, Value};

use crate::process::{cli, ServerProcess};

/// A new, empty database in the test PostgreSQL, or `None` (the test skips) without one.
pub fn fresh_database() -> Option<String> {
    let Ok(admin) = std::env::var("TY_TEST_DATABASE_URL") else {
        println!("skipped: no PostgreSQL (TY_TEST_DATABASE_URL; .ci/postgres start DIR)");
        return None;
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    Some(crate::process::create_database(&admin, &format!("s_{}_{nanos}", std::process::id())))
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_database_that_is_not_postgres_or_does_not_answer_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = cli(dir.path(), &["server", "--listen", "127.0.0.1:0", "--database", "mysql://u:pw@h/db"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("must be a postgres://"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("pw@"), "a password reached the message: {}", stderr(&output));

    // Port 1 on loopback: nothing listens there.
    let url = "postgres://svc:hunter2@127.0.0.1:1/meta";
    let output =
        cli(dir.path(), &["server", "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0", "--database", url]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot reach the database at postgres://svc:***@127.0.0.1:1/meta"), "{err}");
    assert!(!err.contains("hunter2"), "the password reached the message: {err}");
}

async fn api(server: &ServerProcess, path: &str, body: Option<Value>) -> Value {
    let client = reqwest::Client::new();
    let request = match body {
        Some(body) => client.post(format!("{}/api/v1{path}", server.url)).json(&body),
        None => client.get(format!("{}/api/v1{path}", server.url)),
    };
    let response = request.bearer_auth(server.token()).send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_lives_in_postgres_not_in_the_data_directory() {
    let Some(url) = fresh_database() else { return };
    let settings = [("TRAINYARD_DATABASE", url.as_str())];
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut first = ServerProcess::start_with(first_dir.path(), &settings);
    api(&first, "/rules", Some(json!({"Name": "kept", "EventPattern": {"source": ["app"]}}))).await;
    assert!(first.terminate().success());
    // A server on another data directory finds the rule there.
    let second = ServerProcess::start_with(second_dir.path(), &settings);
    let rules = api(&second, "/rules", None).await;
    let names: Vec<&str> = rules["Rules"].as_array().unwrap().iter().filter_map(|r| r["Name"].as_str()).collect();
    assert!(names.contains(&"kept"), "{rules}");
    assert!(!second_dir.path().join("trainyard.db").exists(), "no SQLite file beside PostgreSQL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_on_postgres_loses_no_acknowledged_event() {
    let Some(url) = fresh_database() else { return };
    crate::crash::kill_9_loses_nothing_acknowledged(&[("TRAINYARD_DATABASE", url.as_str())]).await;
}

/// A database a newer trainyard migrated is refused, with the reason, and left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_server_refuses_a_database_a_newer_one_migrated() {
    let Some(url) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    drop(ServerProcess::start_with(dir.path(), &[("TRAINYARD_DATABASE", url.as_str())]));
    let mut connection: sqlx::PgConnection = sqlx::Connection::connect(&url).await.unwrap();
    let newer = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (99999, 'from the future', true, '\\x00', 1)";
    sqlx::Executor::execute(&mut connection, newer).await.unwrap();
    let tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'";
    let before: i64 = sqlx::query_scalar(tables).fetch_one(&mut connection).await.unwrap();
    let output = std::process::Command::new(crate::process::binary())
        .args(["server", "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("TRAINYARD_DATABASE", &url)
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("was written by a newer trainyard (schema version 99999"), "{}", stderr(&output));
    let after: i64 = sqlx::query_scalar(tables).fetch_one(&mut connection).await.unwrap();
    assert_eq!(after, before, "the database is left as it was");
}
