"""Caron et al. (2023), asymmetrical node scaling: E1 on simulated data (``asym-simulated``) and E2-E4 on real
data (``asym-diabetes``, ``asym-digits``, ``asym-mnist1d``, ``asym-uci``), with pruning and transfer.

A recipe: it uses the library (data, nets, kernels, runs, prune, transfer, report) and is never imported by it.
"""
