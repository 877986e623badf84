//! Bulk data movement into, out of and between blob files, in parallel: import a plaintext
//! file into a new blob, export a blob's plaintext to a file, clone a blob (preserve copy: same
//! ciphertext, same data key) and rekey a blob (decrypt with one data key, encrypt with another,
//! or encrypt a plaintext volume).
//!
//! How: the source's data extents (SEEK_DATA/SEEK_HOLE) are cut into sector-aligned chunks of
//! about 1 MiB (`plan_chunks`, pure), which rayon hands out as contiguous ranges; each worker
//! reads a chunk into its own scratch buffer (pread, or a copy out of a read-only map), skips
//! all-zero sectors, transforms runs of the rest in place and pwrites them. No channels, no
//! hand-offs. Every mover fsyncs the destination when it ends, so the `persist` that follows
//! inside a catalog transaction has nothing left to flush. Sources and destinations are read
//! and written through the storage seam (`crate::storage::Backing`), so the same movers run over
//! memory and injected faults in tests; the clone's reflink and copy_file_range stay between
//! two files.
//!
//! Measured on /dev/shm (256 MiB, 2-core VM, benches/rekey.rs): allocating the destination's
//! fresh pages is a bound of its own next to the cipher (PERFORMANCE-NOTES A2). pwrite from the
//! scratch buffer beat writing through a shared map prefaulted with MADV_POPULATE_WRITE by about
//! 20 %, so the destination is never mapped. A mapped source (MADV_SEQUENTIAL) was no faster than
//! pread, so pread is the default and the map stays a bench option. 1 MiB chunks were as fast as
//! 4 MiB with one worker and faster with two.
//!
//! The API, all `pub(crate)`, each returning the bytes written to the destination:
//! - `import_plain(src: &Path, dst: &TempBlob, to: Option<&Xts>, &dyn Progress) -> Result<u64>`
//! - `export_plain(src: &Blob, from: Option<&Xts>, out: &Path, home: Option<&Path>,
//!   &dyn Progress) -> Result<u64>`
//! - `clone_blob(src: &Blob, dst: &TempBlob, &dyn Progress) -> Result<u64>`
//! - `rekey_blob(src: &Blob, from: Option<&Xts>, dst: &TempBlob, to: &Xts, &dyn Progress)
//!   -> Result<u64>` (and `rekey_blob_tuned` with an explicit [`Tuning`])
//!
//! Must not: modify a source; let plaintext leave the per-worker scratch buffers (zeroized when
//! a worker ends) except into an export's output; keep keys beyond the call; touch the catalog;
//! print.

use crate::blob::{self, Blob, TempBlob, HEADER_LEN};
use crate::error::{bail, Code, Error, Result};
use crate::paths::OutDir;
use crate::progress::Progress;
use crate::storage::Backing;
use crate::xts::Xts;
use rayon::prelude::*;
#[cfg(test)]
use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use zeroize::Zeroizing;

/// Bytes per chunk unless tuned (see the module docs for the measurement). 1 MiB also fits a
/// worker's buffer in its L2 cache while pwrite copies it out.
pub(crate) const DEFAULT_CHUNK: usize = 1 << 20;

/// How workers read the source of a rekey or export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SourceRead {
    /// pread each chunk into the scratch buffer.
    Pread,
    /// Map the source read-only (MADV_SEQUENTIAL) and copy only non-zero runs out of the map.
    Mmap,
}

/// Knobs of the data movers, for benches; `Tuning::default()` is the measured choice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    /// Bytes per chunk: a multiple of 4096, 1–4 MiB is sensible.
    pub chunk: usize,
    /// How the source is read.
    pub source: SourceRead,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            chunk: DEFAULT_CHUNK,
            source: SourceRead::Pread,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The chunk plan (pure).

/// Cuts `extents` (byte ranges that may hold data, sorted) into the chunks workers process:
/// rounded out to whole sectors, clipped to `[0, limit)`, merged where rounding makes them touch,
/// and split at multiples of `chunk`, so every chunk is sector aligned, at most `chunk` long,
/// and every data byte below `limit` lies in exactly one chunk.
///
/// # Panics
/// If `sector` is zero, `chunk` is not a multiple of `sector`, or `limit` is not.
pub(crate) fn plan_chunks(
    extents: &[(u64, u64)],
    limit: u64,
    sector: u64,
    chunk: u64,
) -> Vec<Range<u64>> {
    assert!(
        sector > 0 && chunk >= sector && chunk.is_multiple_of(sector),
        "bad chunk geometry"
    );
    assert!(limit.is_multiple_of(sector), "limit is not whole sectors");
    let mut merged: Vec<Range<u64>> = Vec::new();
    for &(a, b) in extents {
        let (a, b) = (a.min(limit), b.min(limit));
        if a >= b {
            continue;
        }
        let a = a / sector * sector;
        let b = b.div_ceil(sector) * sector;
        match merged.last_mut() {
            Some(last) if a <= last.end => last.end = last.end.max(b),
            _ => merged.push(a..b),
        }
    }
    let mut out = Vec::new();
    for r in merged {
        let mut s = r.start;
        while s < r.end {
            let e = ((s / chunk + 1) * chunk).min(r.end);
            out.push(s..e);
            s = e;
        }
    }
    out
}

fn plan_bytes(plan: &[Range<u64>]) -> u64 {
    plan.iter().map(|r| r.end - r.start).sum()
}

/// The next run `[start, end)` of consecutive sectors of `buf` (from byte `at`) that are not all
/// zero, as byte offsets into `buf`.
fn next_run(buf: &[u8], ss: usize, mut at: usize) -> Option<(usize, usize)> {
    while at < buf.len() && blob::is_zero(&buf[at..at + ss]) {
        at += ss;
    }
    if at >= buf.len() {
        return None;
    }
    let start = at;
    while at < buf.len() && !blob::is_zero(&buf[at..at + ss]) {
        at += ss;
    }
    Some((start, at))
}

// ---------------------------------------------------------------------------------------------
// Transforms.

/// Decrypts `data` with `from`, then encrypts it with `to`, sector by sector from
/// `first_sector`.
///
#[derive(Clone, Copy)]
enum Transform<'a> {
    /// Bytes go through unchanged (clone fallback, plaintext to plaintext).
    Copy,
    Encrypt(&'a Xts),
    /// Output is plaintext: all-zero plaintext sectors are skipped too.
    Decrypt(&'a Xts),
    Rekey(&'a Xts, &'a Xts),
}

impl Transform<'_> {
    fn apply(self, first_sector: u64, ss: usize, data: &mut [u8]) {
        match self {
            Transform::Copy => {}
            Transform::Encrypt(x) => x.encrypt_sectors(first_sector, ss, data),
            Transform::Decrypt(x) => x.decrypt_sectors(first_sector, ss, data),
            Transform::Rekey(from, to) => {
                crate::xts::rekey_sectors(from, to, first_sector, ss, data)
            }
        }
    }

    fn makes_plaintext(self) -> bool {
        matches!(self, Transform::Decrypt(_))
    }
}

