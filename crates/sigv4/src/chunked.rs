//! The `aws-chunked` body decoder.
//!
//! Frames: `<hex size>[;chunk-signature=<64 hex>]\r\n<data>\r\n` …, a final chunk of size 0, then trailer
//! lines `name:value\r\n` (with `x-amz-trailer-signature:<64 hex>` last in the signed-trailer mode) and an
//! empty line. A chunk's signature is the HMAC, with the request's signing key, of
//! `AWS4-HMAC-SHA256-PAYLOAD\n<timestamp>\n<scope>\n<previous signature>\n<sha256("")>\n<sha256(data)>`,
//! the first previous signature being the request's (the seed); the trailer's is the HMAC of
//! `AWS4-HMAC-SHA256-TRAILER\n<timestamp>\n<scope>\n<final chunk's signature>\n<sha256(trailer lines)>`
//! where the trailer lines are `name:value\n` each
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>, `sigv4-streaming-trailers.html`).

use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::auth::Authorization;
use crate::canonical::hmac;
use crate::encode::{decode_hex32, hex};
use crate::error::{bad_chunk, Error};
use crate::verify::Verified;
use crate::EMPTY_SHA256;

/// The longest chunk header or trailer line, CRLF included.
pub const MAX_LINE: usize = 4096;
/// The most trailer lines a body may carry.
const MAX_TRAILERS: usize = 32;

/// The `aws-chunked` variants, named by `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: signed chunks, no trailer.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    SignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain chunks and an unsigned trailer (boto3 over https).
    UnsignedTrailer,
}

impl ChunkedMode {
    /// The mode of an `x-amz-content-sha256` value; `None` for a body that is not `aws-chunked` (and for
    /// the SigV4a `STREAMING-AWS4-ECDSA-P256-SHA256-…` modes, which this crate does not verify).
    pub fn from_content_sha256(value: &str) -> Option<ChunkedMode> {
        match value {
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Some(ChunkedMode::Signed),
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Some(ChunkedMode::SignedTrailer),
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Some(ChunkedMode::UnsignedTrailer),
            _ => None,
        }
    }

    /// Whether chunks carry signatures.
    pub fn is_signed(self) -> bool {
        matches!(self, ChunkedMode::Signed | ChunkedMode::SignedTrailer)
    }
}

/// The trailer of an `aws-chunked` body (`x-amz-checksum-crc32` …), in order, without the trailer signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    pub values: Vec<(String, String)>,
}

impl Trailers {
    /// The value of a trailer, any case of its name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

struct Signer {
    key: [u8; 32],
    timestamp: String,
    scope: String,
    previous: String,
}

impl Signer {
    fn check(&mut self, kind: &str, last_line: &str, signature: &[u8; 32]) -> Result<(), Error> {
        let to_sign = format!("{kind}\n{}\n{}\n{}\n{last_line}", self.timestamp, self.scope, self.previous);
        hmac(&self.key, to_sign.as_bytes())
            .verify_slice(signature)
            .map_err(|_| bad_chunk(format!("the {} signature does not match", kind_name(kind))))?;
        self.previous = hex(signature);
        Ok(())
    }
}

fn kind_name(kind: &str) -> &'static str {
    if kind.ends_with("TRAILER") {
        "trailer"
    } else {
        "chunk"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk header line.
    Header,
    /// Inside a chunk's data.
    Data {
        remaining: u64,
        signature: Option<[u8; 32]>,
    },
    /// After a chunk's data: `seen` bytes of its CRLF read.
    DataEnd {
        seen: u8,
        signature: Option<[u8; 32]>,
    },
    /// After the final chunk: reading trailer lines until the empty one.
    Trailer,
    Done,
    Failed,
}

/// An incremental `aws-chunked` decoder fed arbitrary byte slices (as they arrive from the network). It
/// yields the payload bytes and, for the signed modes, verifies each chunk's signature (and the trailer's).
/// Memory is bounded: it buffers at most one header or trailer line ([`MAX_LINE`]) besides the trailers.
///
/// Data bytes are appended to the output as they arrive, before their chunk's signature (which follows the
/// data) is checked: the output may be used only once [`ChunkedDecoder::finish`] returned `Ok`. After an
/// error the decoder refuses all further input.
pub struct ChunkedDecoder {
    mode: ChunkedMode,
    signer: Option<Signer>,
    state: State,
    line: Vec<u8>,
    chunk_hash: Sha256,
    trailer_hash: Sha256,
    trailer_signed: bool,
    trailers: Trailers,
    decoded: u64,
}

impl ChunkedDecoder {
    /// A decoder for a body of `mode`. The signed modes need the [`Verified`] seed of the request, without
    /// which every feed fails.
    pub fn new(mode: ChunkedMode, verified: Option<&Verified>, auth: &Authorization) -> ChunkedDecoder {
        let signer = verified.map(|v| Signer {
            key: v.signing_key,
            timestamp: auth.timestamp.clone(),
            scope: auth.scope(),
            previous: v.seed_signature.clone(),
        });
        ChunkedDecoder {
            mode,
            signer,
            state: State::Header,
            line: Vec::new(),
            chunk_hash: Sha256::new(),
            trailer_hash: Sha256::new(),
            trailer_signed: false,
            trailers: Trailers::default(),
            decoded: 0,
        }
    }

