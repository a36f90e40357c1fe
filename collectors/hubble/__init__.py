"""Cilium Hubble: flow files and the gRPC observer stream."""
