//! The OCI registry's records: repositories and their cursor, blobs and their links,
//! byte-exact manifests, tags (immutable ones too), referrers and uploads.

use chrono::{DateTime, Duration, TimeZone, Utc};
use trainyard_store::{Error, ManifestRecord, Store};

use crate::backends::conformance;

/// A time with milliseconds, as stored.
fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + millis).unwrap()
}

fn manifest(repository: &str, digest: &str, content: &[u8], created_at: DateTime<Utc>) -> ManifestRecord {
    ManifestRecord {
        repository: repository.into(),
        digest: digest.into(),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        content: content.to_vec(),
        subject: None,
        artifact_type: None,
        annotations: None,
        created_at,
    }
}

async fn names(store: &Store, last: Option<&str>, limit: i64) -> Vec<String> {
    store.list_repositories(last, limit).await.unwrap().into_iter().map(|r| r.name).collect()
}

conformance! {
async fn repositories_page_in_bytewise_name_order_with_their_counts(store) {
    for name in ["ab", "a_b", "a/b", "a.b", "a-b", "Zeta"] {
        store.create_repository(name, at(1)).await.unwrap();
    }
    assert!(matches!(store.create_repository("ab", at(2)).await, Err(Error::AlreadyExists { .. })));
    assert_eq!(names(&store, None, 100).await, ["Zeta", "a-b", "a.b", "a/b", "a_b", "ab"]);
    assert_eq!(names(&store, None, 2).await, ["Zeta", "a-b"]);
    assert_eq!(names(&store, Some("a-b"), 2).await, ["a.b", "a/b"]);
    assert_eq!(names(&store, Some("a/b"), 100).await, ["a_b", "ab"]);
    assert!(names(&store, Some("ab"), 100).await.is_empty());

    store.put_manifest(&manifest("ab", "sha256:1", b"{}", at(5)), Some("v1")).await.unwrap();
    store.put_manifest(&manifest("ab", "sha256:2", b"{ }", at(6)), Some("v2")).await.unwrap();
    store.put_manifest(&manifest("ab", "sha256:2", b"{ }", at(6)), Some("latest")).await.unwrap();
    let repository = store.get_repository("ab").await.unwrap();
    assert_eq!(repository.name, "ab");
    assert_eq!(repository.created_at, at(1));
    assert_eq!((repository.manifests, repository.tags), (2, 3));
    assert!(!repository.immutable_tags);
    let listed = store.list_repositories(Some("a_b"), 1).await.unwrap();
    assert_eq!(listed, vec![repository]);

    store.set_immutable_tags("ab", true).await.unwrap();
    assert!(store.get_repository("ab").await.unwrap().immutable_tags);
    store.set_immutable_tags("ab", false).await.unwrap();
    assert!(!store.get_repository("ab").await.unwrap().immutable_tags);
    assert!(matches!(store.get_repository("nope").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.set_immutable_tags("nope", true).await, Err(Error::NotFound { .. })));
}

async fn blobs_are_linked_per_repository_and_orphaned_by_the_last_unlink(store) {
    let digest = "sha256:blob";
    store.link_blob("one", digest, 42, at(1)).await.unwrap();
    // The repository was created on first use; linking again changes nothing.
    assert_eq!(store.get_repository("one").await.unwrap().created_at, at(1));
    store.link_blob("one", digest, 42, at(2)).await.unwrap();
    store.link_blob("two", digest, 42, at(3)).await.unwrap();
    assert_eq!(store.repository_blob("one", digest).await.unwrap(), Some(42));
    assert_eq!(store.repository_blob("three", digest).await.unwrap(), None);
    assert_eq!(store.repository_blob("one", "sha256:other").await.unwrap(), None);
    assert_eq!(store.blob(digest).await.unwrap(), Some(42));
    assert_eq!(store.blob("sha256:other").await.unwrap(), None);

    assert_eq!(store.unlink_blob("one", digest).await.unwrap(), (true, false));
    assert_eq!(store.repository_blob("one", digest).await.unwrap(), None);
    assert_eq!(store.blob(digest).await.unwrap(), Some(42));
    assert_eq!(store.unlink_blob("one", digest).await.unwrap(), (false, false));
    assert_eq!(store.unlink_blob("two", digest).await.unwrap(), (true, true));
    assert_eq!(store.blob(digest).await.unwrap(), None);
    assert_eq!(store.unlink_blob("two", digest).await.unwrap(), (false, false));

    // A blob as big as an i64 allows.
    store.link_blob("one", "sha256:big", i64::MAX, at(4)).await.unwrap();
    assert_eq!(store.blob("sha256:big").await.unwrap(), Some(i64::MAX));
}

async fn deleting_a_repository_takes_everything_and_reports_orphaned_blobs(store) {
    store.link_blob("gone", "sha256:mine", 1, at(1)).await.unwrap();
    store.link_blob("gone", "sha256:shared", 2, at(1)).await.unwrap();
    store.link_blob("kept", "sha256:shared", 2, at(1)).await.unwrap();
    store.put_manifest(&manifest("gone", "sha256:m", b"m", at(2)), Some("v1")).await.unwrap();
    store.create_upload("u-gone", "gone", at(3)).await.unwrap();

    let mut orphans = store.delete_repository("gone").await.unwrap();
    orphans.sort();
    assert_eq!(orphans, ["sha256:mine"]);
    assert!(matches!(store.get_repository("gone").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_repository("gone").await, Err(Error::NotFound { .. })));
    assert_eq!(store.blob("sha256:mine").await.unwrap(), None);
    assert_eq!(store.blob("sha256:shared").await.unwrap(), Some(2));
    assert_eq!(store.repository_blob("kept", "sha256:shared").await.unwrap(), Some(2));
    assert_eq!(store.get_manifest("gone", "sha256:m").await.unwrap(), None);
    assert_eq!(store.resolve_tag("gone", "v1").await.unwrap(), None);
    assert_eq!(store.upload_repository("u-gone").await.unwrap(), None);
    assert!(store.upload_ids().await.unwrap().is_empty());

    // A new repository of the same name starts empty.
    store.create_repository("gone", at(9)).await.unwrap();
    let again = store.get_repository("gone").await.unwrap();
    assert_eq!((again.manifests, again.tags, again.created_at), (0, 0, at(9)));
    assert!(store.delete_repository("gone").await.unwrap().is_empty());
}

async fn manifests_round_trip_byte_exact_and_tags_move_and_list(store) {
    // Not UTF-8, with a NUL: stored as bytes.
    let content = vec![0u8, 159, 146, 150, b'{', 0, 255];
    let mut first = manifest("app", "sha256:a", &content, at(10));
    first.subject = Some("sha256:base".into());
    first.artifact_type = Some("application/vnd.example+type".into());
    first.annotations = Some(r#"{"org.opencontainers.image.title":"ünïcødé \"q\""}"#.into());
    assert_eq!(store.put_manifest(&first, Some("v1")).await.unwrap(), None);
    assert_eq!(store.get_manifest("app", "sha256:a").await.unwrap(), Some(first.clone()));
    assert_eq!(store.get_manifest("app", "sha256:missing").await.unwrap(), None);
    assert_eq!(store.get_manifest("other", "sha256:a").await.unwrap(), None);

    // Putting a known manifest again keeps the first copy.
    let mut again = first.clone();
    again.created_at = at(99);
    assert_eq!(store.put_manifest(&again, Some("v1")).await.unwrap(), Some("sha256:a".into()));
    assert_eq!(store.get_manifest("app", "sha256:a").await.unwrap(), Some(first.clone()));

    let second = manifest("app", "sha256:b", b"{\"b\":1}", at(20));
    assert_eq!(store.put_manifest(&second, Some("v1")).await.unwrap(), Some("sha256:a".into()));
    assert_eq!(store.resolve_tag("app", "v1").await.unwrap(), Some("sha256:b".into()));
    assert_eq!(store.put_manifest(&second, None).await.unwrap(), None);
    assert_eq!(store.resolve_tag("app", "nope").await.unwrap(), None);
    let third = manifest("app", "sha256:c", b"c", at(20));
    store.put_manifest(&third, None).await.unwrap();

    // Newest first; equal times by digest.
    let listed: Vec<String> =
        store.list_manifests("app").await.unwrap().into_iter().map(|m| m.digest).collect();
    assert_eq!(listed, ["sha256:b", "sha256:c", "sha256:a"]);
    assert_eq!(store.list_manifests("app").await.unwrap()[2], first);
    assert!(store.list_manifests("none").await.unwrap().is_empty());

    for tag in ["v1.0", "V2", "v1-rc", "v1_x", "lätest"] {
        store.put_manifest(&first, Some(tag)).await.unwrap();
    }
    let tags = store.list_tags("app", None, i64::MAX).await.unwrap();
    let names: Vec<&str> = tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(names, ["V2", "lätest", "v1", "v1-rc", "v1.0", "v1_x"]);
    let v1 = &tags[2];
    assert_eq!((v1.repository.as_str(), v1.digest.as_str()), ("app", "sha256:b"));
    assert_eq!(v1.media_type, second.media_type);
    assert_eq!(v1.size, second.content.len() as i64);
    assert_eq!(v1.updated_at, at(20));
    assert_eq!(tags[0].size, content.len() as i64);
    assert_eq!(tags[0].updated_at, at(10));
    let page: Vec<String> =
        store.list_tags("app", Some("lätest"), 2).await.unwrap().into_iter().map(|t| t.tag).collect();
    assert_eq!(page, ["v1", "v1-rc"]);
    assert!(store.list_tags("app", Some("v1_x"), 10).await.unwrap().is_empty());

    assert_eq!(store.delete_tag("app", "V2").await.unwrap(), Some("sha256:a".into()));
    assert_eq!(store.delete_tag("app", "V2").await.unwrap(), None);

    // Deleting a manifest takes its tags, reported in order.
    let mut gone = store.delete_manifest("app", "sha256:a").await.unwrap().unwrap();
    gone.sort();
    assert_eq!(gone, ["lätest", "v1-rc", "v1.0", "v1_x"]);
    assert_eq!(store.get_manifest("app", "sha256:a").await.unwrap(), None);
    assert_eq!(store.delete_manifest("app", "sha256:a").await.unwrap(), None);
    assert_eq!(store.delete_manifest("app", "sha256:c").await.unwrap(), Some(vec![]));
    let left: Vec<String> = store.list_tags("app", None, 100).await.unwrap().into_iter().map(|t| t.tag).collect();
    assert_eq!(left, ["v1"]);
    let repository = store.get_repository("app").await.unwrap();
    assert_eq!((repository.manifests, repository.tags), (1, 1));
}

async fn immutable_tags_do_not_move_and_nothing_is_stored(store) {
    let first = manifest("app", "sha256:a", b"a", at(1));
    store.put_manifest(&first, Some("v1")).await.unwrap();
    store.set_immutable_tags("app", true).await.unwrap();
    // The same image again is fine; a new tag is fine.
    assert_eq!(store.put_manifest(&first, Some("v1")).await.unwrap(), Some("sha256:a".into()));
    assert_eq!(store.put_manifest(&first, Some("v2")).await.unwrap(), None);
    let other = manifest("app", "sha256:b", b"b", at(2));
    match store.put_manifest(&other, Some("v1")).await {
        Err(Error::InUse { kind, name, .. }) => assert_eq!((kind, name.as_str()), ("tag", "app:v1")),
        other => panic!("expected InUse, got {other:?}"),
    }
    assert_eq!(store.resolve_tag("app", "v1").await.unwrap(), Some("sha256:a".into()));
    assert_eq!(store.get_manifest("app", "sha256:b").await.unwrap(), None, "the refused manifest is not stored");
    // Untagged, the manifest is stored.
    store.put_manifest(&other, None).await.unwrap();
    store.set_immutable_tags("app", false).await.unwrap();
    assert_eq!(store.put_manifest(&other, Some("v1")).await.unwrap(), Some("sha256:a".into()));
}

async fn concurrent_pushes_of_an_immutable_tag_set_it_once(store) {
    store.create_repository("app", at(0)).await.unwrap();
    store.set_immutable_tags("app", true).await.unwrap();
    let pushes = (0..12).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let record = manifest("app", &format!("sha256:{i}"), format!("{i}").as_bytes(), at(i));
            store.put_manifest(&record, Some("release")).await
        })
    });
    let mut stored = 0;
    for result in futures::future::join_all(pushes).await {
        match result.unwrap() {
            Ok(previous) => {
                assert_eq!(previous, None, "the tag moved");
                stored += 1;
            }
            Err(Error::InUse { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(stored, 1, "exactly one push sets an immutable tag");
    let repository = store.get_repository("app").await.unwrap();
    assert_eq!((repository.manifests, repository.tags), (1, 1));
}

async fn concurrent_links_and_unlinks_keep_a_blob_exactly_while_linked(store) {
    // Each round: one repository unlinks the digest while another links it. Either order
    // is fine, but neither may fail, and the blob row must exist while b links it.
    for round in 0..10 {
        let digest = format!("sha256:{round}");
        store.link_blob("a", &digest, 7, at(round)).await.unwrap();
        let (unlink, link) = {
            let (s1, s2, d1, d2) = (store.clone(), store.clone(), digest.clone(), digest.clone());
            tokio::join!(
                tokio::spawn(async move { s1.unlink_blob("a", &d1).await }),
                tokio::spawn(async move { s2.link_blob("b", &d2, 7, at(round)).await })
            )
        };
        // Orphaned only when the unlink ran first; the link then made the row anew.
        let (unlinked, _orphaned) = unlink.unwrap().unwrap();
        link.unwrap().unwrap();
        assert!(unlinked);
        assert_eq!(store.repository_blob("b", &digest).await.unwrap(), Some(7));
        assert_eq!(store.blob(&digest).await.unwrap(), Some(7), "round {round}: a linked blob lost its row");
    }
    let names: Vec<_> = futures::future::join_all((0..8).map(|i| {
        let store = store.clone();
        async move { store.link_blob(&format!("r{i}"), "sha256:same", 3, at(i)).await }
    }))
    .await;
    assert!(names.iter().all(Result::is_ok), "concurrent first links of one blob all succeed");
    assert_eq!(store.list_repositories(None, 100).await.unwrap().len(), 10);
}

async fn referrers_are_the_manifests_whose_subject_is_the_digest_oldest_first(store) {
    let base = manifest("app", "sha256:base", b"base", at(1));
    store.put_manifest(&base, Some("v1")).await.unwrap();
    let mut later = manifest("app", "sha256:sig2", b"s2", at(30));
    later.subject = Some("sha256:base".into());
    later.artifact_type = Some("application/vnd.dev.cosign".into());
    let mut earlier = manifest("app", "sha256:sig1", b"s1", at(20));
    earlier.subject = Some("sha256:base".into());
    let mut elsewhere = manifest("other", "sha256:sig3", b"s3", at(25));
    elsewhere.subject = Some("sha256:base".into());
    for record in [&later, &earlier, &elsewhere] {
        store.put_manifest(record, None).await.unwrap();
    }
    assert_eq!(store.referrers("app", "sha256:base").await.unwrap(), vec![earlier, later]);
    assert!(store.referrers("app", "sha256:sig1").await.unwrap().is_empty());
}

async fn uploads_are_tracked_touched_and_found_stale(store) {
    store.create_upload("u1", "fresh/repo", at(100)).await.unwrap();
    assert_eq!(store.get_repository("fresh/repo").await.unwrap().created_at, at(100));
    store.create_upload("u2", "fresh/repo", at(50)).await.unwrap();
    store.create_upload("ü3 odd/id", "other", at(75)).await.unwrap();
    assert!(matches!(store.create_upload("u1", "other", at(1)).await, Err(Error::AlreadyExists { .. })));
    assert_eq!(store.upload_repository("u1").await.unwrap(), Some("fresh/repo".into()));
    assert_eq!(store.upload_repository("ü3 odd/id").await.unwrap(), Some("other".into()));
    assert_eq!(store.upload_repository("none").await.unwrap(), None);

    // Stale: not written since `before`, oldest first.
    assert_eq!(store.stale_uploads(at(101)).await.unwrap(), ["u2", "ü3 odd/id", "u1"]);
    assert_eq!(store.stale_uploads(at(100)).await.unwrap(), ["u2", "ü3 odd/id"]);
    store.touch_upload("u2", at(200)).await.unwrap();
    store.touch_upload("none", at(200)).await.unwrap();
    assert_eq!(store.stale_uploads(at(101)).await.unwrap(), ["ü3 odd/id", "u1"]);
    assert_eq!(store.stale_uploads(at(0) - Duration::days(1)).await.unwrap(), Vec::<String>::new());

    let mut ids = store.upload_ids().await.unwrap();
    ids.sort();
    assert_eq!(ids, ["u1", "u2", "ü3 odd/id"]);
    assert!(store.delete_upload("u1").await.unwrap());
    assert!(!store.delete_upload("u1").await.unwrap());
    assert_eq!(store.upload_repository("u1").await.unwrap(), None);
    let mut ids = store.upload_ids().await.unwrap();
    ids.sort();
    assert_eq!(ids, ["u2", "ü3 odd/id"]);
}

async fn a_repository_deleted_while_its_blobs_are_linked_leaves_no_blob_without_a_link(store) {
    for round in 0..10 {
        let (shared, fresh) = (format!("sha256:shared-{round}"), format!("sha256:fresh-{round}"));
        store.link_blob("a", &shared, 5, at(round)).await.unwrap();
        let (s1, s2, s3) = (store.clone(), store.clone(), store.clone());
        let (d1, d2) = (shared.clone(), fresh.clone());
        let (deleted, linked_elsewhere, linked_here) = tokio::join!(
            tokio::spawn(async move { s1.delete_repository("a").await }),
            tokio::spawn(async move { s2.link_blob("b", &d1, 5, at(round)).await }),
            tokio::spawn(async move { s3.link_blob("a", &d2, 6, at(round)).await })
        );
        let orphans = deleted.unwrap().unwrap();
        linked_elsewhere.unwrap().unwrap();
        match linked_here.unwrap() {
            // Before the deletion, or after it (re-creating the repository).
            Ok(()) => {}
            // Between: the repository it made sure of was deleted under it.
            Err(Error::NotFound { kind: "repository", .. }) => {}
            Err(e) => panic!("round {round}: {e}"),
        }
        assert!(orphans.iter().all(|d| d == &shared || d == &fresh), "{orphans:?}");
        assert_eq!(store.repository_blob("b", &shared).await.unwrap(), Some(5));
        assert_eq!(store.blob(&shared).await.unwrap(), Some(5), "round {round}: b links it");
        let here = store.repository_blob("a", &fresh).await.unwrap();
        assert_eq!(store.blob(&fresh).await.unwrap(), here, "round {round}: a blob row exactly while linked");
        assert!(!(orphans.contains(&fresh) && here.is_some()), "round {round}: reported orphaned yet linked");
        if store.get_repository("a").await.is_ok() {
            store.delete_repository("a").await.unwrap();
        }
    }
}
}
