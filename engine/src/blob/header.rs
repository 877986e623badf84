//! The 4 KiB header at the start of every volume and snapshot file: encoding, decoding and
//! validation. Pure: bytes in, values out; no files, clock or randomness here.
//!
//! docs/FORMAT.md specifies the layout field by field; keep the two in step. Decoding refuses
//! anything it does not fully understand (wrong magic, unknown version, unknown required feature,
//! checksum mismatch, out-of-range lengths) with `CorruptFile` and a message naming the field;
//! the file layer prefixes the path.

use crate::error::{bail, Code, Error, Result};
use crate::xts::XtsCipher;
use sha2::{Digest, Sha256};

/// Bytes in the header; the sectors start at this offset, page aligned so they can be mapped.
pub(crate) const HEADER_LEN: usize = 4096;
/// The file magic.
pub(crate) const MAGIC: [u8; 8] = *b"BLKSEAL\0";
/// The only format version this code reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Feature bits 0–31 are required: a reader that does not know one must refuse the file. Bits
/// 32–63 are optional and may be ignored. Version 1 defines no required feature.
pub(crate) const REQUIRED_FEATURES_MASK: u64 = 0xffff_ffff;
/// Required features this code understands.
const KNOWN_REQUIRED_FEATURES: u64 = 0;
/// Optional feature bit 32: a [`BlobRecord`] follows the wrapped key. Readers that do not know
/// it see padding (still covered by the checksum).
pub(crate) const FEATURE_RECORD: u64 = 1 << 32;

/// Where the SHA-256 of all preceding header bytes sits (the last 32 bytes of the header).
const CHECKSUM_AT: usize = HEADER_LEN - 32;
/// Start of the length-prefixed fields.
const FIELDS_AT: usize = 33;

/// Upper bounds of the variable-length fields, in bytes. Their sum plus the fixed fields stays
/// below `CHECKSUM_AT`, so a valid header always fits.
pub(crate) const MAX_ID_LEN: usize = 256;
pub(crate) const MAX_ARN_LEN: usize = 2048;
pub(crate) const MAX_WRAPPED_KEY_LEN: usize = 512;
/// The most the fields of version 1 without a record take (docs/FORMAT.md, "Limits").
const BASE_FIELDS_MAX: usize =
    FIELDS_AT + 5 * 2 + 3 * MAX_ID_LEN + MAX_ARN_LEN + MAX_WRAPPED_KEY_LEN;
/// Upper bounds of the record's strings, in bytes, in their order on disk.
pub(crate) const RECORD_LIMITS: [(&str, usize); 7] = [
    ("account", 32),
    ("region", 64),
    ("create time", 64),
    ("source id", 64),
    ("availability zone", 64),
    ("volume type", 32),
    ("description", MAX_DESCRIPTION_LEN),
];
/// Descriptions longer than this are cut (at a character boundary) when a record is made.
pub(crate) const MAX_DESCRIPTION_LEN: usize = 255;
const fn record_max() -> usize {
    let mut sum = 1;
    let mut i = 0;
    while i < RECORD_LIMITS.len() {
        sum += 2 + RECORD_LIMITS[i].1;
        i += 1;
    }
    sum
}
const _: () = assert!(BASE_FIELDS_MAX + record_max() <= CHECKSUM_AT);

/// Record flag bit 0: the blob was opened for block writes through the EBS direct APIs
/// (StartSnapshot), so whether its writer finished (CompleteSnapshot) is not known from the
/// file alone.
pub(crate) const RECORD_DIRECT: u8 = 1;
/// Record flags this code understands; others make the header corrupt.
const KNOWN_RECORD_FLAGS: u8 = RECORD_DIRECT;

/// What the catalog row of a volume or snapshot says beyond the header's own fields, kept in
/// the header (optional feature bit 32) so that `blockseal doctor --repair` can rebuild a lost
/// row from the file alone. Strings that do not apply to the owner's kind are empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlobRecord {
    /// [`RECORD_DIRECT`] or 0.
    pub flags: u8,
    /// The owning account (12 digits).
    pub account: String,
    /// The region of the resource.
    pub region: String,
    /// The volume's create time or the snapshot's start time, as Describe* shows it.
    pub create_time: String,
    /// A snapshot's volume id; a volume's snapshot id (empty when made empty).
    pub source_id: String,
    /// A volume's availability zone.
    pub availability_zone: String,
    /// A volume's type (`gp3`, …).
    pub volume_type: String,
    /// A snapshot's description, at most [`MAX_DESCRIPTION_LEN`] bytes.
    pub description: String,
}

