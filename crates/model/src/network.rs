//! Subnet layout: three tiers (public, private, data) in every availability zone, carved out of
//! the VPC range without overlap.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The three subnet tiers of the platform's VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubnetTier {
    /// Load balancers and NAT gateways; routed to the internet gateway.
    Public,
    /// Nodes and pods; routed to the internet only through NAT.
    Private,
    /// RDS and ElastiCache; no route out of the VPC.
    Data,
}

impl SubnetTier {
    pub const ALL: [SubnetTier; 3] = [SubnetTier::Public, SubnetTier::Private, SubnetTier::Data];

    pub fn as_str(self) -> &'static str {
        match self {
            SubnetTier::Public => "public",
            SubnetTier::Private => "private",
            SubnetTier::Data => "data",
        }
    }
}

/// One subnet of the VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub tier: SubnetTier,
    /// Index of the availability zone (0 = the region's first).
    pub az_index: usize,
    pub az: String,
    pub cidr: Ipv4Net,
}

/// Why a layout cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The tiers need more addresses than the VPC has.
    DoesNotFit { needed: u64, available: u64 },
    /// A tier's prefix is shorter than the VPC's (a subnet larger than its VPC).
    PrefixTooShort { tier: SubnetTier, prefix: u8, vpc_prefix: u8 },
}

/// Allocate `az_count` subnets per tier from `vpc`, largest blocks first so every block stays
/// aligned, in a fixed order so the same inputs always give the same layout.
pub fn allocate(vpc: Ipv4Net, azs: &[String], prefixes: [(SubnetTier, u8); 3]) -> Result<Vec<Subnet>, LayoutError> {
    for (tier, prefix) in prefixes {
        if prefix < vpc.prefix_len() || prefix > 28 {
            return Err(LayoutError::PrefixTooShort { tier, prefix, vpc_prefix: vpc.prefix_len() });
        }
    }
    let mut order = prefixes;
    // Largest blocks (shortest prefix) first; ties in tier order. Allocating in decreasing size
    // keeps every block naturally aligned without gaps.
    order.sort_by_key(|(tier, prefix)| (*prefix, *tier));
    let base = u32::from(vpc.network()) as u64;
    let end = base + vpc_size(vpc);
    let needed: u64 = prefixes.iter().map(|(_, p)| block(*p) * azs.len() as u64).sum();
    if needed > vpc_size(vpc) {
        return Err(LayoutError::DoesNotFit { needed, available: vpc_size(vpc) });
    }
    let mut next = base;
    let mut out = Vec::new();
    for (tier, prefix) in order {
        for (az_index, az) in azs.iter().enumerate() {
            let size = block(prefix);
            let start = next.div_ceil(size) * size;
            if start + size > end {
                return Err(LayoutError::DoesNotFit { needed, available: vpc_size(vpc) });
            }
            let addr = Ipv4Addr::from(start as u32);
            let cidr = Ipv4Net::new(addr, prefix).map_err(|_| LayoutError::PrefixTooShort {
                tier,
                prefix,
                vpc_prefix: vpc.prefix_len(),
            })?;
            out.push(Subnet { tier, az_index, az: az.clone(), cidr });
            next = start + size;
        }
    }
    out.sort_by_key(|a| (a.tier, a.az_index));
    Ok(out)
}

fn block(prefix: u8) -> u64 {
    1u64 << (32 - u32::from(prefix))
}

fn vpc_size(vpc: Ipv4Net) -> u64 {
    block(vpc.prefix_len())
}

/// Whether two ranges share any address.
pub fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Availability-zone names for a region: `<region>a`, `<region>b`, …
///
/// These are the conventional names; the Terraform renderer checks them against the account's
/// `aws_availability_zones` at plan time.
pub fn az_names(region: &str, count: u8) -> Vec<String> {
    (0..count).map(|i| format!("{region}{}", (b'a' + i) as char)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("test CIDR")
    }

    #[test]
    fn default_layout_fits_and_does_not_overlap() {
        let azs = az_names("us-east-1", 3);
        let subnets = allocate(
            net("10.0.0.0/16"),
            &azs,
            [(SubnetTier::Public, 24), (SubnetTier::Private, 19), (SubnetTier::Data, 24)],
        )
        .expect("fits");
        assert_eq!(subnets.len(), 9);
        for (i, a) in subnets.iter().enumerate() {
            assert!(net("10.0.0.0/16").contains(&a.cidr));
            for b in &subnets[i + 1..] {
                assert!(!overlaps(a.cidr, b.cidr), "{} overlaps {}", a.cidr, b.cidr);
            }
        }
        let private: Vec<_> = subnets.iter().filter(|s| s.tier == SubnetTier::Private).collect();
        assert_eq!(private[0].cidr, net("10.0.0.0/19"));
        assert_eq!(private[2].cidr, net("10.0.64.0/19"));
    }

    #[test]
    fn too_large_tiers_do_not_fit() {
        let azs = az_names("us-east-1", 3);
        let err = allocate(
            net("10.0.0.0/20"),
            &azs,
            [(SubnetTier::Public, 24), (SubnetTier::Private, 21), (SubnetTier::Data, 24)],
        );
        assert!(matches!(err, Err(LayoutError::DoesNotFit { .. })));
    }
}
