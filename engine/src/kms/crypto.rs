//! The KMS's pure cryptography: AES-256-GCM sealing of KMS key material (under the root key), of
//! EBS data keys and of KMS API ciphertexts (under a KMS key's material), the associated data that
//! binds each sealed value to its owner, and the byte layout of each blob.
//!
//! Values in, values out: no files, catalog, clock or randomness (callers pass the nonce in), so
//! every property here is tested deterministically.
//!
//! Blob layouts (all integers big endian), and what each blob's associated data binds:
//!
//! - key material: `0x03`, nonce (12), ciphertext (32), tag (16); binds the key ARN;
//! - EBS data key: `0x02`, nonce (12), ciphertext (32 or 64), tag (16); binds the key ARN, the
//!   `aws:ebs:id` value, the dek id and the cipher;
//! - KMS API ciphertext: `0x01`, ARN length (u16), key ARN, nonce (12), ciphertext, tag (16);
//!   binds the key ARN and the encryption context;
//! - versioned EBS data key: `0x06`, material version (u32), nonce (12), ciphertext (32 or 64),
//!   tag (16); binds what `0x02` binds and the material version;
//! - versioned KMS API ciphertext: `0x05`, ARN length (u16), key ARN, material version (u32),
//!   nonce (12), ciphertext, tag (16); binds the key ARN, the material version and the context.
//!
//! A KMS key has one material per version: version 0 is the material it was created with, each
//! rotation adds the next. New blobs are always the versioned kinds and name the version they were
//! sealed under, so a rotation never strands a ciphertext; the unversioned kinds `0x01` and
//! `0x02` (written before rotation existed) open under version 0. Material of version 0 binds
//! the key ARN alone, as it always did; later versions bind the ARN and the version.
//!
//! The leading byte is the blob's kind and format version; it is also the first byte of the
//! associated data, and each kind has its own domain string, so a blob of one kind never opens as
//! another. In particular the KMS `Decrypt` operation refuses EBS data-key blobs, which is what
//! keeps every volume's data key inside the engine.

use crate::secret::{DataKey, Secret32};
use crate::xts::XtsCipher;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use aes_gcm::Aes256Gcm;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// A KMS encryption context: string pairs, compared exactly, order-insensitive.
pub(crate) type Context = BTreeMap<String, String>;

/// Kind and format version of a KMS API ciphertext (`Encrypt`, `GenerateDataKey*`).
pub(super) const USER_BLOB: u8 = 0x01;
/// Kind and format version of a wrapped EBS data key.
pub(super) const EBS_BLOB: u8 = 0x02;
/// Kind and format version of KMS key material sealed under the root key.
pub(super) const MATERIAL_BLOB: u8 = 0x03;
/// Kind and format version of an API secret access key sealed under the root key.
pub(super) const CREDENTIAL_BLOB: u8 = 0x04;
/// Kind and format version of a KMS API ciphertext that names its material version.
pub(super) const USER_BLOB_V2: u8 = 0x05;
/// Kind and format version of a wrapped EBS data key that names its material version.
pub(super) const EBS_BLOB_V2: u8 = 0x06;

pub(super) const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a blob did not open. The shell maps all of these to `InvalidCiphertextException` (or, for
/// key material, to an internal error naming the root key).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum OpenError {
    #[error("the ciphertext is truncated")]
    Truncated,
    #[error("the ciphertext has kind {found:#04x}, expected {expected:#04x}")]
    Kind { found: u8, expected: u8 },
    #[error("the ciphertext is a wrapped EBS data key, which no KMS operation decrypts")]
    EbsDataKey,
    #[error("the ciphertext names a key ARN that is not UTF-8")]
    KeyArn,
    #[error("the ciphertext does not authenticate under this key and encryption context")]
    Auth,
    #[error("the plaintext has {found} bytes, expected {expected}")]
    Length { found: usize, expected: usize },
}

