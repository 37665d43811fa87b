//! Integration tests of the SigV4 verifier: requests signed by real botocore (`vectors.json`, made by
//! `gen_vectors.py`), the time rules, `aws-chunked` bodies (the AWS documentation's examples and bodies
//! signed here), and property tests of the decoder and the parser.

mod chunked;
mod props;
mod support;
mod time;
mod vectors;
