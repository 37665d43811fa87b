//! Layers unpacked safely: hostile tarballs are refused, nothing lands outside the root.

use std::path::Path;

use trainyard_build::unpack_layer;

enum Entry<'a> {
    File(&'a str, &'a str, u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

/// A tarball with names written raw (the tar crate's own checks would refuse the hostile ones).
fn tarball(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let (name, kind, data, link, mode) = match entry {
            Entry::File(n, d, m) => (*n, tar::EntryType::Regular, d.as_bytes(), None, *m),
            Entry::Dir(n) => (*n, tar::EntryType::Directory, &b""[..], None, 0o755),
            Entry::Symlink(n, t) => (*n, tar::EntryType::Symlink, &b""[..], Some(*t), 0o777),
            Entry::HardLink(n, t) => (*n, tar::EntryType::Link, &b""[..], Some(*t), 0o644),
        };
        let raw = header.as_old_mut();
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(target) = link {
            raw.linkname[..target.len()].copy_from_slice(target.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn outside(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "root")
        .collect();
    names.sort();
    names
}

#[test]
fn hostile_layers_are_refused() {
    for (case, entries) in [
        ("dot-dot", vec![Entry::File("../escaped", "x", 0o644)]),
        ("absolute", vec![Entry::File("/tmp/escaped-by-trainyard-test", "x", 0o644)]),
        ("symlink out", vec![Entry::Symlink("out", "../../..")]),
        (
            "through a link",
            vec![Entry::Symlink("inside", "dir"), Entry::Dir("dir"), Entry::File("inside/x", "x", 0o644)],
        ),
        ("hard link out", vec![Entry::HardLink("passwd", "../../etc/passwd")]),
        ("hard link absolute", vec![Entry::HardLink("passwd", "/etc/passwd")]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let error = unpack_layer(&tarball(&entries)[..], &root).unwrap_err().to_string();
        assert!(error.contains("refused"), "{case}: {error}");
        assert!(outside(dir.path()).is_empty(), "{case} wrote outside the root: {:?}", outside(dir.path()));
    }
    assert!(!Path::new("/tmp/escaped-by-trainyard-test").exists());
}

#[test]
fn a_good_layer_unpacks_with_links_kept_inside_and_whiteouts_applied() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let lower = tarball(&[
        Entry::Dir("opt/program"),
        Entry::File("opt/program/train.py", "print(1)", 0o4755),
        Entry::File("opt/program/old.txt", "old", 0o644),
        Entry::Symlink("usr/bin/python", "/usr/bin/python3"),
        Entry::Symlink("opt/program/data", "../data"),
        Entry::HardLink("opt/program/train2.py", "opt/program/train.py"),
    ]);
    assert_eq!(unpack_layer(&lower[..], &root).unwrap(), 6);
    let upper = tarball(&[Entry::File("opt/program/.wh.old.txt", "", 0o644)]);
    unpack_layer(&upper[..], &root).unwrap();

    assert_eq!(std::fs::read_to_string(root.join("opt/program/train2.py")).unwrap(), "print(1)");
    assert!(!root.join("opt/program/old.txt").exists(), "the whiteout removed it");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("opt/program/train.py")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755, "no set-uid bit");
    // An absolute link inside the image is rewritten to stay inside the root.
    assert_eq!(std::fs::read_link(root.join("usr/bin/python")).unwrap(), Path::new("../../usr/bin/python3"));
    assert_eq!(std::fs::read_link(root.join("opt/program/data")).unwrap(), Path::new("../../opt/data"));
    let gzipped = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, &tarball(&[Entry::File("z", "compressed", 0o644)])).unwrap();
        encoder.finish().unwrap()
    };
    unpack_layer(&gzipped[..], &root).unwrap();
    assert_eq!(std::fs::read_to_string(root.join("z")).unwrap(), "compressed");
}
