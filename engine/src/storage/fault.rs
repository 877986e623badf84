//! A backing that fails on purpose: [`FaultBacking`] wraps any [`Backing`] and injects errors
//! (EIO, ENOSPC, any errno) at the Nth read, write, sync or punch, once a byte budget of writes
//! is spent, or as a torn write (the first pages of a write land, then it fails). Tests use it
//! to show what each layer above the seam does with each failure: the error reaches the caller
//! with its AWS-style code, reads never return wrong bytes, and a failed write leaves each
//! sector old or new.

use super::Backing;
use std::io;
use std::sync::Mutex;

/// The unit a torn write lands whole (the backing contract's page).
pub(crate) const PAGE: u64 = 4096;

/// Which call a fault fires on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
    Sync,
    Punch,
}

/// A planned fault.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fault {
    /// The `nth` call (1-based, counted from when the fault is set) of `op` fails with `errno`
    /// and changes nothing; so does every later one while the fault is set.
    Nth { op: Op, nth: u64, errno: i32 },
    /// Writes fail with `errno` once `budget` more bytes have been written: the write that
    /// crosses the budget lands the whole pages that fit, then fails (a disk that fills up).
    AfterBytes { budget: u64, errno: i32 },
    /// The `nth` write lands its first `pages` whole pages (from its first page boundary)
    /// and fails with `errno`; later writes succeed.
    Torn { nth: u64, pages: u64, errno: i32 },
}

#[derive(Default)]
struct State {
    fault: Option<Fault>,
    counts: [u64; 4],
    written: u64,
    fired: u64,
}

/// A [`Backing`] wrapper that injects [`Fault`]s. It has no shared map: every write goes
/// through `write_at`, where the fault can see it.
pub(crate) struct FaultBacking<B> {
    inner: B,
    state: Mutex<State>,
}

impl<B: Backing> FaultBacking<B> {
    pub(crate) fn new(inner: B) -> FaultBacking<B> {
        FaultBacking {
            inner,
            state: Mutex::new(State::default()),
        }
    }

    /// Arms `fault` (replacing any other) and restarts the counts.
    pub(crate) fn set(&self, fault: Fault) {
        let mut s = self.state.lock().unwrap();
        *s = State {
            fault: Some(fault),
            fired: s.fired,
            ..State::default()
        };
    }

    /// Disarms any fault: the storage works again.
    pub(crate) fn clear(&self) {
        self.state.lock().unwrap().fault = None;
    }

    /// How many calls failed on purpose so far.
    pub(crate) fn fired(&self) -> u64 {
        self.state.lock().unwrap().fired
    }

    pub(crate) fn inner(&self) -> &B {
        &self.inner
    }

    /// Counts a call of `op`; the errno to fail it with, if it must fail whole.
    fn check(&self, op: Op) -> Option<i32> {
        let mut s = self.state.lock().unwrap();
        s.counts[op as usize] += 1;
        let n = s.counts[op as usize];
        match s.fault {
            Some(Fault::Nth { op: o, nth, errno }) if o == op && n >= nth => {
                s.fired += 1;
                Some(errno)
            }
            _ => None,
        }
    }
}

