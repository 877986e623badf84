//! The default network every account has in every region, as AWS makes it: one default VPC
//! (172.31.0.0/16), one default subnet per availability zone (172.31.0.0/20, 172.31.16.0/20, …)
//! and the VPC's `default` security group. Nothing here is stored: the ids are derived from the
//! account and region, so they are the same on every call and in every process. Private IPv4
//! addresses are chosen from a subnet given the ones in use. Pure: values in, values out.

use crate::error::{bail, Code, Result};
use sha2::{Digest, Sha256};
use std::net::Ipv4Addr;

/// The zones of a region (`rules::check_az`): `a` to `f`.
const ZONE_LETTERS: &[u8] = b"abcdef";

/// An AWS-style id: `prefix-` and 17 hex digits derived from `parts`.
pub(crate) fn derived_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let hex: String = h
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    format!("{prefix}-{}", &hex[..17])
}

/// A locally administered MAC address for an instance's interface, as AWS's `0e:…` ones.
pub(crate) fn mac_address(instance_id: &str) -> String {
    let h = Sha256::digest(instance_id.as_bytes());
    let mut parts = vec!["0e".to_owned()];
    parts.extend(h[..5].iter().map(|b| format!("{b:02x}")));
    parts.join(":")
}

/// The default VPC of `account` in `region`.
pub(crate) fn default_vpc_id(account: &str, region: &str) -> String {
    derived_id("vpc", &[account, region, "default-vpc"])
}

/// The default VPC's `default` security group.
pub(crate) fn default_group_id(account: &str, region: &str) -> String {
    derived_id("sg", &[account, region, "default-security-group"])
}

/// The name of the only security group there is.
pub(crate) const DEFAULT_GROUP_NAME: &str = "default";

/// A default subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Subnet {
    pub id: String,
    pub availability_zone: String,
    /// The first address of its /20.
    pub base: Ipv4Addr,
}

impl Subnet {
    /// Whether `ip` is an address of this subnet that an instance may have: AWS keeps the first
    /// four and the last address of every subnet.
    pub(crate) fn assignable(&self, ip: Ipv4Addr) -> bool {
        let (base, ip) = (u32::from(self.base), u32::from(ip));
        ip >= base + 4 && ip < base + (1 << 12) - 1
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        let (base, ip) = (u32::from(self.base), u32::from(ip));
        ip >= base && ip < base + (1 << 12)
    }

    /// `172.31.0.0/20`.
    #[cfg(test)]
    pub(crate) fn cidr(&self) -> String {
        format!("{}/20", self.base)
    }
}

/// The default subnet of `az` (a zone of `region`, already checked).
pub(crate) fn default_subnet(account: &str, region: &str, az: &str) -> Subnet {
    let letter = az.as_bytes().last().copied().unwrap_or(b'a');
    let index = ZONE_LETTERS.iter().position(|l| *l == letter).unwrap_or(0);
    let third = u8::try_from(index * 16).expect("six zones of /20 fit in 172.31.0.0/16");
    Subnet {
        id: derived_id("subnet", &[account, region, az, "default-subnet"]),
        availability_zone: az.to_owned(),
        base: Ipv4Addr::new(172, 31, third, 0),
    }
}

/// The default subnet called `id`.
///
/// # Errors
/// `InvalidSubnetID.NotFound` when no default subnet of the region has that id.
pub(crate) fn subnet_by_id(account: &str, region: &str, id: &str) -> Result<Subnet> {
    for l in ZONE_LETTERS {
        let az = format!("{region}{}", char::from(*l));
        let s = default_subnet(account, region, &az);
        if s.id == id {
            return Ok(s);
        }
    }
    bail!(
        Code::INVALID_SUBNET_ID_NOT_FOUND,
        "The subnet ID '{id}' does not exist"
    )
}

/// Checks `SecurityGroupIds` and `SecurityGroups` (names): the default VPC has one group,
/// `default`.
///
/// # Errors
/// `InvalidGroup.NotFound` naming the first group that is not the default one.
pub(crate) fn check_groups(
    account: &str,
    region: &str,
    ids: &[String],
    names: &[String],
) -> Result<()> {
    let vpc = default_vpc_id(account, region);
    let group = default_group_id(account, region);
    if let Some(bad) = ids.iter().find(|i| **i != group) {
        bail!(
            Code::INVALID_GROUP_NOT_FOUND,
            "The security group '{bad}' does not exist in VPC '{vpc}'"
        );
    }
    if let Some(bad) = names.iter().find(|n| *n != DEFAULT_GROUP_NAME) {
        bail!(
            Code::INVALID_GROUP_NOT_FOUND,
            "The security group '{bad}' does not exist in default VPC '{vpc}'"
        );
    }
    Ok(())
}

