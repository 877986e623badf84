//! AES-XTS (IEEE 1619) over whole sectors, in place or from one buffer into another. Pure: bytes
//! in, bytes out; no I/O, no threads.
//!
//! The tweak of a sector is its index as a little-endian u128 (IEEE 1619 data unit sequence
//! number, dm-crypt `plain64`). Sector sizes are multiples of 16 bytes (blockseal uses 512 and
//! 4096), so ciphertext stealing never occurs.
//!
//! Three implementations compute the same function:
//! - `portable`: the `aes` crate's batched block functions (its own run-time dispatch picks
//!   AES-NI, VAES-256 or VAES-512), with the tweak arithmetic around them;
//! - `vaes512` (x86-64 only): a VAES-512 + VPCLMULQDQ kernel for CPUs with AVX-512 that keeps
//!   the round keys in registers and derives tweaks with carry-less multiplies;
//! - `vaes256` (x86-64 only): the same kernel on 256-bit registers, for CPUs with AVX2, VAES
//!   and VPCLMULQDQ but no AVX-512 (AMD Zen 3/4 client parts, Intel Alder Lake and later client
//!   cores).
//!
//! The two kernels share their key schedule (`schedule`). [`Xts::new`] picks the fastest one
//! the CPU supports (`vaes512`, then `vaes256`, then `portable`), once per process. The
//! environment variable `BLOCKSEAL_XTS_IMPL=portable|vaes256|vaes512` forces a choice (for tests
//! and CI); asking for a kernel the CPU cannot run falls back to `portable`.

mod portable;
#[cfg(target_arch = "x86_64")]
mod schedule;
#[cfg(target_arch = "x86_64")]
mod vaes256;
#[cfg(target_arch = "x86_64")]
mod vaes512;
#[cfg(test)]
mod vectors;

use crate::secret::DataKey;
use std::sync::OnceLock;

/// The XTS variant, chosen by the data key's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum XtsCipher {
    /// AES-128-XTS, 32-byte data key.
    #[serde(rename = "aes-128-xts")]
    Aes128Xts,
    /// AES-256-XTS, 64-byte data key (the default).
    #[serde(rename = "aes-256-xts")]
    Aes256Xts,
}

impl XtsCipher {
    /// Bytes of key material (both halves).
    pub fn key_len(self) -> usize {
        match self {
            XtsCipher::Aes128Xts => 32,
            XtsCipher::Aes256Xts => 64,
        }
    }
}

/// Which code computes the transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Portable,
    Vaes256,
    Vaes512,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Portable => "portable",
            Backend::Vaes256 => "vaes256",
            Backend::Vaes512 => "vaes512",
        }
    }
}

/// Environment variable that forces a backend.
const IMPL_ENV: &str = "BLOCKSEAL_XTS_IMPL";

/// The backend for `override_value` (the environment variable, if set) on a CPU where the
/// VAES-512 and VAES-256 kernels can (`vaes512_ok`, `vaes256_ok`) or cannot run. A named kernel
/// the CPU cannot run gives `portable`; unknown values mean "choose".
fn choose_backend(override_value: Option<&str>, vaes512_ok: bool, vaes256_ok: bool) -> Backend {
    let forced = |ok, backend| if ok { backend } else { Backend::Portable };
    match override_value.map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("portable") => Backend::Portable,
        Some(v) if v.eq_ignore_ascii_case("vaes256") => forced(vaes256_ok, Backend::Vaes256),
        Some(v) if v.eq_ignore_ascii_case("vaes512") => forced(vaes512_ok, Backend::Vaes512),
        _ if vaes512_ok => Backend::Vaes512,
        _ if vaes256_ok => Backend::Vaes256,
        _ => Backend::Portable,
    }
}

/// Whether this CPU can run the VAES-512 kernel.
fn vaes512_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        vaes512::supported()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU can run the VAES-256 kernel.
fn vaes256_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        vaes256::supported()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The process-wide choice: read the environment and the CPU once.
fn auto_backend() -> Backend {
    static CHOICE: OnceLock<Backend> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        let env = std::env::var(IMPL_ENV).ok();
        choose_backend(env.as_deref(), vaes512_supported(), vaes256_supported())
    })
}

enum Keys {
    Portable(crate::secret_mem::SecretBox<portable::Keys>),
    #[cfg(target_arch = "x86_64")]
    Vaes256(vaes256::Keys),
    #[cfg(target_arch = "x86_64")]
    Vaes512(vaes512::Keys),
}

