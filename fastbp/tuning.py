"""The kernel variant for the CPU at hand: measured once, cached, forcible.

A variant fixes what the matrix-multiply tiles are compiled for (``kernels.tiles``):
the vector width (256 or 512 bits), the rows of the axpy tile and the size of the
square dot tile. Which is fastest depends on the core, not on its vendor: a core with
two 512-bit FMA units runs 512-bit tiles at twice the rate of 256-bit ones, a core
that splits 512-bit operations in two gains nothing and loses at the masked edges
of small layers. So the variants the CPU can run are measured:

1. each variant's tiles are compiled alone with llvmlite (no Numba, milliseconds) and
   timed on data in L1: the time per step of k of the full tiles and of the
   single-row (or single-dot-product) edge tiles, best of a few runs, so that a busy
   machine slows the measurement without changing its verdict much;
2. those unit costs predict the time of the products of a training step (forward,
   BP2, BP4) for a set of typical networks and batch sizes, tiles and edges counted
   as the kernels cut them; the variant with the lowest total, each network's time
   taken relative to its best, wins.

The choice is cached per CPU model, feature set and fastbp version in
``cache_dir()/tuning.json``; ``FASTBP_KERNEL=<name>`` forces a variant (its name as
``fastbp info`` lists them) and ``FASTBP_KERNEL=tune`` measures again. Results are
bit-identical for any thread count with a given variant; two variants may differ by
rounding (the dot tile's lanes are summed at the end, so the vector width changes the
order of the forward pass's sums).

This module is read before any kernel is compiled: it must not import the kernels'
Numba code (only the IR emitters of ``kernels.tiles``).
"""

import ctypes
import functools
import hashlib
import json
import os
import platform
import tempfile
import time
from collections import namedtuple
from pathlib import Path

from ._version import __version__

ENV = "FASTBP_KERNEL"


class Variant(namedtuple("Variant", "vector_bytes rows dot")):
    """Vector width in bytes, rows of the axpy tile (two vectors wide), dot tile size."""

    __slots__ = ()

    @property
    def name(self):
        return f"{8 * self.vector_bytes}bit-r{self.rows}-d{self.dot}"

    @property
    def registers(self):
        """Vector registers the tiles' accumulators and operands need (at most)."""
        return max(2 * self.rows + 3, self.dot * self.dot + 2 * self.dot)


# Typical networks (layer sizes, batch): the workloads of benchmarks/common.py.
TYPICAL = (((784, 30, 10), 10), ((784, 100, 10), 32), ((784, 100, 10), 128),
           ((784, 512, 512, 10), 128), ((784, 2048, 2048, 10), 256))


# -- the machine ---------------------------------------------------------------------------

def host_features():
    """The host CPU's features as LLVM names them (those that are present)."""
    from llvmlite import binding

    return sorted(name for name, on in binding.get_host_cpu_features().items() if on)