/// Associated data: the kind byte, a domain string, then each field with a u32 length prefix, so
/// no two field lists encode alike.
fn associated_data(kind: u8, domain: &str, fields: &[&[u8]]) -> Vec<u8> {
    let mut ad = vec![kind];
    for f in std::iter::once(domain.as_bytes()).chain(fields.iter().copied()) {
        ad.extend_from_slice(&(f.len() as u32).to_be_bytes());
        ad.extend_from_slice(f);
    }
    ad
}

fn cipher_name(c: XtsCipher) -> &'static str {
    match c {
        XtsCipher::Aes128Xts => "aes-128-xts",
        XtsCipher::Aes256Xts => "aes-256-xts",
    }
}

fn gcm(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new_from_slice(key).expect("AES-256-GCM takes a 32-byte key, which [u8; 32] is")
}

/// `header`, then nonce, ciphertext and tag of `plaintext`.
fn seal(key: &[u8; 32], nonce: &[u8; NONCE_LEN], ad: &[u8], header: &[u8], pt: &[u8]) -> Vec<u8> {
    // Reserve everything up front: the plaintext is encrypted in place and must never be left
    // behind in a buffer that a reallocation abandoned.
    let mut out = Vec::with_capacity(header.len() + NONCE_LEN + pt.len() + TAG_LEN);
    out.extend_from_slice(header);
    out.extend_from_slice(nonce);
    let start = out.len();
    out.extend_from_slice(pt);
    let tag = gcm(key)
        .encrypt_inout_detached(
            &Nonce::<Aes256Gcm>::from(*nonce),
            ad,
            (&mut out[start..]).into(),
        )
        .expect("KMS plaintexts and associated data are far below AES-GCM's limits");
    out.extend_from_slice(&tag);
    out
}

/// Opens `sealed` (nonce, ciphertext, tag).
fn open(key: &[u8; 32], ad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(OpenError::Truncated);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| OpenError::Truncated)?;
    let tag = Tag::<Aes256Gcm>::try_from(tag).map_err(|_| OpenError::Truncated)?;
    let mut buf = Zeroizing::new(ct.to_vec());
    gcm(key)
        .decrypt_inout_detached(&nonce, ad, buf.as_mut_slice().into(), &tag)
        .map_err(|_| OpenError::Auth)?;
    Ok(buf)
}

fn strip_kind(blob: &[u8], expected: u8) -> Result<&[u8], OpenError> {
    match blob.split_first() {
        None => Err(OpenError::Truncated),
        Some((&found, rest)) if found == expected => Ok(rest),
        Some((&found, _)) => Err(OpenError::Kind { found, expected }),
    }
}

fn material_ad(key_arn: &str) -> Vec<u8> {
    associated_data(
        MATERIAL_BLOB,
        "blockseal kms key material",
        &[key_arn.as_bytes()],
    )
}

/// Material of `version` binds the version too; version 0 keeps the original binding.
fn material_version_ad(key_arn: &str, version: u32) -> Vec<u8> {
    if version == 0 {
        return material_ad(key_arn);
    }
    associated_data(
        MATERIAL_BLOB,
        "blockseal kms key material",
        &[key_arn.as_bytes(), &version.to_be_bytes()],
    )
}

/// Seals material `version` of the key `key_arn` under the root key.
pub(super) fn seal_material_version(
    root: &Secret32,
    nonce: &[u8; NONCE_LEN],
    key_arn: &str,
    version: u32,
    material: &Secret32,
) -> Vec<u8> {
    let ad = material_version_ad(key_arn, version);
    seal(
        root.expose(),
        nonce,
        &ad,
        &[MATERIAL_BLOB],
        material.expose(),
    )
}

