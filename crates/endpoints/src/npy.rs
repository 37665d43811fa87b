//! NumPy's `.npy` format (version 1.0 and 2.0 headers), the body of the SageMaker SDK's
//! `NumpySerializer`: numeric arrays in, numeric or unicode arrays out. Never pickles: an
//! `object` array is refused.

use crate::payload::Rows;
use crate::Error;

const MAGIC: &[u8] = b"\x93NUMPY";

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidInput { reason: format!("application/x-npy: {}", reason.into()) }
}

/// A `.npy` array of one or two dimensions as rows of features (a vector is one row).
pub fn parse(body: &[u8]) -> Result<Rows, Error> {
    if body.len() < 10 || !body.starts_with(MAGIC) {
        return Err(invalid("not a .npy array (no \\x93NUMPY magic)"));
    }
    let (header_len, start) = match body[6] {
        1 => (u16::from_le_bytes([body[8], body[9]]) as usize, 10),
        2 | 3 if body.len() >= 12 => (u32::from_le_bytes([body[8], body[9], body[10], body[11]]) as usize, 12),
        version => return Err(invalid(format!("format version {version} is not supported"))),
    };
    let header = body.get(start..start + header_len).ok_or_else(|| invalid("the header is cut short"))?;
    let header = std::str::from_utf8(header).map_err(|_| invalid("the header is not text"))?;
    let descr = field(header, "descr")
        .and_then(|rest| {
            let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            rest[1..].split(quote).next()
        })
        .ok_or_else(|| invalid("the header has no 'descr'"))?;
    if field(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(invalid("Fortran-ordered arrays are not supported; send a C-ordered array"));
    }
    let shape = shape(header)?;
    let data = &body[start + header_len..];
    let (width, decode): (usize, fn(&[u8]) -> f32) = match descr {
        "<f8" => (8, |b| f64::from_le_bytes(b.try_into().unwrap_or_default()) as f32),
        "<f4" => (4, |b| f32::from_le_bytes(b.try_into().unwrap_or_default())),
        "<i8" => (8, |b| i64::from_le_bytes(b.try_into().unwrap_or_default()) as f32),
        "<i4" => (4, |b| i32::from_le_bytes(b.try_into().unwrap_or_default()) as f32),
        "<i2" => (2, |b| i16::from_le_bytes(b.try_into().unwrap_or_default()) as f32),
        "|i1" => (1, |b| b[0] as i8 as f32),
        "|u1" | "|b1" => (1, |b| b[0] as f32),
        other => return Err(invalid(format!("dtype {other} is not supported; send numbers (float or int)"))),
    };
    let (rows, columns) = match shape.as_slice() {
        [n] => (1, *n),
        [r, c] => (*r, *c),
        other => return Err(invalid(format!("shape {other:?}: send a vector or a matrix"))),
    };
    let count = rows.checked_mul(columns).ok_or_else(|| invalid("the shape is too large"))?;
    if data.len() != count.saturating_mul(width) {
        return Err(invalid(format!(
            "shape {shape:?} needs {} bytes of data, the body has {}",
            count * width,
            data.len()
        )));
    }
    if count == 0 {
        return Err(invalid("the array is empty"));
    }
    let values = data.chunks_exact(width).map(decode).collect();
    Ok(Rows { values, rows, width: columns, columns: None })
}

/// The text after `'name':` in a header dictionary, up to the next comma at depth 0.
fn field<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{name}'"))?;
    let rest = header[at + name.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
    Some(rest)
}

fn shape(header: &str) -> Result<Vec<usize>, Error> {
    let rest = field(header, "shape").ok_or_else(|| invalid("the header has no 'shape'"))?;
    let inner = rest.strip_prefix('(').and_then(|r| r.split(')').next()).ok_or_else(|| invalid("bad 'shape'"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<usize>().map_err(|_| invalid(format!("bad dimension {d:?} in 'shape'"))))
        .collect()
}

/// What an answer array holds.
pub enum Array<'a> {
    Ints(&'a [i64]),
    Floats(&'a [f64]),
    Strings(&'a [String]),
}

/// Writes a C-ordered array of `shape` as a version 1.0 `.npy`.
pub fn write(array: Array<'_>, shape: &[usize]) -> Vec<u8> {
    let descr = match &array {
        Array::Ints(_) => "<i8".to_string(),
        Array::Floats(_) => "<f8".to_string(),
        Array::Strings(s) => format!("<U{}", s.iter().map(|s| s.chars().count()).max().unwrap_or(0).max(1)),
    };
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Invariant: magic, version, length and header end on a 64-byte boundary, with '\n'.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(header.len() + 10);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match array {
        Array::Ints(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::Floats(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::Strings(v) => {
            let width = descr[2..].parse::<usize>().unwrap_or(1);
            for s in v {
                let mut n = 0;
                for c in s.chars() {
                    out.extend_from_slice(&(c as u32).to_le_bytes());
                    n += 1;
                }
                out.extend(std::iter::repeat_n(0u8, (width - n) * 4));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_what_numpy_writes() {
        // np.save of np.array([[1.5, 2.0], [3.0, 4.0]]) (float64).
        let mut body = write(Array::Floats(&[1.5, 2.0, 3.0, 4.0]), &[2, 2]);
        assert_eq!((body.len() - 32) % 64, 0, "the header padded to a multiple of 64 bytes, then 32 bytes of data");
        let rows = parse(&body).unwrap();
        assert_eq!((rows.rows, rows.width, rows.values), (2, 2, vec![1.5, 2.0, 3.0, 4.0]));
        assert!(std::str::from_utf8(&body[10..body.len() - 32]).unwrap().ends_with('\n'));
        body.truncate(body.len() - 1);
        assert!(parse(&body).unwrap_err().to_string().contains("needs 32 bytes"));
        let vector = parse(&write(Array::Ints(&[1, 2, 3]), &[3])).unwrap();
        assert_eq!((vector.rows, vector.width), (1, 3));
        let strings = write(Array::Strings(&["yes".into(), "no".into()]), &[2]);
        let data = 2 * 3 * 4;
        assert!(std::str::from_utf8(&strings[10..strings.len() - data]).unwrap().contains("'descr': '<U3'"));
        assert_eq!((strings.len() - data) % 64, 0);
        assert!(parse(&strings).unwrap_err().to_string().contains("dtype <U3"));
        let header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n";
        let mut pickled = b"\x93NUMPY\x01\x00".to_vec();
        pickled.extend_from_slice(&(header.len() as u16).to_le_bytes());
        pickled.extend_from_slice(header.as_bytes());
        pickled.extend_from_slice(b"\x80\x04");
        assert!(parse(&pickled).unwrap_err().to_string().contains("dtype |O is not supported"), "never unpickled");
        assert!(parse(b"PK\x03\x04").unwrap_err().to_string().contains("magic"));
    }
}