/// A keyed XTS transform. Round keys zeroize on drop. `Send + Sync`: one instance can serve
/// many threads.
pub struct Xts {
    cipher: XtsCipher,
    keys: Keys,
}

impl std::fmt::Debug for Xts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Xts({:?}, {})", self.cipher, self.backend().name())
    }
}

const BLOCK: usize = 16;

/// Bytes per re-key step: the ciphertext is decrypted and re-encrypted while it sits in L1.
const REKEY_CHUNK: usize = 16 * 1024;

impl Xts {
    /// Keys the transform: Key1 (data) is the first half of `key`, Key2 (tweak) the second.
    pub fn new(key: &DataKey) -> Self {
        Self::with_backend(key, auto_backend())
    }

    /// Keys the transform on a given backend, or on the portable one if the CPU lacks it.
    pub(crate) fn with_backend(key: &DataKey, backend: Backend) -> Self {
        let k = key.expose();
        let cipher = if k.len() == 32 {
            XtsCipher::Aes128Xts
        } else {
            XtsCipher::Aes256Xts
        };
        let (k1, k2) = k.split_at(k.len() / 2);
        #[cfg(target_arch = "x86_64")]
        {
            let keys = match backend {
                Backend::Vaes512 => vaes512::Keys::new(k1, k2).map(Keys::Vaes512),
                Backend::Vaes256 => vaes256::Keys::new(k1, k2).map(Keys::Vaes256),
                Backend::Portable => None,
            };
            if let Some(keys) = keys {
                return Xts { cipher, keys };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = backend;
        Xts {
            cipher,
            keys: Keys::Portable(crate::secret_mem::SecretBox::new(portable::Keys::new(
                k1, k2,
            ))),
        }
    }

    /// The variant this transform runs.
    pub fn cipher(&self) -> XtsCipher {
        self.cipher
    }

    /// The code path in use, `"portable"`, `"vaes256"` or `"vaes512"`, for logs and benchmarks.
    pub fn implementation(&self) -> &'static str {
        self.backend().name()
    }

    pub(crate) fn backend(&self) -> Backend {
        match self.keys {
            Keys::Portable(_) => Backend::Portable,
            #[cfg(target_arch = "x86_64")]
            Keys::Vaes256(_) => Backend::Vaes256,
            #[cfg(target_arch = "x86_64")]
            Keys::Vaes512(_) => Backend::Vaes512,
        }
    }

    /// Encrypts `data` in place: consecutive sectors of `sector_size` bytes, the first being
    /// sector `first_sector`.
    ///
    /// # Panics
    /// If `sector_size` is not a non-zero multiple of 16 or `data` is not whole sectors.
    pub fn encrypt_sectors(&self, first_sector: u64, sector_size: usize, data: &mut [u8]) {
        check_shape(sector_size, data);
        self.encrypt(u128::from(first_sector), sector_size, None, data);
    }

    /// Decrypts `data` in place; the inverse of [`Xts::encrypt_sectors`].
    ///
    /// # Panics
    /// As [`Xts::encrypt_sectors`].
    pub fn decrypt_sectors(&self, first_sector: u64, sector_size: usize, data: &mut [u8]) {
        check_shape(sector_size, data);
        self.decrypt(u128::from(first_sector), sector_size, None, data);
    }

    /// Encrypts `src` into `dst` (same length), sectors as in [`Xts::encrypt_sectors`]; `src`
    /// is not modified. Every block is loaded from `src` and stored to `dst` by the cipher
    /// itself, with no intermediate copy, so `dst` may be a mapped file or a reply buffer.
    ///
    /// # Panics
    /// As [`Xts::encrypt_sectors`], and if `src.len() != dst.len()`.
    pub fn encrypt_sectors_to(
        &self,
        first_sector: u64,
        sector_size: usize,
        src: &[u8],
        dst: &mut [u8],
    ) {
        check_pair(sector_size, src, dst);
        self.encrypt(u128::from(first_sector), sector_size, Some(src), dst);
    }

    /// Decrypts `src` into `dst` (same length); the inverse of [`Xts::encrypt_sectors_to`].
    /// `src` is not modified.
    ///
    /// # Panics
    /// As [`Xts::encrypt_sectors_to`].
    pub fn decrypt_sectors_to(
        &self,
        first_sector: u64,
        sector_size: usize,
        src: &[u8],
        dst: &mut [u8],
    ) {
        check_pair(sector_size, src, dst);
        self.decrypt(u128::from(first_sector), sector_size, Some(src), dst);
    }

    /// Encrypts `src` into `dst`, or `dst` in place if `src` is `None`. Sector indices are u128
    /// inside, so a run that starts near `u64::MAX` keeps counting instead of wrapping.
    fn encrypt(&self, first: u128, sector_size: usize, src: Option<&[u8]>, dst: &mut [u8]) {
        match &self.keys {
            Keys::Portable(k) => k.encrypt(first, sector_size, src, dst),
            #[cfg(target_arch = "x86_64")]
            Keys::Vaes256(k) => k.encrypt(first, sector_size, src, dst),
            #[cfg(target_arch = "x86_64")]
            Keys::Vaes512(k) => k.encrypt(first, sector_size, src, dst),
        }
    }

    /// Decrypts `src` into `dst`, or `dst` in place if `src` is `None`.
    fn decrypt(&self, first: u128, sector_size: usize, src: Option<&[u8]>, dst: &mut [u8]) {
        match &self.keys {
            Keys::Portable(k) => k.decrypt(first, sector_size, src, dst),
            #[cfg(target_arch = "x86_64")]
            Keys::Vaes256(k) => k.decrypt(first, sector_size, src, dst),
            #[cfg(target_arch = "x86_64")]
            Keys::Vaes512(k) => k.decrypt(first, sector_size, src, dst),
        }
    }
}

/// Re-encrypts `data` in place from `from`'s key to `to`'s key: the same result as
/// `from.decrypt_sectors` followed by `to.encrypt_sectors`, done a few sectors at a time so
/// each byte leaves the cache once and the plaintext of at most one small chunk exists at a
/// time. The two transforms may use different ciphers.
///
/// # Panics
/// As [`Xts::encrypt_sectors`].
pub fn rekey_sectors(from: &Xts, to: &Xts, first_sector: u64, sector_size: usize, data: &mut [u8]) {
    check_shape(sector_size, data);
    let per_chunk = (REKEY_CHUNK / sector_size).max(1);
    let mut sector = u128::from(first_sector);
    for chunk in data.chunks_mut(per_chunk * sector_size) {
        from.decrypt(sector, sector_size, None, chunk);
        to.encrypt(sector, sector_size, None, chunk);
        sector += per_chunk as u128;
    }
}

/// The checks of the `_to` calls: `src` is whole sectors and `dst` as long.
fn check_pair(sector_size: usize, src: &[u8], dst: &[u8]) {
    check_shape(sector_size, src);
    assert_eq!(src.len(), dst.len(), "src and dst differ in length");
}

fn check_shape(sector_size: usize, data: &[u8]) {
    assert!(
        sector_size >= BLOCK && sector_size.is_multiple_of(BLOCK),
        "bad sector size"
    );
    assert!(
        data.len().is_multiple_of(sector_size),
        "data is not whole sectors"
    );
}

#[cfg(test)]
mod tests {
    use super::vectors::VECTORS;
    use super::*;
    use aes::cipher::KeyInit;
    use aes::{Aes128, Aes256};
    use proptest::prelude::*;
    use xts_mode::{get_tweak_default, Xts128};

