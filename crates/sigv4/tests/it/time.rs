//! The clock rules: skew, the scope date, presigned expiry.

use chrono::TimeDelta;
use trainyard_sigv4::{verify, Error};

use crate::support::{now, vector, FIFTEEN_MINUTES, SECRET};

fn at(offset_seconds: i64) -> chrono::DateTime<chrono::Utc> {
    now() + TimeDelta::seconds(offset_seconds)
}

#[test]
fn header_auth_accepts_the_configured_skew_and_no_more() {
    let v = vector("note-sagemaker-json");
    let auth = v.auth();
    for offset in [-900, -1, 0, 1, 900] {
        verify(&v.request(), &auth, SECRET, at(offset), FIFTEEN_MINUTES).unwrap_or_else(|e| panic!("{offset}: {e:?}"));
    }
    for offset in [-901, 901, -86_400, 86_400 * 365] {
        match verify(&v.request(), &auth, SECRET, at(offset), FIFTEEN_MINUTES) {
            Err(Error::RequestTimeTooSkewed { request_time, server_time }) => {
                assert_eq!(request_time, "20261206T120000Z");
                assert_eq!(server_time, at(offset).format("%Y-%m-%dT%H:%M:%SZ").to_string());
            }
            other => panic!("{offset}: {other:?}"),
        }
    }
    // The skew is the caller's: five minutes, as most AWS services.
    let five = std::time::Duration::from_secs(300);
    assert!(verify(&v.request(), &auth, SECRET, at(300), five).is_ok());
    assert!(matches!(verify(&v.request(), &auth, SECRET, at(301), five), Err(Error::RequestTimeTooSkewed { .. })));
}

#[test]
fn the_scope_date_must_be_the_timestamps() {
    let v = vector("note-s3-list");
    let mut auth = v.auth();
    auth.date = "20261205".into();
    assert!(matches!(verify(&v.request(), &auth, SECRET, now(), FIFTEEN_MINUTES), Err(Error::Malformed(_))));
    // The same through the wire: X-Amz-Date a day off the credential's date.
    let mut v = vector("note-s3-list");
    v.set_header("x-amz-date", "20261207T000100Z");
    let auth = v.auth();
    assert!(matches!(verify(&v.request(), &auth, SECRET, now(), FIFTEEN_MINUTES), Err(Error::Malformed(_))));
}

#[test]
fn presigned_urls_last_until_they_expire() {
    let v = vector("s3-presigned-get");
    let auth = v.auth();
    for offset in [-900, 0, 1800, 3600] {
        verify(&v.request(), &auth, SECRET, at(offset), FIFTEEN_MINUTES).unwrap_or_else(|e| panic!("{offset}: {e:?}"));
    }
    for offset in [3601, 86_400] {
        assert!(matches!(verify(&v.request(), &auth, SECRET, at(offset), FIFTEEN_MINUTES), Err(Error::Expired)));
    }
    // Dated in the future beyond the skew.
    assert!(matches!(
        verify(&v.request(), &auth, SECRET, at(-901), FIFTEEN_MINUTES),
        Err(Error::RequestTimeTooSkewed { .. })
    ));
    // The token variant expires after its 900 seconds.
    let token = vector("s3-presigned-get-token");
    let auth = token.auth();
    assert!(verify(&token.request(), &auth, SECRET, at(900), FIFTEEN_MINUTES).is_ok());
    assert!(matches!(verify(&token.request(), &auth, SECRET, at(901), FIFTEEN_MINUTES), Err(Error::Expired)));
}

#[test]
fn presigned_lifetimes_over_seven_days_are_malformed() {
    let v = vector("s3-presigned-get");
    let query = v.query.replace("X-Amz-Expires=3600", "X-Amz-Expires=604801");
    assert_ne!(query, v.query);
    assert!(matches!(trainyard_sigv4::parse(&v.headers, &query), Err(Error::Malformed(_))));
    let mut auth = v.auth();
    auth.presigned.as_mut().unwrap().expires_seconds = 604_801;
    assert!(matches!(verify(&v.request(), &auth, SECRET, now(), FIFTEEN_MINUTES), Err(Error::Malformed(_))));
    // Seven days exactly is allowed (and then the signature decides).
    let query = v.query.replace("X-Amz-Expires=3600", "X-Amz-Expires=604800");
    let auth = trainyard_sigv4::parse(&v.headers, &query).unwrap().unwrap();
    let request = trainyard_sigv4::SignedRequest { query: &query, ..v.request() };
    assert!(matches!(
        verify(&request, &auth, SECRET, now(), FIFTEEN_MINUTES),
        Err(Error::SignatureDoesNotMatch { .. })
    ));
}
