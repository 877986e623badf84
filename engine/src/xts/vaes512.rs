//! The VAES-512 XTS kernel for x86-64 CPUs with AVX-512 (F, BW, VL), VAES and VPCLMULQDQ. It
//! owns the AES key schedule in its own format (expanded with `aeskeygenassist`/`aesimc`) and the
//! vector loop. Pure: bytes in, bytes out; no I/O.
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
//!   masked load/store. Sectors are whole blocks, so ciphertext stealing never happens.

#![allow(unsafe_code)]

use core::arch::x86_64::*;
use zeroize::{Zeroize, ZeroizeOnDrop};

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

/// Expanded keys of one XTS key: `RK` = 11 (AES-128) or 15 (AES-256) round keys each.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Schedule<const RK: usize> {
    /// Key1, encryption order.
    enc1: [u128; RK],
    /// Key1 for the equivalent inverse cipher (`aesimc` applied), decryption order.
    dec1: [u128; RK],
    /// Key2 (tweak key), encryption order.
    enc2: [u128; RK],
}

/// Keys for the kernel. A value of this type exists only if [`supported`] returned true when it
/// was made (its field is private and [`Keys::new`] is its only constructor): that is the
/// invariant every `unsafe` call into the kernel relies on.
pub(super) struct Keys(Expanded);

enum Expanded {
    A128(Box<Schedule<11>>),
    A256(Box<Schedule<15>>),
}

impl Keys {
    /// Expands the two halves of an XTS key (16 or 32 bytes each), or `None` if this CPU cannot
    /// run the kernel. The schedule is expanded in place in its heap box and never moved, so
    /// moves leave no stale copies of it behind.
    pub(super) fn new(k1: &[u8], k2: &[u8]) -> Option<Self> {
        if !supported() {
            return None;
        }
        assert!(
            k1.len() == k2.len() && (k1.len() == 16 || k1.len() == 32),
            "bad XTS key halves"
        );
        if k1.len() == 16 {
            let mut s = Box::new(Schedule {
                enc1: [0; 11],
                dec1: [0; 11],
                enc2: [0; 11],
            });
            // SAFETY: `supported()` returned true above, so the CPU has AES-NI.
            unsafe {
                expand_128(k1, &mut s.enc1);
                expand_128(k2, &mut s.enc2);
                inverse(&s.enc1, &mut s.dec1);
            }
            Some(Keys(Expanded::A128(s)))
        } else {
            let mut s = Box::new(Schedule {
                enc1: [0; 15],
                dec1: [0; 15],
                enc2: [0; 15],
            });
            // SAFETY: `supported()` returned true above, so the CPU has AES-NI.
            unsafe {
                expand_256(k1, &mut s.enc1);
                expand_256(k2, &mut s.enc2);
                inverse(&s.enc1, &mut s.dec1);
            }
            Some(Keys(Expanded::A256(s)))
        }
    }

    /// Encrypts whole sectors in place.
    ///
    /// # Panics
    /// If `sector_size` is not a non-zero multiple of 16 or `data` is not whole sectors.
    pub(super) fn encrypt(&self, first: u128, sector_size: usize, data: &mut [u8]) {
        match &self.0 {
            // SAFETY: a `Keys` exists only after `supported()` returned true (see `Keys::new`),
            // so the CPU has every feature `crypt` is compiled with.
            Expanded::A128(s) => unsafe {
                crypt::<11, true>(&s.enc1, &s.enc2, first, sector_size, data)
            },
            // SAFETY: as above.
            Expanded::A256(s) => unsafe {
                crypt::<15, true>(&s.enc1, &s.enc2, first, sector_size, data)
            },
        }
    }

    /// Decrypts whole sectors in place; the inverse of [`Keys::encrypt`].
    ///
    /// # Panics
    /// As [`Keys::encrypt`].
    pub(super) fn decrypt(&self, first: u128, sector_size: usize, data: &mut [u8]) {
        match &self.0 {
            // SAFETY: a `Keys` exists only after `supported()` returned true (see `Keys::new`),
            // so the CPU has every feature `crypt` is compiled with.
            Expanded::A128(s) => unsafe {
                crypt::<11, false>(&s.dec1, &s.enc2, first, sector_size, data)
            },
            // SAFETY: as above.
            Expanded::A256(s) => unsafe {
                crypt::<15, false>(&s.dec1, &s.enc2, first, sector_size, data)
            },
        }
    }
}

// ---- key schedule -------------------------------------------------------------------------

#[inline(always)]
fn to_u128(v: __m128i) -> u128 {
    // SAFETY: both types are 16 bytes of plain data; every bit pattern is valid for both.
    unsafe { core::mem::transmute::<__m128i, u128>(v) }
}

