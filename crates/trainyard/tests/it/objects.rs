//! Large objects stream: the server's memory stays flat whatever the object size.

use crate::process::{cli, stderr, ServerProcess};

fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

#[test]
fn a_large_object_streams_through_in_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("data"));
    let data_dir = dir.path().join("data");
    let before = peak_rss_mib(server.child.id());
    let big = dir.path().join("big.bin");
    let size: u64 = 400 * 1024 * 1024;
    std::fs::File::create(&big).unwrap().set_len(size).unwrap();

    let run = |args: &[&str]| {
        let output = cli(&data_dir, args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
    };
    run(&["data", "mb", "s3://large"]);
    run(&["data", "put", big.to_str().unwrap(), "s3://large/big.bin"]);
    let copy = dir.path().join("copy.bin");
    run(&["data", "get", "s3://large/big.bin", copy.to_str().unwrap()]);
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), size);

    let after = peak_rss_mib(server.child.id());
    eprintln!("server peak RSS: {before} MiB before, {after} MiB after a {} MiB round trip", size / 1024 / 1024);
    assert!(after < before + 120, "peak RSS grew from {before} to {after} MiB for a 400 MiB object");
}

/// `data get` writes regular files whole, and streams into whatever else the destination
/// is (a device, a FIFO, standard output) without replacing it.
#[test]
fn data_get_streams_into_devices_fifos_and_stdout_without_replacing_them() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let _server = ServerProcess::start(&data_dir);
    let run = |args: &[&str]| {
        let output = cli(&data_dir, args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        output
    };
    let source = dir.path().join("rows.csv");
    std::fs::write(&source, "a,b\n1,2\n").unwrap();
    run(&["data", "mb", "s3://devices"]);
    run(&["data", "put", source.to_str().unwrap(), "s3://devices/rows.csv"]);

    run(&["data", "get", "s3://devices/rows.csv", "/dev/null"]);
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device(), "/dev/null was replaced");

    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || std::fs::read_to_string(fifo).unwrap()
    });
    run(&["data", "get", "s3://devices/rows.csv", fifo.to_str().unwrap()]);
    assert_eq!(reader.join().unwrap(), "a,b\n1,2\n");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");

    let output = run(&["data", "get", "s3://devices/rows.csv", "-"]);
    assert_eq!(output.stdout, b"a,b\n1,2\n");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".part-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// An object store that does not answer stops the start, naming it, with exit 2.
#[test]
fn an_object_store_that_does_not_answer_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let output = std::process::Command::new(crate::process::binary())
        .args(["server", "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--object-store", "s3://nowhere/prefix"])
        // Port 1 on loopback: nothing listens there.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI")
        .env_remove("TRAINYARD_OBJECT_STORE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot reach the object store at s3://nowhere/prefix"), "{err}");
    assert!(!err.contains("wJalrXUtnFEMI"), "the secret reached the message: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
}
