//! AES-XTS (IEEE 1619) over whole sectors. Pure: bytes in, bytes out; no I/O.
//!
//! The tweak of a sector is its index, little endian. Sector sizes are multiples of 16 bytes
//! (blockseal uses 512 and 4096), so ciphertext stealing never occurs.

use crate::secret::DataKey;
use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Aes256};

/// The XTS variant, chosen by the data key's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum XtsCipher {
    /// AES-128-XTS, 32-byte data key.
    #[serde(rename = "aes-128-xts")]
    Aes128Xts,
    /// AES-256-XTS, 64-byte data key (the default).
    #[serde(rename = "aes-256-xts")]
    Aes256Xts,
}

impl XtsCipher {
    /// Bytes of key material (both halves).
    pub fn key_len(self) -> usize {
        match self {
            XtsCipher::Aes128Xts => 32,
            XtsCipher::Aes256Xts => 64,
        }
    }
}

enum Pair {
    A128(Aes128, Aes128),
    A256(Aes256, Aes256),
}

/// A keyed XTS transform. The AES key schedules zeroize on drop (the `aes` crate's `zeroize`
/// feature).
pub struct Xts {
    pair: Pair,
}

impl std::fmt::Debug for Xts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Xts({:?})", self.cipher())
    }
}

const BLOCK: usize = 16;

impl Xts {
    /// Keys the transform: Key1 (data) is the first half of `key`, Key2 (tweak) the second.
    pub fn new(key: &DataKey) -> Self {
        let k = key.expose();
        let h = k.len() / 2;
        let pair = if k.len() == 32 {
            Pair::A128(
                Aes128::new(&Array::try_from(&k[..h]).expect("16-byte half")),
                Aes128::new(&Array::try_from(&k[h..]).expect("16-byte half")),
            )
        } else {
            Pair::A256(
                Aes256::new(&Array::try_from(&k[..h]).expect("32-byte half")),
                Aes256::new(&Array::try_from(&k[h..]).expect("32-byte half")),
            )
        };
        Xts { pair }
    }

    /// The variant this transform runs.
    pub fn cipher(&self) -> XtsCipher {
        match self.pair {
            Pair::A128(..) => XtsCipher::Aes128Xts,
            Pair::A256(..) => XtsCipher::Aes256Xts,
        }
    }

    /// Encrypts `data` in place: consecutive sectors of `sector_size` bytes, the first being
    /// sector `first_sector`.
    ///
    /// # Panics
    /// If `sector_size` is not a non-zero multiple of 16 or `data` is not whole sectors.
    pub fn encrypt_sectors(&self, first_sector: u64, sector_size: usize, data: &mut [u8]) {
        self.run(first_sector, sector_size, data, true);
    }

    /// Decrypts `data` in place; the inverse of [`Xts::encrypt_sectors`].
    ///
    /// # Panics
    /// As [`Xts::encrypt_sectors`].
    pub fn decrypt_sectors(&self, first_sector: u64, sector_size: usize, data: &mut [u8]) {
        self.run(first_sector, sector_size, data, false);
    }

    fn run(&self, first_sector: u64, sector_size: usize, data: &mut [u8], enc: bool) {
        assert!(sector_size >= BLOCK && sector_size % BLOCK == 0, "bad sector size");
        assert!(data.len() % sector_size == 0, "data is not whole sectors");
        let mut tweaks = vec![0u128; sector_size / BLOCK];
        for (i, sector) in data.chunks_exact_mut(sector_size).enumerate() {
            let index = first_sector + i as u64;
            let mut t = Array::from((index as u128).to_le_bytes());
            match &self.pair {
                Pair::A128(_, k2) => k2.encrypt_block(&mut t),
                Pair::A256(_, k2) => k2.encrypt_block(&mut t),
            }
            let mut t = u128::from_le_bytes(t.0);
            for slot in tweaks.iter_mut() {
                *slot = t;
                t = mul_x(t);
            }
            xor_tweaks(sector, &tweaks);
            let blocks = as_blocks(sector);
            match (&self.pair, enc) {
                (Pair::A128(k1, _), true) => k1.encrypt_blocks(blocks),
                (Pair::A128(k1, _), false) => k1.decrypt_blocks(blocks),
                (Pair::A256(k1, _), true) => k1.encrypt_blocks(blocks),
                (Pair::A256(k1, _), false) => k1.decrypt_blocks(blocks),
            }
            xor_tweaks(sector, &tweaks);
        }
    }
}

/// Multiplication by x in GF(2^128), IEEE 1619 (little-endian) convention.
#[inline(always)]
fn mul_x(t: u128) -> u128 {
    let carry = (t >> 127) as u8;
    (t << 1) ^ (0x87 * carry as u128)
}

#[inline(always)]
fn xor_tweaks(sector: &mut [u8], tweaks: &[u128]) {
    for (b, t) in sector.chunks_exact_mut(BLOCK).zip(tweaks) {
        let v = u128::from_le_bytes(b.try_into().expect("16-byte chunk")) ^ t;
        b.copy_from_slice(&v.to_le_bytes());
    }
}

fn as_blocks(data: &mut [u8]) -> &mut [aes::Block] {
    let (blocks, rest) = aes::Block::slice_as_chunks_mut(data);
    debug_assert!(rest.is_empty());
    blocks
}
