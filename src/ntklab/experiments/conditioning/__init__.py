"""Agarwal, Awasthi & Kale (2021): the conditioning of deep kernels (``conditioning``) and normalised relu as an
alternative to BatchNorm (``deep-normalized``).

A recipe: it uses the library (data, nets, kernels, runs, report) and is never imported by it.
"""
