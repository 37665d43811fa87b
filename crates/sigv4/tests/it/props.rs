//! Property tests: the decoder does not depend on how its input is sliced; nothing panics on arbitrary input.

use proptest::prelude::*;
use trainyard_sigv4::{parse, ChunkedDecoder, ChunkedMode};

use crate::chunked::{payload, seed, signed_body};

fn unsigned_body(data: &[u8], chunk: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for piece in data.chunks(chunk) {
        body.extend_from_slice(format!("{:X}\r\n", piece.len()).as_bytes());
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
    body
}

/// Feeds `body` cut at `cuts` (positions taken modulo its length).
fn feed_split(decoder: &mut ChunkedDecoder, body: &[u8], cuts: &[usize]) -> Result<Vec<u8>, trainyard_sigv4::Error> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.push(0);
    points.push(body.len());
    points.sort_unstable();
    let mut out = Vec::new();
    for pair in points.windows(2) {
        decoder.feed(&body[pair[0]..pair[1]], &mut out)?;
    }
    Ok(out)
}

proptest! {
    #[test]
    fn any_slicing_decodes_the_same(len in 0usize..3000, chunk in 1usize..700, cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        let (auth, verified) = seed();
        let data = payload(len);
        let cases = [
            (ChunkedMode::UnsignedTrailer, unsigned_body(&data, chunk)),
            (ChunkedMode::Signed, signed_body(&verified, &auth, &data, chunk, None)),
            (ChunkedMode::SignedTrailer, signed_body(&verified, &auth, &data, chunk, Some(("x-amz-checksum-sha256", "abc=")))),
        ];
        for (mode, body) in cases {
            let mut decoder = ChunkedDecoder::new(mode, Some(&verified), &auth);
            let out = feed_split(&mut decoder, &body, &cuts).unwrap();
            let trailers = decoder.finish().unwrap();
            prop_assert_eq!(&out, &data);
            prop_assert_eq!(trailers.values.len(), usize::from(mode != ChunkedMode::Signed));
        }
    }

    #[test]
    fn the_decoder_never_panics(body in prop::collection::vec(any::<u8>(), 0..600), cuts in prop::collection::vec(any::<usize>(), 0..8), framed in "[0-9a-f]{1,3}(;chunk-signature=[0-9a-f]{0,64})?\r\n[a-z\r\n:]{0,40}") {
        let (auth, verified) = seed();
        for mode in [ChunkedMode::Signed, ChunkedMode::SignedTrailer, ChunkedMode::UnsignedTrailer] {
            for input in [&body[..], framed.as_bytes()] {
                let mut decoder = ChunkedDecoder::new(mode, Some(&verified), &auth);
                let _ = feed_split(&mut decoder, input, &cuts);
                let _ = decoder.finish();
            }
        }
    }

    #[test]
    fn parse_never_panics(
        authorization in "(AWS4-HMAC-SHA256 |AWS4-|AWS |Bearer )?[ -~]{0,120}",
        date in "[0-9TZ]{0,17}",
        query in "((X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|Security-Token))?[=&%/a-zA-Z0-9_-]{0,30}){0,8}",
        other in "[ -~]{0,60}",
    ) {
        let headers = vec![("Authorization".to_string(), authorization.clone()), ("X-Amz-Date".to_string(), date)];
        let _ = parse(&headers, &query);
        let _ = parse(&[], &query);
        let _ = parse(&[("authorization".to_string(), other.clone())], &other);
        let structured = format!("AWS4-HMAC-SHA256 Credential={other}, SignedHeaders={authorization}, Signature={other}");
        let _ = parse(&[("authorization".to_string(), structured), ("x-amz-date".to_string(), "20261206T120000Z".to_string())], "");
    }
}
