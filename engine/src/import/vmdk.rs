//! VMDK hosted sparse extents (VMware's "Virtual Disk Format 5.0"): monolithicSparse, as
//! `qemu-img convert -O vmdk` writes it, and streamOptimized, as VMware and AWS export it
//! (compressed grains behind grain markers, the grain directory at the end of the file).
//! A descriptor-only VMDK (monolithicFlat, split extents) names other files and is refused.

use super::{check_count, finish_entries, Format, WRONG_FORMAT};
use super::{invalid, le16, le32, le64, read_exact, read_table, Loc, Map, Parsed};
use crate::storage::Backing;

pub(super) const MAGIC: [u8; 4] = *b"KDMV";
const REASON: &str = "Unsupported VMDK File Format";
const SECTOR: u64 = 512;
/// gdOffset of a streamOptimized header whose grain directory follows the data.
const GD_AT_END: u64 = u64::MAX;
const FLAG_COMPRESSED: u32 = 1 << 16;
/// The largest grain (1 MiB): a grain is read (and inflated) whole.
const MAX_GRAIN_SECTORS: u64 = 2048;
/// A grain table has 512 entries in every VMDK writer; allow larger, bounded.
const MAX_GTES: u32 = 1 << 16;

/// The fields of a sparse extent header that reading needs.
#[derive(Debug, Clone, Copy)]
struct Header {
    flags: u32,
    capacity: u64,
    grain: u64,
    gtes: u32,
    gd_offset: u64,
    compression: u16,
}

fn header(b: &[u8]) -> Parsed<Header> {
    if b[..4] != MAGIC {
        return Err(invalid(
            REASON,
            "the sparse extent header has no KDMV magic",
        ));
    }
    let version = le32(b, 4);
    if !(1..=3).contains(&version) {
        return Err(invalid(REASON, format!("sparse extent version {version}")));
    }
    Ok(Header {
        flags: le32(b, 8),
        capacity: le64(b, 12),
        grain: le64(b, 20),
        gtes: le32(b, 44),
        gd_offset: le64(b, 56),
        compression: le16(b, 77),
    })
}

/// The descriptor's `createType`, if the header embeds a descriptor.
fn create_type(src: &dyn Backing, b: &[u8]) -> Parsed<Option<String>> {
    let (at, n) = (le64(b, 28), le64(b, 36));
    if at == 0 || n == 0 {
        return Ok(None);
    }
    // A descriptor is a few hundred bytes; read at most 64 KiB of it.
    let n = n.min(128);
    let text = read_table(
        src,
        at.saturating_mul(SECTOR),
        n,
        SECTOR,
        REASON,
        "descriptor",
    )?;
    let text = String::from_utf8_lossy(&text);
    Ok(text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "createType").then(|| v.trim().trim_matches('"').to_owned())
    }))
}

