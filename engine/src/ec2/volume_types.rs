//! EBS volume types and their limits: size, IOPS and throughput per type, as the EC2 API
//! reference for CreateVolume states them (botocore's model, `CreateVolumeRequest`), and the
//! IOPS a type gives when none is provisioned. Pure: values in, values out.

use super::rules;
use crate::error::{bail, Code, Result};

/// The volume type of mappings and volumes that name none.
pub(crate) const DEFAULT_VOLUME_TYPE: &str = "gp2";

/// What a type allows, from the CreateVolume reference.
struct Limits {
    /// Provisioned IOPS: `None` when the type takes none.
    iops: Option<IopsLimits>,
    /// Provisioned throughput (MiB/s): `(min, max, default)`, gp3 only.
    throughput: Option<(u32, u32, u32)>,
}

struct IopsLimits {
    min: u32,
    max: u32,
    /// The IOPS when the request gives none; `None` when the type requires them.
    default: Option<u32>,
    /// Most IOPS per GiB of size (above `default` for gp3, whose baseline fits every size).
    per_gib: u32,
}

fn limits(volume_type: &str) -> Option<Limits> {
    let io = |min, max, default, per_gib| {
        Some(IopsLimits {
            min,
            max,
            default,
            per_gib,
        })
    };
    Some(match volume_type {
        "gp2" | "st1" | "sc1" | "standard" => Limits {
            iops: None,
            throughput: None,
        },
        "gp3" => Limits {
            iops: io(3_000, 80_000, Some(3_000), 500),
            throughput: Some((125, 2_000, 125)),
        },
        "io1" => Limits {
            iops: io(100, 64_000, None, 50),
            throughput: None,
        },
        "io2" => Limits {
            iops: io(100, 256_000, None, 1_000),
            throughput: None,
        },
        _ => return None,
    })
}

/// The performance a volume gets: shown by DescribeVolumes and in image mappings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Performance {
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
}

/// gp2's baseline: 3 IOPS per GiB, at least 100, at most 16,000.
pub(crate) fn gp2_iops(size_gib: u64) -> u32 {
    let iops = size_gib.saturating_mul(3).clamp(100, 16_000);
    u32::try_from(iops).expect("clamped to 16,000")
}

/// The IOPS and throughput a volume of this type and size shows when nothing is provisioned
/// (old rows, and types without provisioning).
pub(crate) fn shown(volume_type: &str, size_gib: u64, p: Performance) -> Performance {
    match volume_type {
        "gp2" => Performance {
            iops: Some(gp2_iops(size_gib)),
            throughput: None,
        },
        "gp3" => Performance {
            iops: Some(p.iops.unwrap_or(3_000)),
            throughput: Some(p.throughput.unwrap_or(125)),
        },
        "io1" | "io2" => p,
        _ => Performance {
            iops: None,
            throughput: None,
        },
    }
}

