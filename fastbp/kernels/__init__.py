"""Numba kernels: plain functions over arrays, no Python objects.

activations  f and f' by integer code            dense     forward of one layer
costs        C and BP1 by integer code           backprop  BP2, BP3, BP4 and the SGD update
gemm, simd   the matrix products and their       layout    flat buffers and the layer table
             vector tiles                        checks    input checks at memory speed
step         whole-batch and whole-epoch kernels that tie them together
"""
