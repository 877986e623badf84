//! Secret key material in memory: fixed arrays that zeroize on drop, with no `Clone`, `Debug`
//! or `Serialize`. Only the KMS makes a `DataKey` (by generating or unwrapping one).

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A plaintext XTS data key: 32 bytes (AES-128-XTS) or 64 bytes (AES-256-XTS), data half first,
/// tweak half second (IEEE 1619 Key1 || Key2).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DataKey {
    bytes: [u8; 64],
    len: u8,
}

impl DataKey {
    /// Copies `material` (32 or 64 bytes) into a zeroizing key.
    ///
    /// # Panics
    /// If `material` is not 32 or 64 bytes long: callers size it from the cipher.
    pub fn from_slice(material: &[u8]) -> Self {
        assert!(
            material.len() == 32 || material.len() == 64,
            "XTS keys are 32 or 64 bytes"
        );
        let mut bytes = [0u8; 64];
        bytes[..material.len()].copy_from_slice(material);
        DataKey {
            bytes,
            len: material.len() as u8,
        }
    }

    /// The key material.
    pub fn expose(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// 256-bit secret material (KMS key material, the KMS root key).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Secret32(pub(crate) [u8; 32]);

impl Secret32 {
    /// The key material.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Fills `buf` from the operating system's random source.
///
/// # Panics
/// If the OS has no random source, which leaves no safe way to make keys.
pub(crate) fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("OS random source unavailable");
}

/// A random u128 for ids.
pub(crate) fn random_u128() -> u128 {
    let mut b = [0u8; 16];
    fill_random(&mut b);
    u128::from_le_bytes(b)
}
