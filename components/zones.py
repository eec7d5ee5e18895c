"""Facts about availability zones the platform relies on (pure, importable without the providers)."""

EKS_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")
"""Zones where EKS refuses control-plane subnets (UnsupportedAvailabilityZoneException; "Subnet requirements"
of the EKS user guide). By zone ID: zone names map to different physical zones in each account."""
