//! Disk image formats of ImportSnapshot: RAW, VMDK (monolithicSparse and streamOptimized), VHD
//! (fixed and dynamic) and qcow2 (versions 2 and 3, uncompressed, no backing file).
//!
//! Each parser reads the image's headers and tables from a [`Backing`] (the file, or memory in
//! tests and fuzzing) and returns a [`DiskImage`]: a read-only [`Backing`] whose bytes are the
//! disk's contents, so the existing import mover streams it into a new snapshot and encrypts as
//! it writes. Parsers trust nothing in the file: every offset is checked against the file's
//! length, every table is read only where it lies inside the file, and no allocation is sized
//! by a header field beyond what the file itself holds, so a malformed image is refused with
//! AWS's `ClientError: Disk validation failed […]` message, never a panic or a huge allocation.
//!
//! No catalog, keys or clock here: bytes in, a map of the disk out.

mod qcow2;
mod vhd;
mod vmdk;

use crate::storage::Backing;
use std::fmt;
use std::io;

/// The largest disk an import accepts: 16 TiB, EBS's largest snapshot and the largest file a
/// 4 KiB-block ext4 can hold (the new snapshot is a sparse file of the disk's size).
pub(crate) const MAX_DISK: u64 = 16 << 40;

/// A disk image format (`DiskContainer.Format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Format {
    Raw,
    Vmdk,
    Vhd,
    Qcow2,
}

impl Format {
    /// Parses AWS's names (`RAW`, `VMDK`, `VHD`, and blockseal's `QCOW2`), in any case.
    pub(crate) fn parse(s: &str) -> Option<Format> {
        Some(match s.to_ascii_uppercase().as_str() {
            "RAW" => Format::Raw,
            "VMDK" => Format::Vmdk,
            "VHD" | "VPC" => Format::Vhd,
            "QCOW2" => Format::Qcow2,
            _ => return None,
        })
    }

    /// The name AWS shows (`SnapshotTaskDetail.Format`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Raw => "RAW",
            Format::Vmdk => "VMDK",
            Format::Vhd => "VHD",
            Format::Qcow2 => "QCOW2",
        }
    }
}

/// Why an image was refused: the text after `ClientError: Disk validation failed `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// AWS's bracketed reason, e.g. `Unsupported VMDK File Format`.
    pub reason: &'static str,
    /// What exactly is wrong, for the user.
    pub detail: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ClientError: Disk validation failed [{}]: {}",
            self.reason, self.detail
        )
    }
}

pub(crate) type Parsed<T> = std::result::Result<T, Invalid>;

pub(crate) fn invalid(reason: &'static str, detail: impl Into<String>) -> Invalid {
    Invalid {
        reason,
        detail: detail.into(),
    }
}

/// The reason for a file that is not in the format the request names.
pub(crate) const WRONG_FORMAT: &str = "Unsupported Specified FileFormat";

/// Where a run of the disk's bytes comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    /// Stored as is at this file offset.
    At(u64),
    /// A zlib stream of `len` bytes at `at` (a streamOptimized VMDK grain).
    Deflated { at: u64, len: u32 },
}

/// How the disk's bytes map onto the file.
#[derive(Debug)]
enum Map {
    /// The disk is the file's bytes from `base` (RAW, fixed VHD).
    Flat { base: u64 },
    /// Fixed-size clusters: the allocated ones, sorted by cluster index; the others (never
    /// written, or marked zero by the image) read as zeros.
    Clusters { size: u64, entries: Vec<(u64, Loc)> },
}

/// A disk image opened for reading: a read-only [`Backing`] holding the disk's bytes.
pub(crate) struct DiskImage<B> {
    src: B,
    format: Format,
    size: u64,
    map: Map,
}

impl<B> fmt::Debug for DiskImage<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskImage")
            .field("format", &self.format)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The format `src`'s first and last bytes announce, if any.
pub(crate) fn sniff(src: &dyn Backing) -> Option<Format> {
    let len = src.len();
    let mut head = [0u8; 8];
    if len >= 8 && src.read_at(0, &mut head).is_ok() {
        if head[..4] == vmdk::MAGIC || head.starts_with(b"# Disk D") {
            return Some(Format::Vmdk);
        }
        if head[..4] == qcow2::MAGIC {
            return Some(Format::Qcow2);
        }
        if head == vhd::COOKIE {
            return Some(Format::Vhd);
        }
    }
    let mut tail = [0u8; 8];
    if len >= 512 && src.read_at(len - 512, &mut tail).is_ok() && tail == vhd::COOKIE {
        return Some(Format::Vhd);
    }
    None
}