/// Opens material `version` of the key `key_arn`.
pub(super) fn open_material_version(
    root: &Secret32,
    key_arn: &str,
    version: u32,
    blob: &[u8],
) -> Result<Secret32, OpenError> {
    let sealed = strip_kind(blob, MATERIAL_BLOB)?;
    let pt = open(
        root.expose(),
        &material_version_ad(key_arn, version),
        sealed,
    )?;
    let mut out = Secret32::zeroed();
    if pt.len() != out.0.len() {
        return Err(OpenError::Length {
            found: pt.len(),
            expected: out.0.len(),
        });
    }
    out.0.copy_from_slice(&pt);
    Ok(out)
}

/// Seals a KMS key's material under the root key, bound to the key's ARN.
pub(super) fn seal_material(
    root: &Secret32,
    nonce: &[u8; NONCE_LEN],
    key_arn: &str,
    material: &Secret32,
) -> Vec<u8> {
    let ad = material_ad(key_arn);
    seal(
        root.expose(),
        nonce,
        &ad,
        &[MATERIAL_BLOB],
        material.expose(),
    )
}

/// Opens the material of the key `key_arn`.
pub(super) fn open_material(
    root: &Secret32,
    key_arn: &str,
    blob: &[u8],
) -> Result<Secret32, OpenError> {
    let sealed = strip_kind(blob, MATERIAL_BLOB)?;
    let pt = open(root.expose(), &material_ad(key_arn), sealed)?;
    let mut out = Secret32::zeroed();
    if pt.len() != out.0.len() {
        return Err(OpenError::Length {
            found: pt.len(),
            expected: out.0.len(),
        });
    }
    out.0.copy_from_slice(&pt);
    Ok(out)
}

fn credential_ad(access_key_id: &str) -> Vec<u8> {
    associated_data(
        CREDENTIAL_BLOB,
        "blockseal api secret access key",
        &[access_key_id.as_bytes()],
    )
}

/// Seals an API secret access key under the root key, bound to its access key id.
pub(super) fn seal_credential(
    root: &Secret32,
    nonce: &[u8; NONCE_LEN],
    access_key_id: &str,
    secret: &[u8],
) -> Vec<u8> {
    let ad = credential_ad(access_key_id);
    seal(root.expose(), nonce, &ad, &[CREDENTIAL_BLOB], secret)
}

/// Opens the secret of access key `access_key_id`.
pub(super) fn open_credential(
    root: &Secret32,
    access_key_id: &str,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let sealed = strip_kind(blob, CREDENTIAL_BLOB)?;
    open(root.expose(), &credential_ad(access_key_id), sealed)
}

/// Where an EBS data key belongs: its KMS key, the resource its encryption context names, its
/// lineage id and its cipher. All four are bound into the associated data.
pub(super) struct DataKeyBinding<'a> {
    pub key_arn: &'a str,
    pub context_id: &'a str,
    pub dek_id: &'a str,
    pub cipher: XtsCipher,
}

impl DataKeyBinding<'_> {
    fn ad(&self) -> Vec<u8> {
        associated_data(
            EBS_BLOB,
            "blockseal ebs data key",
            &[
                self.key_arn.as_bytes(),
                self.context_id.as_bytes(),
                self.dek_id.as_bytes(),
                cipher_name(self.cipher).as_bytes(),
            ],
        )
    }
}

/// Wraps an EBS data key under a KMS key's material.
///
/// # Panics
/// If `key`'s length does not match `binding.cipher`: callers size it from the cipher.
pub(super) fn seal_data_key(
    material: &Secret32,
    nonce: &[u8; NONCE_LEN],
    binding: &DataKeyBinding<'_>,
    key: &DataKey,
) -> Vec<u8> {
    assert_eq!(
        key.expose().len(),
        binding.cipher.key_len(),
        "data key length matches cipher"
    );
    seal(
        material.expose(),
        nonce,
        &binding.ad(),
        &[EBS_BLOB],
        key.expose(),
    )
}

