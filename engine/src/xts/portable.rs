//! The portable XTS path: the `aes` crate does the block cipher (its own run-time dispatch picks
//! AES-NI, VAES-256 or VAES-512); this module owns the tweak arithmetic around it. Pure; no I/O.
//!
//! Everything for one call runs inside a single `encrypt_with_backend` closure, so the backend's
//! round keys are loaded once per call and the data goes through the cipher in full batches of
//! the backend's parallel width (64 blocks = 1 KiB on VAES-512), batches spanning sector
//! boundaries when sectors are smaller than a batch. All scratch space is on the stack.
//!
//! Out of place, the first tweak XOR of a batch reads the source and writes the destination;
//! everything after it runs on the destination in place, so the source is read once and nothing
//! is copied.

use aes::cipher::consts::U16;
use aes::cipher::typenum::Unsigned;
use aes::cipher::{
    Array, BlockCipherDecBackend, BlockCipherDecClosure, BlockCipherDecrypt, BlockCipherEncBackend,
    BlockCipherEncClosure, BlockCipherEncrypt, BlockSizeUser, KeyInit, ParBlocks,
};
use aes::{Aes128, Aes256, Block};

/// Sectors whose first tweaks are computed in one batch (one full VAES-512 batch of the tweak
/// cipher), and so also the most sectors one backend closure handles.
const GROUP: usize = 64;

/// Most blocks whose tweaks are computed and applied together: the VAES-512 backend's batch.
const BATCH: usize = 64;

/// Blocks per batch for a backend that encrypts `par` blocks at a time: a whole number of its
/// batches (64 on VAES-512, 60 on VAES-256, 64 on AES-NI), so only the end of a call goes
/// through its slower one-block-at-a-time tail.
const fn batch_for(par: usize) -> usize {
    if par == 0 || par >= BATCH {
        BATCH
    } else {
        BATCH / par * par
    }
}

/// The two AES key schedules (Key1 for data, Key2 for tweaks). They zeroize on drop (the `aes`
/// crate's `zeroize` feature).
// Boxed by its owner, `Xts`; the variants' size difference costs nothing there.
#[allow(clippy::large_enum_variant)]
pub(super) enum Keys {
    A128(Aes128, Aes128),
    A256(Aes256, Aes256),
}

impl Keys {
    /// Keys from the two halves of an XTS key (16 or 32 bytes each).
    pub(super) fn new(k1: &[u8], k2: &[u8]) -> Self {
        if k1.len() == 16 {
            Keys::A128(
                Aes128::new(&Array::try_from(k1).expect("XTS key halves are 16 or 32 bytes")),
                Aes128::new(&Array::try_from(k2).expect("XTS key halves are 16 or 32 bytes")),
            )
        } else {
            Keys::A256(
                Aes256::new(&Array::try_from(k1).expect("XTS key halves are 16 or 32 bytes")),
                Aes256::new(&Array::try_from(k2).expect("XTS key halves are 16 or 32 bytes")),
            )
        }
    }

