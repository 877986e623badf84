//! Fuzz targets for the engine's parsers of outside bytes: the volume file header, resource
//! and key ids, KMS key references and ciphertext blobs, and the typed requests parsed from
//! AWS-shaped JSON. Each target takes arbitrary bytes, must not panic, and asserts what the
//! parser promises beyond that (round trips, the error code of a refusal). The `blockseal-fuzz`
//! crate runs them under libFuzzer, its stable-toolchain driver and a regression test.
//!
//! Hidden from the documentation and not part of the engine's API: it exists so that the
//! targets can reach crate-private parsers without widening them.

use crate::blob::{BlobHeader, BlobRecord, HEADER_LEN};
use crate::error::{Code, Error, ErrorKind};
use crate::ids::{ImageId, ImportTaskId, InstanceId, KeyId, ReservationId, SnapshotId, VolumeId};
use crate::request::Request;
use crate::xts::XtsCipher;
use crate::EbsRequest;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::{Debug, Display};
use std::str::FromStr;

pub use crate::kms::fuzzing::{ciphertext, ciphertext_seeds, key_ref};

/// The header's checksum covers every byte before its last 32.
const CHECKSUM_AT: usize = HEADER_LEN - 32;

/// The first 4 KiB of a volume or snapshot file. Properties: decoding never panics and refuses
/// only with `CorruptFile`; a decoded header is valid and survives encode → decode unchanged.
///
/// The input is decoded as given, and again padded with zeros to a full header whose checksum
/// is recomputed, so that mutations reach the checks behind the checksum.
pub fn blob_header(data: &[u8]) {
    check_header(data);
    let mut sealed = vec![0u8; HEADER_LEN];
    let n = data.len().min(CHECKSUM_AT);
    sealed[..n].copy_from_slice(&data[..n]);
    let sum = Sha256::digest(&sealed[..CHECKSUM_AT]);
    sealed[CHECKSUM_AT..].copy_from_slice(&sum);
    check_header(&sealed);
}

fn check_header(bytes: &[u8]) {
    match BlobHeader::decode(bytes) {
        Ok(h) => {
            h.validate().expect("a decoded header is valid");
            let again = BlobHeader::decode(&h.encode()[..]).expect("an encoded header decodes");
            assert_eq!(again, h, "decode(encode(h)) == h");
            assert_eq!(h.file_len(), HEADER_LEN as u64 + h.size);
        }
        Err(e) => assert_eq!(e.code(), Code::CORRUPT_FILE, "{e}"),
    }
}

/// Encoded headers for the header target's seed corpus: unencrypted, AES-128 and AES-256.
pub fn blob_header_seeds() -> Vec<Vec<u8>> {
    let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let plain = BlobHeader {
        size: 8 << 30,
        sector_size: 512,
        cipher: None,
        owner: "vol-0123456789abcdef0".into(),
        context_id: String::new(),
        key_arn: String::new(),
        dek_id: String::new(),
        wrapped_key: Vec::new(),
        record: None,
    };
    let encrypted = |cipher, sector_size, owner: &str| BlobHeader {
        size: 1 << 30,
        sector_size,
        cipher: Some(cipher),
        owner: owner.into(),
        context_id: "vol-0123456789abcdef0".into(),
        key_arn: arn.into(),
        dek_id: "dek-0123456789abcdef0".into(),
        wrapped_key: vec![0xa5; 93],
        record: Some(BlobRecord {
            flags: 0,
            account: "111122223333".into(),
            region: "us-east-1".into(),
            create_time: "2026-12-01T05:00:00.000Z".into(),
            source_id: "snap-0123456789abcdef0".into(),
            availability_zone: "us-east-1a".into(),
            volume_type: "gp3".into(),
            description: "seed".into(),
        }),
    };
    [
        plain,
        encrypted(XtsCipher::Aes128Xts, 512, "snap-0123456789abcdef0"),
        encrypted(XtsCipher::Aes256Xts, 4096, "vol-0123456789abcdef0"),
    ]
    .iter()
    .map(|h| h.encode().to_vec())
    .collect()
}

/// Text as a resource id or KMS key id. Properties: every id type either parses the text and
/// prints it back unchanged (also through serde, as the catalog stores ids), or refuses it with
/// that type's `…Malformed` code (`NotFoundException` for key ids).
pub fn ids(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    id_round_trip::<ImageId>(text, Code::INVALID_AMI_ID_MALFORMED);
    id_round_trip::<SnapshotId>(text, Code::INVALID_SNAPSHOT_ID_MALFORMED);
    id_round_trip::<VolumeId>(text, Code::INVALID_VOLUME_ID_MALFORMED);
    id_round_trip::<InstanceId>(text, Code::INVALID_INSTANCE_ID_MALFORMED);
    id_round_trip::<ReservationId>(text, Code::INVALID_PARAMETER_VALUE);
    id_round_trip::<ImportTaskId>(text, Code::INVALID_PARAMETER_VALUE);
    id_round_trip::<KeyId>(text, Code::NOT_FOUND_EXCEPTION);
}