/// Opens `src` as a disk image in `format`.
///
/// # Errors
/// [`Invalid`] when the file is not a valid image of that format (or, for RAW, is recognisably
/// another format), or describes a disk this import does not support.
pub(crate) fn open<B: Backing>(src: B, format: Format) -> Parsed<DiskImage<B>> {
    let found = sniff(&src);
    let len = src.len();
    if len == 0 {
        return Err(invalid("Empty Disk Image", "the disk image holds no bytes"));
    }
    let (size, map) = match format {
        Format::Raw => {
            if let Some(f) = found {
                return Err(invalid(
                    WRONG_FORMAT,
                    format!("the file is a {} image, not RAW", f.name()),
                ));
            }
            (len, Map::Flat { base: 0 })
        }
        Format::Vmdk => vmdk::parse(&src, found)?,
        Format::Vhd => vhd::parse(&src, found)?,
        Format::Qcow2 => qcow2::parse(&src, found)?,
    };
    if size == 0 {
        return Err(invalid("Empty Disk Image", "the disk's size is zero"));
    }
    if size > MAX_DISK {
        return Err(invalid(
            "Unsupported Disk Size",
            format!("the disk is {size} bytes; the largest import is 16 TiB"),
        ));
    }
    Ok(DiskImage {
        src,
        format,
        size,
        map,
    })
}

impl<B> DiskImage<B> {
    /// The disk's size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

/// Reads exactly `buf.len()` bytes at `at`, or says which structure lies outside the file.
pub(crate) fn read_exact(
    src: &dyn Backing,
    at: u64,
    buf: &mut [u8],
    reason: &'static str,
    what: &str,
) -> Parsed<()> {
    let end = at.checked_add(buf.len() as u64);
    if end.is_none_or(|e| e > src.len()) {
        return Err(invalid(
            reason,
            format!("the {what} at byte {at} lies past the end of the file"),
        ));
    }
    src.read_at(at, buf).map_err(|e| {
        invalid(
            reason,
            format!("the {what} at byte {at} cannot be read: {e}"),
        )
    })
}

/// Reads a table of `n` entries of `width` bytes at `at`: the table must lie inside the file,
/// so its allocation is bounded by the file's length.
pub(crate) fn read_table(
    src: &dyn Backing,
    at: u64,
    n: u64,
    width: u64,
    reason: &'static str,
    what: &str,
) -> Parsed<Vec<u8>> {
    let bytes = n
        .checked_mul(width)
        .filter(|b| at.checked_add(*b).is_some_and(|e| e <= src.len()))
        .ok_or_else(|| {
            invalid(
                reason,
                format!("the {what} ({n} entries at byte {at}) lies past the end of the file"),
            )
        })?;
    let mut buf =
        vec![0u8; usize::try_from(bytes).map_err(|_| invalid(reason, "table too large"))?];
    read_exact(src, at, &mut buf, reason, what)?;
    Ok(buf)
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
pub(crate) fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn read_only() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "a disk image is read-only")
}

impl<B: Backing> DiskImage<B> {
    /// Fills `buf` with cluster `idx`'s bytes from `skip` on.
    fn read_cluster(&self, size: u64, loc: Loc, skip: u64, buf: &mut [u8]) -> io::Result<()> {
        match loc {
            Loc::At(at) => {
                // The parser checked that whole clusters lie in the file; the tail of a last
                // cluster cut short by the file reads as zeros.
                let start = at + skip;
                let have = self.src.len().saturating_sub(start).min(buf.len() as u64) as usize;
                self.src.read_at(start, &mut buf[..have])?;
                buf[have..].fill(0);
                Ok(())
            }
            Loc::Deflated { at, len } => {
                let mut packed = vec![0u8; len as usize];
                self.src.read_at(at, &mut packed)?;
                let limit = usize::try_from(size).expect("a cluster fits memory");
                let plain = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&packed, limit)
                    .map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "ClientError: Disk validation failed [Unsupported VMDK \
                                     File Format]: the compressed grain at byte {at} does not \
                                     inflate: {:?}",
                                e.status
                            ),
                        )
                    })?;
                let skip = skip as usize;
                let have = plain.len().saturating_sub(skip).min(buf.len());
                buf[..have].copy_from_slice(&plain[skip..skip + have]);
                buf[have..].fill(0);
                Ok(())
            }
        }
    }
}