impl BlobRecord {
    fn strings(&self) -> [&str; 7] {
        [
            &self.account,
            &self.region,
            &self.create_time,
            &self.source_id,
            &self.availability_zone,
            &self.volume_type,
            &self.description,
        ]
    }

    fn check(&self) -> Result<(), String> {
        if self.flags & !KNOWN_RECORD_FLAGS != 0 {
            return Err(format!("unknown record flags {:#x}", self.flags));
        }
        for (v, (name, max)) in self.strings().iter().zip(RECORD_LIMITS) {
            if v.len() > max {
                return Err(format!(
                    "record {name} is {} bytes, at most {max} allowed",
                    v.len()
                ));
            }
        }
        Ok(())
    }

    /// The record as a writer stores it: the description cut to [`MAX_DESCRIPTION_LEN`] bytes
    /// at a character boundary; `None` if another field is still too long (the file is then
    /// written without a record, which only `doctor --repair` misses).
    pub(crate) fn fitted(mut self) -> Option<BlobRecord> {
        if self.description.len() > MAX_DESCRIPTION_LEN {
            let mut end = MAX_DESCRIPTION_LEN;
            while !self.description.is_char_boundary(end) {
                end -= 1;
            }
            self.description.truncate(end);
        }
        self.check().is_ok().then_some(self)
    }
}

/// What a volume or snapshot file says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlobHeader {
    /// Volume size in bytes: a multiple of `sector_size`.
    pub size: u64,
    /// Sector (XTS data unit) size: 512 or 4096.
    pub sector_size: u32,
    /// `None` for an unencrypted volume.
    pub cipher: Option<XtsCipher>,
    /// The owning resource id (`vol-…`, `snap-…`).
    pub owner: String,
    /// The `aws:ebs:id` the wrapped data key is bound to (empty when unencrypted).
    pub context_id: String,
    /// The ARN of the KMS key that wraps the data key (empty when unencrypted).
    pub key_arn: String,
    /// The data key's id (empty when unencrypted).
    pub dek_id: String,
    /// The wrapped data key; never the plaintext key (empty when unencrypted).
    pub wrapped_key: Vec<u8>,
    /// What rebuilding the owner's catalog row needs; `None` in files written before it existed.
    pub record: Option<BlobRecord>,
}

impl BlobHeader {
    /// Sectors in the volume.
    pub(crate) fn sectors(&self) -> u64 {
        self.size / u64::from(self.sector_size)
    }

    /// Length of the whole file: header plus sectors.
    pub(crate) fn file_len(&self) -> u64 {
        HEADER_LEN as u64 + self.size
    }

    /// Checks every rule `encode` relies on and `decode` enforces.
    ///
    /// # Errors
    /// `InvalidParameterValue` naming the first broken rule.
    pub(crate) fn validate(&self) -> Result<()> {
        self.check()
            .map_err(|m| Error::new(Code::INVALID_PARAMETER_VALUE, format!("blob header: {m}")))
    }

    fn check(&self) -> Result<(), String> {
        if self.sector_size != 512 && self.sector_size != 4096 {
            return Err(format!(
                "sector size {} is not 512 or 4096",
                self.sector_size
            ));
        }
        if !self.size.is_multiple_of(u64::from(self.sector_size)) {
            return Err(format!(
                "size {} is not a multiple of the sector size {}",
                self.size, self.sector_size
            ));
        }
        if self.size > u64::MAX - HEADER_LEN as u64 {
            return Err(format!("size {} is too large", self.size));
        }
        for (name, len, max) in [
            ("owner", self.owner.len(), MAX_ID_LEN),
            ("context id", self.context_id.len(), MAX_ID_LEN),
            ("key ARN", self.key_arn.len(), MAX_ARN_LEN),
            ("data key id", self.dek_id.len(), MAX_ID_LEN),
            ("wrapped key", self.wrapped_key.len(), MAX_WRAPPED_KEY_LEN),
        ] {
            if len > max {
                return Err(format!("{name} is {len} bytes, at most {max} allowed"));
            }
        }
        match self.cipher {
            None if !self.key_arn.is_empty()
                || !self.dek_id.is_empty()
                || !self.wrapped_key.is_empty() =>
            {
                Err("an unencrypted volume carries key fields".to_owned())
            }
            Some(_) if self.wrapped_key.is_empty() => {
                Err("an encrypted volume has no wrapped key".to_owned())
            }
            _ => Ok(()),
        }?;
        self.record.as_ref().map_or(Ok(()), BlobRecord::check)
    }