fn id_round_trip<T>(text: &str, refusal: Code)
where
    T: FromStr<Err = Error> + Display + Debug + PartialEq + serde::de::DeserializeOwned,
{
    let via_serde = serde_json::from_value::<T>(Value::String(text.to_owned()));
    match text.parse::<T>() {
        Ok(id) => {
            assert_eq!(id.to_string(), text, "an id prints as parsed");
            assert_eq!(via_serde.expect("serde accepts what FromStr accepts"), id);
        }
        Err(e) => {
            assert_eq!(e.code(), refusal, "{e}");
            assert!(via_serde.is_err(), "serde refuses what FromStr refuses");
        }
    }
}

/// An operation name, a newline, then the operation's request as JSON: what a front end hands
/// to [`Request::parse`] and [`EbsRequest::parse`]. Properties: parsing never panics; a parsed
/// request names its operation; a refusal is a client error (an invalid argument, or KMS's
/// `NotAuthorizedException` for a reserved alias), never an internal one.
pub fn request(data: &[u8]) {
    let (op, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(op) = std::str::from_utf8(op) else {
        return;
    };
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => v,
            Err(_) => return,
        }
    };
    request_value(op, body);
}

/// [`request`] on a request already decoded into JSON (the endpoint's codec output).
pub fn request_value(op: &str, body: Value) {
    match Request::parse(op, body.clone()) {
        Ok(r) => assert_eq!(r.name(), op),
        Err(e) => assert_client_error(&e),
    }
    match EbsRequest::parse(op, body) {
        Ok(_) => {}
        Err(e) => assert_client_error(&e),
    }
}

fn assert_client_error(e: &Error) {
    assert!(
        matches!(
            e.kind(),
            ErrorKind::InvalidArgument | ErrorKind::AccessDenied
        ),
        "a request that does not parse is the client's error: {} {e}",
        e.code().as_str()
    );
}

/// A disk image file for ImportSnapshot (RAW, VMDK, VHD, qcow2). Properties: opening it in
/// each format never panics and never allocates beyond what the input holds; a refusal reads
/// `ClientError: Disk validation failed [REASON]: …`; an opened disk's data extents are sorted,
/// disjoint and inside the disk, reads inside them never panic, and a range outside every
/// extent reads as zeros.
pub fn disk_image(data: &[u8]) {
    use crate::import::{open, Bytes, Format};
    use crate::storage::Backing;
    for format in [Format::Raw, Format::Vmdk, Format::Vhd, Format::Qcow2] {
        let img = match open(Bytes(data.to_vec()), format) {
            Ok(img) => img,
            Err(e) => {
                assert!(!e.reason.is_empty());
                assert!(e
                    .to_string()
                    .starts_with("ClientError: Disk validation failed ["));
                continue;
            }
        };
        let size = img.size();
        assert!(size > 0 && size <= crate::import::MAX_DISK);
        let extents = img
            .data_extents(0, size)
            .expect("extents of a parsed image");
        let mut end = 0;
        for &(s, e) in &extents {
            assert!(s >= end && s < e && e <= size, "extents {extents:?}");
            end = e;
        }
        let mut buf = vec![0u8; 4096];
        for &(s, e) in extents.iter().take(16) {
            let n = (e - s).min(4096) as usize;
            // A damaged compressed grain fails the read; it must not panic.
            let _ = img.read_at(s, &mut buf[..n]);
        }
        // The first range past the data reads as zeros.
        let gap = extents
            .iter()
            .try_fold(0u64, |at, &(s, e)| if at < s { Err(at) } else { Ok(e) })
            .unwrap_or_else(|at| at);
        if gap < size {
            let n = (size - gap).min(4096) as usize;
            if extents.iter().all(|&(s, _)| s >= gap + n as u64 || s < gap) {
                img.read_at(gap, &mut buf[..n]).expect("a hole reads");
                assert!(
                    buf[..n].iter().all(|b| *b == 0),
                    "a hole at {gap} reads as zeros"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_pass_their_targets() {
        for s in blob_header_seeds() {
            assert_eq!(s.len(), HEADER_LEN);
            assert!(BlobHeader::decode(&s).is_ok());
            blob_header(&s);
        }
        ids(b"ami-0123456789abcdef0");
        ids(b"1234abcd-12ab-34cd-56ef-1234567890ab");
        request(b"DescribeImages\n{\"ImageIds\": [\"ami-0123456789abcdef0\"]}");
        request(b"CreateAlias\n{\"AliasName\": \"alias/aws/x\", \"TargetKeyId\": \"k\"}");
    }
}
