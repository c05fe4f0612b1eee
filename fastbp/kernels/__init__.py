"""Numba kernels: plain functions over arrays, no Python objects.

activations  f and f' by integer code,           dense       forward of one layer
             and the ACTIVATIONS registry         backprop    BP2, BP3, BP4 and the SGD update
costs        C and BP1 by integer code, and COSTS layout      flat buffers and the layer table
optimizers   updates by code, and OPTIMIZERS      checks      input checks at memory speed
gemm, simd   the matrix products and their vector tiles
sparse       the first layer on CSR inputs
step         whole-batch and whole-epoch kernels that tie them together
"""
