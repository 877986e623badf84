//! qcow2 (QEMU's image format, `docs/interop/qcow2.txt`), versions 2 and 3: a header, an L1
//! table of L2 tables, and clusters. Supported: uncompressed clusters, v3 zero clusters, no
//! backing file, no encryption, no external data file, no extended L2 entries. All fields are
//! big-endian.

use super::{be32, be64, check_count, finish_entries, invalid, read_exact, read_table};
use super::{Format, Loc, Map, Parsed, WRONG_FORMAT};
use crate::storage::Backing;

pub(super) const MAGIC: [u8; 4] = *b"QFI\xfb";
const REASON: &str = "Unsupported QCOW2 File Format";
/// Bits 9–55 of an L1 or L2 entry: the host offset.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const COMPRESSED: u64 = 1 << 62;
const ZERO: u64 = 1;
/// Incompatible features understood: bit 0, dirty (the refcounts may be stale; data is fine).
const KNOWN_INCOMPATIBLE: u64 = 1;

pub(super) fn parse(src: &dyn Backing, found: Option<Format>) -> Parsed<(u64, Map)> {
    if found != Some(Format::Qcow2) {
        return Err(invalid(WRONG_FORMAT, "the file is not a qcow2 image"));
    }
    let len = src.len();
    let mut h = [0u8; 104];
    read_exact(src, 0, &mut h[..72], REASON, "header")?;
    let version = be32(&h, 4);
    match version {
        2 => {}
        3 => {
            read_exact(src, 0, &mut h, REASON, "version 3 header")?;
            let incompatible = be64(&h, 72);
            if incompatible & !KNOWN_INCOMPATIBLE != 0 {
                return Err(invalid(
                    REASON,
                    format!(
                        "incompatible features {incompatible:#x} (corrupt image, external data \
                         file, zstd compression or extended L2 entries)"
                    ),
                ));
            }
        }
        v => return Err(invalid(REASON, format!("version {v}"))),
    }
    if be64(&h, 8) != 0 {
        return Err(invalid(
            REASON,
            "the image has a backing file; convert it to a standalone image",
        ));
    }
    let bits = be32(&h, 20);
    if !(9..=21).contains(&bits) {
        return Err(invalid(REASON, format!("cluster_bits {bits}")));
    }
    if be32(&h, 32) != 0 {
        return Err(invalid(REASON, "the image is encrypted"));
    }
    let size = be64(&h, 24);
    if size > super::MAX_DISK {
        return Err(invalid(
            "Unsupported Disk Size",
            format!("the disk is {size} bytes; the largest import is 16 TiB"),
        ));
    }
    let cluster = 1u64 << bits;
    let l2_entries = cluster / 8;
    let needed = size.div_ceil(cluster * l2_entries);
    let l1_size = u64::from(be32(&h, 36));
    if l1_size < needed {
        return Err(invalid(
            REASON,
            format!("an L1 table of {l1_size} entries cannot map {size} bytes"),
        ));
    }
    let l1 = read_table(src, be64(&h, 40), needed, 8, REASON, "L1 table")?;
    let clusters = size.div_ceil(cluster);
    let mut entries = Vec::new();
    for (i, e) in l1.chunks_exact(8).enumerate() {
        let l2_at = be64(e, 0) & OFFSET_MASK;
        if l2_at == 0 {
            continue;
        }
        let l2 = read_table(src, l2_at, l2_entries, 8, REASON, "L2 table")?;
        for (j, e) in l2.chunks_exact(8).enumerate() {
            let e = be64(e, 0);
            let idx = i as u64 * l2_entries + j as u64;
            if e & COMPRESSED != 0 {
                return Err(invalid(
                    REASON,
                    "compressed clusters are not supported; convert without -c",
                ));
            }
            let at = e & OFFSET_MASK;
            // A v3 zero cluster reads as zeros, like an unallocated one (no backing file).
            if at == 0 || (version == 3 && e & ZERO != 0) {
                continue;
            }
            if !at.is_multiple_of(cluster) || at >= len {
                return Err(invalid(
                    REASON,
                    format!("cluster {idx} at byte {at} is misaligned or past the file"),
                ));
            }
            if idx >= clusters {
                return Err(invalid(REASON, format!("cluster {idx} lies past the disk")));
            }
            entries.push((idx, Loc::At(at)));
            check_count(entries.len(), len, cluster, REASON)?;
        }
    }
    let entries = finish_entries(entries, REASON)?;
    Ok((
        size,
        Map::Clusters {
            size: cluster,
            entries,
        },
    ))
}
