//! Zig-zag LEB128 integers: small magnitudes, positive or negative, take one byte.

/// Appends `v` zig-zag encoded (0, -1, 1, -2, ... become 0, 1, 2, 3, ...) as LEB128.
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends `v` as LEB128: seven bits per byte, high bit set on all but the last.
pub fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads bytes from a slice, failing (`None`) instead of panicking on truncated input.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    /// One LEB128 unsigned integer; `None` when truncated or longer than 64 bits.
    pub fn u64(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// One zig-zag LEB128 signed integer.
    pub fn i64(&mut self) -> Option<i64> {
        let v = self.u64()?;
        Some(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A length (as [`Reader::u64`]) no larger than what is left, so a hostile length
    /// cannot make the caller allocate more than the input holds.
    pub fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n <= self.bytes.len()).then_some(n)
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    /// One byte.
    pub fn byte(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_small_magnitudes_take_one_byte() {
        let values = [0, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 1_700_000_000_000];
        let mut out = Vec::new();
        for v in values {
            put_i64(&mut out, v);
        }
        let mut r = Reader::new(&out);
        for v in values {
            assert_eq!(r.i64(), Some(v));
        }
        assert_eq!(r.u64(), None, "nothing left");
        let mut one = Vec::new();
        put_i64(&mut one, -64);
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn truncated_or_overlong_input_is_an_error_not_a_panic() {
        assert_eq!(Reader::new(&[0x80]).u64(), None);
        assert_eq!(Reader::new(&[0xff; 11]).u64(), None);
        let mut r = Reader::new(&[5, 1, 2]);
        assert_eq!(r.len(), None, "length 5 with two bytes left");
    }
}