def cpu_model():
    """The CPU's model name as the operating system reports it."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_cpu_name():
    from llvmlite import binding

    return binding.get_host_cpu_name()


def candidates(features=None):
    """The variants this CPU can run, the portable one first."""
    features = set(host_features() if features is None else features)
    registers = 32 if "avx512vl" in features else 16  # AVX-512VL: 32 ymm registers
    found = [Variant(32, 6, 4 if registers == 32 else 3)]
    if {"avx512f", "avx512vl"} <= features:
        found += [Variant(64, 6, 4), Variant(64, 8, 4)]
    return [v for v in found if v.registers <= registers]


# -- where choices and compiled kernels are kept -----------------------------------------

@functools.cache  # asked at import by the choice and by the kernels' cache: once
def cache_dir():
    """fastbp's cache directory: ``FASTBP_CACHE_DIR``, else ``$XDG_CACHE_HOME/fastbp``,
    else ``~/.cache/fastbp``; a directory in the temporary directory where none of
    those can be written; None where nothing can."""
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    places = [os.environ.get("FASTBP_CACHE_DIR"), os.path.join(home, "fastbp"),
              os.path.join(tempfile.gettempdir(), f"fastbp-{_user()}")]
    for place in places:
        if place and _writable(place):
            return Path(place)
    return None


def _user():
    try:
        return str(os.getuid())
    except AttributeError:  # pragma: no cover - not POSIX
        return os.environ.get("USERNAME", "user")


def _writable(path):
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


def _machine_key():
    features = hashlib.sha256(",".join(host_features()).encode()).hexdigest()[:16]
    return "|".join([__version__, cpu_model(), host_cpu_name(), features])


def _read_choices(path):
    try:
        choices = json.loads(path.read_text())
        return choices if isinstance(choices, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_choices(path, choices):
    """Atomically, and silently not where the cache cannot be written."""
    try:
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(choices, indent=1, sort_keys=True))
        os.replace(temporary, path)
    except OSError:
        pass


# -- measuring -----------------------------------------------------------------------------

K_STEPS = 256  # steps of k per tile call: the tiles' data stays in L1


def _build(variant):
    """An LLVM module with one timing loop per tile shape of ``variant`` (float32), and
    the names of its functions: each runs ``reps`` tile calls on L1-resident data."""
    from llvmlite import ir
    from numba.core import cgutils

    from .kernels.tiles import Operands, emit_axpy, emit_dot

    f32, i64 = ir.FloatType(), ir.IntType(64)
    lanes = variant.vector_bytes // 4
    panel = 2 * lanes
    module = ir.Module(name="fastbp_tuning")
    ptr = f32.as_pointer()
    names = []

    def const(x):
        return ir.Constant(i64, x)

    def timing_loop(name, emit):
        function = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr, ptr, ptr, ptr, i64]),
                               name)
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        with cgutils.for_range(builder, function.args[4]):
            emit(builder, function.args[:4])
        builder.ret_void()
        names.append(name)

    def axpy(rows):
        def emit(builder, args):
            c, a, b, _ = args
            values = [const(rows), const(panel), c, const(0), const(panel), a, const(0),
                      const(1), const(rows), b, const(0), const(panel), const(K_STEPS),
                      ir.Constant(ir.IntType(1), 1)]
            emit_axpy(builder, Operands(values, i64, f32, lanes), rows, False)
        return emit

    def dot(rows, cols):
        def emit(builder, args):
            z, a, w, bias = args
            k = K_STEPS * lanes
            values = [const(rows), const(cols), z, const(0), const(cols), a, const(0), const(k),
                      w, const(0), const(k), const(k), bias, const(0),
                      ir.Constant(ir.IntType(1), 0)]
            emit_dot(builder, Operands(values, i64, f32, lanes), rows, cols)
        return emit

    timing_loop("axpy_R", axpy(variant.rows))
    timing_loop("axpy_1", axpy(1))
    timing_loop("dot_DxD", dot(variant.dot, variant.dot))
    timing_loop("dot_1x1", dot(1, 1))
    return str(module), names


def _compile(variant, binding):
    """The timing loops of ``variant``, compiled: {shape name: ctypes function}, and the
    engine that owns their code (and its target machine)."""
    machine = binding.Target.from_default_triple().create_target_machine(
        cpu=host_cpu_name(), features=binding.get_host_cpu_features().flatten(), opt=3)
    text, names = _build(variant)
    module = binding.parse_assembly(text)
    builder = binding.create_pass_builder(machine, binding.PipelineTuningOptions(speed_level=3))
    builder.getModulePassManager().run(module, builder)
    engine = binding.create_mcjit_compiler(module, machine)
    engine.finalize_object()
    prototype = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 4, ctypes.c_int64)
    return {name: prototype(engine.get_function_address(name)) for name in names}, engine


def measure(variants, rounds=7):
    """Seconds per step of k of each tile shape of each variant: {variant name: {shape:
    seconds}} for the shapes ``axpy_R``, ``axpy_1``, ``dot_DxD``, ``dot_1x1``. Every
    shape is timed in calls of about a millisecond, in ``rounds`` rounds that visit
    all variants in turn (so that a busy spell falls on all alike), best of the rounds."""
    import numpy as np
    from llvmlite import binding

    binding.initialize_native_target()
    binding.initialize_native_asmprinter()
    size = 4 * 16 * K_STEPS * 8  # floats: ample for every tile of every variant
    buffers = [np.full(size, 0.5, dtype=np.float32) for _ in range(4)]
    pointers = [b.ctypes.data_as(ctypes.c_void_p) for b in buffers]
    compiled = [(v, *_compile(v, binding)) for v in variants]
    reps = {}
    for variant, functions, _ in compiled:
        for name, run in functions.items():
            count = 1
            while _timed(run, pointers, count) < 1e-3 and count < 1 << 20:
                count *= 4
            reps[variant.name, name] = count
    best = {}
    for _ in range(rounds):
        for variant, functions, _ in compiled:
            for name, run in functions.items():
                count = reps[variant.name, name]
                seconds = _timed(run, pointers, count) / (count * K_STEPS)
                key = variant.name, name
                best[key] = min(seconds, best.get(key, seconds))
    return {v.name: {name: best[v.name, name] for name in functions}
            for v, functions, _ in compiled}


def _timed(run, pointers, reps):
    started = time.perf_counter()
    run(*pointers, reps)
    return time.perf_counter() - started


def predicted_seconds(variant, unit, sizes, batch):
    """The time ``unit`` predicts for the matrix products of one step of a network of
    ``sizes`` on a batch, with the tiles and edges of ``gemm`` and ``gemm_nt``."""
    lanes = variant.vector_bytes // 4
    panel = 2 * lanes
    R, D = variant.rows, variant.dot

    def axpy(m, n, k):  # rows m in tiles of R then single rows; columns in panels
        panels = -(-n // panel)
        return panels * k * ((m // R) * unit["axpy_R"] + (m % R) * unit["axpy_1"])

    def dot(m, n, k):  # D x D dot products, the edges one at a time
        steps = -(-k // lanes)
        full = (m // D) * (n // D)
        return steps * (full * unit["dot_DxD"] + (m * n - full * D * D) * unit["dot_1x1"])

    total = 0.0
    for l in range(1, len(sizes)):
        n_in, n_out = sizes[l - 1], sizes[l]
        total += dot(batch, n_out, n_in)  # forward
        total += axpy(n_out, n_in, batch)  # BP4
        if l > 1:
            total += axpy(batch, n_in, n_out)  # BP2
    return total


def choose(variants=None, unit_costs=None):
    """The variant predicted fastest over ``TYPICAL``, and each variant's unit costs."""
    variants = candidates() if variants is None else variants
    if unit_costs is None:
        unit_costs = measure(variants)
    score = dict.fromkeys((v.name for v in variants), 0.0)
    for sizes, batch in TYPICAL:
        times = {v.name: predicted_seconds(v, unit_costs[v.name], sizes, batch)
                 for v in variants}
        best = min(times.values())
        for name, seconds in times.items():
            score[name] += seconds / best
    # Ties (within 2%) go to the earlier, more portable variant.
    lowest = min(score.values())
    chosen = next(v for v in variants if score[v.name] <= lowest * 1.02)
    return chosen, unit_costs