    /// Encrypts whole sectors from `src` into `dst`, or `dst` in place if `src` is `None`;
    /// `dst.len()` is a multiple of `sector_size`, itself a non-zero multiple of 16 (checked by
    /// the caller).
    ///
    /// # Panics
    /// If `src` differs from `dst` in length.
    pub(super) fn encrypt(
        &self,
        first: u128,
        sector_size: usize,
        src: Option<&[u8]>,
        dst: &mut [u8],
    ) {
        match self {
            Keys::A128(k1, k2) => run(k1, k2, first, sector_size, src, dst, true),
            Keys::A256(k1, k2) => run(k1, k2, first, sector_size, src, dst, true),
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
        match self {
            Keys::A128(k1, k2) => run(k1, k2, first, sector_size, src, dst, false),
            Keys::A256(k1, k2) => run(k1, k2, first, sector_size, src, dst, false),
        }
    }
}

fn run<C>(
    k1: &C,
    k2: &C,
    first: u128,
    sector_size: usize,
    src: Option<&[u8]>,
    dst: &mut [u8],
    encrypt: bool,
) where
    C: BlockCipherEncrypt + BlockCipherDecrypt + BlockSizeUser<BlockSize = U16>,
{
    assert!(
        src.is_none_or(|s| s.len() == dst.len()),
        "src and dst differ in length"
    );
    let group_len = GROUP.saturating_mul(sector_size);
    let mut sector = first;
    for (g, chunk) in dst.chunks_mut(group_len).enumerate() {
        let n = chunk.len() / sector_size;
        // T0 of each sector = AES-Key2(sector index), all of the group in one batch.
        let mut ivs = [Block::default(); GROUP];
        for (i, iv) in ivs[..n].iter_mut().enumerate() {
            iv.0 = (sector + i as u128).to_le_bytes();
        }
        k2.encrypt_blocks(&mut ivs[..n]);
        let mut first_tweaks = [0u128; GROUP];
        for (t, iv) in first_tweaks[..n].iter_mut().zip(&ivs[..n]) {
            *t = u128::from_le_bytes(iv.0);
        }
        let (blocks, rest) = Block::slice_as_chunks_mut(chunk);
        debug_assert!(rest.is_empty());
        // `g * group_len` does not overflow: it is an offset into `dst`.
        let src = src.map(|s| Block::slice_as_chunks(&s[g * group_len..][..blocks.len() * 16]).0);
        let pass = Pass {
            blocks,
            src,
            sector_blocks: sector_size / 16,
            first_tweaks: &first_tweaks[..n],
        };
        if encrypt {
            k1.encrypt_with_backend(pass);
        } else {
            k1.decrypt_with_backend(pass);
        }
        sector += n as u128;
    }
}

/// One group of sectors, run through a backend: from `src` into `blocks`, or `blocks` in place
/// if `src` is `None`.
struct Pass<'a> {
    blocks: &'a mut [Block],
    src: Option<&'a [Block]>,
    sector_blocks: usize,
    first_tweaks: &'a [u128],
}

impl BlockSizeUser for Pass<'_> {
    type BlockSize = U16;
}

impl BlockCipherEncClosure for Pass<'_> {
    #[inline(always)]
    fn call<B: BlockCipherEncBackend<BlockSize = U16>>(self, backend: &B) {
        self.run(batch_for(B::ParBlocksSize::USIZE), |blocks| {
            let (full, tail) = ParBlocks::<B>::slice_as_chunks_mut(blocks);
            for par in full {
                backend.encrypt_par_blocks_inplace(par);
            }
            backend.encrypt_tail_blocks_inplace(tail);
        });
    }
}

impl BlockCipherDecClosure for Pass<'_> {
    #[inline(always)]
    fn call<B: BlockCipherDecBackend<BlockSize = U16>>(self, backend: &B) {
        self.run(batch_for(B::ParBlocksSize::USIZE), |blocks| {
            let (full, tail) = ParBlocks::<B>::slice_as_chunks_mut(blocks);
            for par in full {
                backend.decrypt_par_blocks_inplace(par);
            }
            backend.decrypt_tail_blocks_inplace(tail);
        });
    }
}

impl Pass<'_> {
    /// XEX over all blocks: batches of `batch_len` (at most [`BATCH`]) blocks get their tweaks, are
    /// XORed, go through `cipher`, and are XORed again while still in L1.
    #[inline(always)]
    fn run(self, batch_len: usize, mut cipher: impl FnMut(&mut [Block])) {
        // Tweak i of the batch is words 2i (low half) and 2i + 1 (high half), the same layout
        // as the blocks, so the XOR is a plain element-wise loop over u64 words.
        let mut tweaks = [0u64; 2 * BATCH];
        let mut sector = 0;
        let mut left = self.sector_blocks;
        let mut next = self.first_tweaks[0];
        for (b, batch) in self.blocks.chunks_mut(batch_len).enumerate() {
            let n = batch.len();
            let mut filled = 0;
            while filled < n {
                if left == 0 {
                    sector += 1;
                    next = self.first_tweaks[sector];
                    left = self.sector_blocks;
                }
                let m = (n - filled).min(left);
                next = fill_tweaks(&mut tweaks[2 * filled..2 * (filled + m)], next);
                filled += m;
                left -= m;
            }
            match self.src {
                Some(src) => xor_tweaks_from(&src[b * batch_len..][..n], batch, &tweaks[..2 * n]),
                None => xor_tweaks(batch, &tweaks[..2 * n]),
            }
            cipher(batch);
            xor_tweaks(batch, &tweaks[..2 * n]);
        }
    }
}

