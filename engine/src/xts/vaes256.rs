//! The VAES-256 XTS kernel for x86-64 CPUs with AVX2, VAES and VPCLMULQDQ that may lack AVX-512
//! (AMD Zen 3 and Zen 4 client parts, Intel Alder Lake and later client cores): the loop of
//! `vaes512` shaped for the 16 ymm registers of AVX2, over round keys from `schedule`. Pure:
//! bytes in, bytes out; no I/O.
//!
//! Shape of the loop:
//! - the Key1 round keys are broadcast into ymm values once per call. 8 ymm of data and their
//!   8 tweaks fill the 16 registers, so each round loads its key from this call's stack copy
//!   into one scratch register (a load-port uop, no ALU work) and uses it for all 8 `vaesenc`;
//!   broadcasting from the schedule instead would be the same single load;
//! - `WIDTH` ymm (2 blocks each) per iteration, with a compile-time round count so the loop
//!   unrolls;
//! - each ymm holds the tweaks of 2 consecutive blocks; the next iteration's tweaks are this
//!   iteration's times x^(2·WIDTH), a lane byte shift plus one carry-less multiply by 0x87;
//! - data ⊕ tweak ⊕ round key 0 is two plain XORs (no `vpternlogd` without AVX-512), and the
//!   closing tweak XOR is folded into the last round key (aesenclast(k, a) ⊕ t =
//!   aesenclast(k ⊕ t, a));
//! - the first tweaks (AES-Key2 of the sector index) of up to 16 sectors are encrypted together;
//! - a sector whose size is not a multiple of the iteration finishes with 4-, 2- and 1-ymm steps
//!   and one 128-bit block: no masked loads (an AVX-512 feature), and no access outside the
//!   sector. Sectors are whole blocks, so ciphertext stealing never happens;
//! - loads go through one pointer and stores through another: the same one in place, a source
//!   and a destination buffer otherwise, with no copy between them.

#![allow(unsafe_code)]

use super::schedule::{from_u128, Expanded};
use core::arch::x86_64::*;
use zeroize::Zeroize;

/// ymm registers of data per loop iteration (2 blocks each). On Emerald Rapids 8 (16 blocks)
/// measured 1–8% faster than 4: more independent `vaesenc` to cover their latency, for a few
/// tweaks spilled to the stack.
const WIDTH: usize = 8;

/// Sectors whose first tweaks are computed in one pass (8 ymm).
const IV_GROUP: usize = 16;

/// Whether this CPU has every feature the kernel is compiled for (the list in each
/// `#[target_feature]` below).
pub(super) fn supported() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("vaes")
        && std::arch::is_x86_feature_detected!("vpclmulqdq")
        && std::arch::is_x86_feature_detected!("pclmulqdq")
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
                crypt::<11, true, WIDTH>(&s.enc1, &s.enc2, first, sector_size, src, dst)
            },
            // SAFETY: as above.
            Expanded::A256(s) => unsafe {
                crypt::<15, true, WIDTH>(&s.enc1, &s.enc2, first, sector_size, src, dst)
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
                crypt::<11, false, WIDTH>(&s.dec1, &s.enc2, first, sector_size, src, dst)
            },
            // SAFETY: as above.
            Expanded::A256(s) => unsafe {
                crypt::<15, false, WIDTH>(&s.dec1, &s.enc2, first, sector_size, src, dst)
            },
        }
    }
}

/// `x^128 = x^7 + x^2 + x + 1`: 0x87 in the low qword of each 128-bit lane.
#[inline]
#[target_feature(enable = "avx2")]
fn poly() -> __m256i {
    _mm256_set_epi64x(0, 0x87, 0, 0x87)
}

/// A round key in both lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn broadcast(k: u128) -> __m256i {
    _mm256_broadcastsi128_si256(from_u128(k))
}