// ---------------------------------------------------------------------------------------------
// The worker.

/// A worker's scratch buffer: allocated once at full size on first use (so it never
/// reallocates and leaves a copy behind), zeroized when dropped, because it holds plaintext.
struct Scratch {
    buf: Zeroizing<Vec<u8>>,
    cap: usize,
}

impl Scratch {
    fn new(cap: usize) -> Scratch {
        Scratch {
            buf: Zeroizing::new(Vec::new()),
            cap,
        }
    }

    fn get(&mut self, n: usize) -> &mut [u8] {
        assert!(n <= self.cap, "chunk larger than the scratch buffer");
        if self.buf.is_empty() {
            *self.buf = vec![0u8; self.cap];
        }
        &mut self.buf[..n]
    }
}

enum Source<'a> {
    /// Read from `backing` at `base` + chunk offset; bytes at or past `len` read as zeros.
    Backing {
        backing: &'a dyn Backing,
        path: &'a Path,
        base: u64,
        len: u64,
    },
    /// The mapped data region.
    Map(&'a [u8]),
}

/// Moves chunks from a source to a destination [`Backing`] (the storage seam: files in
/// operation, memory and fault injection in tests).
struct Mover<'a> {
    src: Source<'a>,
    dst: &'a dyn Backing,
    dst_path: &'a Path,
    dst_base: u64,
    ss: usize,
    transform: Transform<'a>,
}

impl Mover<'_> {
    /// Moves chunk `r` (data-region byte offsets): returns the bytes written.
    fn chunk(&self, scratch: &mut Scratch, r: Range<u64>) -> Result<u64> {
        let n = usize::try_from(r.end - r.start).expect("a chunk fits the scratch buffer");
        let buf = scratch.get(n);
        let map = match self.src {
            Source::Backing {
                backing,
                path,
                base,
                len,
            } => {
                let avail = usize::try_from(len.saturating_sub(r.start).min(n as u64))
                    .expect("bounded by n");
                backing
                    .read_at(base + r.start, &mut buf[..avail])
                    .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
                buf[avail..].fill(0);
                None
            }
            Source::Map(m) => {
                let at = usize::try_from(r.start).expect("a mapped offset fits usize");
                Some(&m[at..at + n])
            }
        };
        let ss = self.ss;
        let mut written = 0u64;
        let mut at = 0;
        loop {
            let run = match map {
                Some(m) => next_run(m, ss, at),
                None => next_run(buf, ss, at),
            };
            let Some((s, e)) = run else { break };
            at = e;
            if let Some(m) = map {
                buf[s..e].copy_from_slice(&m[s..e]);
            }
            self.transform
                .apply((r.start + s as u64) / ss as u64, ss, &mut buf[s..e]);
            if self.transform.makes_plaintext() {
                let mut p = s;
                while let Some((ps, pe)) = next_run(&buf[..e], ss, p) {
                    written += self.write(&buf[ps..pe], r.start + ps as u64)?;
                    p = pe;
                }
            } else {
                written += self.write(&buf[s..e], r.start + s as u64)?;
            }
        }
        Ok(written)
    }

    fn write(&self, data: &[u8], at: u64) -> Result<u64> {
        self.dst
            .write_at(self.dst_base + at, data)
            .map_err(|e| Error::io(format!("write {}", self.dst_path.display()), e))?;
        Ok(data.len() as u64)
    }
}

/// Runs `work` over every chunk of `plan` in parallel, one scratch buffer per rayon task (a
/// contiguous run of chunks), reporting each chunk to `progress`. Returns the sum of `work`.
fn run_plan(
    plan: &[Range<u64>],
    chunk: usize,
    progress: &dyn Progress,
    work: impl Fn(&mut Scratch, Range<u64>) -> Result<u64> + Sync,
) -> Result<u64> {
    let written = AtomicU64::new(0);
    plan.par_iter().try_for_each_init(
        || Scratch::new(chunk),
        |scratch, r| {
            written.fetch_add(work(scratch, r.clone())?, Ordering::Relaxed);
            progress.advance(r.end - r.start);
            Ok::<(), Error>(())
        },
    )?;
    Ok(written.into_inner())
}

/// Calls `Progress::begin` now and `end` when dropped, whether the work succeeded or not.
struct Stage<'a>(&'a dyn Progress);

impl<'a> Stage<'a> {
    fn begin(progress: &'a dyn Progress, label: &str, total: u64) -> Stage<'a> {
        progress.begin(label, total);
        Stage(progress)
    }
}

impl Drop for Stage<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

// ---------------------------------------------------------------------------------------------
// The movers.

/// Sector sizes equal and the destination at least as large as the source.
fn check_pair(src: &Blob, dst: &TempBlob) -> Result<()> {
    let (s, d) = (src.header(), dst.header());
    if s.sector_size != d.sector_size {
        bail!(
            Code::INVALID_PARAMETER_COMBINATION,
            "sector sizes differ: {} has {}, {} has {}",
            src.path().display(),
            s.sector_size,
            dst.path().display(),
            d.sector_size
        );
    }
    if d.size < s.size {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "the destination ({} bytes) is smaller than the source ({} bytes)",
            d.size,
            s.size
        );
    }
    Ok(())
}

/// Opens a file the user named; failures are the user's file's fault (`InvalidFile`).
#[cfg(test)]
fn user_file(path: &Path, what: &str, f: impl FnOnce() -> io::Result<File>) -> Result<File> {
    f().map_err(|e| {
        Error::new(
            Code::INVALID_FILE,
            format!("cannot {what} {}: {e}", path.display()),
        )
        .with_source(e)
    })
}

/// Reads the plaintext file `src` into the fresh blob `dst`, encrypting with `to` (None for an
/// unencrypted volume). `src` may be shorter than the volume (the rest reads as zeros) and
/// sparse; its holes and all-zero sectors are not written. `src` is not modified.
///
/// # Errors
/// `InvalidFile` if `src` cannot be opened, is not a regular file or is larger than the volume;
/// `InternalError` if `to` does not match `dst`'s cipher; I/O errors.
#[cfg(test)]
pub(crate) fn import_plain(
    src: &Path,
    dst: &TempBlob,
    to: Option<&Xts>,
    progress: &dyn Progress,
) -> Result<u64> {
    let h = dst.header();
    blob::check_key(h, to, dst.path())?;
    let file = user_file(src, "open", || File::open(src))?;
    let meta = file.metadata().map_err(|e| {
        Error::new(
            Code::INVALID_FILE,
            format!("cannot stat {}: {e}", src.display()),
        )
    })?;
    if !meta.is_file() {
        bail!(
            Code::INVALID_FILE,
            "{} is not a regular file",
            src.display()
        );
    }
    let len = meta.len();
    if len > h.size {
        bail!(
            Code::INVALID_FILE,
            "{} is {len} bytes, larger than the volume ({} bytes)",
            src.display(),
            h.size
        );
    }
    import_image(&file, src, dst, to, progress)
}

