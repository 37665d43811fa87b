//! Requests signed by botocore verify; any change to what is signed fails.

use trainyard_sigv4::{canonical_request, sha256_hex, verify, Error, UriRule};

use crate::support::{now, vector, vectors, Vector, FIFTEEN_MINUTES, SECRET};

/// The four signatures of the research note (§5.2), written here apart from the fixture.
#[test]
fn the_research_note_vectors_verify() {
    for (name, signature) in [
        ("note-sagemaker-json", "4f41d3c4614e292c5049871b2ea7366ec8abab913e0eae2a6fde58c64d3f0c99"),
        ("note-lambda-invoke", "e5cc3ffc9be7d5bdf2f9bea19b4cb71afc48b8740a153a1c95ccd29c26b9d0d2"),
        ("note-s3-put", "396030c5f7bd2e44363f3932576c9f04d2cafd96ed65e5ff7bddae58cca726e2"),
        ("note-s3-list", "78b4636bea99b645d74387c5fa23cf27d6c940f8c452e68ad20a53edc1333422"),
    ] {
        let v = vector(name);
        let auth = v.auth();
        assert_eq!(auth.signature, signature, "{name}");
        let verified = verify(&v.request(), &auth, SECRET, now(), FIFTEEN_MINUTES).unwrap();
        assert_eq!(verified.seed_signature, signature);
    }
    let lambda = vector("note-lambda-invoke");
    let canonical = canonical_request(&lambda.request(), &lambda.auth(), UriRule::Default);
    assert!(canonical.contains("arn%253Aaws%253Alambda"), "{canonical}");
    let list = vector("note-s3-list");
    let canonical = canonical_request(&list.request(), &list.auth(), UriRule::S3);
    assert!(canonical.contains("\nencoding-type=url&list-type=2&prefix=train%2F\n"), "{canonical}");
}

#[test]
fn every_botocore_vector_verifies_with_botocores_canonical_request() {
    let vectors = vectors();
    assert!(vectors.len() >= 18);
    for v in &vectors {
        let auth = v.auth();
        assert_eq!(auth.signature, v.signature, "{}", v.name);
        assert_eq!(auth.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(auth.service, v.service);
        let rule = UriRule::for_service(&auth.service);
        assert_eq!(canonical_request(&v.request(), &auth, rule), v.canonical_request, "{}", v.name);
        if !v.is_s3() {
            assert_eq!(v.payload_hash, sha256_hex(v.body.as_bytes()));
        }
        verify(&v.request(), &auth, SECRET, now(), FIFTEEN_MINUTES).unwrap_or_else(|e| panic!("{}: {e:?}", v.name));
    }
}

#[test]
fn session_tokens_are_read() {
    for name in ["s3-session-token-header", "sagemaker-session-token-header", "s3-presigned-get-token"] {
        let auth = vector(name).auth();
        assert_eq!(auth.security_token.as_deref(), Some("IQoJb3JpZ2luX2VjEXAMPLE/session+token=="), "{name}");
    }
    assert_eq!(vector("note-s3-put").auth().security_token, None);
    let presigned = vector("s3-presigned-get").auth();
    assert_eq!(presigned.presigned.map(|p| p.expires_seconds), Some(3600));
    assert_eq!(presigned.signed_headers, ["host"]);
}

fn assert_mismatch(v: &Vector, secret: &str, what: &str) {
    let auth = v.auth();
    match verify(&v.request(), &auth, secret, now(), FIFTEEN_MINUTES) {
        Err(Error::SignatureDoesNotMatch { canonical_request, string_to_sign }) => {
            assert!(string_to_sign.starts_with("AWS4-HMAC-SHA256\n20261206T120000Z\n"));
            assert!(canonical_request.starts_with(&format!("{}\n", v.method)));
        }
        other => panic!("{} with {what} changed: {other:?}", v.name),
    }
}

/// Changes one byte of what a vector signs.
fn flip_last(text: &mut String) {
    let last = text.pop().unwrap();
    text.push(if last == 'x' { 'y' } else { 'x' });
}

#[test]
fn any_change_to_a_signed_part_fails() {
    for original in vectors() {
        let mut v = original.clone();
        assert_mismatch(&v, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEz", "the secret");

        flip_last(&mut v.path);
        assert_mismatch(&v, SECRET, "the path");

        let mut v = original.clone();
        v.query.push_str(if v.query.is_empty() { "x=1" } else { "&x=1" });
        assert_mismatch(&v, SECRET, "the query");

        let mut v = original.clone();
        v.method = if v.method == "GET" { "HEAD".into() } else { "GET".into() };
        assert_mismatch(&v, SECRET, "the method");

        let mut v = original.clone();
        v.set_header("host", "127.0.0.1:7421");
        assert_mismatch(&v, SECRET, "the host header");

        let mut v = original.clone();
        if v.is_s3() {
            if v.payload_hash != "UNSIGNED-PAYLOAD" {
                // The S3 payload hash is the header's value: a changed body shows as a changed header.
                v.payload_hash = sha256_hex(format!("{}!", v.body).as_bytes());
                v.set_header("x-amz-content-sha256", &v.payload_hash.clone());
                assert_mismatch(&v, SECRET, "the body");
            }
        } else {
            let mut body = v.body.clone().into_bytes();
            match body.first_mut() {
                Some(b) => *b ^= 1,
                None => body.push(b'x'),
            }
            v.payload_hash = sha256_hex(&body);
            assert_mismatch(&v, SECRET, "the body");
        }

        let auth = original.auth();
        for name in auth.signed_headers.iter().filter(|n| *n != "x-amz-date" && *n != "host") {
            let mut v = original.clone();
            let value = v.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).unwrap().1.clone();
            v.set_header(name, &format!("{value}1"));
            if name == "x-amz-content-sha256" {
                v.payload_hash = format!("{value}1");
            }
            assert_mismatch(&v, SECRET, name);
        }
    }
}

#[test]
fn unsigned_headers_may_change() {
    let mut v = vector("note-s3-put");
    v.headers.push(("User-Agent".into(), "anything".into()));
    v.headers.push(("Expect".into(), "100-continue".into()));
    verify(&v.request(), &v.auth(), SECRET, now(), FIFTEEN_MINUTES).unwrap();
}

/// botocore sends an S3 key as quote(key, safe='/~'); a client that sends `~` as `%7E` and signs what it
/// sent verifies too, as does a client that signs the canonical form of what it sent.
#[test]
fn s3_paths_encoded_differently_verify() {
    use trainyard_sigv4::{signing_key, string_to_sign, SignedRequest};
    let v = vector("note-s3-put");
    let mut auth = v.auth();
    for (sent, signed) in [("/churn-data/a%7Eb", "/churn-data/a%7Eb"), ("/churn-data/a!b", "/churn-data/a%21b")] {
        let request = SignedRequest { path: signed, ..v.request() };
        let canonical =
            canonical_request(&request, &auth, UriRule::S3).replace("/churn-data/a~b\n", &format!("{signed}\n"));
        let key = signing_key(SECRET, "20261206", "us-east-1", "s3");
        auth.signature = hmac_hex(&key, &string_to_sign(&auth, &canonical));
        let received = SignedRequest { path: sent, ..v.request() };
        verify(&received, &auth, SECRET, now(), FIFTEEN_MINUTES).unwrap_or_else(|e| panic!("{sent}: {e:?}"));
    }
}

pub fn hmac_hex(key: &[u8], text: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(text.as_bytes());
    trainyard_sigv4::hex(&mac.finalize().into_bytes())
}
