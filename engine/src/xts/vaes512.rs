//! The VAES-512 XTS kernel for x86-64 CPUs with AVX-512 (F, BW, VL), VAES and VPCLMULQDQ: the
//! vector loop over round keys from `schedule`. Pure: bytes in, bytes out; no I/O.
//!
//! Shape of the loop (after the Linux kernel's `aes-xts-avx-x86_64.S`):
//! - the Key1 round keys are broadcast into zmm registers once per call;
//! - 16 blocks (4 zmm) per iteration, with a compile-time round count so the loop unrolls and
//!   stays in registers;
//! - each zmm holds the tweaks of 4 consecutive blocks; the next iteration's tweaks are this
//!   iteration's times x^16, a 2-byte lane shift plus one carry-less multiply by 0x87, which run
//!   on other ports than the AES rounds;
//! - data ⊕ tweak ⊕ round key 0 is one `vpternlogd`, and the closing tweak XOR is folded into
//!   the last round key (aesenclast(k, a) ⊕ t = aesenclast(k ⊕ t, a));
//! - the first tweaks (AES-Key2 of the sector index) of 16 sectors are encrypted together, which
//!   is what keeps 512-byte sectors fast;
//! - a sector whose size is not a multiple of 256 bytes finishes with single zmm steps and one
//!   masked load/store. Sectors are whole blocks, so ciphertext stealing never happens;
//! - loads go through one pointer and stores through another: the same one in place, a source
//!   and a destination buffer otherwise, with no copy between them.

#![allow(unsafe_code)]

use super::schedule::{from_u128, Expanded};
use core::arch::x86_64::*;
use zeroize::Zeroize;

/// Sectors whose first tweaks are computed in one pass (4 zmm).
const IV_GROUP: usize = 16;

/// Whether this CPU has every feature the kernel is compiled for (the list in each
/// `#[target_feature]` below).
pub(super) fn supported() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("vaes")
        && std::arch::is_x86_feature_detected!("vpclmulqdq")
        && std::arch::is_x86_feature_detected!("aes")
}

/// Keys for the kernel. A value of this type exists only if [`supported`] returned true when it
/// was made (its field is private and [`Keys::new`] is its only constructor): that is the
/// invariant every `unsafe` call into the kernel relies on.
pub(super) struct Keys(Expanded);

impl Keys {
    /// Expands the two halves of an XTS key (16 or 32 bytes each), or `None` if this CPU cannot
    /// run the kernel.
    pub(super) fn new(k1: &[u8], k2: &[u8]) -> Option<Self> {
        if !supported() {
            return None;
        }
        Expanded::new(k1, k2).map(Keys)
    }

    /// Encrypts whole sectors from `src` into `dst`, or `dst` in place if `src` is `None`.
    ///
    /// # Panics
    /// If `sector_size` is not a non-zero multiple of 16, `dst` is not whole sectors or `src`
    /// differs from it in length.
    pub(super) fn encrypt(
        &self,
        first: u128,
        sector_size: usize,
        src: Option<&[u8]>,
        dst: &mut [u8],
    ) {
        match &self.0 {
            // SAFETY: a `Keys` exists only after `supported()` returned true (see `Keys::new`),
            // so the CPU has every feature `crypt` is compiled with.
            Expanded::A128(s) => unsafe {
                crypt::<11, true>(&s.enc1, &s.enc2, first, sector_size, src, dst)
            },
            // SAFETY: as above.
            Expanded::A256(s) => unsafe {
                crypt::<15, true>(&s.enc1, &s.enc2, first, sector_size, src, dst)
            },
        }
    }