/// Writes the disk `src` (a file, or a parsed disk image such as `crate::import::DiskImage`)
/// into the sectors of `dst`, encrypting with `to` (None for an unencrypted blob); only the
/// ranges `src` reports as data are read, and all-zero sectors stay holes. `path` names the
/// source in errors.
///
/// # Errors
/// `InvalidFile` if `src` is larger than the volume; read errors of the source (a damaged
/// image) and write errors of the destination.
pub(crate) fn import_image(
    src: &dyn Backing,
    path: &Path,
    dst: &TempBlob,
    to: Option<&Xts>,
    progress: &dyn Progress,
) -> Result<u64> {
    let h = dst.header();
    blob::check_key(h, to, dst.path())?;
    let len = src.len();
    if len > h.size {
        bail!(
            Code::INVALID_FILE,
            "{} is {len} bytes, larger than the volume ({} bytes)",
            path.display(),
            h.size
        );
    }
    let ss = u64::from(h.sector_size);
    let extents = src
        .data_extents(0, len)
        .map_err(|e| Error::io(format!("seek data {}", path.display()), e))?;
    let plan = plan_chunks(&extents, len.div_ceil(ss) * ss, ss, DEFAULT_CHUNK as u64);
    let _stage = Stage::begin(progress, "import", plan_bytes(&plan));
    let mover = Mover {
        src: Source::Backing {
            backing: src,
            path,
            base: 0,
            len,
        },
        dst: dst.file(),
        dst_path: dst.path(),
        dst_base: HEADER_LEN as u64,
        ss: ss as usize,
        transform: to.map_or(Transform::Copy, Transform::Encrypt),
    };
    let written = run_plan(&plan, DEFAULT_CHUNK, progress, |s, r| mover.chunk(s, r))?;
    dst.sync()?;
    Ok(written)
}

/// Writes the plaintext of the whole volume `src` to `out` (decrypting with `from`, None for an
/// unencrypted volume): `out` ends up exactly the volume's size, sparse where the volume has
/// holes or all-zero sectors, mode 0600 whatever the umask. Written to an unnamed file in
/// `out`'s directory (or, without `O_TMPFILE`, a random name created exclusively), fsynced and
/// only then linked or renamed to `out`, so `out` is never half written and an interrupted
/// export leaves nothing (`crate::paths`). `src` is not modified.
///
/// # Errors
/// `InvalidFile` if `out` exists and is not a regular file, is `src`'s own file, or its
/// directory cannot be written, is inside `home` or is on a pseudo file system;
/// `InternalError` if `from` does not match `src`'s cipher; I/O errors.
pub(crate) fn export_plain(
    src: &Blob,
    from: Option<&Xts>,
    out: &Path,
    home: Option<&Path>,
    progress: &dyn Progress,
) -> Result<u64> {
    export_plain_tuned(src, from, out, home, progress, Tuning::default())
}

fn export_plain_tuned(
    src: &Blob,
    from: Option<&Xts>,
    out: &Path,
    home: Option<&Path>,
    progress: &dyn Progress,
    tuning: Tuning,
) -> Result<u64> {
    let h = src.header();
    blob::check_key(h, from, src.path())?;
    let dir = OutDir::open(out, home, src.file())?;
    let tmp = dir.create()?;
    let t = out.display();
    tmp.file()
        .set_len(h.size)
        .map_err(|e| Error::io(format!("set length of the output of {t}"), e))?;

    let ss = u64::from(h.sector_size);
    let plan = plan_chunks(&src.data_extents()?, h.size, ss, tuning.chunk as u64);
    let written = {
        let _stage = Stage::begin(progress, "export", plan_bytes(&plan));
        let map = match tuning.source {
            SourceRead::Mmap => src.map()?,
            SourceRead::Pread => None,
        };
        let mover = Mover {
            src: match &map {
                Some(m) => Source::Map(m),
                None => Source::Backing {
                    backing: src.file(),
                    path: src.path(),
                    base: HEADER_LEN as u64,
                    len: h.size,
                },
            },
            dst: tmp.file(),
            dst_path: out,
            dst_base: 0,
            ss: ss as usize,
            transform: from.map_or(Transform::Copy, Transform::Decrypt),
        };
        run_plan(&plan, tuning.chunk, progress, |s, r| mover.chunk(s, r))?
    };
    tmp.commit()?;
    Ok(written)
}

/// Copies `src`'s ciphertext into the fresh blob `dst`, which keeps its own header (a preserve
/// copy: same cipher, same data key). A reflink (FICLONERANGE) where the filesystem can, else
/// copy_file_range over the data extents only (holes stay holes), else pread/pwrite skipping
/// all-zero sectors. `src` is not modified.
///
/// # Errors
/// `InvalidParameterCombination` for different sector sizes; `InvalidParameterValue` if `dst`
/// is smaller; `InternalError` if the headers name different ciphers or data keys; I/O errors.
pub(crate) fn clone_blob(src: &Blob, dst: &TempBlob, progress: &dyn Progress) -> Result<u64> {
    clone_with(src, dst, progress, CloneMethod::Reflink).map(|(n, _)| n)
}

/// How a clone moved the bytes, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum CloneMethod {
    /// FICLONERANGE: extents shared, no data copied.
    Reflink,
    /// copy_file_range over the data extents.
    CopyRange,
    /// pread/pwrite skipping all-zero sectors (for at least one chunk).
    ReadWrite,
}