/// The `W` tweak vectors of a sector's first 2·W blocks: vector `j` holds `t·x^(2j)` and
/// `t·x^(2j+1)`. The first four are carry-less products of `t` with `x^k` (k < 8): both halves
/// times `x^k`, the bits pushed past 128 folded back with 0x87; they do not wait on each other.
/// Vectors 4..8 are vectors 0..4 times x^8, a byte shift and one multiply, which saved a few
/// percent on 512-byte sectors against computing all eight like the first four.
#[inline]
#[target_feature(enable = "avx2,vaes,vpclmulqdq,pclmulqdq,aes")]
fn first_vectors<const W: usize>(t: u128, poly: __m256i) -> [__m256i; W] {
    const { assert!(W == 4 || W == 8, "powers of x up to x^15") };
    let b = broadcast(t);
    let mut out = [_mm256_setzero_si256(); W];
    for (j, v) in out.iter_mut().take(4).enumerate() {
        let x = |i: usize| 1i64 << (2 * j + i);
        let powers = _mm256_set_epi64x(0, x(1), 0, x(0));
        let low = _mm256_clmulepi64_epi128::<0x00>(b, powers);
        let high = _mm256_clmulepi64_epi128::<0x01>(b, powers);
        let overflow = _mm256_bsrli_epi128::<8>(high);
        *v = _mm256_xor_si256(
            _mm256_xor_si256(low, _mm256_bslli_epi128::<8>(high)),
            _mm256_clmulepi64_epi128::<0x00>(overflow, poly),
        );
    }
    for j in 4..W {
        out[j] = next_vector::<4>(out[j - 4], poly);
    }
    out
}

/// Every lane times x^(2·W) (x^16 for 8 ymm, x^8 for 4): a byte shift, and the bits shifted out
/// times 0x87 (at most 23 bits, so one multiply reduces them).
#[inline]
#[target_feature(enable = "avx2,vaes,vpclmulqdq,pclmulqdq,aes")]
fn next_vector<const W: usize>(t: __m256i, poly: __m256i) -> __m256i {
    const { assert!(W == 4 || W == 8, "a step of one or two bytes") };
    let (shifted, top) = if W == 8 {
        (_mm256_bslli_epi128::<2>(t), _mm256_bsrli_epi128::<14>(t))
    } else {
        (_mm256_bslli_epi128::<1>(t), _mm256_bsrli_epi128::<15>(t))
    };
    _mm256_xor_si256(shifted, _mm256_clmulepi64_epi128::<0x00>(top, poly))
}

/// XEX on `N` ymm of blocks: `E(d ⊕ t) ⊕ t` (or `D`), with `rk` in the order the direction
/// uses, the tweaks being the first `N` of `t`.
#[inline]
#[target_feature(enable = "avx2,vaes,vpclmulqdq,pclmulqdq,aes")]
fn xex<const RK: usize, const ENC: bool, const N: usize, const W: usize>(
    rk: &[__m256i; RK],
    d: [__m256i; N],
    t: &[__m256i; W],
) -> [__m256i; N] {
    const { assert!(N <= W) };
    let mut x = d;
    for i in 0..N {
        x[i] = _mm256_xor_si256(d[i], _mm256_xor_si256(t[i], rk[0]));
    }
    for key in &rk[1..RK - 1] {
        for v in x.iter_mut() {
            *v = if ENC {
                _mm256_aesenc_epi128(*v, *key)
            } else {
                _mm256_aesdec_epi128(*v, *key)
            };
        }
    }
    for i in 0..N {
        let last = _mm256_xor_si256(rk[RK - 1], t[i]);
        x[i] = if ENC {
            _mm256_aesenclast_epi128(x[i], last)
        } else {
            _mm256_aesdeclast_epi128(x[i], last)
        };
    }
    x
}

