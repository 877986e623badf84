//! Resource identifiers, parsed once at the boundary: `ami-…`, `snap-…`, `vol-…`, `i-…`, `r-…`,
//! KMS key ids (UUIDs). Pure: generation takes its randomness as an argument.

use crate::error::{Code, Error};
use std::fmt;
use std::str::FromStr;

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $malformed:expr, $expect:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id's prefix, with its dash.
            pub const PREFIX: &'static str = $prefix;

            /// A new id from 17 hex digits of `random`.
            pub fn generate(random: u128) -> Self {
                let hex = format!("{:032x}", random);
                $name(format!("{}{}", $prefix, &hex[..17]))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                let ok = s.strip_prefix($prefix).is_some_and(|h| {
                    (h.len() == 17 || h.len() == 8)
                        && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                });
                if ok {
                    Ok($name(s.to_owned()))
                } else {
                    Err(Error::new($malformed, format!("Invalid id: \"{s}\" (expecting \"{}\")", $expect)))
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

hex_id!(
    /// An AMI id, `ami-` + 17 hex digits.
    ImageId, "ami-", Code::INVALID_AMI_ID_MALFORMED, "ami-..."
);
hex_id!(
    /// A snapshot id, `snap-` + 17 hex digits.
    SnapshotId, "snap-", Code::INVALID_SNAPSHOT_ID_MALFORMED, "snap-..."
);
hex_id!(
    /// A volume id, `vol-` + 17 hex digits.
    VolumeId, "vol-", Code::INVALID_VOLUME_ID_MALFORMED, "vol-..."
);
hex_id!(
    /// An instance id, `i-` + 17 hex digits.
    InstanceId, "i-", Code::INVALID_INSTANCE_ID_MALFORMED, "i-..."
);
hex_id!(
    /// A reservation id, `r-` + 17 hex digits.
    ReservationId, "r-", Code::INVALID_PARAMETER_VALUE, "r-..."
);
hex_id!(
    /// An import task id, `import-snap-` + 17 hex digits.
    ImportTaskId, "import-snap-", Code::INVALID_PARAMETER_VALUE, "import-snap-..."
);

/// A KMS key id: a lowercase UUID.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// A new random (v4-shaped) key id from 128 random bits.
    pub fn generate(random: u128) -> Self {
        KeyId(
            uuid::Builder::from_random_bytes(random.to_le_bytes())
                .into_uuid()
                .to_string(),
        )
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match uuid::Uuid::try_parse(s) {
            Ok(u) if u.hyphenated().to_string() == s => Ok(KeyId(s.to_owned())),
            _ => Err(Error::new(
                Code::NOT_FOUND_EXCEPTION,
                format!("Invalid keyId '{s}'"),
            )),
        }
    }
}

impl TryFrom<String> for KeyId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn malformed_ids_are_rejected_with_their_code() {
        let e = "ami-xyz".parse::<ImageId>().unwrap_err();
        assert_eq!(e.code(), Code::INVALID_AMI_ID_MALFORMED);
        assert_eq!(
            e.message(),
            "Invalid id: \"ami-xyz\" (expecting \"ami-...\")"
        );
        assert_eq!(
            "vol-12".parse::<VolumeId>().unwrap_err().code(),
            Code::INVALID_VOLUME_ID_MALFORMED
        );
        assert_eq!(
            "snap-0123456789abcdefA"
                .parse::<SnapshotId>()
                .unwrap_err()
                .code(),
            Code::INVALID_SNAPSHOT_ID_MALFORMED
        );
        assert_eq!(
            "x-0123456789abcdef0"
                .parse::<InstanceId>()
                .unwrap_err()
                .code(),
            Code::INVALID_INSTANCE_ID_MALFORMED
        );
        assert!(
            "ami-12345678".parse::<ImageId>().is_ok(),
            "legacy 8-digit ids parse"
        );
        assert!("not-a-uuid".parse::<KeyId>().is_err());
    }

    proptest! {
        #[test]
        fn ids_round_trip(r in any::<u128>()) {
            let a = ImageId::generate(r);
            prop_assert_eq!(a.as_str().len(), 4 + 17);
            prop_assert_eq!(a.to_string().parse::<ImageId>().unwrap(), a);
            let s = SnapshotId::generate(r);
            prop_assert_eq!(s.to_string().parse::<SnapshotId>().unwrap(), s);
            let v = VolumeId::generate(r);
            prop_assert_eq!(v.to_string().parse::<VolumeId>().unwrap(), v);
            let i = InstanceId::generate(r);
            prop_assert_eq!(i.to_string().parse::<InstanceId>().unwrap(), i);
            let k = KeyId::generate(r);
            prop_assert_eq!(k.to_string().parse::<KeyId>().unwrap(), k);
        }
    }
}