# -- the choice ----------------------------------------------------------------------------

def by_name(name, variants=None):
    variants = candidates() if variants is None else variants
    for variant in variants:
        if variant.name == name:
            return variant
    raise ValueError(f"{ENV}={name!r} is not a kernel variant this CPU can run; choose one "
                     f"of {[v.name for v in variants]} or 'tune'")


_chosen = None


def kernel_variant():
    """The variant the kernels of this process are compiled for (decided once)."""
    global _chosen
    if _chosen is None:
        _chosen = _decide()
    return _chosen


def _decide():
    forced = os.environ.get(ENV, "").strip()
    variants = candidates()
    if forced and forced != "tune":
        return by_name(forced, variants)
    if len(variants) == 1:
        return variants[0]
    directory = cache_dir()
    path = directory / "tuning.json" if directory is not None else None
    choices = _read_choices(path) if path is not None else {}
    key = _machine_key()
    saved = choices.get(key)
    if not forced and isinstance(saved, dict):
        try:
            return by_name(saved.get("variant"), variants)
        except ValueError:  # an entry written by hand or for other variants: measure again
            pass
    chosen, unit_costs = choose(variants)
    if path is not None:
        choices[key] = {"variant": chosen.name, "seconds_per_k_step": unit_costs}
        _write_choices(path, choices)
    return chosen


