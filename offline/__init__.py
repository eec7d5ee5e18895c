"""The Pulumi program run offline: under mocks backed by an emulated AWS account."""