/// `N` ymm at byte `off` through [`xex`] with the first `N` tweaks of `t`: loaded from `src`,
/// stored to `dst`, all loads before the first store (so `src == dst` works in place).
///
/// # Safety
/// Bytes `off .. off + 32·N` are valid for reads at `src` and for writes at `dst`.
#[inline]
#[target_feature(enable = "avx2,vaes,vpclmulqdq,pclmulqdq,aes")]
unsafe fn xex_at<const RK: usize, const ENC: bool, const N: usize, const W: usize>(
    rk: &[__m256i; RK],
    t: &[__m256i; W],
    src: *const u8,
    dst: *mut u8,
    off: usize,
) {
    let mut d = [_mm256_setzero_si256(); N];
    for (i, v) in d.iter_mut().enumerate() {
        // SAFETY: bytes `off + 32 i .. off + 32 (i + 1)` are readable at `src` (the caller's
        // contract); the load is unaligned.
        *v = unsafe { _mm256_loadu_si256(src.add(off + 32 * i).cast()) };
    }
    let x = xex::<RK, ENC, N, W>(rk, d, t);
    for (i, v) in x.iter().enumerate() {
        // SAFETY: as for the loads, writable at `dst`.
        unsafe { _mm256_storeu_si256(dst.add(off + 32 * i).cast(), *v) };
    }
}

/// `t` moved down by `k` vectors (the last one repeated), with constant indices so that the
/// array stays in registers.
#[inline(always)]
fn shifted<const W: usize>(t: [__m256i; W], k: usize) -> [__m256i; W] {
    core::array::from_fn(|i| t[(i + k).min(W - 1)])
}

/// AES-Key2 of sector indices: the first tweak of each sector, `N` ymm (2·N sectors) at a time.
#[inline]
#[target_feature(enable = "avx2,vaes,vpclmulqdq,pclmulqdq,aes")]
fn encrypt_ivs<const RK: usize, const N: usize>(k2: &[u128; RK], ivs: &mut [u128; IV_GROUP]) {
    const { assert!(2 * N <= IV_GROUP) };
    let mut v = [_mm256_setzero_si256(); N];
    for (x, pair) in v.iter_mut().zip(ivs.chunks_exact(2)) {
        // SAFETY: `pair` is 2 u128 = 32 bytes, exactly one unaligned ymm load.
        *x = unsafe { _mm256_loadu_si256(pair.as_ptr().cast()) };
        *x = _mm256_xor_si256(*x, broadcast(k2[0]));
    }
    for key in &k2[1..RK - 1] {
        let key = broadcast(*key);
        for x in v.iter_mut() {
            *x = _mm256_aesenc_epi128(*x, key);
        }
    }
    let last = broadcast(k2[RK - 1]);
    for (x, pair) in v.iter().zip(ivs.chunks_exact_mut(2)) {
        // SAFETY: as for the loads.
        unsafe {
            _mm256_storeu_si256(pair.as_mut_ptr().cast(), _mm256_aesenclast_epi128(*x, last))
        };
    }
}

/// The first tweaks of the `count` (1..=16) sectors from `start`, in as few ymm as cover them.
#[inline]
#[target_feature(enable = "avx2,vaes,vpclmulqdq,pclmulqdq,aes")]
fn first_tweaks<const RK: usize>(k2: &[u128; RK], start: u128, count: usize) -> [u128; IV_GROUP] {
    let mut ivs = [0u128; IV_GROUP];
    for (i, iv) in ivs.iter_mut().enumerate() {
        // Wraps only past u128::MAX, which u64 sector numbers never reach.
        *iv = start.wrapping_add(i as u128);
    }
    match count {
        0..=2 => encrypt_ivs::<RK, 1>(k2, &mut ivs),
        3..=8 => encrypt_ivs::<RK, 4>(k2, &mut ivs),
        _ => encrypt_ivs::<RK, 8>(k2, &mut ivs),
    }
    ivs
}