    /// Every backend this CPU can run: the portable one always.
    fn backends() -> Vec<Backend> {
        let mut all = vec![Backend::Portable];
        if vaes256_supported() {
            all.push(Backend::Vaes256);
        }
        if vaes512_supported() {
            all.push(Backend::Vaes512);
        }
        all
    }

    fn keyed(key: &[u8], backend: Backend) -> Xts {
        let xts = Xts::with_backend(&DataKey::from_slice(key), backend);
        assert_eq!(xts.backend(), backend);
        xts
    }

    /// The `xts-mode` crate, an independent implementation, as the reference.
    fn oracle(key: &[u8], first: u64, sector_size: usize, data: &mut [u8], encrypt: bool) {
        let (k1, k2) = key.split_at(key.len() / 2);
        let first = u128::from(first);
        if key.len() == 32 {
            let x = Xts128::new(
                Aes128::new_from_slice(k1).unwrap(),
                Aes128::new_from_slice(k2).unwrap(),
            );
            if encrypt {
                x.encrypt_area(data, sector_size, first, get_tweak_default);
            } else {
                x.decrypt_area(data, sector_size, first, get_tweak_default);
            }
        } else {
            let x = Xts128::new(
                Aes256::new_from_slice(k1).unwrap(),
                Aes256::new_from_slice(k2).unwrap(),
            );
            if encrypt {
                x.encrypt_area(data, sector_size, first, get_tweak_default);
            } else {
                x.decrypt_area(data, sector_size, first, get_tweak_default);
            }
        }
    }