    /// The on-disk header.
    ///
    /// # Panics
    /// If the header breaks a rule of [`BlobHeader::validate`]; the file layer validates first.
    pub(crate) fn encode(&self) -> Box<[u8; HEADER_LEN]> {
        if let Err(m) = self.check() {
            panic!("encoding an invalid blob header: {m}");
        }
        let mut out = Box::new([0u8; HEADER_LEN]);
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        let features = if self.record.is_some() {
            FEATURE_RECORD
        } else {
            0
        };
        out[12..20].copy_from_slice(&features.to_le_bytes());
        out[20..28].copy_from_slice(&self.size.to_le_bytes());
        out[28..32].copy_from_slice(&self.sector_size.to_le_bytes());
        out[32] = cipher_to_byte(self.cipher);
        let mut at = FIELDS_AT;
        for field in [
            self.owner.as_bytes(),
            self.context_id.as_bytes(),
            self.key_arn.as_bytes(),
            self.dek_id.as_bytes(),
            &self.wrapped_key,
        ] {
            // check() bounded every field to ≤ 2048 bytes, and their sum to below CHECKSUM_AT.
            let len = u16::try_from(field.len()).expect("field lengths are bounded by check()");
            out[at..at + 2].copy_from_slice(&len.to_le_bytes());
            out[at + 2..at + 2 + field.len()].copy_from_slice(field);
            at += 2 + field.len();
        }
        if let Some(r) = &self.record {
            out[at] = r.flags;
            at += 1;
            for field in r.strings() {
                // check() bounded every record string to ≤ 255 bytes and the whole below
                // CHECKSUM_AT (see the const assert).
                let len = u16::try_from(field.len()).expect("record lengths are bounded");
                out[at..at + 2].copy_from_slice(&len.to_le_bytes());
                out[at + 2..at + 2 + field.len()].copy_from_slice(field.as_bytes());
                at += 2 + field.len();
            }
        }
        let sum = Sha256::digest(&out[..CHECKSUM_AT]);
        out[CHECKSUM_AT..].copy_from_slice(&sum);
        out
    }

    /// Parses the first [`HEADER_LEN`] bytes of a file.
    ///
    /// # Errors
    /// `CorruptFile` with a message naming what is wrong: too short, bad magic, unsupported
    /// version, unknown required features, checksum mismatch, a length or value out of range.
    pub(crate) fn decode(bytes: &[u8]) -> Result<BlobHeader> {
        let corrupt = |m: String| Error::new(Code::CORRUPT_FILE, m);
        if bytes.len() < HEADER_LEN {
            return Err(corrupt(format!(
                "header is {} bytes, expected {HEADER_LEN}",
                bytes.len()
            )));
        }
        let h = &bytes[..HEADER_LEN];
        if h[0..8] != MAGIC {
            return Err(corrupt("bad magic: not a blockseal volume file".into()));
        }
        let version = u32::from_le_bytes(h[8..12].try_into().expect("4-byte slice"));
        if version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "unsupported format version {version} (this build reads version {FORMAT_VERSION})"
            )));
        }
        let sum = Sha256::digest(&h[..CHECKSUM_AT]);
        if sum.as_slice() != &h[CHECKSUM_AT..] {
            return Err(corrupt("header checksum mismatch".into()));
        }
        let features = u64::from_le_bytes(h[12..20].try_into().expect("8-byte slice"));
        let unknown = features & REQUIRED_FEATURES_MASK & !KNOWN_REQUIRED_FEATURES;
        if unknown != 0 {
            return Err(corrupt(format!(
                "requires unknown features {unknown:#x} (written by a newer blockseal)"
            )));
        }
        let size = u64::from_le_bytes(h[20..28].try_into().expect("8-byte slice"));
        let sector_size = u32::from_le_bytes(h[28..32].try_into().expect("4-byte slice"));
        let cipher = match h[32] {
            0 => None,
            1 => Some(XtsCipher::Aes128Xts),
            2 => Some(XtsCipher::Aes256Xts),
            c => return Err(corrupt(format!("unknown cipher {c}"))),
        };
        let mut fields = Fields { h, at: FIELDS_AT };
        let owner = fields.text("owner", MAX_ID_LEN)?;
        let context_id = fields.text("context id", MAX_ID_LEN)?;
        let key_arn = fields.text("key ARN", MAX_ARN_LEN)?;
        let dek_id = fields.text("data key id", MAX_ID_LEN)?;
        let wrapped_key = fields.bytes("wrapped key", MAX_WRAPPED_KEY_LEN)?.to_vec();
        let record = if features & FEATURE_RECORD != 0 {
            let flags = fields.h[fields.at];
            fields.at += 1;
            let mut v: Vec<String> = Vec::with_capacity(RECORD_LIMITS.len());
            for (name, max) in RECORD_LIMITS {
                v.push(fields.text(name, max)?);
            }
            let [account, region, create_time, source_id, availability_zone, volume_type, description]: [String; 7] =
                v.try_into().expect("one string per limit");
            Some(BlobRecord {
                flags,
                account,
                region,
                create_time,
                source_id,
                availability_zone,
                volume_type,
                description,
            })
        } else {
            None
        };
        let header = BlobHeader {
            size,
            sector_size,
            cipher,
            owner,
            context_id,
            key_arn,
            dek_id,
            wrapped_key,
            record,
        };
        header.check().map_err(corrupt)?;
        Ok(header)
    }
}