    /// Decrypts whole sectors from `src` into `dst`, or `dst` in place if `src` is `None`; the
    /// inverse of [`Keys::encrypt`].
    ///
    /// # Panics
    /// As [`Keys::encrypt`].
    pub(super) fn decrypt(
        &self,
        first: u128,
        sector_size: usize,
        src: Option<&[u8]>,
        dst: &mut [u8],
    ) {
        match &self.0 {
            // SAFETY: a `Keys` exists only after `supported()` returned true (see `Keys::new`),
            // so the CPU has every feature `crypt` is compiled with.
            Expanded::A128(s) => unsafe {
                crypt::<11, false>(&s.dec1, &s.enc2, first, sector_size, src, dst)
            },
            // SAFETY: as above.
            Expanded::A256(s) => unsafe {
                crypt::<15, false>(&s.dec1, &s.enc2, first, sector_size, src, dst)
            },
        }
    }
}

// ---- the kernel ---------------------------------------------------------------------------

/// `x^128 = x^7 + x^2 + x + 1`: 0x87 in the low qword of each 128-bit lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn poly() -> __m512i {
    _mm512_set_epi64(0, 0x87, 0, 0x87, 0, 0x87, 0, 0x87)
}

/// The four tweak vectors of a sector's first 16 blocks: vector `j` holds `t·x^(4j)` ..
/// `t·x^(4j+3)`. Each lane is a carry-less product of `t` with `x^k` (k < 16): both halves
/// times `x^k`, the bits pushed past 128 folded back with 0x87. All of it is byte shifts and
/// `vpclmulqdq`, which stay off the port the AES rounds use on Intel cores, and the four
/// vectors do not wait on each other.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes")]
fn first_vectors(t: u128, poly: __m512i) -> [__m512i; 4] {
    let b = _mm512_broadcast_i32x4(from_u128(t));
    let mut out = [_mm512_setzero_si512(); 4];
    for (j, v) in out.iter_mut().enumerate() {
        let x = |i: usize| 1i64 << (4 * j + i);
        let powers = _mm512_set_epi64(0, x(3), 0, x(2), 0, x(1), 0, x(0));
        let low = _mm512_clmulepi64_epi128::<0x00>(b, powers);
        let high = _mm512_clmulepi64_epi128::<0x01>(b, powers);
        let overflow = _mm512_bsrli_epi128::<8>(high);
        *v = _mm512_ternarylogic_epi32::<0x96>(
            low,
            _mm512_bslli_epi128::<8>(high),
            _mm512_clmulepi64_epi128::<0x00>(overflow, poly),
        );
    }
    out
}

/// Every lane times x^16: a 2-byte shift, and the 16 bits shifted out times 0x87 (at most 23
/// bits, so one multiply reduces them).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes")]
fn mul_x16(t: __m512i, poly: __m512i) -> __m512i {
    let top = _mm512_bsrli_epi128::<14>(t);
    _mm512_xor_si512(
        _mm512_bslli_epi128::<2>(t),
        _mm512_clmulepi64_epi128::<0x00>(top, poly),
    )
}

/// XEX on `N` zmm of blocks: `E(d ⊕ t) ⊕ t` (or `D`), with `rk` in the order the direction
/// uses.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes")]
fn xex<const RK: usize, const ENC: bool, const N: usize>(
    rk: &[__m512i; RK],
    d: [__m512i; N],
    t: [__m512i; N],
) -> [__m512i; N] {
    let mut x = d;
    for i in 0..N {
        x[i] = _mm512_ternarylogic_epi32::<0x96>(d[i], t[i], rk[0]);
    }
    for key in &rk[1..RK - 1] {
        for v in x.iter_mut() {
            *v = if ENC {
                _mm512_aesenc_epi128(*v, *key)
            } else {
                _mm512_aesdec_epi128(*v, *key)
            };
        }
    }
    for i in 0..N {
        let last = _mm512_xor_si512(rk[RK - 1], t[i]);
        x[i] = if ENC {
            _mm512_aesenclast_epi128(x[i], last)
        } else {
            _mm512_aesdeclast_epi128(x[i], last)
        };
    }
    x
}