/// Unwraps an EBS data key; fails unless every part of `binding` is what it was sealed with.
pub(super) fn open_data_key(
    material: &Secret32,
    binding: &DataKeyBinding<'_>,
    blob: &[u8],
) -> Result<DataKey, OpenError> {
    let sealed = strip_kind(blob, EBS_BLOB)?;
    let pt = open(material.expose(), &binding.ad(), sealed)?;
    let expected = binding.cipher.key_len();
    if pt.len() != expected {
        return Err(OpenError::Length {
            found: pt.len(),
            expected,
        });
    }
    Ok(DataKey::from_slice(&pt))
}

fn user_ad(key_arn: &str, context: &Context) -> Vec<u8> {
    let mut fields: Vec<&[u8]> = vec![key_arn.as_bytes()];
    for (k, v) in context {
        fields.push(k.as_bytes());
        fields.push(v.as_bytes());
    }
    associated_data(USER_BLOB, "blockseal kms ciphertext", &fields)
}

/// A KMS API ciphertext of `plaintext` under the key `key_arn`, bound to `context`. The blob
/// names its key, as AWS ciphertext blobs do, so `Decrypt` needs no `KeyId`.
///
/// # Panics
/// If the ARN is longer than 65535 bytes (ARNs are a few dozen).
pub(super) fn seal_user(
    material: &Secret32,
    nonce: &[u8; NONCE_LEN],
    key_arn: &str,
    context: &Context,
    plaintext: &[u8],
) -> Vec<u8> {
    let len = u16::try_from(key_arn.len()).expect("key ARNs are short");
    let mut header = vec![USER_BLOB];
    header.extend_from_slice(&len.to_be_bytes());
    header.extend_from_slice(key_arn.as_bytes());
    seal(
        material.expose(),
        nonce,
        &user_ad(key_arn, context),
        &header,
        plaintext,
    )
}

/// The key ARN a KMS API ciphertext names. Refuses wrapped EBS data keys.
pub(super) fn user_blob_key_arn(blob: &[u8]) -> Result<&str, OpenError> {
    if matches!(blob.first(), Some(&EBS_BLOB) | Some(&EBS_BLOB_V2)) {
        return Err(OpenError::EbsDataKey);
    }
    let rest = strip_kind(blob, USER_BLOB)?;
    if rest.len() < 2 {
        return Err(OpenError::Truncated);
    }
    let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    let arn = rest.get(2..2 + len).ok_or(OpenError::Truncated)?;
    std::str::from_utf8(arn).map_err(|_| OpenError::KeyArn)
}

/// Opens a KMS API ciphertext under the key it names (`key_arn`, as read by
/// [`user_blob_key_arn`]) and `context`.
pub(super) fn open_user(
    material: &Secret32,
    key_arn: &str,
    context: &Context,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    if user_blob_key_arn(blob)? != key_arn {
        return Err(OpenError::Auth);
    }
    let sealed = &blob[1 + 2 + key_arn.len()..];
    open(material.expose(), &user_ad(key_arn, context), sealed)
}

impl DataKeyBinding<'_> {
    fn ad_v2(&self, version: u32) -> Vec<u8> {
        associated_data(
            EBS_BLOB_V2,
            "blockseal ebs data key",
            &[
                self.key_arn.as_bytes(),
                self.context_id.as_bytes(),
                self.dek_id.as_bytes(),
                cipher_name(self.cipher).as_bytes(),
                &version.to_be_bytes(),
            ],
        )
    }
}

/// The material version a wrapped EBS data key was sealed under: 0 for the unversioned kind.
pub(super) fn data_key_version(blob: &[u8]) -> Result<u32, OpenError> {
    match blob.first() {
        None => Err(OpenError::Truncated),
        Some(&EBS_BLOB) => Ok(0),
        Some(&EBS_BLOB_V2) => read_version(&blob[1..]),
        Some(&found) => Err(OpenError::Kind {
            found,
            expected: EBS_BLOB_V2,
        }),
    }
}

