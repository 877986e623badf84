//! Mutation-based input generation for the stable-toolchain driver and the regression test:
//! bit flips, byte sets, inserts and deletes, copies within an input, interesting integers
//! (binary and decimal), dictionary tokens and splices of two inputs, stacked a few at a time as
//! libFuzzer's default mutator does. There is no coverage feedback here, so the driver leans on
//! good seeds and dictionaries; libFuzzer (`fuzz/`) adds the feedback on nightly.
//!
//! Deterministic: a seed fixes every choice, so a regression run or a crash reproduces.

/// A small, fast, seedable generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Integers that sit on boundaries: zero, one, sign and width limits, sector and page sizes.
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x1ff,
    0x200,
    0xfff,
    0x1000,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX - 4095,
    u64::MAX,
];

/// Decimal texts that sit on the limits of the integer types parsers read.
const INTERESTING_DECIMAL: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "5",
    "1000",
    "1001",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1e400",
    "0.5",
    "00000000000000000000001",
];

/// Produces mutants of corpus inputs.
#[derive(Debug)]
pub struct Mutator {
    rng: Rng,
    dictionary: Vec<Vec<u8>>,
    max_len: usize,
}

impl Mutator {
    /// A mutator seeded with `seed`, inserting `dictionary` tokens, keeping inputs at most
    /// `max_len` bytes.
    pub fn new(seed: u64, dictionary: Vec<Vec<u8>>, max_len: usize) -> Mutator {
        Mutator {
            rng: Rng::new(seed),
            dictionary,
            max_len,
        }
    }

    /// The generator, for callers choosing which input to mutate.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// A mutant of `base`: one to eight stacked mutations; `other` is a splice partner.
    pub fn mutate(&mut self, base: &[u8], other: &[u8]) -> Vec<u8> {
        let mut data = base.to_vec();
        let count = 1 << self.rng.below(4);
        for _ in 0..count {
            self.mutate_once(&mut data, other);
        }
        data.truncate(self.max_len);
        data
    }

    fn mutate_once(&mut self, data: &mut Vec<u8>, other: &[u8]) {
        let rng = &mut self.rng;
        match rng.below(12) {
            // Flip one bit.
            0 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] ^= 1 << rng.below(8);
            }
            // Set one byte.
            1 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] = rng.next_u64() as u8;
            }
            // Insert a few random bytes (sometimes printable, as most inputs are text).
            2 => {
                let at = rng.below(data.len() + 1);
                let n = 1 + rng.below(4);
                let printable = rng.one_in(2);
                for i in 0..n {
                    let b = rng.next_u64() as u8;
                    data.insert(at + i, if printable { b' ' + b % 95 } else { b });
                }
            }
            // Delete a range.
            3 if !data.is_empty() => {
                let at = rng.below(data.len());
                let n = 1 + rng.below((data.len() - at).min(16));
                data.drain(at..at + n);
            }
            // Copy a range of the input over or into another place of it.
            4 if !data.is_empty() => {
                let from = rng.below(data.len());
                let n = 1 + rng.below((data.len() - from).min(64));
                let chunk = data[from..from + n].to_vec();
                let to = rng.below(data.len() + 1);
                if rng.one_in(2) {
                    data.splice(to..to, chunk);
                } else {
                    let end = (to + n).min(data.len());
                    data.splice(to..end, chunk);
                }
            }
            // Overwrite with an interesting integer, 1, 2, 4 or 8 bytes, either byte order.
            5 if !data.is_empty() => {
                let width = 1 << rng.below(4);
                let v = INTERESTING[rng.below(INTERESTING.len())];
                // The low `width` bytes of the value, little- or big-endian.
                let mut bytes = v.to_le_bytes()[..width].to_vec();
                if rng.one_in(2) {
                    bytes.reverse();
                }
                let at = rng.below(data.len());
                let end = (at + width).min(data.len());
                data.splice(at..end, bytes);
            }
            // Replace a run of ASCII digits (or insert) with an interesting decimal.
            6 => {
                let text = INTERESTING_DECIMAL[rng.below(INTERESTING_DECIMAL.len())].as_bytes();
                let digits: Vec<usize> = (0..data.len())
                    .filter(|&i| data[i].is_ascii_digit())
                    .collect();
                if digits.is_empty() {
                    let at = rng.below(data.len() + 1);
                    data.splice(at..at, text.iter().copied());
                } else {
                    let start = digits[rng.below(digits.len())];
                    let end = (start..data.len())
                        .find(|&i| !data[i].is_ascii_digit())
                        .unwrap_or(data.len());
                    data.splice(start..end, text.iter().copied());
                }
            }
            // Insert or overwrite with a dictionary token.
            7 | 8 if !self.dictionary.is_empty() => {
                let token = self.dictionary[rng.below(self.dictionary.len())].clone();
                let at = rng.below(data.len() + 1);
                if rng.one_in(2) {
                    data.splice(at..at, token);
                } else {
                    let end = (at + token.len()).min(data.len());
                    data.splice(at..end, token);
                }
            }
            // Splice: a prefix of this input and a suffix of the other.
            9 if !other.is_empty() => {
                let cut = rng.below(data.len() + 1);
                let from = rng.below(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            // Truncate.
            10 if !data.is_empty() => {
                let at = rng.below(data.len());
                data.truncate(at);
            }
            // Repeat a byte (long runs find length limits).
            _ => {
                let b = if data.is_empty() {
                    b'A'
                } else {
                    data[rng.below(data.len())]
                };
                let n = 1 + rng.below(256);
                let at = rng.below(data.len() + 1);
                data.splice(at..at, std::iter::repeat_n(b, n));
            }
        }
    }
}