/// Checks a volume type, size, IOPS and throughput together as CreateVolume does, and gives the
/// provisioned performance to record (defaults filled in for gp3).
///
/// # Errors
/// `InvalidParameterValue` for an unknown type, a size, IOPS or throughput out of range, or a
/// ratio above the type's; `InvalidParameterCombination` for IOPS or throughput on a type that
/// takes none; `MissingParameter` for io1/io2 without IOPS.
pub(crate) fn check(
    volume_type: &str,
    size_gib: u64,
    iops: Option<u64>,
    throughput: Option<u64>,
) -> Result<Performance> {
    rules::check_volume_size(volume_type, size_gib)?;
    let l = limits(volume_type).expect("check_volume_size refuses unknown types");
    let iops = match (&l.iops, iops) {
        (None, Some(_)) => bail!(
            Code::INVALID_PARAMETER_COMBINATION,
            "The parameter iops is not supported for {volume_type} volumes."
        ),
        (None, None) => None,
        (Some(li), None) => match li.default {
            Some(d) => Some(d),
            None => bail!(
                Code::MISSING_PARAMETER,
                "The request must contain the parameter iops for {volume_type} volumes."
            ),
        },
        (Some(li), Some(n)) => {
            if n < u64::from(li.min) {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "Volume iops of {n} is too low; minimum is {}.",
                    li.min
                );
            }
            if n > u64::from(li.max) {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "Volume iops of {n} is too high; maximum is {}.",
                    li.max
                );
            }
            let over_baseline = li.default.is_none_or(|d| n > u64::from(d));
            if over_baseline && n > u64::from(li.per_gib) * size_gib {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "Iops to volume size ratio of {:.6} is too high; maximum is {:.6}",
                    n as f64 / size_gib as f64,
                    f64::from(li.per_gib)
                );
            }
            Some(u32::try_from(n).expect("at most the type's maximum"))
        }
    };
    let throughput = match (l.throughput, throughput) {
        (None, Some(_)) => bail!(
            Code::INVALID_PARAMETER_COMBINATION,
            "The parameter throughput is not supported for {volume_type} volumes."
        ),
        (None, None) => None,
        (Some((_, _, d)), None) => Some(d),
        (Some((lo, hi, _)), Some(t)) => {
            if t < u64::from(lo) {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "Volume throughput of {t} is too low; minimum is {lo}."
                );
            }
            if t > u64::from(hi) {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "Volume throughput of {t} is too high; maximum is {hi}."
                );
            }
            let io = iops.expect("gp3 always has IOPS");
            // At most 0.25 MiB/s per provisioned IOPS.
            if t * 4 > u64::from(io) {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "Throughput (MiBps) to iops ratio of {:.6} is too high; maximum is 0.250000 \
                     MiBps per iops.",
                    t as f64 / f64::from(io)
                );
            }
            Some(u32::try_from(t).expect("at most the type's maximum"))
        }
    };
    Ok(Performance { iops, throughput })
}