impl<B: Backing> Backing for FaultBacking<B> {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if let Some(e) = self.check(Op::Read) {
            // A failed read may have filled part of the buffer with anything.
            buf.fill(0xa5);
            return Err(io::Error::from_raw_os_error(e));
        }
        self.inner.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        if let Some(e) = self.check(Op::Write) {
            return Err(io::Error::from_raw_os_error(e));
        }
        // How much of this write lands before it fails, if it fails.
        let cut = {
            let mut s = self.state.lock().unwrap();
            let n = s.counts[Op::Write as usize];
            let len = data.len() as u64;
            let cut = match s.fault {
                Some(Fault::AfterBytes { budget, errno }) if s.written + len > budget => {
                    Some((budget.saturating_sub(s.written), errno))
                }
                Some(Fault::Torn { nth, pages, errno }) if n == nth => {
                    let to_page = (PAGE - offset % PAGE) % PAGE;
                    Some((to_page + pages * PAGE, errno))
                }
                _ => None,
            };
            match cut {
                Some((keep, errno)) => {
                    // Only whole pages land: round the cut down to a page boundary.
                    let end = (offset + keep.min(len)) / PAGE * PAGE;
                    let keep = end.saturating_sub(offset).min(len);
                    s.written += keep;
                    s.fired += 1;
                    Some((keep as usize, errno))
                }
                None => {
                    s.written += len;
                    None
                }
            }
        };
        match cut {
            None => self.inner.write_at(offset, data),
            Some((keep, errno)) => {
                self.inner.write_at(offset, &data[..keep])?;
                Err(io::Error::from_raw_os_error(errno))
            }
        }
    }
    fn punch_hole(&self, offset: u64, len: u64) -> io::Result<()> {
        if let Some(e) = self.check(Op::Punch) {
            return Err(io::Error::from_raw_os_error(e));
        }
        self.inner.punch_hole(offset, len)
    }
    fn data_extents(&self, start: u64, end: u64) -> io::Result<Vec<(u64, u64)>> {
        self.inner.data_extents(start, end)
    }
    fn sync(&self) -> io::Result<()> {
        if let Some(e) = self.check(Op::Sync) {
            return Err(io::Error::from_raw_os_error(e));
        }
        self.inner.sync()
    }
    fn name(&self) -> String {
        format!("{} (faulty)", self.inner.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::tests::Model;
    use crate::error::Code;
    use crate::secret::DataKey;
    use crate::storage::{FileBacking, Geometry, MemBacking, Volume};
    use crate::xts::Xts;
    use proptest::prelude::*;

    const SIZE: u64 = 64 * 1024;

    fn geo(sector: usize) -> Geometry {
        Geometry {
            data_offset: 4096,
            size: SIZE,
            sector,
        }
    }

    fn key() -> Xts {
        Xts::new(&DataKey::from_slice(&[3u8; 64]))
    }

    fn mem_volume(sector: usize, enc: bool) -> Volume<MemBacking> {
        let b = MemBacking::new((4096 + SIZE) as usize);
        Volume::with_backing(b, geo(sector), enc.then(key)).unwrap()
    }

    fn faulty(sector: usize, enc: bool) -> Volume<FaultBacking<MemBacking>> {
        let b = FaultBacking::new(MemBacking::new((4096 + SIZE) as usize));
        Volume::with_backing(b, geo(sector), enc.then(key)).unwrap()
    }

    #[derive(Debug, Clone)]
    enum VOp {
        Write(u64, Vec<u8>),
        Read(u64, usize),
        Discard(u64, u64),
        Sectors(u64, u64, u8),
    }

    fn vop() -> impl Strategy<Value = VOp> {
        prop_oneof![
            (0..SIZE, proptest::collection::vec(any::<u8>(), 0..9000))
                .prop_map(|(o, d)| VOp::Write(o.min(SIZE - d.len() as u64), d)),
            (0..SIZE, 0usize..9000).prop_map(|(o, l)| VOp::Read(o.min(SIZE - l as u64), l)),
            (0..SIZE, 0u64..20000).prop_map(|(o, l)| VOp::Discard(o, l.min(SIZE - o))),
            (0u64..16, 1u64..4, any::<u8>()).prop_map(|(s, n, v)| VOp::Sectors(s, n, v)),
        ]
    }

    /// Applies `op` to a volume, returning what a read saw.
    fn apply<B: Backing>(v: &Volume<B>, op: &VOp) -> Option<Vec<u8>> {
        match op {
            VOp::Write(o, d) => v.write_at(*o, d).unwrap(),
            VOp::Read(o, l) => {
                let mut b = vec![0u8; *l];
                v.read_at(*o, &mut b).unwrap();
                return Some(b);
            }
            VOp::Discard(o, l) => v.discard(*o, *l).unwrap(),
            VOp::Sectors(s, n, val) => {
                // Whole sectors, in 4096-byte units so both sector sizes see the same bytes.
                let first = s * 4096 / v.geometry().sector as u64;
                let n = (*n).min(16 - s);
                let data = vec![*val; (n * 4096) as usize];
                v.write_sectors(first, &data).unwrap();
                let mut back = vec![0u8; data.len()];
                v.read_sectors(first, &mut back).unwrap();
                assert!(back == data);
            }
        }
        None
    }

    fn model_apply(m: &Model, op: &VOp) -> Option<Vec<u8>> {
        match op {
            VOp::Write(o, d) => m.write_at(*o, d).unwrap(),
            VOp::Read(o, l) => {
                let mut b = vec![0u8; *l];
                m.read_at(*o, &mut b).unwrap();
                return Some(b);
            }
            VOp::Discard(o, l) => m.discard(*o, *l).unwrap(),
            VOp::Sectors(s, n, val) => {
                let n = (*n).min(16 - s);
                m.write_at(s * 4096, &vec![*val; (n * 4096) as usize])
                    .unwrap();
            }
        }
        None
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        /// The encrypted volume over memory and over a (mapped and unmapped) file agree with a
        /// plain byte vector, and with each other down to the bytes stored, under random
        /// reads, writes, sector writes and discards.
        #[test]
        fn volumes_over_memory_and_files_agree_with_a_model(
            ops in proptest::collection::vec(vop(), 1..40),
            sector in prop_oneof![Just(512usize), Just(4096usize)],
            enc in any::<bool>(),
            mapped in any::<bool>(),
        ) {
            let mem = mem_volume(sector, enc);
            let dir = tempfile::tempdir_in(crate::bench::default_dir()).unwrap();
            let fb = FileBacking::create(&dir.path().join("v"), 4096 + SIZE, mapped.then_some(4096)).unwrap();
            let file = Volume::with_backing(fb, geo(sector), enc.then(key)).unwrap();
            prop_assert_eq!(file.is_mapped(), mapped);
            let model = Model::new(SIZE as usize);
            for op in &ops {
                let a = apply(&mem, op);
                let b = apply(&file, op);
                let c = model_apply(&model, op);
                prop_assert_eq!(&a, &c);
                prop_assert_eq!(&b, &c);
            }
            let mut a = vec![0u8; SIZE as usize];
            let mut b = vec![0u8; SIZE as usize];
            mem.read_at(0, &mut a).unwrap();
            model.read_at(0, &mut b).unwrap();
            prop_assert!(a == b);
            // The same ciphertext in both backings: one format whatever holds it.
            file.sync().unwrap();
            let mut raw_mem = vec![0u8; SIZE as usize];
            let mut raw_file = vec![0u8; SIZE as usize];
            mem.backing().read_at(4096, &mut raw_mem).unwrap();
            file.backing().read_at(4096, &mut raw_file).unwrap();
            prop_assert!(raw_mem == raw_file);
            // What the memory backing calls holes reads as zeros, and discarded whole sectors
            // are holes again (copies skip them).
            let ext = mem.data_extents().unwrap();
            for (a, e) in &ext {
                prop_assert!(a < e && *e <= SIZE);
            }
            for page in 0..SIZE / 4096 {
                let (a, e) = (page * 4096, (page + 1) * 4096);
                if !ext.iter().any(|&(x, y)| x < e && a < y) {
                    prop_assert!(b[a as usize..e as usize].iter().all(|&v| v == 0), "hole at {}", a);
                }
            }
            if let Some(VOp::Discard(o, l)) = ops.last() {
                let (first, end) = (o.div_ceil(4096) * 4096, (o + l) / 4096 * 4096);
                if first < end {
                    prop_assert!(!ext.iter().any(|&(x, y)| x < end && first < y), "discarded pages are holes");
                }
            }
        }
    }

    /// Every injected fault surfaces as an error with its AWS-style code, and the volume works
    /// again once the storage does.
    #[test]
    fn each_fault_surfaces_with_its_code() {
        let cases = [
            (Op::Write, libc::ENOSPC, Code::INSUFFICIENT_STORAGE),
            (Op::Write, libc::EIO, Code::INTERNAL_ERROR),
            (Op::Read, libc::EIO, Code::INTERNAL_ERROR),
            (Op::Sync, libc::EIO, Code::INTERNAL_ERROR),
            (Op::Sync, libc::ENOSPC, Code::INSUFFICIENT_STORAGE),
            (Op::Punch, libc::EIO, Code::INTERNAL_ERROR),
        ];
        for (op, errno, code) in cases {
            for enc in [false, true] {
                let v = faulty(4096, enc);
                v.write_at(0, &[1u8; 8192]).unwrap();
                v.backing().set(Fault::Nth { op, nth: 1, errno });
                let e = match op {
                    Op::Write => v.write_at(100, &[2u8; 10_000]).unwrap_err(),
                    Op::Read => v.read_at(10, &mut [0u8; 100]).unwrap_err(),
                    Op::Sync => v.sync().unwrap_err(),
                    Op::Punch => v.discard(0, 8192).unwrap_err(),
                };
                assert_eq!(e.code(), code, "{op:?} {errno}: {e}");
                assert!(e.message().contains("memory (faulty)"), "{e}");
                assert_eq!(v.backing().fired(), 1);
                v.backing().clear();
                let mut back = vec![0u8; 8192];
                v.read_at(0, &mut back).unwrap();
                assert!(back.iter().all(|&b| b == 1), "{op:?}: nothing changed");
                v.write_at(0, &[3u8; 5]).unwrap();
                v.sync().unwrap();
            }
        }
    }

    /// A failed read never hands back bytes: the caller's buffer is not filled with what the
    /// storage returned, and an edge-sector read of a failed sector is an error, not zeros.
    #[test]
    fn failed_reads_return_no_bytes() {
        let v = faulty(512, true);
        v.write_at(0, &[7u8; 4096]).unwrap();
        for (off, len) in [(0u64, 4096usize), (100, 50), (500, 1000)] {
            v.backing().set(Fault::Nth {
                op: Op::Read,
                nth: 1,
                errno: libc::EIO,
            });
            let mut buf = vec![0u8; len];
            assert_eq!(
                v.read_at(off, &mut buf).unwrap_err().code(),
                Code::INTERNAL_ERROR
            );
            v.backing().clear();
            v.read_at(off, &mut buf).unwrap();
            assert!(buf.iter().all(|&b| b == 7));
        }
    }

    /// Failure story: the storage fails part-way through a write (a torn write, or a disk that
    /// fills up in the middle). After the fault is cleared, every sector of the range reads back
    /// as its old or its new plaintext — never the garbage a half-old, half-new XTS sector
    /// decrypts to — and the bytes outside the range are untouched.
    #[test]
    fn a_failed_write_leaves_each_sector_old_or_new() {
        for sector in [512usize, 4096] {
            for torn in [true, false] {
                for cut in 0..6u64 {
                    let v = faulty(sector, true);
                    let old: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8 | 1).collect();
                    v.write_at(0, &old).unwrap();
                    let fault = if torn {
                        Fault::Torn {
                            nth: 1,
                            pages: cut,
                            errno: libc::EIO,
                        }
                    } else {
                        Fault::AfterBytes {
                            budget: cut * 3000,
                            errno: libc::ENOSPC,
                        }
                    };
                    v.backing().set(fault);
                    // Unaligned: two edge sectors and a run of whole sectors between.
                    let (off, len) = (1000u64, 40_000usize);
                    let new = vec![0xeeu8; len];
                    let e = v.write_at(off, &new).unwrap_err();
                    let want = if torn {
                        Code::INTERNAL_ERROR
                    } else {
                        Code::INSUFFICIENT_STORAGE
                    };
                    assert_eq!(e.code(), want, "{e}");
                    v.backing().clear();
                    let mut back = vec![0u8; SIZE as usize];
                    v.read_at(0, &mut back).unwrap();
                    let ss = sector as u64;
                    for s in 0..SIZE / ss {
                        let (a, b) = ((s * ss) as usize, ((s + 1) * ss) as usize);
                        let got = &back[a..b];
                        let mut newer = old[a..b].to_vec();
                        for (i, x) in newer.iter_mut().enumerate() {
                            let at = (a + i) as u64;
                            if at >= off && at < off + len as u64 {
                                *x = 0xee;
                            }
                        }
                        assert!(
                            got == &old[a..b] || got == &newer[..],
                            "sector {s} ({sector} bytes, torn {torn}, cut {cut}) is garbage"
                        );
                    }
                }
            }
        }
    }

    /// The data movers sit on the seam too: a rekey into storage that fills up stops with
    /// `InsufficientStorage`, and what it wrote decrypts to the source's plaintext.
    #[test]
    fn a_mover_into_full_storage_stops_with_insufficient_storage() {
        let src = mem_volume(4096, true);
        let plain: Vec<u8> = (0..SIZE).map(|i| (i % 13) as u8 + 1).collect();
        src.write_at(0, &plain).unwrap();
        let to = Xts::new(&DataKey::from_slice(&[8u8; 64]));
        let dst = FaultBacking::new(MemBacking::new((4096 + SIZE) as usize));
        dst.set(Fault::AfterBytes {
            budget: SIZE / 2,
            errno: libc::ENOSPC,
        });
        let e = crate::rekey::rekey_backing(
            src.backing(),
            Some(&key()),
            &dst,
            &to,
            geo(4096),
            &crate::progress::NoProgress,
        )
        .unwrap_err();
        assert_eq!(e.code(), Code::INSUFFICIENT_STORAGE, "{e}");
        dst.clear();
        let out = Volume::with_backing(dst.inner(), geo(4096), Some(to)).unwrap();
        let mut back = vec![0u8; SIZE as usize];
        out.read_at(0, &mut back).unwrap();
        for (s, got) in back.chunks(4096).enumerate() {
            let want = &plain[s * 4096..(s + 1) * 4096];
            assert!(
                got == want || got.iter().all(|&b| b == 0),
                "sector {s} is the source's or not yet written"
            );
        }
        assert!(back[..4096] == plain[..4096], "the budget let some through");
    }
}