/// AES-Key2 of the 16 sector indices from `start`: the first tweak of each sector.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes")]
fn first_tweaks<const RK: usize>(k2: &[u128; RK], start: u128, count: usize) -> [u128; IV_GROUP] {
    let mut ivs = [0u128; IV_GROUP];
    for (i, iv) in ivs.iter_mut().enumerate() {
        // Wraps only past u128::MAX, which u64 sector numbers never reach.
        *iv = start.wrapping_add(i as u128);
    }
    for quad in ivs.chunks_exact_mut(4).take(count.div_ceil(4)) {
        // SAFETY: `quad` is 4 u128 = 64 bytes, exactly one unaligned zmm load and store.
        let mut v = unsafe { _mm512_loadu_si512(quad.as_ptr().cast()) };
        v = _mm512_xor_si512(v, _mm512_broadcast_i32x4(from_u128(k2[0])));
        for key in &k2[1..RK - 1] {
            v = _mm512_aesenc_epi128(v, _mm512_broadcast_i32x4(from_u128(*key)));
        }
        v = _mm512_aesenclast_epi128(v, _mm512_broadcast_i32x4(from_u128(k2[RK - 1])));
        // SAFETY: as above.
        unsafe { _mm512_storeu_si512(quad.as_mut_ptr().cast(), v) };
    }
    ivs
}

/// One sector of `len` bytes (a non-zero multiple of 16): loaded from `src`, stored to `dst`.
/// Each step loads all its bytes before it stores any, and no step loads bytes that an earlier
/// one stored, so `src == dst` works in place.
///
/// # Safety
/// `src` is valid for reads and `dst` for writes of `len` bytes. (For a right result they are
/// also the same pointer or do not overlap; memory safety does not depend on that.)
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes")]
unsafe fn crypt_sector<const RK: usize, const ENC: bool>(
    rk: &[__m512i; RK],
    iv: u128,
    poly: __m512i,
    src: *const u8,
    dst: *mut u8,
    len: usize,
) {
    let mut t = first_vectors(iv, poly);
    let mut off = 0;
    while len - off >= 256 {
        // The next 16 tweaks are computed only when blocks remain for them: a 512-byte sector
        // then pays for one x^16 step, not two.
        if off > 0 {
            for v in t.iter_mut() {
                *v = mul_x16(*v, poly);
            }
        }
        let mut d = [_mm512_setzero_si512(); 4];
        for (i, v) in d.iter_mut().enumerate() {
            // SAFETY: `off + 256 <= len`, so bytes `off + 64 i .. off + 64 (i + 1)` are among
            // the `len` readable bytes at `src` (the caller's contract); the load is unaligned.
            *v = unsafe { _mm512_loadu_si512(src.add(off + 64 * i).cast()) };
        }
        let x = xex::<RK, ENC, 4>(rk, d, t);
        for (i, v) in x.iter().enumerate() {
            // SAFETY: as for the loads, among the `len` writable bytes at `dst`.
            unsafe { _mm512_storeu_si512(dst.add(off + 64 * i).cast(), *v) };
        }
        off += 256;
    }
    if off == len {
        return;
    }
    // Up to 15 blocks left (sectors that are not a multiple of 256 bytes). Their tweaks are the
    // next four vectors in block order; shifting the array (constant indices) instead of
    // indexing it keeps it in registers.
    if off > 0 {
        for v in t.iter_mut() {
            *v = mul_x16(*v, poly);
        }
    }
    while len - off >= 64 {
        // SAFETY: `off + 64 <= len`: an unaligned load of readable bytes at `src`.
        let d = unsafe { _mm512_loadu_si512(src.add(off).cast()) };
        let [x] = xex::<RK, ENC, 1>(rk, [d], [t[0]]);
        // SAFETY: as for the load, a store of writable bytes at `dst`.
        unsafe { _mm512_storeu_si512(dst.add(off).cast(), x) };
        t = [t[1], t[2], t[3], t[3]];
        off += 64;
    }
    if off < len {
        let blocks = (len - off) / 16; // 1..=3
        let mask: __mmask8 = (1u8 << (2 * blocks)) - 1;
        // SAFETY: the mask enables the 2·blocks qwords at `off .. len`, readable at `src`;
        // masked-off lanes are not read and cannot fault (AVX-512 fault suppression).
        let d = unsafe { _mm512_maskz_loadu_epi64(mask, src.add(off).cast()) };
        let [x] = xex::<RK, ENC, 1>(rk, [d], [t[0]]);
        // SAFETY: the same qwords, writable at `dst`; masked-off lanes are not written.
        unsafe { _mm512_mask_storeu_epi64(dst.add(off).cast(), mask, x) };
    }
}