fn read_version(bytes: &[u8]) -> Result<u32, OpenError> {
    let v: [u8; 4] = bytes
        .get(..4)
        .ok_or(OpenError::Truncated)?
        .try_into()
        .map_err(|_| OpenError::Truncated)?;
    Ok(u32::from_be_bytes(v))
}

/// Wraps an EBS data key under material `version` of a KMS key (the versioned kind).
///
/// # Panics
/// If `key`'s length does not match `binding.cipher`: callers size it from the cipher.
pub(super) fn seal_data_key_v2(
    material: &Secret32,
    nonce: &[u8; NONCE_LEN],
    binding: &DataKeyBinding<'_>,
    version: u32,
    key: &DataKey,
) -> Vec<u8> {
    assert_eq!(
        key.expose().len(),
        binding.cipher.key_len(),
        "data key length matches cipher"
    );
    let mut header = vec![EBS_BLOB_V2];
    header.extend_from_slice(&version.to_be_bytes());
    seal(
        material.expose(),
        nonce,
        &binding.ad_v2(version),
        &header,
        key.expose(),
    )
}

/// Unwraps an EBS data key of either kind; `material` must be that of the version
/// [`data_key_version`] reads from the blob.
pub(super) fn open_any_data_key(
    material: &Secret32,
    binding: &DataKeyBinding<'_>,
    blob: &[u8],
) -> Result<DataKey, OpenError> {
    let version = data_key_version(blob)?;
    if blob[0] == EBS_BLOB {
        return open_data_key(material, binding, blob);
    }
    let pt = open(material.expose(), &binding.ad_v2(version), &blob[5..])?;
    let expected = binding.cipher.key_len();
    if pt.len() != expected {
        return Err(OpenError::Length {
            found: pt.len(),
            expected,
        });
    }
    Ok(DataKey::from_slice(&pt))
}

fn user_ad_v2(key_arn: &str, version: u32, context: &Context) -> Vec<u8> {
    let version = version.to_be_bytes();
    let mut fields: Vec<&[u8]> = vec![key_arn.as_bytes(), &version];
    for (k, v) in context {
        fields.push(k.as_bytes());
        fields.push(v.as_bytes());
    }
    associated_data(USER_BLOB_V2, "blockseal kms ciphertext", &fields)
}

/// A KMS API ciphertext of `plaintext` under material `version` of the key `key_arn`, bound to
/// `context` (the versioned kind).
///
/// # Panics
/// If the ARN is longer than 65535 bytes (ARNs are a few dozen).
pub(super) fn seal_user_v2(
    material: &Secret32,
    nonce: &[u8; NONCE_LEN],
    key_arn: &str,
    version: u32,
    context: &Context,
    plaintext: &[u8],
) -> Vec<u8> {
    let len = u16::try_from(key_arn.len()).expect("key ARNs are short");
    let mut header = vec![USER_BLOB_V2];
    header.extend_from_slice(&len.to_be_bytes());
    header.extend_from_slice(key_arn.as_bytes());
    header.extend_from_slice(&version.to_be_bytes());
    seal(
        material.expose(),
        nonce,
        &user_ad_v2(key_arn, version, context),
        &header,
        plaintext,
    )
}

/// The key ARN and material version a KMS API ciphertext of either kind names (version 0 for
/// the unversioned kind). Refuses wrapped EBS data keys.
pub(super) fn user_blob_header(blob: &[u8]) -> Result<(&str, u32), OpenError> {
    match blob.first() {
        Some(&EBS_BLOB) | Some(&EBS_BLOB_V2) => Err(OpenError::EbsDataKey),
        Some(&USER_BLOB_V2) => {
            let rest = &blob[1..];
            if rest.len() < 2 {
                return Err(OpenError::Truncated);
            }
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let arn = rest.get(2..2 + len).ok_or(OpenError::Truncated)?;
            let arn = std::str::from_utf8(arn).map_err(|_| OpenError::KeyArn)?;
            Ok((arn, read_version(&rest[2 + len..])?))
        }
        _ => Ok((user_blob_key_arn(blob)?, 0)),
    }
}

