//! VHD (Microsoft's "Virtual Hard Disk Image Format Specification"): fixed disks (the data,
//! then a 512-byte footer) and dynamic disks (a footer copy, a dynamic header, the block
//! allocation table, then blocks of a sector bitmap and data). Differencing disks need their
//! parent and are refused. All fields are big-endian.

use super::{be32, be64, check_count, finish_entries, invalid, read_exact, read_table};
use super::{Format, Loc, Map, Parsed, WRONG_FORMAT};
use crate::storage::Backing;

pub(super) const COOKIE: [u8; 8] = *b"conectix";
const SPARSE_COOKIE: [u8; 8] = *b"cxsparse";
const REASON: &str = "Unsupported VHD File Format";
const FOOTER_REASON: &str = "Unsupported VHD Footer";
const SECTOR: u64 = 512;
const FIXED: u32 = 2;
const DYNAMIC: u32 = 3;
const DIFFERENCING: u32 = 4;
const UNALLOCATED: u32 = u32::MAX;
/// The largest block: 256 MiB (Hyper-V writes 2 or 32 MiB).
const MAX_BLOCK: u32 = 256 << 20;

/// The one's complement of the sum of every byte but the checksum's own four at `at`.
fn checksum(b: &[u8], at: usize) -> u32 {
    let sum = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(at..at + 4).contains(i))
        .fold(0u32, |s, (_, x)| s.wrapping_add(u32::from(*x)));
    !sum
}

pub(super) fn parse(src: &dyn Backing, found: Option<Format>) -> Parsed<(u64, Map)> {
    if found != Some(Format::Vhd) {
        return Err(invalid(WRONG_FORMAT, "the file is not a VHD image"));
    }
    let len = src.len();
    let mut f = [0u8; 512];
    // The footer ends the file; a dynamic disk also starts with a copy of it.
    if len >= 512 {
        read_exact(src, len - 512, &mut f, FOOTER_REASON, "footer")?;
    }
    if f[..8] != COOKIE {
        read_exact(src, 0, &mut f, FOOTER_REASON, "footer copy")?;
    }
    if checksum(&f, 64) != be32(&f, 64) {
        return Err(invalid(
            FOOTER_REASON,
            "the footer's checksum does not match",
        ));
    }
    let size = be64(&f, 48);
    match be32(&f, 60) {
        FIXED => {
            if size > len - 512 {
                return Err(invalid(
                    REASON,
                    format!("a fixed disk of {size} bytes in a file of {len} bytes"),
                ));
            }
            Ok((size, Map::Flat { base: 0 }))
        }
        DYNAMIC => dynamic(src, &f, size),
        DIFFERENCING => Err(invalid(
            REASON,
            "a differencing disk needs its parent; merge it into a dynamic or fixed disk",
        )),
        t => Err(invalid(FOOTER_REASON, format!("disk type {t}"))),
    }
}

fn dynamic(src: &dyn Backing, footer: &[u8], size: u64) -> Parsed<(u64, Map)> {
    let len = src.len();
    let mut d = [0u8; 1024];
    read_exact(src, be64(footer, 16), &mut d, REASON, "dynamic disk header")?;
    if d[..8] != SPARSE_COOKIE {
        return Err(invalid(
            REASON,
            "the dynamic disk header has no cxsparse cookie",
        ));
    }
    if checksum(&d, 36) != be32(&d, 36) {
        return Err(invalid(
            REASON,
            "the dynamic disk header's checksum does not match",
        ));
    }
    let table = be64(&d, 16);
    let max_entries = u64::from(be32(&d, 28));
    let block = be32(&d, 32);
    if !block.is_power_of_two() || u64::from(block) < SECTOR || block > MAX_BLOCK {
        return Err(invalid(REASON, format!("a block size of {block} bytes")));
    }
    let block = u64::from(block);
    let needed = size.div_ceil(block);
    if needed > max_entries {
        return Err(invalid(
            REASON,
            format!("{max_entries} table entries cannot map {size} bytes"),
        ));
    }
    let bat = read_table(src, table, needed, 4, REASON, "block allocation table")?;
    // Each block starts with a bitmap of its sectors, padded to whole sectors.
    let bitmap = (block / SECTOR).div_ceil(8).div_ceil(SECTOR) * SECTOR;
    let mut entries = Vec::new();
    for (i, e) in bat.chunks_exact(4).enumerate() {
        let sector = be32(e, 0);
        if sector == UNALLOCATED {
            continue;
        }
        let at = u64::from(sector) * SECTOR + bitmap;
        if at >= len {
            return Err(invalid(
                REASON,
                format!("block {i} at sector {sector} lies past the end of the file"),
            ));
        }
        entries.push((i as u64, Loc::At(at)));
        check_count(entries.len(), len, SECTOR, REASON)?;
    }
    let entries = finish_entries(entries, REASON)?;
    Ok((
        size,
        Map::Clusters {
            size: block,
            entries,
        },
    ))
}