/// A cursor over the length-prefixed fields of a header whose checksum already matched.
struct Fields<'a> {
    h: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn bytes(&mut self, name: &str, max: usize) -> Result<&'a [u8]> {
        let len = usize::from(u16::from_le_bytes([self.h[self.at], self.h[self.at + 1]]));
        if len > max {
            bail!(Code::CORRUPT_FILE, "{name} length {len} exceeds {max}");
        }
        // Every earlier field was ≤ its max, so this stays below CHECKSUM_AT (see the const assert).
        let v = &self.h[self.at + 2..self.at + 2 + len];
        self.at += 2 + len;
        Ok(v)
    }

    fn text(&mut self, name: &str, max: usize) -> Result<String> {
        let b = self.bytes(name, max)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| Error::new(Code::CORRUPT_FILE, format!("{name} is not UTF-8")))
    }
}

fn cipher_to_byte(c: Option<XtsCipher>) -> u8 {
    match c {
        None => 0,
        Some(XtsCipher::Aes128Xts) => 1,
        Some(XtsCipher::Aes256Xts) => 2,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A valid header for tests.
    pub(crate) fn sample(size: u64, sector_size: u32, cipher: Option<XtsCipher>) -> BlobHeader {
        let enc = cipher.is_some();
        BlobHeader {
            size,
            sector_size,
            cipher,
            owner: "vol-0123456789abcdef0".into(),
            context_id: if enc {
                "vol-0123456789abcdef0".into()
            } else {
                String::new()
            },
            key_arn: if enc {
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab".into()
            } else {
                String::new()
            },
            dek_id: if enc { "dek-42".into() } else { String::new() },
            wrapped_key: if enc { vec![0xa5; 92] } else { Vec::new() },
            record: None,
        }
    }

    /// A record as a volume's writer fills it.
    pub(crate) fn sample_record() -> BlobRecord {
        BlobRecord {
            flags: 0,
            account: "111122223333".into(),
            region: "us-east-1".into(),
            create_time: "2026-12-01T05:30:32.123Z".into(),
            source_id: "snap-0123456789abcdef0".into(),
            availability_zone: "us-east-1a".into(),
            volume_type: "gp3".into(),
            description: String::new(),
        }
    }

    fn arb_header() -> impl Strategy<Value = BlobHeader> {
        let cipher = prop_oneof![
            Just(None),
            Just(Some(XtsCipher::Aes128Xts)),
            Just(Some(XtsCipher::Aes256Xts))
        ];
        (
            prop_oneof![Just(512u32), Just(4096u32)],
            0u64..(1 << 40),
            cipher,
            "[a-z0-9-]{0,64}",
            "\\PC{0,40}",
            "[a-z0-9:/-]{0,300}",
            "[a-f0-9]{0,64}",
            proptest::collection::vec(any::<u8>(), 1..=MAX_WRAPPED_KEY_LEN),
            proptest::option::of(arb_record()),
        )
            .prop_map(
                |(ss, sectors, cipher, owner, ctx, arn, dek, wrapped, record)| {
                    let enc = cipher.is_some();
                    BlobHeader {
                        size: sectors * u64::from(ss),
                        sector_size: ss,
                        cipher,
                        owner,
                        context_id: ctx,
                        key_arn: if enc { arn } else { String::new() },
                        dek_id: if enc { dek } else { String::new() },
                        wrapped_key: if enc { wrapped } else { Vec::new() },
                        record,
                    }
                },
            )
    }

    fn arb_record() -> impl Strategy<Value = BlobRecord> {
        (
            0..=KNOWN_RECORD_FLAGS,
            "[0-9]{0,32}",
            "[a-z0-9-]{0,64}",
            "[0-9TZ:.-]{0,64}",
            "[a-z0-9-]{0,64}",
            "[a-z0-9-]{0,64}",
            "[a-z0-9]{0,32}",
            "\\PC{0,80}",
        )
            .prop_map(|(flags, account, region, t, src, az, vt, desc)| {
                BlobRecord {
                    flags,
                    account,
                    region,
                    create_time: t,
                    source_id: src,
                    availability_zone: az,
                    volume_type: vt,
                    description: desc,
                }
                .fitted()
                .expect("generated within the limits")
            })
    }

    proptest! {
        #[test]
        fn decode_undoes_encode(h in arb_header()) {
            prop_assert_eq!(BlobHeader::decode(&h.encode()[..]).unwrap(), h);
        }

        #[test]
        fn a_flipped_byte_is_detected(h in arb_header(), at in 0..HEADER_LEN, x in 1u8..) {
            let mut b = h.encode();
            b[at] ^= x;
            let e = BlobHeader::decode(&b[..]).unwrap_err();
            prop_assert_eq!(e.code(), Code::CORRUPT_FILE);
        }
    }

    #[test]
    fn every_single_flipped_byte_is_detected() {
        let h = sample(1 << 20, 4096, Some(XtsCipher::Aes256Xts));
        let good = h.encode();
        for at in 0..HEADER_LEN {
            let mut b = good.clone();
            b[at] ^= 0x01;
            assert!(
                BlobHeader::decode(&b[..]).is_err(),
                "flip at {at} went unnoticed"
            );
        }
    }

    /// Re-seals a modified header so a test can reach the checks behind the checksum.
    fn reseal(b: &mut [u8; HEADER_LEN]) {
        let sum = Sha256::digest(&b[..CHECKSUM_AT]);
        b[CHECKSUM_AT..].copy_from_slice(&sum);
    }

    fn message(b: &[u8]) -> String {
        let e = BlobHeader::decode(b).unwrap_err();
        assert_eq!(e.code(), Code::CORRUPT_FILE);
        e.message().to_owned()
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let good = sample(8192, 512, Some(XtsCipher::Aes128Xts)).encode();
        assert!(message(&good[..100]).contains("header is 100 bytes"));

        let mut b = good.clone();
        b[0] = b'X';
        assert!(message(&b[..]).contains("magic"));

        let mut b = good.clone();
        b[8] = 2;
        assert!(message(&b[..]).contains("version 2"));

        let mut b = good.clone();
        b[4000] ^= 1;
        assert!(message(&b[..]).contains("checksum"));

        let mut b = good.clone();
        b[12] = 0x04;
        reseal(&mut b);
        assert!(message(&b[..]).contains("unknown features 0x4"));

        // An optional feature bit (32–63) is not a reason to refuse.
        let mut b = good.clone();
        b[19] = 0x80;
        reseal(&mut b);
        assert!(BlobHeader::decode(&b[..]).is_ok());

        let mut b = good.clone();
        b[32] = 9;
        reseal(&mut b);
        assert!(message(&b[..]).contains("unknown cipher 9"));

        let mut b = good.clone();
        b[28..32].copy_from_slice(&1000u32.to_le_bytes());
        reseal(&mut b);
        assert!(message(&b[..]).contains("sector size 1000"));

        let mut b = good.clone();
        b[FIELDS_AT..FIELDS_AT + 2].copy_from_slice(&4000u16.to_le_bytes());
        reseal(&mut b);
        assert!(message(&b[..]).contains("owner length 4000"));
    }

    #[test]
    fn validate_rejects_what_decode_would() {
        let mut h = sample(4096, 4096, None);
        h.wrapped_key = vec![1];
        assert_eq!(
            h.validate().unwrap_err().code(),
            Code::INVALID_PARAMETER_VALUE
        );
        let mut h = sample(4096, 4096, Some(XtsCipher::Aes256Xts));
        h.wrapped_key.clear();
        assert!(h.validate().is_err());
        let mut h = sample(4096, 4096, Some(XtsCipher::Aes256Xts));
        h.wrapped_key = vec![0; MAX_WRAPPED_KEY_LEN + 1];
        assert!(h.validate().is_err());
        assert!(sample(1000, 512, None).validate().is_err());
        assert!(sample(4096, 4096, None).validate().is_ok());
    }

    /// A header as version 1 wrote it before records existed, built byte by byte from
    /// docs/FORMAT.md rather than by `encode`.
    fn handmade_v1(owner: &str, ctx: &str, arn: &str, dek: &str, wrapped: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        b[0..8].copy_from_slice(b"BLKSEAL\0");
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        b[20..28].copy_from_slice(&(1u64 << 30).to_le_bytes());
        b[28..32].copy_from_slice(&4096u32.to_le_bytes());
        b[32] = 2;
        let mut at = 33;
        for f in [
            owner.as_bytes(),
            ctx.as_bytes(),
            arn.as_bytes(),
            dek.as_bytes(),
            wrapped,
        ] {
            b[at..at + 2].copy_from_slice(&(f.len() as u16).to_le_bytes());
            b[at + 2..at + 2 + f.len()].copy_from_slice(f);
            at += 2 + f.len();
        }
        let sum = Sha256::digest(&b[..4064]);
        b[4064..].copy_from_slice(&sum);
        b
    }

    #[test]
    fn a_header_written_before_records_still_decodes() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let old = handmade_v1("snap-0a", "snap-0a", arn, "dek-7", &[7; 60]);
        let h = BlobHeader::decode(&old).unwrap();
        assert_eq!(h.record, None);
        assert_eq!(
            (
                h.size,
                h.owner.as_str(),
                h.key_arn.as_str(),
                h.dek_id.as_str()
            ),
            (1 << 30, "snap-0a", arn, "dek-7")
        );
        assert_eq!(h.cipher, Some(XtsCipher::Aes256Xts));
        // Without a record, today's writer still produces exactly those bytes.
        assert_eq!(&h.encode()[..], &old[..]);
    }

    #[test]
    fn a_record_is_an_optional_feature_after_the_wrapped_key() {
        let mut h = sample(1 << 30, 4096, Some(XtsCipher::Aes256Xts));
        let mut r = sample_record();
        r.flags = RECORD_DIRECT;
        r.description = "nightly é".into();
        h.record = Some(r.clone());
        let b = h.encode();
        let features = u64::from_le_bytes(b[12..20].try_into().unwrap());
        assert_eq!(features, FEATURE_RECORD);
        // The record starts right after the wrapped key: flags, then the account.
        let at = FIELDS_AT
            + 2 * 5
            + h.owner.len()
            + h.context_id.len()
            + h.key_arn.len()
            + h.dek_id.len()
            + h.wrapped_key.len();
        assert_eq!(b[at], RECORD_DIRECT);
        assert_eq!(u16::from_le_bytes([b[at + 1], b[at + 2]]), 12);
        assert_eq!(&b[at + 3..at + 15], b"111122223333");
        assert_eq!(BlobHeader::decode(&b[..]).unwrap().record, Some(r));

        // Unknown record flags are refused like any other malformed field.
        let mut bad = b.clone();
        bad[at] = 0x80;
        reseal(&mut bad);
        assert!(message(&bad[..]).contains("unknown record flags 0x80"));
        // An over-long record string is refused.
        let mut bad = b.clone();
        bad[at + 1..at + 3].copy_from_slice(&33u16.to_le_bytes());
        reseal(&mut bad);
        assert!(message(&bad[..]).contains("account length 33"));
    }

    #[test]
    fn fitted_cuts_a_long_description_at_a_character_boundary() {
        let mut r = sample_record();
        r.description = "é".repeat(200); // 400 bytes
        let f = r.clone().fitted().unwrap();
        assert_eq!(f.description.len(), 254);
        assert!(r.description.starts_with(&f.description));
        let mut r = sample_record();
        r.region = "x".repeat(65);
        assert_eq!(r.fitted(), None);
    }
}