    /// The number of payload bytes decoded so far (to compare with `X-Amz-Decoded-Content-Length`).
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Feeds bytes; appends decoded payload bytes to `out`. Errors on a bad frame or a bad chunk signature.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.state == State::Failed {
            return Err(bad_chunk("the body already failed to decode"));
        }
        let result = self.feed_inner(input, out);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    /// After the last input: `Ok` with the trailers only if the final 0-length chunk (and the trailer, if
    /// announced, and the closing empty line) was seen.
    pub fn finish(&mut self) -> Result<Trailers, Error> {
        match self.state {
            State::Done => Ok(std::mem::take(&mut self.trailers)),
            State::Failed => Err(bad_chunk("the body already failed to decode")),
            State::Trailer => Err(bad_chunk("the body ended inside the trailer")),
            _ => Err(bad_chunk("the body ended before its final chunk")),
        }
    }

    fn feed_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.mode.is_signed() && self.signer.is_none() {
            return Err(bad_chunk("signed chunks need a verified request"));
        }
        while !input.is_empty() {
            match self.state {
                State::Header | State::Trailer => {
                    let used = match input.iter().position(|&b| b == b'\n') {
                        Some(i) => i + 1,
                        None => input.len(),
                    };
                    if self.line.len() + used > MAX_LINE {
                        return Err(bad_chunk(format!(
                            "a chunk header or trailer line is longer than {MAX_LINE} bytes"
                        )));
                    }
                    self.line.extend_from_slice(&input[..used]);
                    input = &input[used..];
                    if self.line.last() == Some(&b'\n') {
                        let mut line = std::mem::take(&mut self.line);
                        if line.len() < 2 || line[line.len() - 2] != b'\r' {
                            return Err(bad_chunk("a line does not end with CRLF"));
                        }
                        line.truncate(line.len() - 2);
                        if self.state == State::Header {
                            self.header(&line)?;
                        } else {
                            self.trailer(&line)?;
                        }
                        line.clear();
                        self.line = line;
                    }
                }
                State::Data { remaining, signature } => {
                    let n = usize::try_from(remaining).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..n]);
                    self.chunk_hash.update(&input[..n]);
                    self.decoded += n as u64;
                    input = &input[n..];
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::DataEnd { seen: 0, signature }
                    } else {
                        State::Data { remaining, signature }
                    };
                }
                State::DataEnd { seen, signature } => {
                    if input[0] != b"\r\n"[usize::from(seen)] {
                        return Err(bad_chunk("chunk data is not followed by CRLF"));
                    }
                    input = &input[1..];
                    if seen == 0 {
                        self.state = State::DataEnd { seen: 1, signature };
                    } else {
                        let hash = hex(&std::mem::take(&mut self.chunk_hash).finalize());
                        self.check_chunk(signature, &hash)?;
                        self.state = State::Header;
                    }
                }
                State::Done => return Err(bad_chunk("bytes after the end of the body")),
                State::Failed => return Err(bad_chunk("the body already failed to decode")),
            }
        }
        Ok(())
    }

    fn check_chunk(&mut self, signature: Option<[u8; 32]>, data_hash: &str) -> Result<(), Error> {
        match (&mut self.signer, signature) {
            (Some(signer), Some(signature)) if self.mode.is_signed() => {
                signer.check("AWS4-HMAC-SHA256-PAYLOAD", &format!("{EMPTY_SHA256}\n{data_hash}"), &signature)
            }
            _ => Ok(()),
        }
    }

    fn header(&mut self, line: &[u8]) -> Result<(), Error> {
        let (size, extension) = match line.iter().position(|&b| b == b';') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad_chunk("a chunk size is not hex"));
        }
        let size = size.iter().fold(0u64, |n, &b| (n << 4) | u64::from((b as char).to_digit(16).unwrap_or(0)));
        let signature = if self.mode.is_signed() {
            let value = extension
                .and_then(|e| e.strip_prefix(b"chunk-signature="))
                .and_then(|v| std::str::from_utf8(v).ok())
                .ok_or_else(|| bad_chunk("a chunk has no chunk-signature"))?;
            Some(decode_hex32(value).ok_or_else(|| bad_chunk("a chunk signature is not 64 hex digits"))?)
        } else {
            None
        };
        if size > 0 {
            self.state = State::Data { remaining: size, signature };
        } else {
            self.check_chunk(signature, EMPTY_SHA256)?;
            self.state = State::Trailer;
        }
        Ok(())
    }

    fn trailer(&mut self, line: &[u8]) -> Result<(), Error> {
        if line.is_empty() {
            if self.mode == ChunkedMode::SignedTrailer && !self.trailer_signed {
                return Err(bad_chunk("the trailer has no x-amz-trailer-signature"));
            }
            self.state = State::Done;
            return Ok(());
        }
        if self.mode == ChunkedMode::Signed {
            return Err(bad_chunk("a trailer in a body that announced none"));
        }
        if self.trailer_signed {
            return Err(bad_chunk("a trailer after x-amz-trailer-signature"));
        }
        let line = std::str::from_utf8(line).map_err(|_| bad_chunk("a trailer line is not UTF-8"))?;
        let (name, value) = line.split_once(':').ok_or_else(|| bad_chunk("a trailer line has no ':'"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(bad_chunk("a trailer line has no name"));
        }
        if name.eq_ignore_ascii_case("x-amz-trailer-signature") {
            let signature =
                decode_hex32(value).ok_or_else(|| bad_chunk("the trailer signature is not 64 hex digits"))?;
            let Some(signer) = self.signer.as_mut().filter(|_| self.mode == ChunkedMode::SignedTrailer) else {
                return Err(bad_chunk("a trailer signature in an unsigned body"));
            };
            let hash = hex(&std::mem::take(&mut self.trailer_hash).finalize());
            signer.check("AWS4-HMAC-SHA256-TRAILER", &hash, &signature)?;
            self.trailer_signed = true;
            return Ok(());
        }
        if self.trailers.values.len() >= MAX_TRAILERS {
            return Err(bad_chunk("too many trailers"));
        }
        self.trailer_hash.update(format!("{name}:{value}\n").as_bytes());
        self.trailers.values.push((name.to_string(), value.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(timestamp: &str, date: &str) -> Authorization {
        Authorization {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            date: date.into(),
            region: "us-east-1".into(),
            service: "s3".into(),
            signed_headers: vec!["host".into()],
            signature: String::new(),
            timestamp: timestamp.into(),
            presigned: None,
            security_token: None,
        }
    }

    fn decode_all(decoder: &mut ChunkedDecoder, body: &[u8]) -> Result<(Vec<u8>, Trailers), Error> {
        let mut out = Vec::new();
        decoder.feed(body, &mut out)?;
        Ok((out, decoder.finish()?))
    }

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn doc_body(signatures: [&str; 3], trailer: &str) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(format!("10000;chunk-signature={}\r\n", signatures[0]).as_bytes());
        body.extend_from_slice(&[b'a'; 65_536]);
        body.extend_from_slice(format!("\r\n400;chunk-signature={}\r\n", signatures[1]).as_bytes());
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(format!("\r\n0;chunk-signature={}\r\n{trailer}\r\n", signatures[2]).as_bytes());
        body
    }

    /// The example of "Transferring Payload in Multiple Chunks" in the S3 API reference: 64 KiB + 1 KiB of `a`,
    /// seed signature 4f232c43…, at 20130524T000000Z.
    #[test]
    fn aws_documented_signed_chunks() {
        let auth = auth("20130524T000000Z", "20130524");
        let verified = Verified {
            signing_key: crate::signing_key(SECRET, "20130524", "us-east-1", "s3"),
            seed_signature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        };
        let body = doc_body(
            [
                "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            ],
            "",
        );
        assert_eq!(body.len(), 66_824, "the documented Content-Length");
        let mut decoder = ChunkedDecoder::new(ChunkedMode::Signed, Some(&verified), &auth);
        let (out, trailers) = decode_all(&mut decoder, &body).unwrap();
        assert_eq!(out, vec![b'a'; 66_560]);
        assert_eq!(decoder.decoded_len(), 66_560);
        assert!(trailers.values.is_empty());
    }

    /// The example of "Signature calculations for trailing headers": the same payload, seed 106e2a8a…, and a
    /// `x-amz-checksum-crc32c:sOO8/Q==` trailer.
    #[test]
    fn aws_documented_signed_trailer() {
        let auth = auth("20130524T000000Z", "20130524");
        let verified = Verified {
            signing_key: crate::signing_key(SECRET, "20130524", "us-east-1", "s3"),
            seed_signature: "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e".into(),
        };
        let body = doc_body(
            [
                "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
                "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
                "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
            ],
            "x-amz-checksum-crc32c:sOO8/Q==\r\n\
             x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n",
        );
        let mut decoder = ChunkedDecoder::new(ChunkedMode::SignedTrailer, Some(&verified), &auth);
        let (out, trailers) = decode_all(&mut decoder, &body).unwrap();
        assert_eq!(out.len(), 66_560);
        assert_eq!(trailers.get("X-Amz-Checksum-Crc32c"), Some("sOO8/Q=="));
    }

    #[test]
    fn modes_from_content_sha256() {
        assert_eq!(ChunkedMode::from_content_sha256("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), Some(ChunkedMode::Signed));
        assert_eq!(
            ChunkedMode::from_content_sha256("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
            Some(ChunkedMode::SignedTrailer)
        );
        assert_eq!(
            ChunkedMode::from_content_sha256("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            Some(ChunkedMode::UnsignedTrailer)
        );
        assert_eq!(ChunkedMode::from_content_sha256("UNSIGNED-PAYLOAD"), None);
        assert_eq!(ChunkedMode::from_content_sha256("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"), None);
    }

    #[test]
    fn signed_mode_needs_a_seed() {
        let mut decoder = ChunkedDecoder::new(ChunkedMode::Signed, None, &auth("20130524T000000Z", "20130524"));
        assert!(matches!(decoder.feed(b"0;", &mut Vec::new()), Err(Error::BadChunk(_))));
    }

    #[test]
    fn bad_frames() {
        let auth = auth("20130524T000000Z", "20130524");
        for body in [
            &b"g\r\nx\r\n0\r\n\r\n"[..],
            b"1\nx\r\n0\r\n\r\n",
            b"1\r\nxy\r\n0\r\n\r\n",
            b"1\r\nx\r\n0\r\nno-colon\r\n\r\n",
            b"1\r\nx\r\n0\r\n\r\nextra",
            b"11111111111111111\r\n",
        ] {
            let mut decoder = ChunkedDecoder::new(ChunkedMode::UnsignedTrailer, None, &auth);
            assert!(matches!(decode_all(&mut decoder, body), Err(Error::BadChunk(_))), "{body:?}");
            assert!(decoder.feed(b"", &mut Vec::new()).is_err(), "a failed decoder stays failed");
        }
        let mut long = vec![b'0'; MAX_LINE];
        long.extend_from_slice(b"\r\n");
        let mut decoder = ChunkedDecoder::new(ChunkedMode::UnsignedTrailer, None, &auth);
        assert!(matches!(decoder.feed(&long, &mut Vec::new()), Err(Error::BadChunk(_))));
    }
}