/// One block at byte `off` with 128-bit AES (VEX-encoded AES-NI) and the low lane of the tweak
/// vector `t`: loaded from `src`, stored to `dst` (which may be `src`).
///
/// # Safety
/// Bytes `off .. off + 16` are valid for reads at `src` and for writes at `dst`.
#[inline]
#[target_feature(enable = "avx2,vaes,vpclmulqdq,pclmulqdq,aes")]
unsafe fn one_block<const RK: usize, const ENC: bool>(
    rk: &[__m256i; RK],
    t: __m256i,
    src: *const u8,
    dst: *mut u8,
    off: usize,
) {
    let t = _mm256_castsi256_si128(t);
    let key = |i: usize| _mm256_castsi256_si128(rk[i]);
    // SAFETY: bytes `off .. off + 16` are readable at `src` (the caller's contract); unaligned.
    let d = unsafe { _mm_loadu_si128(src.add(off).cast()) };
    let mut x = _mm_xor_si128(d, _mm_xor_si128(t, key(0)));
    for i in 1..RK - 1 {
        x = if ENC {
            _mm_aesenc_si128(x, key(i))
        } else {
            _mm_aesdec_si128(x, key(i))
        };
    }
    let last = _mm_xor_si128(key(RK - 1), t);
    x = if ENC {
        _mm_aesenclast_si128(x, last)
    } else {
        _mm_aesdeclast_si128(x, last)
    };
    // SAFETY: as for the load, writable at `dst`.
    unsafe { _mm_storeu_si128(dst.add(off).cast(), x) };
}

/// One sector of `len` bytes (a non-zero multiple of 16): loaded from `src`, stored to `dst`.
/// Each step loads all its bytes before it stores any, and no step loads bytes that an earlier
/// one stored, so `src == dst` works in place.
///
/// # Safety
/// `src` is valid for reads and `dst` for writes of `len` bytes. (For a right result they are
/// also the same pointer or do not overlap; memory safety does not depend on that.)
#[inline]
#[target_feature(enable = "avx2,vaes,vpclmulqdq,pclmulqdq,aes")]
unsafe fn crypt_sector<const RK: usize, const ENC: bool, const W: usize>(
    rk: &[__m256i; RK],
    iv: u128,
    poly: __m256i,
    src: *const u8,
    dst: *mut u8,
    len: usize,
) {
    let step = 32 * W;
    let mut t = first_vectors::<W>(iv, poly);
    let mut off = 0;
    while len - off >= step {
        // The next tweaks are computed only when blocks remain for them: a 512-byte sector at
        // 8 ymm then pays for one step, not two.
        if off > 0 {
            for v in t.iter_mut() {
                *v = next_vector::<W>(*v, poly);
            }
        }
        // SAFETY: `off + 32 W <= len`, and `len` bytes are readable at `src` and writable at
        // `dst` (the caller's contract); the same holds for each step below.
        unsafe { xex_at::<RK, ENC, W, W>(rk, &t, src, dst, off) };
        off += step;
    }
    if off == len {
        return;
    }
    // Fewer than 2·W blocks left (sectors that are not a multiple of the step). Their tweaks
    // are the next W vectors in block order, used from the front by steps of 4, 2 and 1 ymm
    // and one block: each runs at most once.
    if off > 0 {
        for v in t.iter_mut() {
            *v = next_vector::<W>(*v, poly);
        }
    }
    if W > 4 && len - off >= 128 {
        // SAFETY: `off + 128 <= len`.
        unsafe { xex_at::<RK, ENC, 4, W>(rk, &t, src, dst, off) };
        t = shifted(t, 4);
        off += 128;
    }
    if len - off >= 64 {
        // SAFETY: `off + 64 <= len`.
        unsafe { xex_at::<RK, ENC, 2, W>(rk, &t, src, dst, off) };
        t = shifted(t, 2);
        off += 64;
    }
    if len - off >= 32 {
        // SAFETY: `off + 32 <= len`.
        unsafe { xex_at::<RK, ENC, 1, W>(rk, &t, src, dst, off) };
        t = shifted(t, 1);
        off += 32;
    }
    if len - off >= 16 {
        // SAFETY: `off + 16 <= len`.
        unsafe { one_block::<RK, ENC>(rk, t[0], src, dst, off) };
    }
}