/// [`clone_blob`], starting the fallback ladder at `first` (tests start lower to exercise the
/// fallbacks); also says which method did the work.
fn clone_with(
    src: &Blob,
    dst: &TempBlob,
    progress: &dyn Progress,
    first: CloneMethod,
) -> Result<(u64, CloneMethod)> {
    check_pair(src, dst)?;
    let (s, d) = (src.header(), dst.header());
    if s.cipher != d.cipher || s.dek_id != d.dek_id {
        bail!(
            Code::INTERNAL_ERROR,
            "a preserve copy keeps the data key, but {} ({:?}, {:?}) and {} ({:?}, {:?}) differ",
            src.path().display(),
            s.cipher,
            s.dek_id,
            dst.path().display(),
            d.cipher,
            d.dek_id
        );
    }
    let ss = u64::from(s.sector_size);
    let plan = plan_chunks(&src.data_extents()?, s.size, ss, DEFAULT_CHUNK as u64);
    let total = plan_bytes(&plan);
    let _stage = Stage::begin(progress, "copy", total);
    let base = HEADER_LEN as u64;
    if first == CloneMethod::Reflink && s.size > 0 {
        match blob::clone_range(src.file(), base, dst.file(), base, s.size) {
            Ok(()) => {
                progress.advance(total);
                dst.sync()?;
                return Ok((total, CloneMethod::Reflink));
            }
            Err(e) if is_out_of_space(&e) => {
                return Err(Error::io(
                    format!("reflink into {}", dst.path().display()),
                    e,
                ));
            }
            Err(_) => {} // no reflinks between these files: copy below.
        }
    }
    let mover = Mover {
        src: Source::Backing {
            backing: src.file(),
            path: src.path(),
            base,
            len: s.size,
        },
        dst: dst.file(),
        dst_path: dst.path(),
        dst_base: base,
        ss: ss as usize,
        transform: Transform::Copy,
    };
    let read_write = AtomicBool::new(first == CloneMethod::ReadWrite);
    let written = run_plan(&plan, DEFAULT_CHUNK, progress, |scratch, r| {
        let len = r.end - r.start;
        if !read_write.load(Ordering::Relaxed) {
            match blob::copy_range(src.file(), base + r.start, dst.file(), base + r.start, len) {
                Ok(()) => return Ok(len),
                Err(e) if copy_unsupported(&e) => read_write.store(true, Ordering::Relaxed),
                Err(e) => return Err(Error::io(format!("copy into {}", dst.path().display()), e)),
            }
        }
        mover.chunk(scratch, r)
    })?;
    dst.sync()?;
    let method = if read_write.into_inner() {
        CloneMethod::ReadWrite
    } else {
        CloneMethod::CopyRange
    };
    Ok((written, method))
}

fn is_out_of_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// copy_file_range errors that mean "not between these files", where pread/pwrite still works.
fn copy_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV) | Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

/// Re-encrypts `src` into the fresh blob `dst`: each data sector is decrypted with `from`
/// (None: `src` is unencrypted) and encrypted with `to`, with the same sector index as tweak.
/// Holes and all-zero source sectors are skipped and stay holes. `src` is not modified.
///
/// # Errors
/// `InvalidParameterCombination` for different sector sizes; `InvalidParameterValue` if `dst`
/// is smaller; `InternalError` if a key does not match its header's cipher; I/O errors.
pub(crate) fn rekey_blob(
    src: &Blob,
    from: Option<&Xts>,
    dst: &TempBlob,
    to: &Xts,
    progress: &dyn Progress,
) -> Result<u64> {
    rekey_blob_tuned(src, from, dst, to, progress, Tuning::default())
}

/// [`rekey_blob`] with explicit knobs (benches compare them).
///
/// # Errors
/// As [`rekey_blob`].
pub(crate) fn rekey_blob_tuned(
    src: &Blob,
    from: Option<&Xts>,
    dst: &TempBlob,
    to: &Xts,
    progress: &dyn Progress,
    tuning: Tuning,
) -> Result<u64> {
    check_pair(src, dst)?;
    blob::check_key(src.header(), from, src.path())?;
    blob::check_key(dst.header(), Some(to), dst.path())?;
    let h = src.header();
    let ss = u64::from(h.sector_size);
    let plan = plan_chunks(&src.data_extents()?, h.size, ss, tuning.chunk as u64);
    let _stage = Stage::begin(progress, "rekey", plan_bytes(&plan));
    let map = match tuning.source {
        SourceRead::Mmap => src.map()?,
        SourceRead::Pread => None,
    };
    let src = match &map {
        Some(m) => Source::Map(m),
        None => Source::Backing {
            backing: src.file(),
            path: src.path(),
            base: HEADER_LEN as u64,
            len: h.size,
        },
    };
    let written = rekey_plan(
        src,
        from,
        dst.file(),
        dst.path(),
        to,
        ss,
        &plan,
        tuning,
        progress,
    )?;
    dst.sync()?;
    Ok(written)
}

/// The rekey of `plan`'s chunks from `src` into `dst` (sectors from `HEADER_LEN`).
#[allow(clippy::too_many_arguments)]
fn rekey_plan(
    src: Source<'_>,
    from: Option<&Xts>,
    dst: &dyn Backing,
    dst_path: &Path,
    to: &Xts,
    ss: u64,
    plan: &[Range<u64>],
    tuning: Tuning,
    progress: &dyn Progress,
) -> Result<u64> {
    let mover = Mover {
        src,
        dst,
        dst_path,
        dst_base: HEADER_LEN as u64,
        ss: ss as usize,
        transform: match from {
            Some(f) => Transform::Rekey(f, to),
            None => Transform::Encrypt(to),
        },
    };
    run_plan(plan, tuning.chunk, progress, |s, r| mover.chunk(s, r))
}

/// [`rekey_blob`] between two backings of geometry `geo` (data from `geo.data_offset`, which
/// must be `HEADER_LEN`), without headers: the seam's tests run the mover over memory and
/// injected faults.
#[cfg(test)]
pub(crate) fn rekey_backing(
    src: &dyn Backing,
    from: Option<&Xts>,
    dst: &dyn Backing,
    to: &Xts,
    geo: crate::storage::Geometry,
    progress: &dyn Progress,
) -> Result<u64> {
    assert_eq!(geo.data_offset, HEADER_LEN as u64);
    let ss = geo.sector as u64;
    let base = geo.data_offset;
    let extents: Vec<(u64, u64)> = src
        .data_extents(base, base + geo.size)
        .map_err(|e| Error::io(format!("seek data {}", src.name()), e))?
        .into_iter()
        .map(|(a, b)| (a - base, b - base))
        .collect();
    let plan = plan_chunks(&extents, geo.size, ss, DEFAULT_CHUNK as u64);
    let name = src.name();
    let source = Source::Backing {
        backing: src,
        path: Path::new(&name),
        base,
        len: geo.size,
    };
    let dst_name = dst.name();
    let written = rekey_plan(
        source,
        from,
        dst,
        Path::new(&dst_name),
        to,
        ss,
        &plan,
        Tuning::default(),
        progress,
    )?;
    dst.sync()
        .map_err(|e| Error::io(format!("fsync {dst_name}"), e))?;
    Ok(written)
}

// ---------------------------------------------------------------------------------------------
// Bench hooks.

/// Hooks for `benches/rekey.rs`, which as a separate crate sees only `pub` items: a source blob
/// of random ciphertext and timed copies of it. Not part of the engine's API.
#[doc(hidden)]
pub mod bench {
    use super::{clone_blob, rekey_blob_tuned, SourceRead, Tuning};
    use crate::blob::{Blob, BlobHeader, BlobStore, TempBlob, HEADER_LEN};
    use crate::error::{Error, Result};
    use crate::progress::NoProgress;
    use crate::secret::{fill_random, DataKey};
    use crate::xts::{Xts, XtsCipher};
    use std::os::unix::fs::FileExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A source blob full of random ciphertext under a random AES-256-XTS key, in a home.
    pub struct Fixture {
        store: BlobStore,
        src: Blob,
        from: Xts,
        to: Xts,
        next: AtomicU64,
    }