/// Writes `start·x^i` to words `2i, 2i + 1` of `out` and returns the tweak after the last one.
/// Eight independent chains, kept as separate low and high halves so each x^8 step is a few
/// 8-wide u64 operations that the compiler vectorises (one zmm each on AVX-512), instead of
/// one serial chain of multiplies by x.
#[inline(always)]
fn fill_tweaks(out: &mut [u64], start: u128) -> u128 {
    let n = out.len() / 2;
    let mut lo = [0u64; 8];
    let mut hi = [0u64; 8];
    let mut t = start;
    for (l, h) in lo.iter_mut().zip(hi.iter_mut()) {
        *l = t as u64;
        *h = (t >> 64) as u64;
        t = mul_x(t);
    }
    let mut done = 0;
    loop {
        let m = (n - done).min(8);
        for (j, pair) in out[2 * done..2 * (done + m)]
            .chunks_exact_mut(2)
            .enumerate()
        {
            pair[0] = lo[j];
            pair[1] = hi[j];
        }
        done += m;
        if done == n {
            return mul_x(u128::from(lo[m - 1]) | (u128::from(hi[m - 1]) << 64));
        }
        for (l, h) in lo.iter_mut().zip(hi.iter_mut()) {
            (*l, *h) = mul_x8(*l, *h);
        }
    }
}

/// Multiplication by x in GF(2^128), IEEE 1619 (little-endian) convention. Constant time.
#[inline(always)]
pub(super) fn mul_x(t: u128) -> u128 {
    let carry = t >> 127;
    (t << 1) ^ (carry * 0x87)
}

/// Multiplication by x^8 of the tweak with halves `lo`, `hi`: the byte shifted out, times
/// x^128 = x^7 + x^2 + x + 1, folds back in as four shifted copies (at most 15 bits, so no
/// second reduction). Constant time.
#[inline(always)]
fn mul_x8(lo: u64, hi: u64) -> (u64, u64) {
    let h = hi >> 56;
    (
        (lo << 8) ^ h ^ (h << 1) ^ (h << 2) ^ (h << 7),
        (hi << 8) | (lo >> 56),
    )
}

#[inline(always)]
fn xor_tweaks(blocks: &mut [Block], tweaks: &[u64]) {
    let bytes = Block::slice_as_flattened_mut(blocks);
    for (word, t) in bytes.chunks_exact_mut(8).zip(tweaks) {
        let v = u64::from_le_bytes(word.try_into().expect("8-byte chunk")) ^ t;
        word.copy_from_slice(&v.to_le_bytes());
    }
}