/// MultiAttachEnabled: only `false` is served (a volume attaches to one instance here); `true`
/// is refused as AWS refuses it for types without Multi-Attach, and for io1/io2 as a feature
/// this home does not have.
pub(crate) fn check_multi_attach(volume_type: &str, enabled: Option<bool>) -> Result<()> {
    if enabled != Some(true) {
        return Ok(());
    }
    if !matches!(volume_type, "io1" | "io2") {
        bail!(
            Code::INVALID_PARAMETER_COMBINATION,
            "The parameter multiAttachEnabled is only supported for io1 and io2 volumes."
        );
    }
    bail!(
        Code::UNSUPPORTED_OPERATION,
        "Multi-Attach is not supported: a volume attaches to one instance at a time."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Performance>) -> &'static str {
        r.unwrap_err().code().as_str()
    }

    #[test]
    fn sizes_per_type_follow_the_create_volume_reference() {
        // (type, smallest, largest) as the CreateVolume reference lists them.
        let table = [
            ("gp2", 1, 16_384),
            ("gp3", 1, 65_536),
            ("io1", 4, 16_384),
            ("io2", 4, 65_536),
            ("st1", 125, 16_384),
            ("sc1", 125, 16_384),
            ("standard", 1, 1_024),
        ];
        for (t, lo, hi) in table {
            let iops = matches!(t, "io1" | "io2").then_some(100);
            assert!(check(t, lo, iops, None).is_ok(), "{t} {lo}");
            assert!(check(t, hi, iops, None).is_ok(), "{t} {hi}");
            assert_eq!(code(check(t, lo - 1, iops, None)), "InvalidParameterValue");
            assert_eq!(code(check(t, hi + 1, iops, None)), "InvalidParameterValue");
        }
        assert_eq!(
            code(check("floppy", 8, None, None)),
            "InvalidParameterValue"
        );
    }

    /// (type, size, IOPS asked for, the IOPS recorded or the error code)
    type Case = (
        &'static str,
        u64,
        Option<u64>,
        std::result::Result<Option<u32>, &'static str>,
    );

    #[test]
    fn iops_per_type() {
        // (type, size, iops, expected code or the IOPS recorded)
        let table: [Case; 17] = [
            ("gp3", 8, None, Ok(Some(3_000))),
            ("gp3", 8, Some(3_000), Ok(Some(3_000))),
            ("gp3", 8, Some(2_999), Err("InvalidParameterValue")),
            ("gp3", 160, Some(80_000), Ok(Some(80_000))),
            ("gp3", 1_000, Some(80_001), Err("InvalidParameterValue")),
            ("gp3", 8, Some(4_001), Err("InvalidParameterValue")),
            ("io1", 100, None, Err("MissingParameter")),
            ("io1", 100, Some(99), Err("InvalidParameterValue")),
            ("io1", 100, Some(5_000), Ok(Some(5_000))),
            ("io1", 100, Some(5_001), Err("InvalidParameterValue")),
            ("io1", 2_000, Some(64_001), Err("InvalidParameterValue")),
            ("io2", 256, Some(256_000), Ok(Some(256_000))),
            ("io2", 255, Some(256_000), Err("InvalidParameterValue")),
            ("gp2", 100, Some(300), Err("InvalidParameterCombination")),
            ("st1", 500, Some(500), Err("InvalidParameterCombination")),
            ("sc1", 500, Some(500), Err("InvalidParameterCombination")),
            ("standard", 5, Some(100), Err("InvalidParameterCombination")),
        ];
        for (t, size, iops, want) in table {
            let got = check(t, size, iops, None);
            match want {
                Ok(i) => assert_eq!(got.unwrap().iops, i, "{t} {size} {iops:?}"),
                Err(c) => assert_eq!(code(got), c, "{t} {size} {iops:?}"),
            }
        }
    }

    #[test]
    fn throughput_is_gp3s_alone() {
        assert_eq!(check("gp3", 8, None, None).unwrap().throughput, Some(125));
        assert_eq!(
            check("gp3", 8, None, Some(750)).unwrap().throughput,
            Some(750)
        );
        // 0.25 MiB/s per IOPS: 3,000 IOPS carry at most 750 MiB/s.
        let e = check("gp3", 8, None, Some(751)).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidParameterValue");
        assert!(e.message().contains("0.250000"), "{}", e.message());
        assert_eq!(
            check("gp3", 100, Some(8_000), Some(2_000))
                .unwrap()
                .throughput,
            Some(2_000)
        );
        assert_eq!(
            code(check("gp3", 100, Some(16_000), Some(2_001))),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(check("gp3", 8, None, Some(124))),
            "InvalidParameterValue"
        );
        for t in ["gp2", "io1", "io2", "st1", "sc1", "standard"] {
            let iops = matches!(t, "io1" | "io2").then_some(200);
            assert_eq!(
                code(check(t, 500, iops, Some(125))),
                "InvalidParameterCombination",
                "{t}"
            );
        }
    }

    #[test]
    fn gp2_gives_three_iops_per_gib_between_100_and_16000() {
        assert_eq!(gp2_iops(1), 100);
        assert_eq!(gp2_iops(80), 240);
        assert_eq!(gp2_iops(5_334), 16_000);
        assert_eq!(gp2_iops(16_384), 16_000);
        let none = Performance {
            iops: None,
            throughput: None,
        };
        assert_eq!(shown("gp2", 80, none).iops, Some(240));
        assert_eq!(shown("gp3", 8, none).throughput, Some(125));
        assert_eq!(shown("st1", 500, none), none);
    }

    #[test]
    fn multi_attach_is_refused_only_when_asked_for() {
        assert!(check_multi_attach("gp2", None).is_ok());
        assert!(check_multi_attach("gp3", Some(false)).is_ok());
        let e = check_multi_attach("gp2", Some(true)).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidParameterCombination");
        let e = check_multi_attach("io2", Some(true)).unwrap_err();
        assert_eq!(e.code().as_str(), "UnsupportedOperation");
    }
}
