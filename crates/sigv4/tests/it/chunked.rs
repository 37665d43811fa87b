//! `aws-chunked` bodies: the AWS documentation's examples from the request headers on, bodies signed here,
//! the unsigned trailer boto3 sends over https.
//!
//! botocore cannot sign chunks (boto3 only sends `STREAMING-UNSIGNED-PAYLOAD-TRAILER`), so the chunk and
//! trailer string-to-sign formats are checked against the AWS documentation's worked examples instead
//! (`sigv4-streaming.html`, `sigv4-streaming-trailers.html`), whose published signatures this decoder
//! reproduces; the bodies signed below reuse those formats.

use trainyard_sigv4::{
    parse, sha256_hex, verify, Authorization, ChunkedDecoder, ChunkedMode, Error, SignedRequest, Trailers, Verified,
    EMPTY_SHA256,
};

use crate::support::{now, vector, FIFTEEN_MINUTES, SECRET};
use crate::vectors::hmac_hex;

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// The documentation's PUT of 66560 `a`s as 64 KiB + 1 KiB chunks, verified from its headers on.
fn doc_upload(trailer: bool) -> (Vec<(String, String)>, Vec<u8>) {
    let (mode, signed, seed, signatures, trailers) = if trailer {
        (
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
            "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
            [
                "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
                "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
                "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
            ],
            "x-amz-checksum-crc32c:sOO8/Q==\r\n\
             x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n",
        )
    } else {
        (
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            [
                "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            ],
            "",
        )
    };
    let mut body = Vec::new();
    body.extend_from_slice(format!("10000;chunk-signature={}\r\n", signatures[0]).as_bytes());
    body.extend_from_slice(&[b'a'; 65_536]);
    body.extend_from_slice(format!("\r\n400;chunk-signature={}\r\n", signatures[1]).as_bytes());
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(format!("\r\n0;chunk-signature={}\r\n{trailers}\r\n", signatures[2]).as_bytes());
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders={signed},Signature={seed}"
    );
    let mut pairs = vec![
        ("Host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("Authorization", &authorization),
        ("x-amz-content-sha256", mode),
        ("Content-Encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
    ];
    if trailer {
        pairs.push(("x-amz-trailer", "x-amz-checksum-crc32c"));
    } else {
        pairs.push(("Content-Length", "66824"));
    }
    (headers(&pairs), body)
}

fn decode(
    mode: ChunkedMode,
    verified: Option<&Verified>,
    auth: &Authorization,
    body: &[u8],
    step: usize,
) -> Result<(Vec<u8>, Trailers), Error> {
    let mut decoder = ChunkedDecoder::new(mode, verified, auth);
    let mut out = Vec::new();
    for slice in body.chunks(step.max(1)) {
        decoder.feed(slice, &mut out)?;
    }
    let trailers = decoder.finish()?;
    assert_eq!(decoder.decoded_len(), out.len() as u64);
    Ok((out, trailers))
}

#[test]
fn the_documented_uploads_verify_from_the_headers_on() {
    for trailer in [false, true] {
        let (headers, body) = doc_upload(trailer);
        let auth = parse(&headers, "").unwrap().unwrap();
        let payload = headers.iter().find(|(n, _)| n == "x-amz-content-sha256").unwrap().1.clone();
        let request = SignedRequest {
            method: "PUT",
            path: "/examplebucket/chunkObject.txt",
            query: "",
            headers: &headers,
            payload_hash: &payload,
        };
        let time = "2013-05-24T00:00:00Z".parse().unwrap();
        let verified =
            verify(&request, &auth, SECRET, time, FIFTEEN_MINUTES).unwrap_or_else(|e| panic!("{trailer}: {e:?}"));
        let mode = ChunkedMode::from_content_sha256(&payload).unwrap();
        for step in [body.len(), 4096, 1000, 7] {
            let (out, trailers) = decode(mode, Some(&verified), &auth, &body, step).unwrap();
            assert_eq!(out, vec![b'a'; 66_560]);
            assert_eq!(trailers.get("x-amz-checksum-crc32c"), trailer.then_some("sOO8/Q=="));
        }
    }
}

/// Signs `payload` as an `aws-chunked` body of `chunk`-byte chunks, chained from the request's signature.
pub fn signed_body(
    verified: &Verified,
    auth: &Authorization,
    payload: &[u8],
    chunk: usize,
    trailer: Option<(&str, &str)>,
) -> Vec<u8> {
    let scope = auth.scope();
    let mut previous = verified.seed_signature.clone();
    let mut body = Vec::new();
    let mut chunks: Vec<&[u8]> = payload.chunks(chunk.max(1)).collect();
    chunks.push(b"");
    for data in chunks {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{}",
            auth.timestamp,
            sha256_hex(data)
        );
        previous = hmac_hex(&verified.signing_key, &to_sign);
        body.extend_from_slice(format!("{:x};chunk-signature={previous}\r\n", data.len()).as_bytes());
        body.extend_from_slice(data);
        if !data.is_empty() {
            body.extend_from_slice(b"\r\n");
        }
    }
    if let Some((name, value)) = trailer {
        let canonical = format!("{name}:{value}\n");
        let to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{scope}\n{previous}\n{}",
            auth.timestamp,
            sha256_hex(canonical.as_bytes())
        );
        let signature = hmac_hex(&verified.signing_key, &to_sign);
        body.extend_from_slice(format!("{name}:{value}\r\nx-amz-trailer-signature:{signature}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body
}

/// A verified S3 request of the fixture and its authorization: the seed of the bodies signed here.
pub fn seed() -> (Authorization, Verified) {
    let v = vector("note-s3-put");
    let auth = v.auth();
    let verified = verify(&v.request(), &auth, SECRET, now(), FIFTEEN_MINUTES).unwrap();
    (auth, verified)
}

pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn signed_bodies_decode_in_any_slicing() {
    let (auth, verified) = seed();
    let data = payload(200_000);
    for (mode, trailer) in
        [(ChunkedMode::Signed, None), (ChunkedMode::SignedTrailer, Some(("x-amz-checksum-crc32", "AAAAAA==")))]
    {
        let body = signed_body(&verified, &auth, &data, 65_536, trailer);
        for step in [body.len(), 65_536, 8191, 1] {
            let (out, trailers) = decode(mode, Some(&verified), &auth, &body, step).unwrap();
            assert_eq!(out, data);
            assert_eq!(trailers.values.len(), usize::from(trailer.is_some()));
        }
    }
    let empty = signed_body(&verified, &auth, b"", 10, None);
    assert_eq!(decode(ChunkedMode::Signed, Some(&verified), &auth, &empty, 3).unwrap().0, b"");
}

#[test]
fn tampered_signed_bodies_fail() {
    let (auth, verified) = seed();
    let data = payload(5000);
    let trailer = Some(("x-amz-checksum-crc32", "AAAAAA=="));
    let body = signed_body(&verified, &auth, &data, 1024, trailer);
    let bad_chunk = |body: &[u8]| {
        let result = decode(ChunkedMode::SignedTrailer, Some(&verified), &auth, body, 100);
        assert!(matches!(result, Err(Error::BadChunk(_))), "{result:?}");
    };
    // A data byte.
    let mut copy = body.clone();
    let at = body.windows(2).position(|w| w == b"\r\n").unwrap() + 500;
    copy[at] ^= 1;
    bad_chunk(&copy);
    // A chunk signature digit.
    let mut copy = body.clone();
    let at = body.windows(16).position(|w| w == b"chunk-signature=").unwrap() + 16;
    copy[at] = if copy[at] == b'0' { b'1' } else { b'0' };
    bad_chunk(&copy);
    // The trailer value.
    let text = String::from_utf8_lossy(&body).replace("AAAAAA==", "AAAAAB==");
    bad_chunk(text.as_bytes());
    // Chunks reordered: the chain breaks.
    let other = signed_body(&verified, &auth, &payload(1024), 1024, trailer);
    let mut spliced = other[..other.len() / 2].to_vec();
    spliced.extend_from_slice(&body[body.len() / 2..]);
    bad_chunk(&spliced);
    // Another seed.
    let other_seed = Verified { seed_signature: "0".repeat(64), ..verified.clone() };
    assert!(decode(ChunkedMode::SignedTrailer, Some(&other_seed), &auth, &body, 100).is_err());
    // The trailer signature missing, or the trailer absent in a mode that signs it.
    let no_signature =
        String::from_utf8_lossy(&body).split("x-amz-trailer-signature").next().unwrap().to_string() + "\r\n";
    bad_chunk(no_signature.as_bytes());
    let plain = signed_body(&verified, &auth, &data, 1024, None);
    bad_chunk(&plain);
    // A trailer where none was announced.
    assert!(decode(ChunkedMode::Signed, Some(&verified), &auth, &body, 100).is_err());
}

#[test]
fn truncated_bodies_fail_at_finish() {
    let (auth, verified) = seed();
    let body = signed_body(&verified, &auth, &payload(3000), 1000, Some(("x-amz-checksum-crc32", "AAAAAA==")));
    for cut in [0, 1, 10, 500, 1100, body.len() - 80, body.len() - 3, body.len() - 1] {
        let mut decoder = ChunkedDecoder::new(ChunkedMode::SignedTrailer, Some(&verified), &auth);
        decoder.feed(&body[..cut], &mut Vec::new()).unwrap();
        assert!(matches!(decoder.finish(), Err(Error::BadChunk(_))), "cut at {cut}");
    }
}

/// The body boto3 sent over https in the research note (§5.3).
const BOTO3_BODY: &[u8] = b"8\r\nx,y\n1,2\n\r\n0\r\nx-amz-checksum-crc32:AHLfIw==\r\n\r\n";

#[test]
fn the_unsigned_trailer_boto3_sends_decodes() {
    let auth = vector("note-s3-put").auth();
    for step in [BOTO3_BODY.len(), 5, 1] {
        let (out, trailers) = decode(ChunkedMode::UnsignedTrailer, None, &auth, BOTO3_BODY, step).unwrap();
        assert_eq!(out, b"x,y\n1,2\n");
        assert_eq!(trailers.values, [("x-amz-checksum-crc32".to_string(), "AHLfIw==".to_string())]);
    }
    for cut in 0..BOTO3_BODY.len() {
        let mut decoder = ChunkedDecoder::new(ChunkedMode::UnsignedTrailer, None, &auth);
        decoder.feed(&BOTO3_BODY[..cut], &mut Vec::new()).unwrap();
        assert!(decoder.finish().is_err(), "cut at {cut}");
    }
    // A signature-carrying frame is fine in the unsigned mode; a trailer signature is not.
    let framed = b"3;chunk-signature=abc\r\nabc\r\n0\r\n\r\n";
    assert_eq!(decode(ChunkedMode::UnsignedTrailer, None, &auth, framed, 2).unwrap().0, b"abc");
    let signed_trailer = format!("0\r\nx-amz-trailer-signature:{}\r\n\r\n", "0".repeat(64));
    assert!(decode(ChunkedMode::UnsignedTrailer, None, &auth, signed_trailer.as_bytes(), 2).is_err());
}
