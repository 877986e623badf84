//! The pure EC2 rules: the encryption outcome of SEMANTICS.md §2 (one function, used by
//! CreateVolume, RunInstances, CopySnapshot, CopyImage and ImportSnapshot), device names, AMI
//! names, availability zones, volume sizes and Describe* filters. Values in, values out.

use crate::error::{bail, Code, Result};

/// The encryption of the source of a new volume or snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source<'a> {
    /// A new empty volume, or an unencrypted snapshot.
    Plain,
    /// A snapshot encrypted under `key_arn`; `reusable` when it is owned by the caller and in the
    /// destination region, so its key may be kept.
    Encrypted { key_arn: &'a str, reusable: bool },
}

/// Which key the new resource gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyChoice {
    Unencrypted,
    /// The source's key (and data key).
    SameAsSource,
    /// The key the request named (id, ARN, alias or alias ARN; resolved later, asynchronously).
    Named(String),
    /// The destination region's default EBS key.
    Default,
}

/// SEMANTICS.md §2: the encryption outcome.
///
/// `encrypted` is the request's `Encrypted` (absent = `None`); `ebd` is encryption by default in
/// the destination region.
///
/// # Errors
/// `InvalidParameterDependency` when a `KmsKeyId` comes without `Encrypted=true` (EBD does not
/// waive it). An explicit `false` on an encrypted source is ignored here; the copy operations
/// reject it themselves (§2 note 1).
pub(crate) fn encryption_outcome(
    source: Source<'_>,
    encrypted: Option<bool>,
    kms_key_id: Option<&str>,
    ebd: bool,
) -> Result<KeyChoice> {
    if let Some(k) = kms_key_id {
        if encrypted != Some(true) {
            bail!(
                Code::INVALID_PARAMETER_DEPENDENCY,
                "The parameter KmsKeyId requires the parameter Encrypted to be set."
            );
        }
        return Ok(KeyChoice::Named(k.to_owned()));
    }
    Ok(match source {
        Source::Encrypted { reusable: true, .. } => KeyChoice::SameAsSource,
        Source::Encrypted {
            reusable: false, ..
        } => KeyChoice::Default,
        Source::Plain if encrypted == Some(true) || ebd => KeyChoice::Default,
        Source::Plain => KeyChoice::Unencrypted,
    })
}

/// SEMANTICS.md §2 note 1: a copy (CopyImage) with an explicit `Encrypted=false` of a source
/// with an encrypted snapshot (`encrypted_snapshot`, the first one) is refused.
///
/// # Errors
/// `InvalidRequest` with AWS's message.
pub(crate) fn refuse_unencrypted_copy(
    encrypted: Option<bool>,
    encrypted_snapshot: Option<&str>,
) -> Result<()> {
    if let (Some(false), Some(id)) = (encrypted, encrypted_snapshot) {
        bail!(
            Code::INVALID_REQUEST,
            "Snapshot {id} is encrypted. Creating unencrypted copy from an encrypted snapshot is not supported."
        );
    }
    Ok(())
}

/// The canonical form of a device name, for comparisons: `/dev/sdf` and `sdf` are one device.
pub(crate) fn canonical_device(name: &str) -> String {
    if name.starts_with("/dev/") {
        name.to_owned()
    } else {
        format!("/dev/{name}")
    }
}

/// Whether `name` is a valid EBS device name on an HVM instance (SEMANTICS.md §6 rule 3):
/// `/dev/sd[a-z]`, `/dev/xvd[a-z]`, `/dev/xvd[b-c][a-z]`, `/dev/sda1`, `/dev/sda2`, and the bare
/// forms without `/dev/`. NVMe names are not valid.
pub(crate) fn valid_device(name: &str) -> bool {
    let n = name.strip_prefix("/dev/").unwrap_or(name);
    let b = n.as_bytes();
    let lower = |c: u8| c.is_ascii_lowercase();
    match b {
        [b's', b'd', c] => lower(*c),
        [b's', b'd', b'a', b'1' | b'2'] => true,
        [b'x', b'v', b'd', c] => lower(*c),
        [b'x', b'v', b'd', b'b' | b'c', c] => lower(*c),
        _ => false,
    }
}

/// Checks a device name, with AWS's message.
pub(crate) fn check_device(name: &str) -> Result<()> {
    if !valid_device(name) {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Value ({name}) for parameter device is invalid. {name} is not a valid EBS device name."
        );
    }
    Ok(())
}

