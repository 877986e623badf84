//! Secret key material in memory: fixed arrays that zeroize on drop, with no `Clone`, `Debug`
//! or `Serialize`, each in its own locked page left out of core dumps (`secret_mem`). Only the
//! KMS makes a `DataKey` (by generating or unwrapping one).

use crate::secret_mem::SecretBox;

/// A plaintext XTS data key: 32 bytes (AES-128-XTS) or 64 bytes (AES-256-XTS), data half first,
/// tweak half second (IEEE 1619 Key1 || Key2).
pub struct DataKey {
    /// Zeroed when dropped (the whole page is).
    bytes: SecretBox<[u8; 64]>,
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
        let mut bytes = SecretBox::new([0u8; 64]);
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

/// 256-bit secret material (KMS key material, the KMS root key), zeroed when dropped.
pub struct Secret32(pub(crate) SecretBox<[u8; 32]>);

impl Secret32 {
    /// All-zero material, to be filled in place (so no copy of the key is left elsewhere).
    pub(crate) fn zeroed() -> Self {
        Secret32(SecretBox::new([0; 32]))
    }

    /// The key material.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A secret shown once in an operation's answer (a new access key's secret): zeroized on
/// drop, `Debug` shows no part of it; it serializes as the plain string, because showing it to
/// its owner is the point of the answer.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(zeroize::Zeroizing<String>);

impl SecretString {
    /// Wraps `s`.
    pub fn new(s: String) -> Self {
        SecretString(zeroize::Zeroizing::new(s))
    }

    /// The secret.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(<redacted>)")
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