# -- bfloat16 products (precision="bf16-mixed") -------------------------------------------

BF16_ENV = "FASTBP_BF16"
BF16_FEATURES = ("avx512bf16",)  # as LLVM names them
AMX_FEATURES = ("amx-tile", "amx-bf16")
# How bfloat16 pairs can be multiplied, the fastest first; the emulated ways run on any
# CPU: "emulated" the vector tiles' layout, "amx-emulated" the AMX tiles' (see
# ``kernels.amx``), with float32 fused multiply-adds in place of the instructions.
BF16_WAYS = ("amx", "avx512bf16", "emulated", "amx-emulated")
_ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA, _SYS_ARCH_PRCTL = 0x1023, 18, 158


@functools.cache
def amx_permitted():
    """Ask Linux to let this process use AMX's tile data (``arch_prctl(
    ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)``, required before the first tile
    instruction; granted to the whole process, threads included). False where it is
    refused or the system is not Linux on x86-64."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syscall(_SYS_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA) == 0
    except (OSError, AttributeError):
        return False


def bf16_ways_of_cpu():
    """The native ways of ``BF16_WAYS`` this CPU (and its operating system) provides."""
    features = set(host_features())
    ways = []
    if set(AMX_FEATURES) <= features and amx_permitted():
        ways.append("amx")
    if set(BF16_FEATURES) <= features:
        ways.append("avx512bf16")
    return ways


def bf16_products():
    """How this process multiplies bfloat16 numbers (see ``kernels.tiles`` and
    ``kernels.amx``): "amx" (AMX tiles, ``tdpbf16ps``) where the CPU has them and Linux
    grants them, else "avx512bf16" (``vdpbf16ps``) where the CPU has it, else None:
    bf16-mixed training is refused. ``FASTBP_BF16`` chooses one of ``BF16_WAYS``
    instead: one the CPU has, or an emulated one (the numerics on any CPU, slowly)."""
    forced = os.environ.get(BF16_ENV, "").strip()
    if forced and forced not in BF16_WAYS:
        raise ValueError(f"{BF16_ENV}={forced!r}: expected one of {', '.join(BF16_WAYS)} "
                         "(or nothing: the fastest this CPU has)")
    ways = bf16_ways_of_cpu()
    if forced in ("amx", "avx512bf16") and forced not in ways:
        needed = AMX_FEATURES if forced == "amx" else BF16_FEATURES
        raise ValueError(f"{BF16_ENV}={forced}: this CPU ({cpu_model()}) or its operating "
                         f"system does not provide {' and '.join(needed)}")
    if forced:
        return forced
    return ways[0] if ways else None


_BUILD_SUFFIX = {"emulated": "-bf16emu", "amx": "-amx", "amx-emulated": "-amxemu"}


def build_name():
    """What the kernels of this process are compiled for: the variant, and how
    bfloat16 products are made where that is not ``vdpbf16ps``."""
    return kernel_variant().name + _BUILD_SUFFIX.get(bf16_products(), "")


def describe():
    """What ``fastbp info`` prints: the CPU, the variants and the choice."""
    chosen = kernel_variant()
    directory = cache_dir()
    return {
        "cpu": cpu_model(),
        "llvm_cpu": host_cpu_name(),
        "features": [f for f in host_features()
                     if f.startswith(("avx", "amx", "fma", "sse4"))],
        "kernel_variant": chosen.name,
        "forced_by": f"{ENV}={os.environ[ENV]}" if os.environ.get(ENV, "").strip() not in
        ("", "tune") else None,
        "variants": [v.name for v in candidates()],
        "bf16_products": bf16_products(),
        "cache_dir": str(directory) if directory is not None else None,
    }
