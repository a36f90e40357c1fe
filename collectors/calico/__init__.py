"""Calico: flow-log files and the Goldmane gRPC stream."""