impl<B: Backing> Backing for DiskImage<B> {
    fn len(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|e| *e <= self.size)
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        match &self.map {
            Map::Flat { base } => {
                let have = self
                    .src
                    .len()
                    .saturating_sub(base + offset)
                    .min(buf.len() as u64);
                let have = have as usize;
                self.src.read_at(base + offset, &mut buf[..have])?;
                buf[have..].fill(0);
                Ok(())
            }
            Map::Clusters { size, entries } => {
                let size = *size;
                let mut at = offset;
                while at < end {
                    let idx = at / size;
                    let skip = at % size;
                    let n = (size - skip).min(end - at);
                    let from = (at - offset) as usize;
                    let part = &mut buf[from..from + n as usize];
                    match entries.binary_search_by_key(&idx, |e| e.0) {
                        Ok(i) => self.read_cluster(size, entries[i].1, skip, part)?,
                        Err(_) => part.fill(0),
                    }
                    at += n;
                }
                Ok(())
            }
        }
    }

    fn write_at(&self, _offset: u64, _data: &[u8]) -> io::Result<()> {
        Err(read_only())
    }

    fn punch_hole(&self, _offset: u64, _len: u64) -> io::Result<()> {
        Err(read_only())
    }

    fn data_extents(&self, start: u64, end: u64) -> io::Result<Vec<(u64, u64)>> {
        let end = end.min(self.size);
        match &self.map {
            Map::Flat { base } => {
                let src_end = self.src.len().saturating_sub(*base).min(end);
                Ok(self
                    .src
                    .data_extents(base + start, base + src_end)?
                    .into_iter()
                    .map(|(s, e)| (s - base, e - base))
                    .collect())
            }
            Map::Clusters { size, entries } => {
                let mut out: Vec<(u64, u64)> = Vec::new();
                for (idx, _) in entries {
                    let s = (idx * size).max(start);
                    let e = ((idx + 1) * size).min(end);
                    if s >= e {
                        continue;
                    }
                    match out.last_mut() {
                        Some(last) if last.1 == s => last.1 = e,
                        _ => out.push((s, e)),
                    }
                }
                Ok(out)
            }
        }
    }

    fn sync(&self) -> io::Result<()> {
        Ok(())
    }

    fn name(&self) -> String {
        format!("{} image {}", self.format.name(), self.src.name())
    }
}

/// Bytes in memory as a read-only backing: tests and fuzzing hand parsers images this way.
#[derive(Debug)]
pub(crate) struct Bytes(pub Vec<u8>);

impl Backing for Bytes {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .filter(|e| *e <= self.0.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(&self.0[start..end]);
        Ok(())
    }
    fn write_at(&self, _offset: u64, _data: &[u8]) -> io::Result<()> {
        Err(read_only())
    }
    fn punch_hole(&self, _offset: u64, _len: u64) -> io::Result<()> {
        Err(read_only())
    }
    fn data_extents(&self, start: u64, end: u64) -> io::Result<Vec<(u64, u64)>> {
        let end = end.min(self.len());
        Ok(if start < end {
            vec![(start, end)]
        } else {
            Vec::new()
        })
    }
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
    fn name(&self) -> String {
        "memory".to_owned()
    }
}

/// Checks a cluster table's entry count against the file: each allocated cluster takes at least
/// `min_bytes` of the file, so more entries than that means a table that repeats itself.
pub(crate) fn check_count(
    entries: usize,
    file_len: u64,
    min_bytes: u64,
    reason: &'static str,
) -> Parsed<()> {
    if entries as u64 > file_len / min_bytes + 1 {
        return Err(invalid(
            reason,
            format!("the tables map {entries} clusters, more than the file can hold"),
        ));
    }
    Ok(())
}

/// Sorts `entries` and refuses a cluster mapped twice.
pub(crate) fn finish_entries(
    mut entries: Vec<(u64, Loc)>,
    reason: &'static str,
) -> Parsed<Vec<(u64, Loc)>> {
    entries.sort_unstable_by_key(|e| e.0);
    if entries.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(invalid(reason, "a cluster of the disk is mapped twice"));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests;