/// The file name a device shows as in a mount: the device without `/dev/`.
pub(crate) fn device_file_name(device: &str) -> &str {
    device.strip_prefix("/dev/").unwrap_or(device)
}

/// SEMANTICS.md §11 rule 2: 3–128 characters from letters, digits, `( ) [ ] space . / - ' @ _`.
pub(crate) fn check_ami_name(name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c);
    let len = name.chars().count();
    if !(3..=128).contains(&len) || !name.chars().all(ok_char) {
        bail!(
            Code::INVALID_AMI_NAME_MALFORMED,
            "AMI names must be between 3 and 128 characters long, and may contain letters, \
             numbers, '(', ')', '.', '-', '/', '_', ''', '@', '[', ']' and spaces: {name:?}"
        );
    }
    Ok(())
}

/// Whether `region` looks like an AWS region name (`us-east-1`, `eu-central-2`, …).
pub(crate) fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u32>().is_ok()
}

/// The availability zones of a region: `REGIONa` to `REGIONf`.
pub(crate) fn check_az(region: &str, az: &str) -> Result<()> {
    let ok = az
        .strip_prefix(region)
        .is_some_and(|s| s.len() == 1 && (b'a'..=b'f').contains(&s.as_bytes()[0]));
    if !ok {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Invalid availability zone: [{az}]"
        );
    }
    Ok(())
}

/// SEMANTICS.md §5 rule 3: size range per volume type, in GiB.
pub(crate) fn check_volume_size(volume_type: &str, size: u64) -> Result<()> {
    let (lo, hi) = match volume_type {
        "gp2" | "io1" | "st1" | "sc1" => {
            if matches!(volume_type, "io1") {
                (4, 16_384)
            } else if matches!(volume_type, "st1" | "sc1") {
                (125, 16_384)
            } else {
                (1, 16_384)
            }
        }
        "gp3" => (1, 65_536),
        "io2" => (4, 65_536),
        "standard" => (1, 1_024),
        other => bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Value ({other}) for parameter volumeType is invalid. Valid values: standard, io1, \
             io2, gp2, gp3, sc1, st1"
        ),
    };
    if !(lo..=hi).contains(&size) {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Volume of {size}GiB is out of range for volume type {volume_type}: the size must be \
             between {lo} and {hi} GiB"
        );
    }
    Ok(())
}

/// One Describe* filter: `{Name, Values}`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Filter {
    pub name: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// Glob match with `*` and `?`, as EC2 filters do.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether a resource passes every filter. `field(name)` gives the resource's values for a filter