/// XTS over whole sectors, `k1` in the order the direction uses, `k2` the tweak key: from `src`
/// into `dst`, or `dst` in place if `src` is `None`.
#[target_feature(enable = "avx2,vaes,vpclmulqdq,pclmulqdq,aes")]
fn crypt<const RK: usize, const ENC: bool, const W: usize>(
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
    let mut rk = [_mm256_setzero_si256(); RK];
    for (v, k) in rk.iter_mut().zip(k1) {
        *v = broadcast(*k);
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
                crypt_sector::<RK, ENC, W>(
                    &rk,
                    iv,
                    poly,
                    load.add(off),
                    store.add(off),
                    sector_size,
                )
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
            let mut powers = [0u128; 24];
            let mut t = t0;
            for p in powers.iter_mut() {
                *p = t;
                t = mul_x(t);
            }
            // SAFETY: `supported()` is true.
            let (wide, narrow) = unsafe { tweak_lanes(t0) };
            assert_eq!(wide, powers[..20]);
            assert_eq!(narrow, powers[..12]);
        }
    }

    /// `t0·x^0..15` from 8 first vectors then `t0·x^16..19` from one x^16 step, and
    /// `t0·x^0..7` from 4 first vectors then `t0·x^8..11` from one x^8 step, as scalars.
    #[target_feature(enable = "avx2,vaes,vpclmulqdq,pclmulqdq,aes")]
    fn tweak_lanes(t0: u128) -> ([u128; 20], [u128; 12]) {
        let poly = poly();
        let v8 = first_vectors::<8>(t0, poly);
        let v4 = first_vectors::<4>(t0, poly);
        let mut wide = [0u128; 20];
        let more = [next_vector::<8>(v8[0], poly), next_vector::<8>(v8[1], poly)];
        for (pair, v) in wide.chunks_exact_mut(2).zip(v8.iter().chain(&more)) {
            // SAFETY: `pair` is 32 bytes, one unaligned ymm store.
            unsafe { _mm256_storeu_si256(pair.as_mut_ptr().cast(), *v) };
        }
        let mut narrow = [0u128; 12];
        let more = [next_vector::<4>(v4[0], poly), next_vector::<4>(v4[1], poly)];
        for (pair, v) in narrow.chunks_exact_mut(2).zip(v4.iter().chain(&more)) {
            // SAFETY: as above.
            unsafe { _mm256_storeu_si256(pair.as_mut_ptr().cast(), *v) };
        }
        (wide, narrow)
    }

    /// Every tail shape (1..=2·W blocks past whole steps) at both widths agrees with the other
    /// width, in place and out of place: the widths share no tail code path for most sizes.
    #[test]
    fn widths_agree() {
        if !supported() {
            return;
        }
        let key: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(29) ^ 0xa7).collect();
        let Some(Expanded::A256(s)) = Expanded::new(&key[..32], &key[32..]) else {
            unreachable!("AES-NI is part of `supported()`");
        };
        for blocks in 1..=40 {
            let sector_size = 16 * blocks;
            let plain: Vec<u8> = (0..sector_size * 3).map(|i| (i * 11 % 253) as u8).collect();
            let mut a = plain.clone();
            let mut b = plain.clone();
            let mut c = vec![0xaa; plain.len()];
            // SAFETY: `supported()` is true.
            unsafe {
                crypt::<15, true, 8>(&s.enc1, &s.enc2, 5, sector_size, None, &mut a);
                crypt::<15, true, 4>(&s.enc1, &s.enc2, 5, sector_size, None, &mut b);
                crypt::<15, true, 4>(&s.enc1, &s.enc2, 5, sector_size, Some(&plain), &mut c);
            }
            assert!(a == b, "encrypt, {blocks} blocks");
            assert!(c == a, "encrypt out of place, {blocks} blocks");
            // SAFETY: as above.
            unsafe {
                crypt::<15, false, 8>(&s.dec1, &s.enc2, 5, sector_size, None, &mut a);
                crypt::<15, false, 4>(&s.dec1, &s.enc2, 5, sector_size, Some(&b), &mut c);
                crypt::<15, false, 4>(&s.dec1, &s.enc2, 5, sector_size, None, &mut b);
            }
            assert!(a == plain && b == plain, "decrypt, {blocks} blocks");
            assert!(c == plain, "decrypt out of place, {blocks} blocks");
        }
    }
}