/// The private address of a new instance in `subnet`: `wanted` if it is free and assignable,
/// else the lowest free one.
///
/// # Errors
/// `InvalidParameterValue` for a malformed address or one outside the subnet's range (or one
/// of its five reserved addresses); `InvalidIPAddress.InUse` for one another instance has;
/// `InsufficientFreeAddressesInSubnet` when the subnet is full.
pub(crate) fn allocate(
    subnet: &Subnet,
    used: &[Ipv4Addr],
    wanted: Option<&str>,
) -> Result<Ipv4Addr> {
    if let Some(w) = wanted {
        let Ok(ip) = w.parse::<Ipv4Addr>() else {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Invalid value '{w}' for PrivateIpAddress."
            );
        };
        if !subnet.contains(ip) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Address {ip} does not fall within the subnet's address range"
            );
        }
        if !subnet.assignable(ip) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Address {ip} is in subnet's reserved address range"
            );
        }
        if used.contains(&ip) {
            bail!(Code::INVALID_IP_ADDRESS_IN_USE, "Address {ip} is in use.");
        }
        return Ok(ip);
    }
    let base = u32::from(subnet.base);
    (base + 4..base + (1 << 12) - 1)
        .map(Ipv4Addr::from)
        .find(|ip| !used.contains(ip))
        .ok_or_else(|| {
            crate::error::Error::new(
                Code::INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET,
                format!(
                    "There are not enough free addresses in subnet '{}' to satisfy the requested \
                     number of instances.",
                    subnet.id
                ),
            )
        })
}

/// The private DNS name AWS gives an address: `ip-172-31-0-4.ec2.internal` in us-east-1,
/// `ip-172-31-0-4.REGION.compute.internal` elsewhere.
pub(crate) fn private_dns_name(region: &str, ip: Ipv4Addr) -> String {
    let host = format!("ip-{}", ip.to_string().replace('.', "-"));
    if region == "us-east-1" {
        format!("{host}.ec2.internal")
    } else {
        format!("{host}.{region}.compute.internal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";

    #[test]
    fn one_default_vpc_and_a_slash_20_subnet_per_zone() {
        let vpc = default_vpc_id(ACCOUNT, "us-east-1");
        assert!(vpc.starts_with("vpc-") && vpc.len() == 21, "{vpc}");
        assert_eq!(vpc, default_vpc_id(ACCOUNT, "us-east-1"));
        assert_ne!(vpc, default_vpc_id(ACCOUNT, "us-west-2"));
        assert_ne!(vpc, default_vpc_id("444455556666", "us-east-1"));
        let cidrs: Vec<String> = "abcdef"
            .chars()
            .map(|z| default_subnet(ACCOUNT, "us-east-1", &format!("us-east-1{z}")).cidr())
            .collect();
        assert_eq!(
            cidrs,
            [
                "172.31.0.0/20",
                "172.31.16.0/20",
                "172.31.32.0/20",
                "172.31.48.0/20",
                "172.31.64.0/20",
                "172.31.80.0/20"
            ]
        );
        let b = default_subnet(ACCOUNT, "us-east-1", "us-east-1b");
        assert!(b.id.starts_with("subnet-"));
        assert_eq!(subnet_by_id(ACCOUNT, "us-east-1", &b.id).unwrap(), b);
        let e = subnet_by_id(ACCOUNT, "us-west-2", &b.id).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidSubnetID.NotFound");
    }

    #[test]
    fn only_the_default_group_exists() {
        let sg = default_group_id(ACCOUNT, "us-east-1");
        assert!(check_groups(ACCOUNT, "us-east-1", std::slice::from_ref(&sg), &[]).is_ok());
        assert!(check_groups(ACCOUNT, "us-east-1", &[], &["default".into()]).is_ok());
        let e =
            check_groups(ACCOUNT, "us-east-1", &["sg-0b0384b66d7d692f9".into()], &[]).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidGroup.NotFound");
        assert!(e.message().contains("sg-0b0384b66d7d692f9"));
        let e = check_groups(ACCOUNT, "us-east-1", &[], &["web".into()]).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidGroup.NotFound");
        assert!(check_groups(ACCOUNT, "us-west-2", &[sg], &[]).is_err());
    }

    #[test]
    fn addresses_skip_the_reserved_ones_and_those_in_use() {
        let s = default_subnet(ACCOUNT, "us-east-1", "us-east-1b");
        let first = allocate(&s, &[], None).unwrap();
        assert_eq!(first, Ipv4Addr::new(172, 31, 16, 4));
        let second = allocate(&s, &[first], None).unwrap();
        assert_eq!(second, Ipv4Addr::new(172, 31, 16, 5));
        assert_eq!(
            allocate(&s, &[first], Some("172.31.20.9")).unwrap(),
            Ipv4Addr::new(172, 31, 20, 9)
        );
        let code = |w: &str| allocate(&s, &[first], Some(w)).unwrap_err().code().as_str();
        assert_eq!(code("172.31.16.4"), "InvalidIPAddress.InUse");
        assert_eq!(code("172.31.0.9"), "InvalidParameterValue");
        assert_eq!(code("172.31.16.1"), "InvalidParameterValue");
        assert_eq!(code("172.31.31.255"), "InvalidParameterValue");
        assert_eq!(code("10.0.0.1"), "InvalidParameterValue");
        assert_eq!(code("172.31.16"), "InvalidParameterValue");
        let all: Vec<Ipv4Addr> = (u32::from(Ipv4Addr::new(172, 31, 16, 4))
            ..u32::from(Ipv4Addr::new(172, 31, 31, 255)))
            .map(Ipv4Addr::from)
            .collect();
        let e = allocate(&s, &all, None).unwrap_err();
        assert_eq!(e.code().as_str(), "InsufficientFreeAddressesInSubnet");
    }

    #[test]
    fn private_dns_names_follow_the_region() {
        let ip = Ipv4Addr::new(172, 31, 16, 4);
        assert_eq!(
            private_dns_name("us-east-1", ip),
            "ip-172-31-16-4.ec2.internal"
        );
        assert_eq!(
            private_dns_name("eu-west-1", ip),
            "ip-172-31-16-4.eu-west-1.compute.internal"
        );
    }
}