/// name (`None` = the filter name is not supported for this resource).
pub(crate) fn matches_filters(
    filters: &[Filter],
    field: impl Fn(&str) -> Option<Vec<String>>,
) -> Result<bool> {
    for f in filters {
        let Some(values) = field(&f.name) else {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "The filter '{}' is invalid",
                f.name
            );
        };
        if f.values.is_empty() {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "The filter '{}' needs at least one value",
                f.name
            );
        }
        if !f
            .values
            .iter()
            .any(|pat| values.iter().any(|v| glob(pat, v)))
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A JSON bool as a filter value.
pub(crate) fn bool_str(b: bool) -> String {
    if b { "true" } else { "false" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyChoice::*;

    const K1: &str = "arn:aws:kms:us-east-1:111122223333:key/k1";

    #[test]
    fn outcome_table_of_section_2() {
        let enc_owned = Source::Encrypted {
            key_arn: K1,
            reusable: true,
        };
        let enc_shared = Source::Encrypted {
            key_arn: K1,
            reusable: false,
        };
        for ebd in [false, true] {
            let plain_no_flag = if ebd { Default } else { Unencrypted };
            assert_eq!(
                encryption_outcome(Source::Plain, None, None, ebd).unwrap(),
                plain_no_flag
            );
            assert_eq!(
                encryption_outcome(Source::Plain, Some(false), None, ebd).unwrap(),
                plain_no_flag
            );
            assert_eq!(
                encryption_outcome(Source::Plain, Some(true), None, ebd).unwrap(),
                Default
            );
            assert_eq!(
                encryption_outcome(enc_owned, None, None, ebd).unwrap(),
                SameAsSource
            );
            assert_eq!(
                encryption_outcome(enc_owned, Some(false), None, ebd).unwrap(),
                SameAsSource
            );
            assert_eq!(
                encryption_outcome(enc_owned, Some(true), None, ebd).unwrap(),
                SameAsSource
            );
            assert_eq!(
                encryption_outcome(enc_shared, None, None, ebd).unwrap(),
                Default
            );
            assert_eq!(
                encryption_outcome(enc_shared, Some(true), None, ebd).unwrap(),
                Default
            );
            for src in [Source::Plain, enc_owned, enc_shared] {
                assert_eq!(
                    encryption_outcome(src, Some(true), Some("alias/k2"), ebd).unwrap(),
                    Named("alias/k2".into())
                );
                for flag in [None, Some(false)] {
                    let e = encryption_outcome(src, flag, Some("alias/k2"), ebd).unwrap_err();
                    assert_eq!(e.code(), Code::INVALID_PARAMETER_DEPENDENCY);
                }
            }
        }
        // An empty-string KmsKeyId still needs Encrypted (§2 note 2).
        let e = encryption_outcome(Source::Plain, None, Some(""), false).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER_DEPENDENCY);
    }

    #[test]
    fn device_names() {
        for ok in [
            "/dev/sdf",
            "sdh",
            "xvdh",
            "/dev/xvda",
            "/dev/xvdba",
            "/dev/sda1",
            "/dev/sda2",
        ] {
            assert!(valid_device(ok), "{ok}");
        }
        for bad in [
            "/dev/nvme1n1",
            "/dev/sdf1",
            "/dev/xvdda",
            "/dev/sd",
            "/dev/SDF",
            "",
            "/dev/hda",
        ] {
            assert!(!valid_device(bad), "{bad}");
        }
        assert_eq!(
            check_device("/dev/nvme1n1").unwrap_err().code(),
            Code::INVALID_PARAMETER_VALUE
        );
        assert_eq!(canonical_device("sdf"), "/dev/sdf");
        assert_eq!(device_file_name("/dev/xvda"), "xvda");
    }

    #[test]
    fn ami_names_regions_zones_sizes() {
        assert!(check_ami_name("my image (v1) [x] 2026/11 o'k @x_y-z.").is_ok());
        assert_eq!(
            check_ami_name("ab").unwrap_err().code(),
            Code::INVALID_AMI_NAME_MALFORMED
        );
        assert_eq!(
            check_ami_name("bad!name").unwrap_err().code(),
            Code::INVALID_AMI_NAME_MALFORMED
        );
        assert!(check_ami_name(&"x".repeat(128)).is_ok());
        assert!(check_ami_name(&"x".repeat(129)).is_err());
        assert!(
            valid_region("us-east-1")
                && valid_region("ap-southeast-2")
                && valid_region("us-gov-west-1")
        );
        assert!(
            !valid_region("useast1") && !valid_region("US-east-1") && !valid_region("us-east-x")
        );
        assert!(check_az("us-east-1", "us-east-1a").is_ok());
        assert!(check_az("us-east-1", "us-west-2a").is_err());
        assert!(check_az("us-east-1", "us-east-1z").is_err());
        assert!(check_volume_size("gp2", 1).is_ok());
        assert!(check_volume_size("gp2", 16_385).is_err());
        assert!(check_volume_size("gp3", 65_536).is_ok());
        assert!(check_volume_size("io1", 3).is_err());
        assert!(check_volume_size("floppy", 1).is_err());
    }

    #[test]
    fn globs_and_filters() {
        assert!(glob("*", "") && glob("a*c", "abbbc") && glob("a?c", "abc") && !glob("a?c", "ac"));
        assert!(glob("snap-*", "snap-0123") && !glob("snap-*", "vol-1"));
        let f = vec![Filter {
            name: "encrypted".into(),
            values: vec!["true".into()],
        }];
        assert!(matches_filters(&f, |n| (n == "encrypted").then(|| vec!["true".into()])).unwrap());
        assert!(
            !matches_filters(&f, |n| (n == "encrypted").then(|| vec!["false".into()])).unwrap()
        );
        let bad = vec![Filter {
            name: "colour".into(),
            values: vec![],
        }];
        assert_eq!(
            matches_filters(&bad, |_| None).unwrap_err().code(),
            Code::INVALID_PARAMETER_VALUE
        );
    }
}