/// Opens a KMS API ciphertext of either kind under the key it names (`key_arn`) and
/// `context`; `material` must be that of the version [`user_blob_header`] reads.
pub(super) fn open_any_user(
    material: &Secret32,
    key_arn: &str,
    context: &Context,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let (arn, version) = user_blob_header(blob)?;
    if arn != key_arn {
        return Err(OpenError::Auth);
    }
    if blob[0] == USER_BLOB {
        return open_user(material, key_arn, context, blob);
    }
    let sealed = &blob[1 + 2 + key_arn.len() + 4..];
    open(
        material.expose(),
        &user_ad_v2(key_arn, version, context),
        sealed,
    )
}

/// The `KeyMaterialId` AWS shows for material `version` of the key `key_arn`: 64 hex digits,
/// SHA-256 of a domain string, the ARN and the version. Derived, not stored; reveals nothing of
/// the material.
pub(super) fn key_material_id(key_arn: &str, version: u32) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"blockseal kms key material id\0");
    h.update(key_arn.as_bytes());
    h.update(version.to_be_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const ARN2: &str =
        "arn:aws:kms:us-east-1:111122223333:key/00000000-12ab-34cd-56ef-1234567890ab";

    fn s32(b: u8) -> Secret32 {
        Secret32(crate::secret_mem::SecretBox::new([b; 32]))
    }

    fn binding(ctx: &str) -> DataKeyBinding<'_> {
        DataKeyBinding {
            key_arn: ARN,
            context_id: ctx,
            dek_id: "d1",
            cipher: XtsCipher::Aes256Xts,
        }
    }

    #[test]
    fn material_round_trips_and_is_bound_to_its_arn() {
        let blob = seal_material(&s32(1), &[7; 12], ARN, &s32(9));
        assert_eq!(blob.len(), 1 + 12 + 32 + 16);
        assert_eq!(
            open_material(&s32(1), ARN, &blob).unwrap().expose(),
            &[9; 32]
        );
        assert_eq!(
            open_material(&s32(1), ARN2, &blob).err(),
            Some(OpenError::Auth)
        );
        assert_eq!(
            open_material(&s32(2), ARN, &blob).err(),
            Some(OpenError::Auth)
        );
    }

    #[test]
    fn data_key_binds_key_context_dek_and_cipher() {
        let dk = DataKey::from_slice(&[5; 64]);
        let blob = seal_data_key(&s32(1), &[0; 12], &binding("vol-1"), &dk);
        assert_eq!(blob[0], EBS_BLOB);
        let back = open_data_key(&s32(1), &binding("vol-1"), &blob).unwrap();
        assert_eq!(back.expose(), dk.expose());

        let auth = Some(OpenError::Auth);
        assert_eq!(open_data_key(&s32(1), &binding("vol-2"), &blob).err(), auth);
        assert_eq!(open_data_key(&s32(2), &binding("vol-1"), &blob).err(), auth);
        let other_key = DataKeyBinding {
            key_arn: ARN2,
            ..binding("vol-1")
        };
        assert_eq!(open_data_key(&s32(1), &other_key, &blob).err(), auth);
        let other_dek = DataKeyBinding {
            dek_id: "d2",
            ..binding("vol-1")
        };
        assert_eq!(open_data_key(&s32(1), &other_dek, &blob).err(), auth);
        let other_cipher = DataKeyBinding {
            cipher: XtsCipher::Aes128Xts,
            ..binding("vol-1")
        };
        assert_eq!(open_data_key(&s32(1), &other_cipher, &blob).err(), auth);
    }

    #[test]
    fn tampering_anywhere_is_detected() {
        let dk = DataKey::from_slice(&[5; 32]);
        let b = DataKeyBinding {
            cipher: XtsCipher::Aes128Xts,
            ..binding("vol-1")
        };
        let blob = seal_data_key(&s32(1), &[3; 12], &b, &dk);
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x40;
            assert!(open_data_key(&s32(1), &b, &t).is_err(), "flip at byte {i}");
        }
        assert_eq!(
            open_data_key(&s32(1), &b, &blob[..20]).err(),
            Some(OpenError::Truncated)
        );
        assert_eq!(
            open_data_key(&s32(1), &b, &[]).err(),
            Some(OpenError::Truncated)
        );
    }

    #[test]
    fn user_blobs_name_their_key_and_bind_their_context() {
        let ctx: Context = [("a".to_owned(), "1".to_owned())].into();
        let blob = seal_user(&s32(1), &[1; 12], ARN, &ctx, b"hello");
        assert_eq!(user_blob_key_arn(&blob).unwrap(), ARN);
        assert_eq!(&open_user(&s32(1), ARN, &ctx, &blob).unwrap()[..], b"hello");
        assert_eq!(
            open_user(&s32(1), ARN, &Context::new(), &blob).err(),
            Some(OpenError::Auth)
        );
        let ctx2: Context = [("a".to_owned(), "2".to_owned())].into();
        assert_eq!(
            open_user(&s32(1), ARN, &ctx2, &blob).err(),
            Some(OpenError::Auth)
        );
        assert_eq!(
            open_user(&s32(1), ARN2, &ctx, &blob).err(),
            Some(OpenError::Auth)
        );
    }

    #[test]
    fn kinds_never_cross() {
        let dk = DataKey::from_slice(&[5; 64]);
        let ebs = seal_data_key(&s32(1), &[0; 12], &binding("vol-1"), &dk);
        assert_eq!(user_blob_key_arn(&ebs).err(), Some(OpenError::EbsDataKey));
        let user = seal_user(&s32(1), &[0; 12], ARN, &Context::new(), &[5; 64]);
        assert!(matches!(
            open_data_key(&s32(1), &binding("vol-1"), &user),
            Err(OpenError::Kind {
                found: USER_BLOB,
                expected: EBS_BLOB
            })
        ));
        // Same bytes behind a forged EBS kind byte: the associated data differs, so it fails.
        let mut forged = vec![EBS_BLOB];
        forged.extend_from_slice(&user[1 + 2 + ARN.len()..]);
        assert_eq!(
            open_data_key(&s32(1), &binding("vol-1"), &forged).err(),
            Some(OpenError::Auth)
        );
        let mat = seal_material(&s32(1), &[0; 12], ARN, &s32(4));
        assert!(user_blob_key_arn(&mat).is_err());
    }

    proptest! {
        #[test]
        fn data_keys_round_trip(
            bytes in proptest::collection::vec(any::<u8>(), 64),
            nonce in any::<[u8; 12]>(),
            root in any::<[u8; 32]>(),
            short in any::<bool>(),
        ) {
            let cipher = if short { XtsCipher::Aes128Xts } else { XtsCipher::Aes256Xts };
            let dk = DataKey::from_slice(&bytes[..cipher.key_len()]);
            let b = DataKeyBinding { cipher, ..binding("snap-1") };
            let blob = seal_data_key(&Secret32(crate::secret_mem::SecretBox::new(root)), &nonce, &b, &dk);
            let back = open_data_key(&Secret32(crate::secret_mem::SecretBox::new(root)), &b, &blob).unwrap();
            prop_assert_eq!(back.expose(), dk.expose());
        }

        #[test]
        fn user_blobs_round_trip(pt in proptest::collection::vec(any::<u8>(), 0..300)) {
            let blob = seal_user(&s32(8), &[2; 12], ARN, &Context::new(), &pt);
            prop_assert_eq!(&open_user(&s32(8), ARN, &Context::new(), &blob).unwrap()[..], &pt[..]);
        }
    }
}
