//! Finding and parsing the SigV4 authorization of a request: the `Authorization` header or the
//! `X-Amz-*` query parameters of a presigned URL.

use std::fmt;

use crate::encode::{decode_hex32, percent_decode};
use crate::error::{malformed, Error};
use crate::ALGORITHM;

/// The longest lifetime of a presigned URL: seven days.
pub const MAX_PRESIGNED_EXPIRES: u64 = 604_800;

/// Credentials parsed from `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`
/// or from a presigned URL's `X-Amz-*` query parameters.
///
/// `Debug` leaves the security token out.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lowercase, as listed.
    pub signed_headers: Vec<String>,
    /// 64 lowercase hex digits.
    pub signature: String,
    /// `X-Amz-Date` (header or query): `YYYYMMDDTHHMMSSZ`.
    pub timestamp: String,
    /// `Some` for a presigned URL.
    pub presigned: Option<Presigned>,
    /// `X-Amz-Security-Token` (header or query), if any.
    pub security_token: Option<String>,
}

/// What only a presigned URL carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    /// `X-Amz-Expires`, at most [`MAX_PRESIGNED_EXPIRES`].
    pub expires_seconds: u64,
}

impl Authorization {
    /// The credential scope: `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("access_key_id", &self.access_key_id)
            .field("date", &self.date)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .field("timestamp", &self.timestamp)
            .field("presigned", &self.presigned)
            .field("security_token", &self.security_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The non-empty `name=value` pairs of a raw query string, undecoded; a pair without `=` has an empty value.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter(|pair| !pair.is_empty()).map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// The values of a header, any case of its name.
pub(crate) fn header_values<'h>(headers: &'h [(String, String)], name: &'h str) -> impl Iterator<Item = &'h str> {
    headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn single_header<'h>(headers: &'h [(String, String)], name: &'static str) -> Result<Option<&'h str>, Error> {
    let mut values = header_values(headers, name);
    let first = values.next();
    if values.next().is_some() {
        return Err(malformed(format!("more than one {name} header")));
    }
    Ok(first)
}

/// The query parameters that make a presigned URL.
const PRESIGNED_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// Finds and parses the SigV4 authorization of a request: the header, else the presigned query. `Ok(None)`
/// when the request carries no SigV4 at all (the caller then treats it as not an AWS request: a `Bearer`
/// header, no header). Errors say what is malformed; another AWS scheme (SigV2 `AWS …`, SigV4a) is
/// malformed too, as is a request carrying both a SigV4 header and a presigned query.
pub fn parse(headers: &[(String, String)], query: &str) -> Result<Option<Authorization>, Error> {
    let header = single_header(headers, "authorization")?.map(str::trim);
    let sigv4_header = match header {
        Some(value) if scheme(value) == ALGORITHM => Some(value),
        Some(value) if scheme(value).starts_with("AWS4-") || scheme(value) == "AWS" => {
            return Err(malformed(format!("unsupported authorization scheme {}", scheme(value))));
        }
        _ => None,
    };
    let mut params: [Option<String>; 7] = Default::default();
    for (name, value) in query_pairs(query) {
        let name = percent_decode(name);
        if let Some(i) = PRESIGNED_PARAMS.iter().position(|p| p.as_bytes() == name.as_slice()) {
            if params[i].is_some() {
                return Err(malformed(format!("more than one {} parameter", PRESIGNED_PARAMS[i])));
            }
            let value = String::from_utf8(percent_decode(value))
                .map_err(|_| malformed(format!("{} is not UTF-8", PRESIGNED_PARAMS[i])))?;
            params[i] = Some(value);
        }
    }
    let [algorithm, credential, date, expires, signed_headers, signature, token] = params;
    let presigned = algorithm.is_some() || credential.is_some() || signed_headers.is_some() || signature.is_some();
    if let Some(value) = sigv4_header {
        if presigned {
            return Err(malformed("only one auth mechanism allowed: both an Authorization header and X-Amz-* query"));
        }
        return parse_header(value, headers).map(Some);
    }
    if !presigned {
        return Ok(None);
    }
    let require =
        |value: Option<String>, name: &str| value.ok_or_else(|| malformed(format!("missing {name} parameter")));
    let algorithm = require(algorithm, "X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(malformed(format!("unsupported X-Amz-Algorithm {algorithm}")));
    }
    let credential = require(credential, "X-Amz-Credential")?;
    let timestamp = require(date, "X-Amz-Date")?;
    let expires = require(expires, "X-Amz-Expires")?;
    let signed_headers = require(signed_headers, "X-Amz-SignedHeaders")?;
    let signature = require(signature, "X-Amz-Signature")?;
    let expires_seconds = parse_expires(&expires)?;
    let mut auth = build(&credential, &signed_headers, &signature, timestamp)?;
    auth.presigned = Some(Presigned { expires_seconds });
    auth.security_token = token;
    Ok(Some(auth))
}

fn scheme(value: &str) -> &str {
    value.split(|c: char| c.is_ascii_whitespace()).next().unwrap_or("")
}

fn parse_expires(text: &str) -> Result<u64, Error> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(format!("X-Amz-Expires {text:?} is not a number of seconds")));
    }
    let seconds: u64 = text.parse().map_err(|_| malformed("X-Amz-Expires is not a number"))?;
    if seconds > MAX_PRESIGNED_EXPIRES {
        return Err(malformed(format!("X-Amz-Expires must be at most {MAX_PRESIGNED_EXPIRES} seconds (7 days)")));
    }
    Ok(seconds)
}