#[inline(always)]
fn from_u128(v: u128) -> __m128i {
    // SAFETY: both types are 16 bytes of plain data; every bit pattern is valid for both.
    unsafe { core::mem::transmute::<u128, __m128i>(v) }
}

/// `k ⊕ (k << 32) ⊕ (k << 64) ⊕ (k << 96) ⊕ t`: the running XOR of the previous round key's
/// words, plus the `aeskeygenassist` word `t` (already broadcast).
#[inline]
#[target_feature(enable = "aes")]
fn fold(k: __m128i, t: __m128i) -> __m128i {
    let k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
    let k = _mm_xor_si128(k, _mm_slli_si128::<8>(k));
    _mm_xor_si128(k, t)
}

/// FIPS-197 key expansion for a 16-byte key.
#[target_feature(enable = "aes")]
fn expand_128(key: &[u8], out: &mut [u128; 11]) {
    let key: &[u8; 16] = key.try_into().expect("16-byte AES-128 key");
    let mut k = from_u128(u128::from_le_bytes(*key));
    out[0] = to_u128(k);
    macro_rules! round {
        ($i:literal, $rcon:literal) => {
            k = fold(
                k,
                _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(k)),
            );
            out[$i] = to_u128(k);
        };
    }
    round!(1, 0x01);
    round!(2, 0x02);
    round!(3, 0x04);
    round!(4, 0x08);
    round!(5, 0x10);
    round!(6, 0x20);
    round!(7, 0x40);
    round!(8, 0x80);
    round!(9, 0x1b);
    round!(10, 0x36);
}

/// FIPS-197 key expansion for a 32-byte key.
#[target_feature(enable = "aes")]
fn expand_256(key: &[u8], out: &mut [u128; 15]) {
    let lo: &[u8; 16] = key[..16].try_into().expect("32-byte AES-256 key");
    let hi: &[u8; 16] = key[16..].try_into().expect("32-byte AES-256 key");
    let mut a = from_u128(u128::from_le_bytes(*lo));
    let mut b = from_u128(u128::from_le_bytes(*hi));
    out[0] = to_u128(a);
    out[1] = to_u128(b);
    // Round keys 2i and 2i + 1 come from the two before them; the last one (14) has no pair.
    macro_rules! even {
        ($i:literal, $rcon:literal) => {
            a = fold(
                a,
                _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(b)),
            );
            out[$i] = to_u128(a);
        };
    }
    macro_rules! odd {
        ($i:literal) => {
            b = fold(
                b,
                _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>(a)),
            );
            out[$i] = to_u128(b);
        };
    }
    even!(2, 0x01);
    odd!(3);
    even!(4, 0x02);
    odd!(5);
    even!(6, 0x04);
    odd!(7);
    even!(8, 0x08);
    odd!(9);
    even!(10, 0x10);
    odd!(11);
    even!(12, 0x20);
    odd!(13);
    even!(14, 0x40);
}

/// Round keys for `aesdec`: reversed, with InvMixColumns on all but the outer two.
#[target_feature(enable = "aes")]
fn inverse<const RK: usize>(enc: &[u128; RK], dec: &mut [u128; RK]) {
    dec[0] = enc[RK - 1];
    for i in 1..RK - 1 {
        dec[i] = to_u128(_mm_aesimc_si128(from_u128(enc[RK - 1 - i])));
    }
    dec[RK - 1] = enc[0];
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

/// One sector, in place. `sector.len()` is a non-zero multiple of 16.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes")]
fn crypt_sector<const RK: usize, const ENC: bool>(
    rk: &[__m512i; RK],
    iv: u128,
    poly: __m512i,
    sector: &mut [u8],
) {
    let len = sector.len();
    let p = sector.as_mut_ptr();
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
            // SAFETY: `off + 256 <= len`, so bytes `off + 64 i .. off + 64 (i + 1)` are inside
            // `sector`; the load is unaligned.
            *v = unsafe { _mm512_loadu_si512(p.add(off + 64 * i).cast()) };
        }
        let x = xex::<RK, ENC, 4>(rk, d, t);
        for (i, v) in x.iter().enumerate() {
            // SAFETY: as for the loads.
            unsafe { _mm512_storeu_si512(p.add(off + 64 * i).cast(), *v) };
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
        // SAFETY: `off + 64 <= len`; unaligned load and store inside `sector`.
        let d = unsafe { _mm512_loadu_si512(p.add(off).cast()) };
        let [x] = xex::<RK, ENC, 1>(rk, [d], [t[0]]);
        // SAFETY: as for the load.
        unsafe { _mm512_storeu_si512(p.add(off).cast(), x) };
        t = [t[1], t[2], t[3], t[3]];
        off += 64;
    }
    if off < len {
        let blocks = (len - off) / 16; // 1..=3
        let mask: __mmask8 = (1u8 << (2 * blocks)) - 1;
        // SAFETY: the mask enables the 2·blocks qwords at `off .. len`, inside `sector`;
        // masked-off lanes are neither read nor written and cannot fault (AVX-512 fault
        // suppression).
        let d = unsafe { _mm512_maskz_loadu_epi64(mask, p.add(off).cast()) };
        let [x] = xex::<RK, ENC, 1>(rk, [d], [t[0]]);
        // SAFETY: as for the load.
        unsafe { _mm512_mask_storeu_epi64(p.add(off).cast(), mask, x) };
    }
}

