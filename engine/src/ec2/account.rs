//! What SDK tools ask first: the regions, the availability zones of a region and the account's
//! attributes. Pure answers from the region's name: every region has zones `a` to `f`
//! (`rules::check_az`), and any well-formed region name works (`rules::valid_region`).

use super::responses as out;
use super::rules::{matches_filters, Filter};
use super::Core;
use crate::error::{bail, Code, Result};
use serde::Deserialize;

/// The regions DescribeRegions lists (AWS's commercial regions opted in by default).
pub const REGIONS: &[&str] = &[
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// The zone letters of every region.
const ZONES: &str = "abcdef";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeRegions {
    pub region_names: Option<Vec<String>>,
    #[serde(default)]
    pub filters: Vec<Filter>,
    pub all_regions: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeAvailabilityZones {
    pub zone_names: Option<Vec<String>>,
    pub zone_ids: Option<Vec<String>>,
    #[serde(default)]
    pub filters: Vec<Filter>,
    pub all_availability_zones: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeAccountAttributes {
    pub attribute_names: Option<Vec<String>>,
}

impl Core<'_> {
    pub(crate) fn describe_regions(
        &mut self,
        r: DescribeRegions,
    ) -> Result<out::DescribeRegionsResult> {
        let mut names: Vec<&str> = REGIONS.to_vec();
        if !names.contains(&self.region()) {
            names.push(self.region());
            names.sort_unstable();
        }
        let mut regions: Vec<out::Region> = Vec::new();
        for n in names {
            if r.region_names
                .as_ref()
                .is_some_and(|w| !w.iter().any(|x| x == n))
            {
                continue;
            }
            let item = out::Region {
                region_name: n.to_owned(),
                endpoint: format!("ec2.{n}.amazonaws.com"),
                opt_in_status: "opt-in-not-required".to_owned(),
            };
            let ok = matches_filters(&r.filters, |f| {
                Some(vec![match f {
                    "region-name" => item.region_name.clone(),
                    "endpoint" => item.endpoint.clone(),
                    "opt-in-status" => item.opt_in_status.clone(),
                    _ => return None,
                }])
            })?;
            if ok {
                regions.push(item);
            }
        }
        if let Some(w) = &r.region_names {
            if let Some(bad) = w
                .iter()
                .find(|x| !regions.iter().any(|i| i.region_name == **x))
            {
                if r.filters.is_empty() {
                    bail!(Code::INVALID_PARAMETER_VALUE, "Invalid region: {bad}");
                }
            }
        }
        Ok(out::DescribeRegionsResult { regions })
    }

    pub(crate) fn describe_availability_zones(
        &mut self,
        r: DescribeAvailabilityZones,
    ) -> Result<out::DescribeAvailabilityZonesResult> {
        let region = self.region().to_owned();
        let short: String = region
            .split('-')
            .map(|p| match p {
                "east" => "e",
                "west" => "w",
                "north" => "n",
                "south" => "s",
                "central" => "c",
                "northeast" => "ne",
                "northwest" => "nw",
                "southeast" => "se",
                "southwest" => "sw",
                other => other,
            })
            .collect();
        let mut zones: Vec<out::AvailabilityZone> = Vec::new();
        for (i, z) in ZONES.chars().enumerate() {
            let name = format!("{region}{z}");
            let id = format!("{short}-az{}", i + 1);
            if r.zone_names.as_ref().is_some_and(|w| !w.contains(&name)) {
                continue;
            }
            if r.zone_ids.as_ref().is_some_and(|w| !w.contains(&id)) {
                continue;
            }
            let item = out::AvailabilityZone {
                state: "available".to_owned(),
                opt_in_status: "opt-in-not-required".to_owned(),
                messages: Vec::new(),
                region_name: region.clone(),
                zone_name: name,
                zone_id: id,
                group_name: region.clone(),
                network_border_group: region.clone(),
                zone_type: "availability-zone".to_owned(),
            };
            let ok = matches_filters(&r.filters, |f| {
                Some(vec![match f {
                    "zone-name" => item.zone_name.clone(),
                    "zone-id" => item.zone_id.clone(),
                    "region-name" => item.region_name.clone(),
                    "state" => item.state.clone(),
                    "zone-type" => item.zone_type.clone(),
                    "group-name" => item.group_name.clone(),
                    "opt-in-status" => item.opt_in_status.clone(),
                    _ => return None,
                }])
            })?;
            if ok {
                zones.push(item);
            }
        }
        if let Some(bad) = r
            .zone_names
            .iter()
            .flatten()
            .find(|n| !zones.iter().any(|i| i.zone_name == **n))
        {
            if r.filters.is_empty() {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "The zone '{bad}' does not exist."
                );
            }
        }
        Ok(out::DescribeAvailabilityZonesResult {
            availability_zones: zones,
        })
    }

    pub(crate) fn describe_account_attributes(
        &mut self,
        r: DescribeAccountAttributes,
    ) -> Result<out::DescribeAccountAttributesResult> {
        // Every region has its default VPC (ec2::network); instances launch into it.
        let vpc = super::network::default_vpc_id(self.account(), self.region());
        let all = [
            ("supported-platforms", "VPC"),
            ("default-vpc", vpc.as_str()),
            ("max-instances", "20"),
            ("vpc-max-security-groups-per-interface", "5"),
            ("max-elastic-ips", "5"),
            ("vpc-max-elastic-ips", "5"),
        ];
        let mut attributes = Vec::new();
        for (name, value) in all {
            if r.attribute_names
                .as_ref()
                .is_some_and(|w| !w.iter().any(|x| x == name))
            {
                continue;
            }
            attributes.push(out::AccountAttribute {
                attribute_name: name.to_owned(),
                attribute_values: vec![out::AccountAttributeValue {
                    attribute_value: value.to_owned(),
                }],
            });
        }
        Ok(out::DescribeAccountAttributesResult {
            account_attributes: attributes,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::api::Engine;
    use crate::progress::NoProgress;
    use serde_json::json;

    #[test]
    fn regions_zones_and_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(dir.path()).unwrap();
        let ctx = e.context("eu-west-1", "admin").unwrap();
        let call = |op: &str, v| e.invoke(&ctx, op, v, &NoProgress).unwrap();
        let r = call("DescribeRegions", json!({}));
        assert!(r["Regions"].as_array().unwrap().len() >= 17);
        let r = call(
            "DescribeRegions",
            json!({"Filters": [{"Name": "region-name", "Values": ["us-*"]}]}),
        );
        assert_eq!(r["Regions"].as_array().unwrap().len(), 4);
        let z = call("DescribeAvailabilityZones", json!({}));
        let zones = z["AvailabilityZones"].as_array().unwrap();
        assert_eq!(zones[0]["ZoneName"], "eu-west-1a");
        assert_eq!(zones[0]["ZoneId"], "euw1-az1");
        assert_eq!(zones.len(), 6);
        let a = call(
            "DescribeAccountAttributes",
            json!({"AttributeNames": ["default-vpc"]}),
        );
        let vpc = a["AccountAttributes"][0]["AttributeValues"][0]["AttributeValue"]
            .as_str()
            .unwrap();
        assert!(vpc.starts_with("vpc-") && vpc.len() == 21, "{vpc}");
        let bad = e
            .invoke(
                &ctx,
                "DescribeAvailabilityZones",
                json!({"ZoneNames": ["eu-west-1z"]}),
                &NoProgress,
            )
            .unwrap_err();
        assert_eq!(bad.code().as_str(), "InvalidParameterValue");
    }
}
