//! A minimal protobuf encoder: just enough wire format (varints, length-delimited
//! fields, packed repeated scalars) to write ONNX models.

/// Wire types.
const VARINT: u32 = 0;
const LEN: u32 = 2;

/// An encoded protobuf message under construction.
#[derive(Clone, Debug, Default)]
pub(crate) struct Message {
    buf: Vec<u8>,
}

/// Appends `v` as a base-128 varint.
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl Message {
    pub fn new() -> Self {
        Message::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn tag(&mut self, field: u32, wire: u32) {
        put_varint(&mut self.buf, ((field << 3) | wire) as u64);
    }

    /// An `int64`/`int32`/enum field (negative values take ten bytes, as protobuf specifies).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.tag(field, VARINT);
        put_varint(&mut self.buf, v as u64);
        self
    }

    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.tag(field, LEN);
        put_varint(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    pub fn string(&mut self, field: u32, v: &str) -> &mut Self {
        self.bytes(field, v.as_bytes())
    }

    pub fn message(&mut self, field: u32, m: &Message) -> &mut Self {
        self.bytes(field, &m.buf)
    }

    /// A packed repeated `float` field.
    pub fn packed_floats(&mut self, field: u32, v: &[f32]) -> &mut Self {
        let mut body = Vec::with_capacity(v.len() * 4);
        v.iter().for_each(|f| body.extend_from_slice(&f.to_le_bytes()));
        self.bytes(field, &body)
    }

    /// A packed repeated `int64` field.
    pub fn packed_ints(&mut self, field: u32, v: &[i64]) -> &mut Self {
        let mut body = Vec::with_capacity(v.len() * 2);
        v.iter().for_each(|&i| put_varint(&mut body, i as u64));
        self.bytes(field, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let enc = |v: u64| {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            b
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(1), [1]);
        assert_eq!(enc(300), [0xAC, 0x02]);
        assert_eq!(enc(u64::MAX).len(), 10);
    }

    #[test]
    fn fields() {
        // The protobuf documentation's example: field 1 = 150 encodes as 08 96 01.
        assert_eq!(Message::new().int(1, 150).clone().into_bytes(), [0x08, 0x96, 0x01]);
        // Field 2, string "testing": 12 07 74 65 73 74 69 6e 67.
        let s = Message::new().string(2, "testing").clone().into_bytes();
        assert_eq!(s, [0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g']);
        assert_eq!(Message::new().packed_floats(7, &[1.0]).clone().into_bytes(), [0x3A, 4, 0, 0, 0x80, 0x3f]);
        assert_eq!(Message::new().packed_ints(8, &[3, 270]).clone().into_bytes(), [0x42, 3, 3, 0x8E, 0x02]);
        assert_eq!(Message::new().int(3, -1).clone().into_bytes().len(), 11);
        let mut outer = Message::new();
        outer.message(7, Message::new().int(1, 150));
        assert_eq!(outer.into_bytes(), [0x3A, 3, 0x08, 0x96, 0x01]);
    }
}