pub(super) fn parse(src: &dyn Backing, found: Option<Format>) -> Parsed<(u64, Map)> {
    if found != Some(Format::Vmdk) {
        return Err(invalid(WRONG_FORMAT, "the file is not a VMDK image"));
    }
    let len = src.len();
    let mut b = [0u8; 512];
    read_exact(src, 0, &mut b, REASON, "sparse extent header")?;
    if b[..4] != MAGIC {
        return Err(invalid(
            REASON,
            "a descriptor-only VMDK (monolithicFlat or split extents) names other files; \
             convert it to streamOptimized or monolithicSparse",
        ));
    }
    let mut h = header(&b)?;
    match create_type(src, &b)?.as_deref() {
        None | Some("monolithicSparse" | "streamOptimized") => {}
        Some(other) => {
            return Err(invalid(
                REASON,
                format!("createType {other}: only monolithicSparse and streamOptimized import"),
            ))
        }
    }
    if h.gd_offset == GD_AT_END {
        // streamOptimized: the footer, a copy of the header with the real gdOffset, sits
        // before the end-of-stream marker.
        if len < 1024 {
            return Err(invalid(REASON, "the streamOptimized footer is missing"));
        }
        let mut f = [0u8; 512];
        read_exact(src, len - 1024, &mut f, REASON, "footer")?;
        let footer = header(&f)?;
        h.gd_offset = footer.gd_offset;
        if footer.gd_offset == GD_AT_END {
            return Err(invalid(REASON, "the footer has no grain directory"));
        }
    }
    let compressed = h.flags & FLAG_COMPRESSED != 0;
    if compressed && h.compression != 1 {
        return Err(invalid(
            REASON,
            format!("compression algorithm {}", h.compression),
        ));
    }
    if !h.grain.is_power_of_two() || h.grain < 1 || h.grain > MAX_GRAIN_SECTORS {
        return Err(invalid(REASON, format!("grain size {} sectors", h.grain)));
    }
    if h.gtes == 0 || h.gtes > MAX_GTES {
        return Err(invalid(
            REASON,
            format!("{} entries per grain table", h.gtes),
        ));
    }
    let size = h
        .capacity
        .checked_mul(SECTOR)
        .filter(|s| *s <= super::MAX_DISK)
        .ok_or_else(|| {
            invalid(
                "Unsupported Disk Size",
                format!(
                    "a capacity of {} sectors; the largest import is 16 TiB",
                    h.capacity
                ),
            )
        })?;
    let grain_bytes = h.grain * SECTOR;
    let per_gt = u64::from(h.gtes) * h.grain;
    let gd_entries = h.capacity.div_ceil(per_gt);
    let gd = read_table(
        src,
        h.gd_offset.saturating_mul(SECTOR),
        gd_entries,
        4,
        REASON,
        "grain directory",
    )?;
    let mut entries = Vec::new();
    let min_bytes = if compressed { SECTOR } else { grain_bytes };
    for (gdi, gde) in gd.chunks_exact(4).enumerate() {
        let gt_at = u64::from(le32(gde, 0));
        if gt_at == 0 {
            continue;
        }
        let gt = read_table(
            src,
            gt_at * SECTOR,
            u64::from(h.gtes),
            4,
            REASON,
            "grain table",
        )?;
        for (gti, gte) in gt.chunks_exact(4).enumerate() {
            let sector = u64::from(le32(gte, 0));
            if sector == 0 {
                continue;
            }
            let idx = gdi as u64 * u64::from(h.gtes) + gti as u64;
            if idx * h.grain >= h.capacity {
                return Err(invalid(
                    REASON,
                    format!("grain {idx} lies past the capacity"),
                ));
            }
            let loc = if sector == 1 {
                // Version 2+: a zeroed grain reads as zeros, like an unallocated one.
                continue;
            } else if compressed {
                grain_marker(src, sector * SECTOR, idx * h.grain, grain_bytes)?
            } else {
                let at = sector * SECTOR;
                // A last grain cut short by the file reads its tail as zeros.
                if at >= len {
                    return Err(invalid(
                        REASON,
                        format!("grain {idx} at sector {sector} lies past the end of the file"),
                    ));
                }
                Loc::At(at)
            };
            entries.push((idx, loc));
            check_count(entries.len(), len, min_bytes, REASON)?;
        }
    }
    let entries = finish_entries(entries, REASON)?;
    Ok((
        size,
        Map::Clusters {
            size: grain_bytes,
            entries,
        },
    ))
}

/// A compressed grain at `at`: `{lba: u64, size: u32}` then `size` bytes of zlib data (VMDK
/// 5.0, "Compressed grains"; the same with or without stream markers).
fn grain_marker(src: &dyn Backing, at: u64, lba: u64, grain_bytes: u64) -> Parsed<Loc> {
    let mut m = [0u8; 12];
    read_exact(src, at, &mut m, REASON, "grain marker")?;
    let (found, n) = (le64(&m, 0), le32(&m, 8));
    if found != lba {
        return Err(invalid(
            REASON,
            format!("the grain at byte {at} says it holds sector {found}, its table says {lba}"),
        ));
    }
    // Deflate never grows data by more than a few bytes per 16 KiB block.
    if n == 0 || u64::from(n) > grain_bytes + grain_bytes / 8 + 1024 {
        return Err(invalid(
            REASON,
            format!("the compressed grain at byte {at} claims {n} bytes"),
        ));
    }
    let data = at + 12;
    if data + u64::from(n) > src.len() {
        return Err(invalid(
            REASON,
            format!("the compressed grain at byte {at} lies past the end of the file"),
        ));
    }
    Ok(Loc::Deflated { at: data, len: n })
}
