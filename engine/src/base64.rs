//! Base64 (RFC 4648 §4, standard alphabet, `=` padding): how the KMS JSON API, the AWS CLI and
//! every AWS protocol but REST payloads carry blobs. One implementation for the engine, the CLI
//! and the API endpoint's codec. Pure; no I/O.
//!
//! Decoding is strict (padding required, no whitespace, no stray bits), because botocore always
//! sends canonical base64 and a lenient decoder would let two spellings mean the same bytes.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Why a string is not base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Base64Error {
    #[error("base64 length {0} is not a multiple of 4")]
    Length(usize),
    #[error("invalid base64 character at offset {0}")]
    Character(usize),
    #[error("non-zero padding bits in the last base64 group")]
    Padding,
}

/// `bytes` as base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes `text` encodes.
///
/// # Errors
///
/// [`Base64Error`] if `text` is not canonical padded base64.
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    decode_into(text, |b| out.push(b))?;
    Ok(out)
}

/// True if `text` is canonical padded base64 (checked without allocating).
pub fn is_valid(text: &str) -> bool {
    decode_into(text, |_| {}).is_ok()
}

fn decode_into(text: &str, mut emit: impl FnMut(u8)) -> Result<(), Base64Error> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err(Base64Error::Length(bytes.len()));
    }
    let groups = bytes.len() / 4;
    for (g, group) in bytes.chunks(4).enumerate() {
        let last = g + 1 == groups;
        let pad = if last {
            group.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return Err(Base64Error::Character(g * 4 + 1));
        }
        let mut n = 0u32;
        for (i, &c) in group.iter().enumerate() {
            let v = if i >= 4 - pad {
                0
            } else {
                sextet(c).ok_or(Base64Error::Character(g * 4 + i))?
            };
            n = n << 6 | u32::from(v);
        }
        let [_, b0, b1, b2] = n.to_be_bytes();
        match pad {
            0 => [b0, b1, b2].into_iter().for_each(&mut emit),
            1 if b2 == 0 => [b0, b1].into_iter().for_each(&mut emit),
            2 if b1 == 0 && b2 == 0 => emit(b0),
            _ => return Err(Base64Error::Padding),
        }
    }
    Ok(())
}

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4648 §10 test vectors.
    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn rfc4648_vectors() {
        for (plain, encoded) in VECTORS {
            assert_eq!(encode(plain.as_bytes()), encoded);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
            assert!(is_valid(encoded));
        }
    }

    #[test]
    fn all_bytes_round_trip() {
        let bytes: Vec<u8> = (0..=255).chain((0..=255).rev()).collect();
        for len in 0..bytes.len() {
            assert_eq!(decode(&encode(&bytes[..len])).unwrap(), &bytes[..len]);
        }
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn refuses_non_canonical_input() {
        assert_eq!(decode("Zg="), Err(Base64Error::Length(3)));
        assert_eq!(decode("Zg"), Err(Base64Error::Length(2)));
        assert_eq!(decode("Z g="), Err(Base64Error::Character(1)));
        assert_eq!(decode("Zh=="), Err(Base64Error::Padding));
        assert_eq!(decode("Zm9=Zm9v"), Err(Base64Error::Character(3)));
        assert_eq!(decode("Z==="), Err(Base64Error::Character(1)));
        assert_eq!(decode("Zm-v"), Err(Base64Error::Character(2)));
        assert!(!is_valid("a"));
    }
}