/// `dst = src ⊕ tweaks`: the first XOR of an out-of-place batch, which also moves it.
#[inline(always)]
fn xor_tweaks_from(src: &[Block], dst: &mut [Block], tweaks: &[u64]) {
    let from = Block::slice_as_flattened(src);
    let to = Block::slice_as_flattened_mut(dst);
    for ((out, word), t) in to.chunks_exact_mut(8).zip(from.chunks_exact(8)).zip(tweaks) {
        let v = u64::from_le_bytes(word.try_into().expect("8-byte chunk")) ^ t;
        out.copy_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::array::ArraySize;
    use aes::cipher::consts::{U1, U30, U64, U8};
    use aes::cipher::{InOut, ParBlocksSizeUser};
    use core::marker::PhantomData;

    /// A backend of any parallel width `P` over one AES key, one block at a time: drives
    /// `Pass` through the widths of backends this CPU may not have (AES-NI 8, VAES-256 30).
    struct Width<'a, P>(&'a Aes256, PhantomData<P>);

    impl<P: ArraySize> BlockSizeUser for Width<'_, P> {
        type BlockSize = U16;
    }

    impl<P: ArraySize> ParBlocksSizeUser for Width<'_, P> {
        type ParBlocksSize = P;
    }

    impl<P: ArraySize> BlockCipherEncBackend for Width<'_, P> {
        fn encrypt_block(&self, mut block: InOut<'_, '_, Block>) {
            let mut b = block.clone_in();
            self.0.encrypt_block(&mut b);
            *block.get_out() = b;
        }
    }

    impl<P: ArraySize> BlockCipherDecBackend for Width<'_, P> {
        fn decrypt_block(&self, mut block: InOut<'_, '_, Block>) {
            let mut b = block.clone_in();
            self.0.decrypt_block(&mut b);
            *block.get_out() = b;
        }
    }

    fn through_width<P: ArraySize>(sector_size: usize, sectors: usize) {
        let key: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(13) ^ 0x5c).collect();
        let keys = Keys::new(&key[..32], &key[32..]);
        let k1 = Aes256::new_from_slice(&key[..32]).unwrap();
        let k2 = Aes256::new_from_slice(&key[32..]).unwrap();
        let first = 77u128;
        let plain: Vec<u8> = (0..sector_size * sectors)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut expected = plain.clone();
        keys.encrypt(first, sector_size, None, &mut expected);

        let mut first_tweaks = vec![0u128; sectors];
        for (i, t) in first_tweaks.iter_mut().enumerate() {
            let mut b = Block::from((first + i as u128).to_le_bytes());
            k2.encrypt_block(&mut b);
            *t = u128::from_le_bytes(b.0);
        }
        let backend = Width::<P>(&k1, PhantomData);
        let mut data = plain.clone();
        fn pass<'a>(data: &'a mut [u8], sector_size: usize, first_tweaks: &'a [u128]) -> Pass<'a> {
            Pass {
                blocks: Block::slice_as_chunks_mut(data).0,
                src: None,
                sector_blocks: sector_size / 16,
                first_tweaks,
            }
        }
        BlockCipherEncClosure::call(pass(&mut data, sector_size, &first_tweaks), &backend);
        assert!(
            data == expected,
            "encrypt, width {}, sector {sector_size}",
            P::USIZE
        );
        BlockCipherDecClosure::call(pass(&mut data, sector_size, &first_tweaks), &backend);
        assert!(
            data == plain,
            "decrypt, width {}, sector {sector_size}",
            P::USIZE
        );
    }

    #[test]
    fn any_backend_width_gives_the_same_result() {
        for (sector_size, sectors) in [(512, 1), (512, 5), (4096, 2), (16, 64), (48, 9), (1040, 3)]
        {
            through_width::<U1>(sector_size, sectors);
            through_width::<U8>(sector_size, sectors);
            through_width::<U30>(sector_size, sectors);
            through_width::<U64>(sector_size, sectors);
        }
    }

    #[test]
    fn batches_are_whole_backend_batches() {
        assert_eq!(batch_for(64), 64);
        assert_eq!(batch_for(30), 60);
        assert_eq!(batch_for(8), 64);
        assert_eq!(batch_for(1), 64);
        assert_eq!(batch_for(128), 64);
    }

    #[test]
    fn mul_x8_is_eight_mul_x() {
        let mut t = 0x8123_4567_89ab_cdef_fedc_ba98_7654_3210_u128;
        for _ in 0..1000 {
            let mut slow = t;
            for _ in 0..8 {
                slow = mul_x(slow);
            }
            let (lo, hi) = mul_x8(t as u64, (t >> 64) as u64);
            assert_eq!(u128::from(lo) | (u128::from(hi) << 64), slow);
            t = t.rotate_left(13) ^ slow;
        }
    }

    #[test]
    fn fill_tweaks_matches_serial_chain() {
        for n in [1, 7, 8, 9, 15, 16, 17, 31, 32, 63, 64] {
            let start = 0xdead_beef_0bad_f00d_8000_0000_0000_0001_u128;
            let mut out = [0u64; 128];
            let next = fill_tweaks(&mut out[..2 * n], start);
            let mut t = start;
            for pair in out[..2 * n].chunks_exact(2) {
                assert_eq!(u128::from(pair[0]) | (u128::from(pair[1]) << 64), t);
                t = mul_x(t);
            }
            assert_eq!(next, t);
        }
    }
}