fn parse_header(value: &str, headers: &[(String, String)]) -> Result<Authorization, Error> {
    let rest = &value[ALGORITHM.len()..];
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let (name, value) =
            part.split_once('=').ok_or_else(|| malformed(format!("authorization component {part:?} has no '='")))?;
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => return Err(malformed(format!("unknown authorization component {other:?}"))),
        };
        if slot.replace(value.trim()).is_some() {
            return Err(malformed(format!("authorization component {} given twice", name.trim())));
        }
    }
    let credential = credential.ok_or_else(|| malformed("authorization header has no Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| malformed("authorization header has no SignedHeaders"))?;
    let signature = signature.ok_or_else(|| malformed("authorization header has no Signature"))?;
    let timestamp =
        single_header(headers, "x-amz-date")?.ok_or_else(|| malformed("missing X-Amz-Date header"))?.trim().to_string();
    let mut auth = build(credential, signed_headers, signature, timestamp)?;
    if !auth.signed_headers.iter().any(|h| h == "x-amz-date") {
        return Err(malformed("x-amz-date must be a signed header"));
    }
    auth.security_token = single_header(headers, "x-amz-security-token")?.map(|t| t.trim().to_string());
    Ok(auth)
}

fn build(credential: &str, signed_headers: &str, signature: &str, timestamp: String) -> Result<Authorization, Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminal] = parts[..] else {
        return Err(malformed(format!(
            "credential {credential:?} is not <access key id>/<date>/<region>/<service>/aws4_request"
        )));
    };
    if access_key_id.is_empty() {
        return Err(malformed("empty access key id in the credential"));
    }
    if date.len() != 8 || chrono::NaiveDate::parse_from_str(date, "%Y%m%d").is_err() {
        return Err(malformed(format!("credential date {date:?} is not YYYYMMDD")));
    }
    if region.is_empty() || service.is_empty() {
        return Err(malformed("empty region or service in the credential"));
    }
    if terminal != "aws4_request" {
        return Err(malformed(format!("credential ends with {terminal:?}, not aws4_request")));
    }
    let headers: Vec<String> = signed_headers.split(';').map(str::to_string).collect();
    if headers.iter().any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii_graphic())) {
        return Err(malformed(format!("signed headers {signed_headers:?} are not lowercase names joined by ';'")));
    }
    if !headers.iter().any(|h| h == "host") {
        return Err(malformed("host must be a signed header"));
    }
    if decode_hex32(signature).is_none() {
        return Err(malformed("the signature is not 64 hex digits"));
    }
    parse_timestamp(&timestamp)?;
    Ok(Authorization {
        access_key_id: access_key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: headers,
        signature: signature.to_ascii_lowercase(),
        timestamp,
        presigned: None,
        security_token: None,
    })
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub(crate) fn parse_timestamp(text: &str) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    if text.len() != 16 || !text.is_ascii() {
        return Err(malformed(format!("X-Amz-Date {text:?} is not YYYYMMDDTHHMMSSZ")));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ")
        .map(|t| t.and_utc())
        .map_err(|_| malformed(format!("X-Amz-Date {text:?} is not YYYYMMDDTHHMMSSZ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    const SIG: &str = "4f41d3c4614e292c5049871b2ea7366ec8abab913e0eae2a6fde58c64d3f0c99";

    fn header_auth(value: &str) -> Result<Option<Authorization>, Error> {
        parse(&headers(&[("Authorization", value), ("X-Amz-Date", "20261206T120000Z")]), "")
    }

    #[test]
    fn parses_the_header() {
        let value = format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261206/us-east-1/sagemaker/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={SIG}"
        );
        let auth = header_auth(&value).unwrap().unwrap();
        assert_eq!(auth.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(auth.date, "20261206");
        assert_eq!(auth.region, "us-east-1");
        assert_eq!(auth.service, "sagemaker");
        assert_eq!(auth.signed_headers, ["content-type", "host", "x-amz-date", "x-amz-target"]);
        assert_eq!(auth.signature, SIG);
        assert_eq!(auth.timestamp, "20261206T120000Z");
        assert_eq!(auth.presigned, None);
        assert_eq!(auth.scope(), "20261206/us-east-1/sagemaker/aws4_request");
    }

    #[test]
    fn no_sigv4_is_none() {
        assert_eq!(parse(&[], "").unwrap(), None);
        assert_eq!(parse(&headers(&[("authorization", "Bearer abc")]), "a=b&c").unwrap(), None);
    }

    #[test]
    fn other_aws_schemes_are_malformed() {
        assert!(matches!(header_auth("AWS AKID:c2ln"), Err(Error::Malformed(_))));
        assert!(matches!(header_auth("AWS4-ECDSA-P256-SHA256 Credential=x"), Err(Error::Malformed(_))));
    }

    #[test]
    fn malformed_headers() {
        let good = format!(
            "Credential=AKID/20261206/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature={SIG}"
        );
        assert!(header_auth(&format!("AWS4-HMAC-SHA256 {good}")).unwrap().is_some());
        for bad in [
            "Credential=AKID/20261206/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date".to_string(),
            good.replace("aws4_request", "aws5_request"),
            good.replace("20261206", "2026120"),
            good.replace("20261206", "20261306"),
            good.replace("AKID/", "AKID/x/"),
            good.replace("host;", ""),
            good.replace(";x-amz-date", ""),
            good.replace("host", "Host"),
            good.replace(&SIG[..2], "zz"),
            good.replace(SIG, &SIG[1..]),
            format!("{good}, Signature={SIG}"),
            format!("{good}, Foo=bar"),
            format!("{good}, junk"),
        ] {
            let result = header_auth(&format!("AWS4-HMAC-SHA256 {bad}"));
            assert!(matches!(result, Err(Error::Malformed(_))), "{bad}: {result:?}");
        }
        let no_date = parse(&headers(&[("authorization", &format!("AWS4-HMAC-SHA256 {good}"))]), "");
        assert!(matches!(no_date, Err(Error::Malformed(_))));
        let bad_date = parse(
            &headers(&[("authorization", &format!("AWS4-HMAC-SHA256 {good}")), ("x-amz-date", "2026-12-06T12:00:00Z")]),
            "",
        );
        assert!(matches!(bad_date, Err(Error::Malformed(_))));
    }

    fn presigned_query(expires: &str) -> String {
        format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261206%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20261206T120000Z&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature={SIG}"
        )
    }

    #[test]
    fn parses_a_presigned_query() {
        let auth = parse(&[], &format!("{}&X-Amz-Security-Token=a%2Bb", presigned_query("3600"))).unwrap().unwrap();
        assert_eq!(auth.access_key_id, "AKID");
        assert_eq!(auth.service, "s3");
        assert_eq!(auth.signed_headers, ["host"]);
        assert_eq!(auth.presigned, Some(Presigned { expires_seconds: 3600 }));
        assert_eq!(auth.security_token.as_deref(), Some("a+b"));
        assert!(!format!("{auth:?}").contains("a+b"));
    }

    #[test]
    fn presigned_limits() {
        assert!(parse(&[], &presigned_query("604800")).is_ok());
        for bad in ["604801", "-1", "", "1e3", "99999999999999999999999"] {
            assert!(matches!(parse(&[], &presigned_query(bad)), Err(Error::Malformed(_))), "{bad}");
        }
        let missing = presigned_query("60").replace("&X-Amz-SignedHeaders=host", "");
        assert!(matches!(parse(&[], &missing), Err(Error::Malformed(_))));
        let twice = format!("{}&X-Amz-Expires=60", presigned_query("60"));
        assert!(matches!(parse(&[], &twice), Err(Error::Malformed(_))));
        let both = parse(&headers(&[("authorization", "AWS4-HMAC-SHA256 Credential=x")]), &presigned_query("60"));
        assert!(matches!(both, Err(Error::Malformed(_))));
    }
}