    /// Deterministic filler (splitmix64), so failures reproduce.
    fn fill(seed: u64, buf: &mut [u8]) {
        let mut s = seed;
        for chunk in buf.chunks_mut(8) {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }

    #[test]
    fn ieee_1619_2007_vectors_both_directions() {
        for backend in backends() {
            for v in VECTORS {
                let key = v.key_bytes();
                let xts = keyed(&key, backend);
                let expected_cipher = match key.len() {
                    32 => XtsCipher::Aes128Xts,
                    _ => XtsCipher::Aes256Xts,
                };
                assert_eq!(xts.cipher(), expected_cipher);
                let plain = v.plaintext();
                let cipher = v.ciphertext();
                let mut buf = plain.clone();
                xts.encrypt_sectors(v.dusn, buf.len(), &mut buf);
                assert!(buf == cipher, "vector {} encrypt, {backend:?}", v.number);
                xts.decrypt_sectors(v.dusn, buf.len(), &mut buf);
                assert!(buf == plain, "vector {} decrypt, {backend:?}", v.number);
            }
        }
    }

    #[test]
    fn ieee_1619_2007_vectors_out_of_place() {
        for backend in backends() {
            for v in VECTORS {
                let xts = keyed(&v.key_bytes(), backend);
                let plain = v.plaintext();
                let cipher = v.ciphertext();
                let mut out = vec![0xaa; plain.len()];
                xts.encrypt_sectors_to(v.dusn, plain.len(), &plain, &mut out);
                assert!(out == cipher, "vector {} encrypt, {backend:?}", v.number);
                out.fill(0xaa);
                xts.decrypt_sectors_to(v.dusn, cipher.len(), &cipher, &mut out);
                assert!(out == plain, "vector {} decrypt, {backend:?}", v.number);
            }
        }
    }

    #[test]
    fn matches_xts_mode_oracle() {
        let cases: &[(usize, &[usize])] = &[
            (512, &[1, 2, 3, 15, 16, 17, 31, 63, 64, 65, 130]),
            (4096, &[1, 2, 3, 5, 16, 17]),
            (16, &[1, 3, 16, 17, 70]),
            (32, &[1, 5, 33]),
            (48, &[1, 2, 21]),
            (80, &[1, 7]),
            (240, &[1, 3]),
            (272, &[1, 2, 9]),
            (1008, &[1, 4]),
            (1040, &[1, 3]),
            (8192, &[1, 3]),
        ];
        let firsts = [0u64, 1, 0xfd, 0x1_0000_0000, u64::MAX / 3, u64::MAX - 200];
        let mut seed = 1;
        for backend in backends() {
            for key_len in [32, 64] {
                for &(sector_size, counts) in cases {
                    for &count in counts {
                        seed += 1;
                        let first = firsts[seed as usize % firsts.len()];
                        let mut key = vec![0; key_len];
                        fill(seed, &mut key);
                        let mut plain = vec![0; sector_size * count];
                        fill(seed ^ 0x5555, &mut plain);
                        let xts = keyed(&key, backend);

                        let mut ours = plain.clone();
                        xts.encrypt_sectors(first, sector_size, &mut ours);
                        let mut theirs = plain.clone();
                        oracle(&key, first, sector_size, &mut theirs, true);
                        let what =
                            format!("{backend:?} key {key_len} sector {sector_size} x{count}");
                        assert!(ours == theirs, "encrypt differs: {what}");

                        xts.decrypt_sectors(first, sector_size, &mut ours);
                        assert!(ours == plain, "decrypt differs: {what}");
                        oracle(&key, first, sector_size, &mut theirs, false);
                        assert!(theirs == plain);
                    }
                }
            }
        }
    }

    #[test]
    fn sector_index_is_u64_little_endian_tweak() {
        // A run that would cross u64::MAX keeps counting as a u128 tweak, like xts-mode.
        for backend in backends() {
            let key = [7u8; 64];
            let xts = keyed(&key, backend);
            let mut ours = vec![0u8; 3 * 512];
            fill(9, &mut ours);
            let mut theirs = ours.clone();
            xts.encrypt_sectors(u64::MAX - 1, 512, &mut ours);
            oracle(&key, u64::MAX - 1, 512, &mut theirs, true);
            assert!(ours == theirs);
        }
    }

    #[test]
    fn empty_data_is_a_no_op() {
        for backend in backends() {
            let xts = keyed(&[1u8; 32], backend);
            xts.encrypt_sectors(5, 512, &mut []);
            xts.decrypt_sectors(5, 4096, &mut []);
            rekey_sectors(&xts, &xts, 5, 512, &mut []);
        }
    }

    /// Out of place, every byte of `dst` is written, whatever it held: sectors of 1 to 17 blocks
    /// (every tail shape of each kernel) and 512, 528 and 4096 bytes, runs of up to 17 sectors
    /// (past one group of first tweaks), `dst` filled two different ways, against the in-place
    /// result.
    #[test]
    fn out_of_place_writes_every_byte() {
        for backend in backends() {
            for key_len in [32, 64] {
                let mut key = vec![0; key_len];
                fill(key_len as u64, &mut key);
                let xts = keyed(&key, backend);
                for sector_size in (16..=272).step_by(16).chain([512, 528, 4096]) {
                    for sectors in [1, 3, 17] {
                        let what = format!("{backend:?} key {key_len} sector {sector_size}");
                        let mut plain = vec![0; sector_size * sectors];
                        fill(sector_size as u64, &mut plain);
                        let mut cipher = plain.clone();
                        xts.encrypt_sectors(9, sector_size, &mut cipher);
                        for garbage in [0xaa, 0x55] {
                            let mut out = vec![garbage; plain.len()];
                            xts.encrypt_sectors_to(9, sector_size, &plain, &mut out);
                            assert!(out == cipher, "encrypt over {garbage:#x}: {what}");
                            out.fill(garbage);
                            xts.decrypt_sectors_to(9, sector_size, &cipher, &mut out);
                            assert!(out == plain, "decrypt over {garbage:#x}: {what}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn out_of_place_empty_is_a_no_op() {
        for backend in backends() {
            let xts = keyed(&[1u8; 64], backend);
            xts.encrypt_sectors_to(5, 512, &[], &mut []);
            xts.decrypt_sectors_to(5, 16, &[], &mut []);
        }
    }

    #[test]
    #[should_panic(expected = "src and dst differ in length")]
    fn encrypt_to_rejects_shorter_dst() {
        Xts::new(&DataKey::from_slice(&[0u8; 64])).encrypt_sectors_to(
            0,
            512,
            &[0u8; 1024],
            &mut [0u8; 512],
        );
    }

    #[test]
    #[should_panic(expected = "src and dst differ in length")]
    fn decrypt_to_rejects_longer_dst() {
        Xts::new(&DataKey::from_slice(&[0u8; 32])).decrypt_sectors_to(
            0,
            512,
            &[0u8; 512],
            &mut [0u8; 1024],
        );
    }

    #[test]
    #[should_panic(expected = "not whole sectors")]
    fn encrypt_to_rejects_partial_sector() {
        Xts::new(&DataKey::from_slice(&[0u8; 64])).encrypt_sectors_to(
            0,
            512,
            &[0u8; 700],
            &mut [0u8; 700],
        );
    }

    #[test]
    #[should_panic(expected = "bad sector size")]
    fn decrypt_to_rejects_sector_size_not_multiple_of_16() {
        Xts::new(&DataKey::from_slice(&[0u8; 64])).decrypt_sectors_to(
            0,
            520,
            &[0u8; 520],
            &mut [0u8; 520],
        );
    }

    /// Every backend checks the lengths itself too, not only the public calls.
    #[test]
    fn backends_reject_length_mismatch() {
        for backend in backends() {
            let xts = keyed(&[3u8; 64], backend);
            let src = [0u8; 1024];
            let panic = std::panic::catch_unwind(|| {
                let mut dst = [0u8; 512];
                xts.encrypt(0, 512, Some(&src), &mut dst);
            })
            .expect_err("a longer src is refused");
            let message = panic
                .downcast_ref::<&str>()
                .map(|m| m.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            assert!(
                message.contains("differ in length"),
                "{backend:?}: {message}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "bad sector size")]
    fn rejects_sector_size_not_multiple_of_16() {
        Xts::new(&DataKey::from_slice(&[0u8; 64])).encrypt_sectors(0, 520, &mut [0u8; 520]);
    }

    #[test]
    #[should_panic(expected = "not whole sectors")]
    fn rejects_partial_sector() {
        Xts::new(&DataKey::from_slice(&[0u8; 64])).decrypt_sectors(0, 512, &mut [0u8; 700]);
    }

    #[test]
    fn backend_choice() {
        use Backend::{Portable, Vaes256, Vaes512};
        // Automatic: the widest kernel the CPU runs.
        assert_eq!(choose_backend(None, true, true), Vaes512);
        assert_eq!(choose_backend(None, false, true), Vaes256);
        assert_eq!(choose_backend(None, false, false), Portable);
        assert_eq!(choose_backend(Some("something-else"), true, true), Vaes512);
        assert_eq!(choose_backend(Some("something-else"), false, true), Vaes256);
        // Forced.
        assert_eq!(choose_backend(Some("portable"), true, true), Portable);
        assert_eq!(choose_backend(Some(" Portable "), true, true), Portable);
        assert_eq!(choose_backend(Some("vaes512"), true, true), Vaes512);
        assert_eq!(choose_backend(Some("vaes256"), true, true), Vaes256);
        assert_eq!(choose_backend(Some(" VAES256 "), false, true), Vaes256);
        // A forced kernel the CPU cannot run gives the portable path.
        assert_eq!(choose_backend(Some("vaes512"), false, true), Portable);
        assert_eq!(choose_backend(Some("vaes512"), false, false), Portable);
        assert_eq!(choose_backend(Some("vaes256"), true, false), Portable);
        // Asking for a backend the CPU lacks gives the portable one, never a crash.
        for (backend, ok) in [
            (Vaes512, vaes512_supported()),
            (Vaes256, vaes256_supported()),
        ] {
            let xts = Xts::with_backend(&DataKey::from_slice(&[0u8; 32]), backend);
            let expected = if ok { backend } else { Portable };
            assert_eq!(xts.backend(), expected);
            assert_eq!(xts.implementation(), expected.name());
        }
        assert_eq!(Vaes256.name(), "vaes256");
    }

    #[test]
    fn shared_across_threads_and_debug_shows_no_key() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Xts>();
        let xts = Xts::new(&DataKey::from_slice(&[0xab; 64]));
        let shown = format!("{xts:?}");
        assert!(shown.starts_with("Xts(Aes256Xts, "), "{shown}");
        assert!(!shown.to_ascii_lowercase().contains("abab"));
    }

    fn sector_size() -> impl Strategy<Value = usize> {
        prop_oneof![
            Just(512usize),
            Just(4096usize),
            (1usize..=80).prop_map(|b| b * 16)
        ]
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 32),
            proptest::collection::vec(any::<u8>(), 64)
        ]
    }

    /// Sector indices for the cross-backend test: anywhere, or so close to `u64::MAX` that the
    /// run crosses it.
    fn first_sector() -> impl Strategy<Value = u64> {
        prop_oneof![any::<u64>(), (u64::MAX - 40)..=u64::MAX, 0u64..40]
    }

    /// Sector sizes for the cross-backend test: the small ones that end in each kernel's tails,
    /// blockseal's two, one just past 512, and any other.
    fn any_sector_size() -> impl Strategy<Value = usize> {
        prop_oneof![
            prop::sample::select(vec![16usize, 32, 48, 512, 4096, 528]),
            (1usize..=300).prop_map(|b| b * 16)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn all_backends_give_the_same_ciphertext(
            key in key(),
            first in first_sector(),
            sector_size in any_sector_size(),
            sectors in 1usize..40,
            seed in any::<u64>(),
        ) {
            let mut plain = vec![0u8; sector_size * sectors];
            fill(seed, &mut plain);
            let mut reference = plain.clone();
            keyed(&key, Backend::Portable).encrypt_sectors(first, sector_size, &mut reference);
            for backend in backends() {
                let xts = keyed(&key, backend);
                let mut buf = plain.clone();
                xts.encrypt_sectors(first, sector_size, &mut buf);
                prop_assert!(buf == reference, "{:?} encrypt", backend);
                // Decrypting the portable path's ciphertext gives the plaintext back.
                xts.decrypt_sectors(first, sector_size, &mut buf);
                prop_assert!(buf == plain, "{:?} decrypt", backend);
            }
        }

        #[test]
        fn out_of_place_equals_copy_then_in_place(
            key in key(),
            first in first_sector(),
            sector_size in any_sector_size(),
            sectors in 1usize..24,
            seed in any::<u64>(),
            garbage in any::<u8>(),
            src_shift in 0usize..64,
            dst_shift in 0usize..64,
        ) {
            // Source and destination at any alignment, `dst` full of garbage.
            let len = sector_size * sectors;
            let mut src_buf = vec![0u8; src_shift + len];
            fill(seed, &mut src_buf[src_shift..]);
            let plain = src_buf[src_shift..].to_vec();
            let mut dst_buf = vec![garbage; dst_shift + len];
            for backend in backends() {
                let xts = keyed(&key, backend);
                let mut expected = plain.clone();
                xts.encrypt_sectors(first, sector_size, &mut expected);
                let src = &src_buf[src_shift..];
                let dst = &mut dst_buf[dst_shift..];
                dst.fill(garbage);
                xts.encrypt_sectors_to(first, sector_size, src, dst);
                prop_assert!(*dst == expected[..], "{:?} encrypt", backend);
                prop_assert!(src == &plain[..], "{:?} encrypt changed src", backend);

                // And back: the ciphertext as the source, decrypted into fresh garbage.
                let cipher = expected;
                let mut expected = cipher.clone();
                xts.decrypt_sectors(first, sector_size, &mut expected);
                prop_assert!(expected == plain);
                let mut cipher_buf = vec![0u8; src_shift + len];
                cipher_buf[src_shift..].copy_from_slice(&cipher);
                let src = &cipher_buf[src_shift..];
                let dst = &mut dst_buf[dst_shift..];
                dst.fill(garbage);
                xts.decrypt_sectors_to(first, sector_size, src, dst);
                prop_assert!(*dst == expected[..], "{:?} decrypt", backend);
                prop_assert!(src == &cipher[..], "{:?} decrypt changed src", backend);
            }
        }

        #[test]
        fn decrypt_undoes_encrypt(
            key in key(),
            first in any::<u64>(),
            sector_size in sector_size(),
            sectors in 1usize..12,
            seed in any::<u64>(),
        ) {
            let mut plain = vec![0u8; sector_size * sectors];
            fill(seed, &mut plain);
            for backend in backends() {
                let xts = keyed(&key, backend);
                let mut buf = plain.clone();
                xts.encrypt_sectors(first, sector_size, &mut buf);
                prop_assert!(buf != plain);
                xts.decrypt_sectors(first, sector_size, &mut buf);
                prop_assert!(buf == plain);
            }
        }

        #[test]
        fn equal_plaintext_in_other_sector_differs(
            key in key(),
            first in 0u64..u64::MAX - 64,
            sector_size in sector_size(),
            gap in 1u64..64,
            seed in any::<u64>(),
        ) {
            let mut sector = vec![0u8; sector_size];
            fill(seed, &mut sector);
            for backend in backends() {
                let xts = keyed(&key, backend);
                let mut a = sector.clone();
                let mut b = sector.clone();
                xts.encrypt_sectors(first, sector_size, &mut a);
                xts.encrypt_sectors(first + gap, sector_size, &mut b);
                prop_assert!(a != b);
                // Equal blocks inside one sector differ too (the tweak advances per block).
                let mut same = vec![0u8; sector_size];
                xts.encrypt_sectors(first, sector_size, &mut same);
                if sector_size >= 32 {
                    prop_assert!(same[..16] != same[16..32]);
                }
            }
        }

        #[test]
        fn rekey_equals_decrypt_then_encrypt(
            old_key in key(),
            new_key in key(),
            first in any::<u64>(),
            sector_size in sector_size(),
            bytes in 1usize..(40 * 1024),
            seed in any::<u64>(),
        ) {
            let sectors = bytes.div_ceil(sector_size);
            let mut data = vec![0u8; sector_size * sectors];
            fill(seed, &mut data);
            let all = backends();
            for (i, &from_backend) in all.iter().enumerate() {
                let to_backend = all[(i + 1) % all.len()];
                let from = keyed(&old_key, from_backend);
                let to = keyed(&new_key, to_backend);
                let mut fused = data.clone();
                rekey_sectors(&from, &to, first, sector_size, &mut fused);
                let mut two_pass = data.clone();
                from.decrypt_sectors(first, sector_size, &mut two_pass);
                to.encrypt_sectors(first, sector_size, &mut two_pass);
                prop_assert!(fused == two_pass);
            }
        }
    }
}