/// XTS over whole sectors in place, `k1` in the order the direction uses, `k2` the tweak key.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes")]
fn crypt<const RK: usize, const ENC: bool>(
    k1: &[u128; RK],
    k2: &[u128; RK],
    first: u128,
    sector_size: usize,
    data: &mut [u8],
) {
    // The kernel's memory accesses rely on these; checked here so that they do not depend on
    // the caller.
    assert!(
        sector_size >= 16 && sector_size.is_multiple_of(16),
        "bad sector size"
    );
    assert!(
        data.len().is_multiple_of(sector_size),
        "data is not whole sectors"
    );
    let mut rk = [_mm512_setzero_si512(); RK];
    for (v, k) in rk.iter_mut().zip(k1) {
        *v = _mm512_broadcast_i32x4(from_u128(*k));
    }
    let poly = poly();
    let mut start = first;
    for group in data.chunks_mut(IV_GROUP.saturating_mul(sector_size)) {
        let count = group.len() / sector_size;
        let ivs = first_tweaks(k2, start, count);
        for (sector, iv) in group.chunks_exact_mut(sector_size).zip(ivs) {
            crypt_sector::<RK, ENC>(&rk, iv, poly, sector);
        }
        start = start.wrapping_add(count as u128);
    }
    // The broadcast round keys live in registers or on this stack frame; clear them.
    rk.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::consts::U16;
    use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockSizeUser, KeyInit};
    use aes::{Aes128, Aes256};

    /// One block through a schedule with 128-bit AES-NI.
    #[target_feature(enable = "aes")]
    fn one_block<const RK: usize>(rk: &[u128; RK], block: u128, enc: bool) -> u128 {
        let mut x = _mm_xor_si128(from_u128(block), from_u128(rk[0]));
        for k in &rk[1..RK - 1] {
            x = if enc {
                _mm_aesenc_si128(x, from_u128(*k))
            } else {
                _mm_aesdec_si128(x, from_u128(*k))
            };
        }
        let last = from_u128(rk[RK - 1]);
        to_u128(if enc {
            _mm_aesenclast_si128(x, last)
        } else {
            _mm_aesdeclast_si128(x, last)
        })
    }

    fn check<C, const RK: usize>(s: &Schedule<RK>, key1: &[u8], key2: &[u8])
    where
        C: KeyInit + BlockCipherEncrypt + BlockCipherDecrypt + BlockSizeUser<BlockSize = U16>,
    {
        let c1 = C::new_from_slice(key1).unwrap();
        let c2 = C::new_from_slice(key2).unwrap();
        let mut block = 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff_u128;
        for _ in 0..50 {
            let mut a = Array(block.to_le_bytes());
            c1.encrypt_block(&mut a);
            // SAFETY: tests run this only when `supported()` is true (AES-NI present).
            let ours = unsafe { one_block(&s.enc1, block, true) };
            assert_eq!(u128::from_le_bytes(a.0), ours, "Key1 encryption");
            let mut b = Array(block.to_le_bytes());
            c2.encrypt_block(&mut b);
            // SAFETY: as above.
            assert_eq!(u128::from_le_bytes(b.0), unsafe {
                one_block(&s.enc2, block, true)
            });
            let mut d = Array(block.to_le_bytes());
            c1.decrypt_block(&mut d);
            // SAFETY: as above.
            assert_eq!(u128::from_le_bytes(d.0), unsafe {
                one_block(&s.dec1, block, false)
            });
            block = ours ^ block.rotate_left(7);
        }
    }

    #[test]
    fn key_schedule_matches_aes_crate() {
        if !supported() {
            return;
        }
        for seed in 0u8..20 {
            let key: Vec<u8> = (0..64u8)
                .map(|i| i.wrapping_mul(97).wrapping_add(seed))
                .collect();
            match Keys::new(&key[..16], &key[16..32]).unwrap().0 {
                Expanded::A128(s) => check::<Aes128, 11>(&s, &key[..16], &key[16..32]),
                Expanded::A256(_) => unreachable!(),
            }
            match Keys::new(&key[..32], &key[32..]).unwrap().0 {
                Expanded::A256(s) => check::<Aes256, 15>(&s, &key[..32], &key[32..]),
                Expanded::A128(_) => unreachable!(),
            }
        }
    }

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
