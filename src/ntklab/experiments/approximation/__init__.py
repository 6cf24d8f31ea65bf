"""Welper (2024), Gentile & Welper: approximation by GD-trained shallow networks in 1-d
(``approximation-1d``) and on the sphere (``approximation-sphere``).

A recipe: it uses the library (:mod:`ntklab.approximation`, report) and is never imported by it.
"""