    /// A finished destination; dropping it removes the file (keep that out of the timing).
    pub struct Output(#[allow(dead_code)] TempBlob);

    /// How to run one copy.
    #[derive(Clone, Copy, Debug)]
    pub struct Knobs {
        /// Bytes per chunk.
        pub chunk: usize,
        /// Read the source through a map instead of pread.
        pub mmap: bool,
        /// Worker threads.
        pub threads: usize,
    }

    fn header(owner: &str, size: u64) -> BlobHeader {
        BlobHeader {
            size,
            sector_size: 4096,
            cipher: Some(XtsCipher::Aes256Xts),
            owner: owner.into(),
            context_id: owner.into(),
            key_arn: "arn:aws:kms:us-east-1:000000000000:key/bench".into(),
            dek_id: "dek-bench".into(),
            wrapped_key: vec![1; 64],
            record: None,
        }
    }

    fn key() -> Xts {
        let mut k = [0u8; 64];
        fill_random(&mut k);
        Xts::new(&DataKey::from_slice(&k))
    }

    impl Fixture {
        /// Writes a `size`-byte source blob (a multiple of 4096) of random bytes under `home`.
        ///
        /// # Errors
        /// I/O errors.
        pub fn new(home: &Path, size: u64) -> Result<Fixture> {
            let store = BlobStore::new(home)?;
            let tmp = store.create_temp("snap-benchsource", &header("snap-benchsource", size))?;
            let mut buf = vec![0u8; 4 << 20];
            let mut at = 0;
            while at < size {
                let n = buf.len().min((size - at) as usize);
                fill_random(&mut buf[..n]);
                tmp.file()
                    .write_all_at(&buf[..n], HEADER_LEN as u64 + at)
                    .map_err(|e| Error::io("write bench source", e))?;
                at += n as u64;
            }
            tmp.persist()?;
            let src = store.open("snap-benchsource")?;
            Ok(Fixture {
                store,
                src,
                from: key(),
                to: key(),
                next: AtomicU64::new(0),
            })
        }

        /// The source blob's file, for comparing against `cp`.
        pub fn source_path(&self) -> &Path {
            self.src.path()
        }

        fn dest(&self) -> Result<TempBlob> {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let id = format!("vol-bench{n}");
            let mut h = header(&id, self.src.header().size);
            h.dek_id = self.src.header().dek_id.clone();
            self.store.create_temp(&id, &h)
        }

        fn pool(threads: usize) -> Result<rayon::ThreadPool> {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| {
                    Error::new(
                        crate::error::Code::INTERNAL_ERROR,
                        format!("thread pool: {e}"),
                    )
                })
        }

        /// Re-encrypts the source into a new blob under another key; returns the bytes written.
        ///
        /// # Errors
        /// As `rekey_blob`.
        pub fn rekey(&self, knobs: Knobs) -> Result<(Output, u64)> {
            let dst = self.dest()?;
            let tuning = Tuning {
                chunk: knobs.chunk,
                source: if knobs.mmap {
                    SourceRead::Mmap
                } else {
                    SourceRead::Pread
                },
            };
            let n = Self::pool(knobs.threads)?.install(|| {
                rekey_blob_tuned(
                    &self.src,
                    Some(&self.from),
                    &dst,
                    &self.to,
                    &NoProgress,
                    tuning,
                )
            })?;
            Ok((Output(dst), n))
        }

        /// Preserve-copies the source into a new blob; returns the bytes copied.
        ///
        /// # Errors
        /// As `clone_blob`.
        pub fn clone_copy(&self, threads: usize) -> Result<(Output, u64)> {
            let dst = self.dest()?;
            let n = Self::pool(threads)?.install(|| clone_blob(&self.src, &dst, &NoProgress))?;
            Ok((Output(dst), n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::{BlobHeader, BlobStore};
    use crate::progress::NoProgress;
    use crate::secret::{fill_random, DataKey};
    use crate::xts::XtsCipher;
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::FileExt;
    use std::os::unix::fs::MetadataExt;
    use std::sync::Mutex;

    const MARKER: &[u8] = b"PLAINTEXT-MARKER-7c1f";

    fn key(cipher: XtsCipher) -> Xts {
        let mut k = vec![0u8; cipher.key_len()];
        fill_random(&mut k);
        Xts::new(&DataKey::from_slice(&k))
    }

    fn header(owner: &str, size: u64, ss: u32, cipher: Option<XtsCipher>, dek: &str) -> BlobHeader {
        let enc = cipher.is_some();
        BlobHeader {
            size,
            sector_size: ss,
            cipher,
            owner: owner.into(),
            context_id: owner.into(),
            key_arn: if enc {
                "arn:aws:kms:us-east-1:111122223333:key/k".into()
            } else {
                String::new()
            },
            dek_id: if enc { dek.into() } else { String::new() },
            wrapped_key: if enc { vec![7; 60] } else { Vec::new() },
            record: None,
        }
    }

    /// A deterministic byte stream (splitmix64).
    fn noise(seed: u64, out: &mut [u8]) {
        let mut s = seed;
        for c in out.chunks_mut(8) {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            c.copy_from_slice(&z.to_le_bytes()[..c.len()]);
        }
    }

    /// Writes a sparse plaintext file of `len` bytes: random runs with the marker in them, an
    /// all-zero written run, and holes. Returns its bytes.
    fn plain_file(path: &Path, len: u64, seed: u64) -> Vec<u8> {
        let mut want = vec![0u8; len as usize];
        let f = File::create(path).unwrap();
        f.set_len(len).unwrap();
        let mut at = 0u64;
        let mut i = 0u64;
        while at < len {
            let run = (((seed + i) * 7919) % 300_000 + 1000).min(len - at);
            let r = at as usize..(at + run) as usize;
            match i % 4 {
                0 | 2 => {
                    noise(seed * 1000 + i, &mut want[r.clone()]);
                    for m in want[r.clone()].chunks_mut(997) {
                        let n = m.len().min(MARKER.len());
                        m[..n].copy_from_slice(&MARKER[..n]);
                    }
                    f.write_all_at(&want[r], at).unwrap();
                }
                1 => f.write_all_at(&want[r], at).unwrap(), // written zeros
                _ => {}                                     // a hole
            }
            at += run;
            i += 1;
        }
        want
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    fn sha(path: &Path) -> Vec<u8> {
        Sha256::digest(std::fs::read(path).unwrap()).to_vec()
    }

    /// Byte ranges of `path` that SEEK_DATA reports, and whether the FS reports holes at all.
    fn extents(path: &Path) -> Vec<(u64, u64)> {
        let f = File::open(path).unwrap();
        blob::data_extents(&f, 0, f.metadata().unwrap().len()).unwrap()
    }

    /// Every 4 KiB page of `path` that is all zero in `bytes` is a hole (4 KiB is the block or
    /// page size of the filesystems tests run on).
    fn assert_zero_pages_are_holes(path: &Path, base: usize, bytes: &[u8]) {
        let ext = extents(path);
        for (i, page) in bytes.chunks(4096).enumerate() {
            let at = (base + i * 4096) as u64;
            let is_data = ext
                .iter()
                .any(|&(a, b)| a < at + page.len() as u64 && at < b);
            if blob::is_zero(page) {
                assert!(
                    !is_data,
                    "{}: zero page at {at} is allocated",
                    path.display()
                );
            }
        }
    }

    struct Fixture {
        dir: tempfile::TempDir,
        store: BlobStore,
    }

    impl Fixture {
        fn new() -> Fixture {
            Self::new_in(None)
        }

        fn new_in(parent: Option<&Path>) -> Fixture {
            let dir = match parent {
                Some(p) => tempfile::tempdir_in(p).unwrap(),
                None => tempfile::tempdir().unwrap(),
            };
            let store = BlobStore::new(dir.path()).unwrap();
            Fixture { dir, store }
        }

        /// Imports `want` (written as a sparse file) into a committed blob.
        fn import(
            &self,
            id: &str,
            h: &BlobHeader,
            x: Option<&Xts>,
            len: u64,
            seed: u64,
        ) -> Vec<u8> {
            let src = self.dir.path().join(format!("{id}.img"));
            let want = plain_file(&src, len, seed);
            let t = self.store.create_temp(id, h).unwrap();
            let n = import_plain(&src, &t, x, &NoProgress).unwrap();
            assert!(n <= len.div_ceil(4096) * 4096 && n > 0);
            t.persist().unwrap();
            want
        }

        fn export(&self, id: &str, x: Option<&Xts>, size: u64) -> Vec<u8> {
            let out = self.dir.path().join(format!("{id}.out"));
            export_plain(&self.store.open(id).unwrap(), x, &out, None, &NoProgress).unwrap();
            let got = std::fs::read(&out).unwrap();
            assert_eq!(got.len() as u64, size);
            got
        }
    }

    fn padded(mut v: Vec<u8>, size: u64) -> Vec<u8> {
        v.resize(size as usize, 0);
        v
    }

    #[test]
    fn import_export_round_trips() {
        let ciphers = [None, Some(XtsCipher::Aes128Xts), Some(XtsCipher::Aes256Xts)];
        for (n, (cipher, ss)) in ciphers
            .iter()
            .flat_map(|c| [(*c, 512u32), (*c, 4096)])
            .enumerate()
        {
            let fx = Fixture::new();
            let size = 3 * (1 << 20) + 8 * u64::from(ss);
            let len = size - 1234; // unaligned: the last sector is partly past the file's end
            let h = header("vol-rt", size, ss, cipher, "dek-a");
            let x = cipher.map(key);
            let want = padded(fx.import("vol-rt", &h, x.as_ref(), len, n as u64 + 1), size);
            let blob_path = fx.store.path_of("vol-rt");
            let raw = std::fs::read(&blob_path).unwrap();
            if cipher.is_some() {
                assert!(
                    !contains(&raw, MARKER),
                    "{cipher:?} {ss}: plaintext on disk"
                );
                assert_ne!(&raw[HEADER_LEN..], &want[..]);
            } else {
                assert_eq!(&raw[HEADER_LEN..], &want[..]);
            }
            // Holes and all-zero sectors of the plaintext were not written.
            assert_zero_pages_are_holes(&blob_path, HEADER_LEN, &want);
            let got = fx.export("vol-rt", x.as_ref(), size);
            assert!(got == want, "{cipher:?} {ss}: export differs");
            let out = fx.dir.path().join("vol-rt.out");
            assert_zero_pages_are_holes(&out, 0, &got);
        }
    }

    #[test]
    fn export_through_a_map_matches_pread() {
        let fx = Fixture::new();
        let size = 2 << 20;
        let h = header("vol-mm", size, 4096, Some(XtsCipher::Aes256Xts), "dek-a");
        let x = key(XtsCipher::Aes256Xts);
        let want = padded(fx.import("vol-mm", &h, Some(&x), size - 5000, 3), size);
        let out = fx.dir.path().join("mm.out");
        let tuning = Tuning {
            chunk: 256 << 10,
            source: SourceRead::Mmap,
        };
        let b = fx.store.open("vol-mm").unwrap();
        export_plain_tuned(&b, Some(&x), &out, None, &NoProgress, tuning).unwrap();
        assert!(std::fs::read(&out).unwrap() == want);
    }

    #[test]
    fn rekey_decrypts_to_the_original_and_leaves_the_source_alone() {
        use XtsCipher::{Aes128Xts as A128, Aes256Xts as A256};
        for (from_c, to_c, ss, mmap) in [
            (Some(A256), A256, 4096u32, false),
            (Some(A128), A256, 512, true),
            (Some(A256), A128, 4096, true),
            (None, A256, 4096, false),
            (None, A128, 512, true),
        ] {
            let fx = Fixture::new();
            let size = 5 << 20;
            let from = from_c.map(key);
            let to = key(to_c);
            let hs = header("snap-src", size, ss, from_c, "dek-old");
            let want = padded(
                fx.import("snap-src", &hs, from.as_ref(), size - 777, 11),
                size,
            );
            let src = fx.store.open("snap-src").unwrap();
            let before = sha(src.path());
            // The destination may be larger than the source: the rest stays holes.
            let dsize = size + (1 << 20);
            let dst = fx
                .store
                .create_temp(
                    "vol-dst",
                    &header("vol-dst", dsize, ss, Some(to_c), "dek-new"),
                )
                .unwrap();
            let tuning = Tuning {
                chunk: if mmap { 4 << 20 } else { 1 << 20 },
                source: if mmap {
                    SourceRead::Mmap
                } else {
                    SourceRead::Pread
                },
            };
            let n = rekey_blob_tuned(&src, from.as_ref(), &dst, &to, &NoProgress, tuning).unwrap();
            assert!(n > 0 && n < size);
            dst.persist().unwrap();
            assert_eq!(sha(src.path()), before, "the source changed");
            let got = fx.export("vol-dst", Some(&to), dsize);
            assert!(
                got == padded(want.clone(), dsize),
                "{from_c:?}→{to_c:?} {ss}"
            );
            let raw = std::fs::read(fx.store.path_of("vol-dst")).unwrap();
            assert!(!contains(&raw, MARKER));
            // Pages that are zero in the plaintext are holes in the ciphertext.
            let plain = padded(want.clone(), dsize);
            assert_zero_pages_are_holes(&fx.store.path_of("vol-dst"), HEADER_LEN, &plain);
            if from_c.is_some() {
                // A new key: no sector's ciphertext is the same as the source's.
                let old = std::fs::read(src.path()).unwrap();
                for (a, b) in old[HEADER_LEN..]
                    .chunks(4096)
                    .zip(raw[HEADER_LEN..].chunks(4096))
                {
                    assert!(blob::is_zero(a) || a != b);
                }
            }
        }
    }

    #[test]
    fn an_all_zero_sector_stays_a_hole() {
        let fx = Fixture::new();
        let c = XtsCipher::Aes256Xts;
        let (from, to) = (key(c), key(c));
        let t = fx
            .store
            .create_temp("snap-z", &header("snap-z", 1 << 20, 4096, Some(c), "d"))
            .unwrap();
        // Sector 3 data, sector 5 written as all-zero ciphertext ("unwritten"), rest holes.
        t.write_sectors(3, Some(&from), &[9u8; 4096]).unwrap();
        t.file()
            .write_all_at(&[0u8; 4096], (HEADER_LEN + 5 * 4096) as u64)
            .unwrap();
        t.persist().unwrap();
        let src = fx.store.open("snap-z").unwrap();
        let dst = fx
            .store
            .create_temp("vol-z", &header("vol-z", 1 << 20, 4096, Some(c), "e"))
            .unwrap();
        assert_eq!(
            rekey_blob(&src, Some(&from), &dst, &to, &NoProgress).unwrap(),
            4096
        );
        let base = HEADER_LEN as u64;
        let data: Vec<(u64, u64)> = extents(dst.path())
            .into_iter()
            .filter(|&(_, b)| b > base)
            .collect();
        assert!(data == vec![(base + 3 * 4096, base + 4 * 4096)], "{data:?}");
        let mut buf = vec![1u8; 8 * 4096];
        dst.read_sectors(0, Some(&to), &mut buf).unwrap();
        assert!(buf[3 * 4096..4 * 4096].iter().all(|&v| v == 9));
        assert!(buf[..3 * 4096]
            .iter()
            .chain(&buf[4 * 4096..])
            .all(|&v| v == 0));
    }

    /// Clone checks for one directory: same bytes, holes stay holes. Returns how the best
    /// method the filesystem allows moved the bytes; the fallbacks are checked too.
    fn check_clone(fx: &Fixture) -> CloneMethod {
        let best = check_clone_with(fx, CloneMethod::Reflink);
        assert_eq!(
            check_clone_with(fx, CloneMethod::ReadWrite),
            CloneMethod::ReadWrite
        );
        if best != CloneMethod::ReadWrite {
            assert_eq!(
                check_clone_with(fx, CloneMethod::CopyRange),
                CloneMethod::CopyRange
            );
        }
        best
    }

    fn check_clone_with(fx: &Fixture, first: CloneMethod) -> CloneMethod {
        let _ = fx.store.remove("snap-c");
        let _ = fx.store.remove("vol-c");
        let c = XtsCipher::Aes128Xts;
        let x = key(c);
        let size = 4 << 20;
        let want = padded(
            fx.import(
                "snap-c",
                &header("snap-c", size, 4096, Some(c), "dek-1"),
                Some(&x),
                size - 9000,
                5,
            ),
            size,
        );
        let src = fx.store.open("snap-c").unwrap();
        let before = sha(src.path());
        let dst = fx
            .store
            .create_temp("vol-c", &header("vol-c", size, 4096, Some(c), "dek-1"))
            .unwrap();
        let (n, method) = clone_with(&src, &dst, &NoProgress, first).unwrap();
        assert!(n > 0 && n <= size);
        dst.persist().unwrap();
        assert_eq!(sha(src.path()), before);
        let a = std::fs::read(src.path()).unwrap();
        let b = std::fs::read(fx.store.path_of("vol-c")).unwrap();
        assert!(a[HEADER_LEN..] == b[HEADER_LEN..], "ciphertext differs");
        assert_eq!(
            BlobHeader::decode(&b).unwrap(),
            header("vol-c", size, 4096, Some(c), "dek-1"),
            "the destination keeps its own header"
        );
        // Holes stay holes: nothing allocated where the source had none, and no more blocks.
        assert_zero_pages_are_holes(&fx.store.path_of("vol-c"), HEADER_LEN, &want);
        let blocks = |p: &Path| std::fs::metadata(p).unwrap().blocks();
        assert!(blocks(&fx.store.path_of("vol-c")) <= blocks(src.path()) + 8);
        assert!(blocks(&fx.store.path_of("vol-c")) < size / 512);
        assert!(fx.export("vol-c", Some(&x), size) == want);
        method
    }

    #[test]
    fn clone_preserves_bytes_and_holes() {
        check_clone(&Fixture::new());
    }

    #[test]
    fn round_trip_on_dev_shm() {
        if !Path::new("/dev/shm").is_dir() {
            return;
        }
        let fx = Fixture::new_in(Some(Path::new("/dev/shm")));
        // tmpfs has no reflinks; copy_file_range works within it.
        assert_eq!(check_clone(&fx), CloneMethod::CopyRange);
        let c = XtsCipher::Aes256Xts;
        let (x, y) = (key(c), key(c));
        let size = 3 << 20;
        let want = padded(
            fx.import(
                "snap-s",
                &header("snap-s", size, 512, Some(c), "a"),
                Some(&x),
                size - 3,
                8,
            ),
            size,
        );
        let src = fx.store.open("snap-s").unwrap();
        let dst = fx
            .store
            .create_temp("vol-s", &header("vol-s", size, 512, Some(c), "b"))
            .unwrap();
        rekey_blob(&src, Some(&x), &dst, &y, &NoProgress).unwrap();
        dst.persist().unwrap();
        assert!(fx.export("vol-s", Some(&y), size) == want);
    }

    /// Set BLOCKSEAL_TEST_REFLINK_DIR to a directory on a reflink filesystem (XFS with
    /// reflink=1, btrfs) to run the clone checks there too.
    #[test]
    fn clone_on_a_reflink_filesystem() {
        let Some(dir) = std::env::var_os("BLOCKSEAL_TEST_REFLINK_DIR") else {
            return;
        };
        let fx = Fixture::new_in(Some(Path::new(&dir)));
        assert_eq!(check_clone(&fx), CloneMethod::Reflink);
    }

    #[test]
    fn mismatches_are_refused() {
        let fx = Fixture::new();
        let c = XtsCipher::Aes256Xts;
        let x = key(c);
        fx.store
            .create_temp("snap-m", &header("snap-m", 1 << 20, 4096, Some(c), "d"))
            .unwrap()
            .persist()
            .unwrap();
        let src = fx.store.open("snap-m").unwrap();
        let code = |r: Result<u64>| r.unwrap_err().code();

        let d = fx
            .store
            .create_temp("vol-1", &header("vol-1", 1 << 20, 512, Some(c), "d"))
            .unwrap();
        assert_eq!(
            code(rekey_blob(&src, Some(&x), &d, &x, &NoProgress)),
            Code::INVALID_PARAMETER_COMBINATION
        );
        assert_eq!(
            code(clone_blob(&src, &d, &NoProgress)),
            Code::INVALID_PARAMETER_COMBINATION
        );
        let d = fx
            .store
            .create_temp("vol-2", &header("vol-2", 4096, 4096, Some(c), "d"))
            .unwrap();
        assert_eq!(
            code(rekey_blob(&src, Some(&x), &d, &x, &NoProgress)),
            Code::INVALID_PARAMETER_VALUE
        );
        let d = fx
            .store
            .create_temp("vol-3", &header("vol-3", 1 << 20, 4096, Some(c), "other"))
            .unwrap();
        assert_eq!(
            code(clone_blob(&src, &d, &NoProgress)),
            Code::INTERNAL_ERROR
        );
        assert_eq!(
            code(rekey_blob(&src, None, &d, &x, &NoProgress)),
            Code::INTERNAL_ERROR
        );
        let small = key(XtsCipher::Aes128Xts);
        assert_eq!(
            code(rekey_blob(&src, Some(&x), &d, &small, &NoProgress)),
            Code::INTERNAL_ERROR
        );
        assert_eq!(
            code(import_plain(
                Path::new("/etc/hostname"),
                &d,
                None,
                &NoProgress
            )),
            Code::INTERNAL_ERROR
        );
    }

    #[test]
    fn import_and_export_blame_the_users_file() {
        let fx = Fixture::new();
        let t = fx
            .store
            .create_temp("vol-i", &header("vol-i", 8192, 512, None, ""))
            .unwrap();
        let missing = fx.dir.path().join("no-such.img");
        let e = import_plain(&missing, &t, None, &NoProgress).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_FILE);
        assert!(e.message().contains(&missing.display().to_string()), "{e}");
        let e = import_plain(fx.dir.path(), &t, None, &NoProgress).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_FILE);
        let big = fx.dir.path().join("big.img");
        std::fs::write(&big, vec![1u8; 8193]).unwrap();
        assert_eq!(
            import_plain(&big, &t, None, &NoProgress)
                .unwrap_err()
                .code(),
            Code::INVALID_FILE
        );

        t.persist().unwrap();
        let b = fx.store.open("vol-i").unwrap();
        let e = export_plain(&b, None, fx.dir.path(), None, &NoProgress).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_FILE);
        let nodir = fx.dir.path().join("no/such/dir/out.img");
        assert_eq!(
            export_plain(&b, None, &nodir, None, &NoProgress)
                .unwrap_err()
                .code(),
            Code::INVALID_FILE
        );
        // An export replaces an older file and leaves no temporary behind.
        let out = fx.dir.path().join("out.img");
        std::fs::write(&out, b"old").unwrap();
        export_plain(&b, None, &out, None, &NoProgress).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), vec![0u8; 8192]);
        let leftovers: Vec<_> = std::fs::read_dir(fx.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    /// What a `Progress` saw: each `begin`, the sum of `advance`, the number of `end`s.
    #[derive(Default)]
    struct Seen {
        begins: Vec<(String, u64)>,
        advanced: u64,
        ends: u32,
    }

    #[derive(Default)]
    struct Recorder {
        log: Mutex<Seen>,
    }

    impl Progress for Recorder {
        fn begin(&self, label: &str, total: u64) {
            self.log.lock().unwrap().begins.push((label.into(), total));
        }
        fn advance(&self, bytes: u64) {
            self.log.lock().unwrap().advanced += bytes;
        }
        fn end(&self) {
            self.log.lock().unwrap().ends += 1;
        }
    }

    #[test]
    fn progress_adds_up() {
        let fx = Fixture::new();
        let c = XtsCipher::Aes256Xts;
        let (x, y) = (key(c), key(c));
        let size = 3 << 20;
        fx.import(
            "snap-p",
            &header("snap-p", size, 4096, Some(c), "a"),
            Some(&x),
            size,
            2,
        );
        let src = fx.store.open("snap-p").unwrap();
        let dst = fx
            .store
            .create_temp("vol-p", &header("vol-p", size, 4096, Some(c), "b"))
            .unwrap();
        let rec = Recorder::default();
        rekey_blob(&src, Some(&x), &dst, &y, &rec).unwrap();
        let log = rec.log.lock().unwrap();
        assert_eq!(log.begins.len(), 1);
        assert_eq!(log.begins[0].0, "rekey");
        assert_eq!(
            log.begins[0].1, log.advanced,
            "advances sum to the announced total"
        );
        assert_eq!(log.ends, 1, "end is called once");
    }

    proptest! {
        /// The plan covers every data byte below the limit exactly once, in sector-aligned
        /// chunks of at most `chunk` bytes, and nothing outside rounded-out extents.
        #[test]
        fn the_plan_covers_each_data_byte_once(
            raw in proptest::collection::vec((0u64..20_000, 1u64..5_000), 0..12),
            ss in prop_oneof![Just(512u64), Just(4096u64)],
            chunk_sectors in 1u64..6,
            limit_sectors in 0u64..40,
        ) {
            // Sorted, disjoint extents, as SEEK_DATA returns them.
            let mut extents = Vec::new();
            let mut at = 0;
            for (gap, len) in raw {
                extents.push((at + gap, at + gap + len));
                at += gap + len;
            }
            let limit = limit_sectors * ss;
            let chunk = chunk_sectors * ss;
            let plan = plan_chunks(&extents, limit, ss, chunk);
            for w in plan.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            for r in &plan {
                prop_assert!(r.start < r.end && r.end - r.start <= chunk && r.end <= limit);
                prop_assert!(r.start.is_multiple_of(ss) && r.end.is_multiple_of(ss));
                // Inside the rounded-out extents.
                prop_assert!(extents.iter().any(|&(a, b)| r.start < b.div_ceil(ss) * ss
                    && a / ss * ss < r.end));
            }
            for &(a, b) in &extents {
                for byte in (a..b.min(limit)).step_by(97) {
                    let n = plan.iter().filter(|r| r.contains(&byte)).count();
                    prop_assert_eq!(n, 1, "byte {}", byte);
                }
            }
        }
    }

    #[test]
    fn next_run_finds_nonzero_runs() {
        let mut b = vec![0u8; 8 * 16];
        for s in [1usize, 2, 5] {
            b[s * 16 + 3] = 1;
        }
        assert_eq!(next_run(&b, 16, 0), Some((16, 48)));
        assert_eq!(next_run(&b, 16, 48), Some((80, 96)));
        assert_eq!(next_run(&b, 16, 96), None);
    }
}