/// XTS over whole sectors, `k1` in the order the direction uses, `k2` the tweak key: from `src`
/// into `dst`, or `dst` in place if `src` is `None`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes")]
fn crypt<const RK: usize, const ENC: bool>(
    k1: &[u128; RK],
    k2: &[u128; RK],
    first: u128,
    sector_size: usize,
    src: Option<&[u8]>,
    dst: &mut [u8],
) {
    // The kernel's memory accesses rely on these; checked here so that they do not depend on
    // the caller.
    assert!(
        sector_size >= 16 && sector_size.is_multiple_of(16),
        "bad sector size"
    );
    assert!(
        dst.len().is_multiple_of(sector_size),
        "data is not whole sectors"
    );
    assert!(
        src.is_none_or(|s| s.len() == dst.len()),
        "src and dst differ in length"
    );
    let len = dst.len();
    let store = dst.as_mut_ptr();
    // In place, loads go through the store pointer. Otherwise `src` is a shared borrow and
    // `dst` an exclusive one, so the two do not overlap.
    let load = src.map_or(store.cast_const(), <[u8]>::as_ptr);
    let mut rk = [_mm512_setzero_si512(); RK];
    for (v, k) in rk.iter_mut().zip(k1) {
        *v = _mm512_broadcast_i32x4(from_u128(*k));
    }
    let poly = poly();
    let mut start = first;
    let mut off = 0;
    while off < len {
        let count = ((len - off) / sector_size).min(IV_GROUP);
        let ivs = first_tweaks(k2, start, count);
        for &iv in &ivs[..count] {
            // SAFETY: `len` is whole sectors and `off` a sector boundary below it, so
            // `off + sector_size <= len`: the sector's bytes are readable at `load` (inside
            // `src`, or `dst` in place) and writable at `store` (inside `dst`).
            unsafe {
                crypt_sector::<RK, ENC>(&rk, iv, poly, load.add(off), store.add(off), sector_size)
            };
            off += sector_size;
        }
        start = start.wrapping_add(count as u128);
    }
    // The broadcast round keys live in registers or on this stack frame; clear them.
    rk.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tweak_steps_match_scalar_mul_x() {
        if !supported() {
            return;
        }
        let mul_x = super::super::portable::mul_x;
        for t0 in [
            0x8765_4321_0fed_cba9_8000_0000_ffff_ffff_u128,
            u128::MAX,
            1,
            0xffff_0000_0000_0000_0000_0000_0000_0000,
        ] {
            // SAFETY: `supported()` is true.
            let lanes: [u128; 20] = unsafe { tweak_lanes(t0) };
            let mut powers = [0u128; 20];
            let mut t = t0;
            for p in powers.iter_mut() {
                *p = t;
                t = mul_x(t);
            }
            assert_eq!(lanes, powers);
        }
    }

    /// `t0·x^0..15` from the first vectors, then `t0·x^16..19` from one x^16 step, as
    /// scalars.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes")]
    fn tweak_lanes(t0: u128) -> [u128; 20] {
        let poly = poly();
        let [v0, v1, v2, v3] = first_vectors(t0, poly);
        let v4 = mul_x16(v0, poly);
        let mut out = [0u128; 20];
        for (quad, v) in out.chunks_exact_mut(4).zip([v0, v1, v2, v3, v4]) {
            // SAFETY: `quad` is 64 bytes, one unaligned zmm store.
            unsafe { _mm512_storeu_si512(quad.as_mut_ptr().cast(), v) };
        }
        out
    }
}