/// Parses a libFuzzer dictionary: one `"token"` (optionally `name="token"`) per line, `#`
/// comments, escapes `\\`, `\"` and `\xNN`.
///
/// # Errors
/// The line number and what is wrong with it.
pub fn parse_dictionary(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |m: &str| format!("line {}: {m}", n + 1);
        let start = line.find('"').ok_or_else(|| bad("no opening quote"))?;
        let body = &line.as_bytes()[start + 1..];
        let Some((&b'"', body)) = body.split_last() else {
            return Err(bad("no closing quote"));
        };
        let mut token = Vec::new();
        let mut i = 0;
        while i < body.len() {
            match body[i] {
                b'\\' => match body.get(i + 1) {
                    Some(&c @ (b'\\' | b'"')) => {
                        token.push(c);
                        i += 2;
                    }
                    Some(b'x') => {
                        let hex = body.get(i + 2..i + 4).ok_or_else(|| bad("short \\x"))?;
                        let hex = std::str::from_utf8(hex).map_err(|_| bad("bad \\x"))?;
                        token.push(u8::from_str_radix(hex, 16).map_err(|_| bad("bad \\x"))?);
                        i += 4;
                    }
                    _ => return Err(bad("unknown escape")),
                },
                c => {
                    token.push(c);
                    i += 1;
                }
            }
        }
        out.push(token);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionaries_parse_with_escapes() {
        let d = parse_dictionary("# c\n\"a=\"\nkw=\"\\x0d\\x0a\\\"\\\\\"\n\n").unwrap();
        assert_eq!(d, vec![b"a=".to_vec(), b"\r\n\"\\".to_vec()]);
        assert!(parse_dictionary("\"open").is_err());
        assert!(parse_dictionary("\"\\q\"").is_err());
    }

    #[test]
    fn mutants_are_deterministic_bounded_and_varied() {
        let run = |seed| {
            let mut m = Mutator::new(seed, vec![b"Name=".to_vec()], 64);
            (0..200)
                .map(|_| m.mutate(b"Name=encrypted,Values=true", b"Ebs={VolumeSize=8}"))
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        assert!(a.iter().all(|x| x.len() <= 64));
        let distinct: std::collections::HashSet<_> = a.iter().collect();
        assert!(distinct.len() > 150, "{} distinct mutants", distinct.len());
    }
}
