//! Volume and snapshot files ("blobs"): a 4 KiB header, then the volume's sectors from offset
//! 4096, sparse, AES-XTS ciphertext when encrypted. docs/FORMAT.md specifies the bytes.
//!
//! This module owns the file format and the files: `header` (pure encode/decode/validate),
//! `file` (the home layout `blobs/<id>`, `tmp/<id>.<pid>.tmp`, `tmp/<id>.<pid>.commit` and
//! `quarantine/`, create → persist, open and validate, sector reads and writes, crash
//! recovery). Sector I/O goes through the storage seam (`crate::storage::Backing`, and the
//! volume's sparse rule from `crate::storage`); raw Linux calls are `crate::sys`'s. Moving data between files in bulk (import, export, clone, rekey) is
//! `crate::rekey`'s job. It must not decide which blobs should exist (the catalog does), keep
//! keys, or print.
//!
//! The API, all `pub(crate)`:
//! - [`BlobHeader`]: `encode(&self) -> Box<[u8; 4096]>`, `decode(&[u8]) -> Result<BlobHeader>`,
//!   `validate`, `sectors`, `file_len`.
//! - [`BlobStore::new(home)`](BlobStore::new): `create_temp(id, &header) -> TempBlob`,
//!   `open(id) -> Blob`, `open_rw(id) -> Blob`, `remove(id)`, `exists(id)`,
//!   `recover(is_live) -> Recovered`, `problem(id, size)`, `holds_data`, `path_of(id)`; for
//!   `doctor`: `listing() -> Listing`, `inspect(path) -> BlobHeader`, `restore(name, id)`
//!   (quarantine back to `blobs/`), `quarantine_path(name)`; [`TmpEntry::parse`] names `tmp/`
//!   files.
//! - [`TempBlob`]: `path`, `header`, `file`, `set_record`, `sync`, `data_extents`, `read_sectors`,
//!   `write_sectors`, `persist_in(self, &Tx)` (inside the transaction that commits the owning
//!   row), `persist(self)` (for blobs no row owns); dropping it unpersisted removes the file.
//! - [`Blob`]: `header`, `path`, `file`, `data_extents`, `map`, `read_sectors`,
//!   `write_sectors` (after `open_rw`), `sync`.
//!
//! Sector semantics: a sector never written is a hole; an all-zero ciphertext sector also
//! means "unwritten" and reads as zeros (XTS output is all zero with probability
//! 2^-(8 × sector size)); copies skip both, so a copy of a sparse volume stays sparse.

mod file;
mod header;

#[cfg(test)]
pub(crate) use crate::sys::data_extents;
pub(crate) use crate::sys::{clone_range, copy_range, pid_alive};
pub(crate) use file::{
    check_key, encrypt_in_place, is_zero, private_dir, private_file, Blob, BlobStore, Listing,
    TempBlob, TmpEntry,
};
pub(crate) use header::{BlobHeader, BlobRecord, HEADER_LEN, RECORD_DIRECT};
