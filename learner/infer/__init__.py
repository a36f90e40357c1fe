"""Inference: edges and an inventory in, a proposal of least-privilege policies out."""
