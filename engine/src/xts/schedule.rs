//! The AES key schedule shared by the x86-64 XTS kernels (`vaes512`, `vaes256`): FIPS-197 key
//! expansion with `aeskeygenassist`, and the round keys of the equivalent inverse cipher with
//! `aesimc`. Pure; no I/O.

#![allow(unsafe_code)]

use crate::secret_mem::SecretBox;
use core::arch::x86_64::*;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Expanded keys of one XTS key: `RK` = 11 (AES-128) or 15 (AES-256) round keys each.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(super) struct Schedule<const RK: usize> {
    /// Key1, encryption order.
    pub(super) enc1: [u128; RK],
    /// Key1 for the equivalent inverse cipher (`aesimc` applied), decryption order.
    pub(super) dec1: [u128; RK],
    /// Key2 (tweak key), encryption order.
    pub(super) enc2: [u128; RK],
}

/// The schedule of an AES-128-XTS or AES-256-XTS key, boxed so that it is expanded in place and
/// never moved: moves of its owner leave no stale copies of round keys behind. The box is a
/// locked page left out of core dumps (`secret_mem`).
pub(super) enum Expanded {
    A128(SecretBox<Schedule<11>>),
    A256(SecretBox<Schedule<15>>),
}

impl Expanded {
    /// Expands the two halves of an XTS key (16 or 32 bytes each), or `None` if this CPU has no
    /// AES-NI.
    ///
    /// # Panics
    /// If the halves differ in length or are neither 16 nor 32 bytes.
    pub(super) fn new(k1: &[u8], k2: &[u8]) -> Option<Self> {
        if !std::arch::is_x86_feature_detected!("aes") {
            return None;
        }
        assert!(
            k1.len() == k2.len() && (k1.len() == 16 || k1.len() == 32),
            "bad XTS key halves"
        );
        if k1.len() == 16 {
            let mut s = SecretBox::new(Schedule {
                enc1: [0; 11],
                dec1: [0; 11],
                enc2: [0; 11],
            });
            let s2: &mut Schedule<_> = &mut s;
            // SAFETY: AES-NI was detected above, the only feature these are compiled with.
            unsafe {
                expand_128(k1, &mut s2.enc1);
                expand_128(k2, &mut s2.enc2);
                inverse(&s2.enc1, &mut s2.dec1);
            }
            Some(Expanded::A128(s))
        } else {
            let mut s = SecretBox::new(Schedule {
                enc1: [0; 15],
                dec1: [0; 15],
                enc2: [0; 15],
            });
            let s2: &mut Schedule<_> = &mut s;
            // SAFETY: AES-NI was detected above, the only feature these are compiled with.
            unsafe {
                expand_256(k1, &mut s2.enc1);
                expand_256(k2, &mut s2.enc2);
                inverse(&s2.enc1, &mut s2.dec1);
            }
            Some(Expanded::A256(s))
        }
    }
}

#[inline(always)]
pub(super) fn to_u128(v: __m128i) -> u128 {
    // SAFETY: both types are 16 bytes of plain data; every bit pattern is valid for both.
    unsafe { core::mem::transmute::<__m128i, u128>(v) }
}

#[inline(always)]
pub(super) fn from_u128(v: u128) -> __m128i {
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
            // SAFETY: the schedule exists, so `Expanded::new` detected AES-NI.
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
        for seed in 0u8..20 {
            let key: Vec<u8> = (0..64u8)
                .map(|i| i.wrapping_mul(97).wrapping_add(seed))
                .collect();
            match Expanded::new(&key[..16], &key[16..32]) {
                None => return, // no AES-NI: nothing to check
                Some(Expanded::A128(s)) => check::<Aes128, 11>(&s, &key[..16], &key[16..32]),
                Some(Expanded::A256(_)) => unreachable!(),
            }
            match Expanded::new(&key[..32], &key[32..]) {
                Some(Expanded::A256(s)) => check::<Aes256, 15>(&s, &key[..32], &key[32..]),
                _ => unreachable!(),
            }
        }
    }
}
