//! The botocore fixture and small helpers.

use chrono::{DateTime, Utc};
use serde_json::Value;
use trainyard_sigv4::{parse, Authorization, SignedRequest};

pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const FIFTEEN_MINUTES: std::time::Duration = std::time::Duration::from_secs(900);

/// One request of `vectors.json`, as a server receives it.
#[derive(Debug, Clone)]
pub struct Vector {
    pub name: String,
    pub service: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub payload_hash: String,
    pub canonical_request: String,
    pub signature: String,
}

impl Vector {
    pub fn request(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            payload_hash: &self.payload_hash,
        }
    }

    pub fn auth(&self) -> Authorization {
        parse(&self.headers, &self.query).unwrap().unwrap_or_else(|| panic!("{}: no SigV4 found", self.name))
    }

    pub fn is_s3(&self) -> bool {
        self.service == "s3"
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        let header = self.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)).expect("header present");
        header.1 = value.to_string();
    }
}

pub fn now() -> DateTime<Utc> {
    "2026-12-06T12:00:00Z".parse().unwrap()
}

pub fn vectors() -> Vec<Vector> {
    let fixture: Value = serde_json::from_str(include_str!("vectors.json")).unwrap();
    assert_eq!(fixture["secret"], SECRET);
    assert_eq!(fixture["now"], "2026-12-06T12:00:00Z");
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_else(|| panic!("{key} missing")).to_string();
    fixture["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            name: text(v, "name"),
            service: text(v, "service"),
            method: text(v, "method"),
            path: text(v, "path"),
            query: text(v, "query"),
            headers: v["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| (pair[0].as_str().unwrap().to_string(), pair[1].as_str().unwrap().to_string()))
                .collect(),
            body: text(v, "body"),
            payload_hash: text(v, "payload_hash"),
            canonical_request: text(v, "canonical_request"),
            signature: text(v, "signature"),
        })
        .collect()
}

pub fn vector(name: &str) -> Vector {
    vectors().into_iter().find(|v| v.name == name).unwrap_or_else(|| panic!("no vector {name}"))
}
