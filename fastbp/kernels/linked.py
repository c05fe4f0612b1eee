"""Serial kernels compiled once, as C functions, and called by name from other kernels.

Numba compiles a kernel with the code of all its callees linked in, and optimises and
emits the whole again: the matrix products, large vectorised tiles at the bottom of
every pass, were compiled again for each level of their callers (8-10 times for the
training step). A kernel made with ``compile_once`` is compiled alone, once per
signature, as a C function (``_config.cfunc``, cached on disk like the other kernels)
whose address is registered with LLVM under a fixed symbol; its callers hold only a call
to that symbol, resolved when they are compiled or loaded from the cache, whichever
process compiled them.

A signature is compiled (or loaded) only when first needed: when a caller that uses it
is compiled, or when a cached caller whose machine code names its symbol is about to be
loaded (``_config.BEFORE_LOAD``). A float32 program thus never compiles the float64
products, and a warm start loads only what it runs.

A kernel made with ``compile_per_signature`` is compiled for the argument types its
callers pass, known only when a caller is typed (the named structures of
``structures``): its symbol ends in a digest of the signature, and the signature is kept
in a file beside the compiled kernels, so that a cached caller loaded by another process
finds what to compile or load for each symbol its code names.

Both sides are Numba code: arguments cross as Numba lays out their values (an array as
its struct, a tuple as a struct of its items), so the body runs unchanged.
"""

import hashlib
import inspect
import os
import pickle
import re

import numba
from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import _config
from .._config import BEFORE_LOAD, cfunc
from .simd import BUILD

_pending = {}  # symbol -> (body, signature), not compiled in this process yet
_compiled = {}  # symbol -> its C function, kept alive for as long as the process runs
_bodies = {}  # name -> body of each kernel made with ``compile_per_signature``


def symbol(name, key):
    """The process-wide symbol of kernel ``name`` for signature ``key`` and this
    process's kernel variant: code compiled for another variant never finds it."""
    return f"fastbp_{name}_{BUILD.replace('-', '_')}_{key}"


def _fits(given, wanted):
    """Whether a value of Numba type ``given`` can be passed where ``wanted`` is."""
    if isinstance(wanted, types.BaseTuple):
        return (isinstance(given, types.BaseTuple) and len(given) == len(wanted)
                and all(_fits(g, w) for g, w in zip(given, wanted)))
    if isinstance(wanted, types.Array):  # same data; a C-contiguous one where C is wanted
        return (isinstance(given, types.Array) and given.dtype == wanted.dtype
                and given.ndim == wanted.ndim and wanted.layout in ("A", given.layout))
    for kind in (types.Boolean, types.Integer, types.Float):
        if isinstance(wanted, kind):
            return isinstance(given, kind) and (kind is not types.Float or given == wanted)
    return given == wanted


def _convert(context, builder, value, given, wanted):
    if isinstance(wanted, types.BaseTuple):  # named or not: rebuilt item by item
        items = [_convert(context, builder, builder.extract_value(value, i), g, w)
                 for i, (g, w) in enumerate(zip(given, wanted))]
        return context.make_tuple(builder, wanted, items)
    if isinstance(wanted, types.Array):
        return value  # every array type of one ndim has the same struct
    return context.cast(builder, value, given, wanted)


def compile_once(name, body, signatures):
    """Make ``body`` a kernel compiled once for each of ``signatures`` ({key: Numba
    signature returning void}) under ``symbol(name, key)``. Returns an intrinsic that
    calls, with a tuple of arguments, the first signature they fit."""
    for key, signature in signatures.items():
        _pending[symbol(name, key)] = body, signature

    @intrinsic
    def call(typingctx, arguments):
        if not isinstance(arguments, types.BaseTuple):
            return None
        found = [(key, sig) for key, sig in signatures.items()
                 if _fits(arguments, types.Tuple(sig.args))]
        if not found:
            return None
        key, wanted = found[0]
        _ensure(symbol(name, key))
        return types.void(arguments), _caller(symbol(name, key), arguments, wanted)

    return call


def compile_per_signature(name, body):
    """Make ``body`` a kernel compiled once for each signature its callers pass, under
    ``symbol(name, <digest of the signature>)``. Returns an intrinsic that calls it with
    a tuple of arguments."""
    _bodies[name] = body

    @intrinsic
    def call(typingctx, arguments):
        if not isinstance(arguments, types.BaseTuple):
            return None
        wanted = types.void(*[types.unliteral(a) for a in arguments])
        key = hashlib.sha256(str(wanted).encode()).hexdigest()[:16]
        found = symbol(name, key)
        if found not in _compiled:
            _pending[found] = body, wanted
            _keep_signature(found, name, wanted)
            _ensure(found)
        return types.void(arguments), _caller(found, arguments, wanted)

    return call


def compiled_alone(name, body):
    """``body``, a function that returns nothing, compiled once per signature its callers
    pass (``compile_per_signature``): the function returned is inlined into its jitted
    callers as a call to that C function, so that ``body``'s code is optimised and
    emitted once, not again in every library above it. Under ``NUMBA_DISABLE_JIT``,
    ``body`` itself."""
    if numba.config.DISABLE_JIT:
        return body
    params = ", ".join(inspect.signature(body).parameters)
    scope = {"call_": compile_per_signature(name, body)}
    exec(f"def {name}({params}):\n    call_(({params},))\n", scope)
    return numba.njit(inline="always")(scope[name])


def _signature_file(name):
    if _config.KERNEL_CACHE_DIR is None:
        return None
    return _config.KERNEL_CACHE_DIR / "linked" / f"{name}.pickle"


def _keep_signature(found, name, signature):
    """Keep (name, signature) of symbol ``found`` for cached callers in other processes."""
    path = _signature_file(found)
    if path is None or path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}")
        temporary.write_bytes(pickle.dumps((name, signature)))
        os.replace(temporary, path)
    except OSError:  # a read-only cache: its callers are compiled again, as is this
        pass


def _kept_signature(found):
    """Put the kept signature of symbol ``found`` in ``_pending``, if there is one."""
    path = _signature_file(found)
    try:
        name, signature = pickle.loads(path.read_bytes())
    except (OSError, AttributeError, pickle.UnpicklingError, EOFError):
        return
    if name in _bodies:
        _pending[found] = _bodies[name], signature


def _caller(name, given, wanted):
    """Code generator of a call to symbol ``name`` with a tuple of ``given`` types,
    converted to the types of signature ``wanted``."""
    def codegen(context, builder, sig, args):
        values = [_convert(context, builder, builder.extract_value(args[0], i), g, w)
                  for i, (g, w) in enumerate(zip(given, wanted.args))]
        function_type = ir.FunctionType(ir.VoidType(),
                                        [context.get_value_type(w) for w in wanted.args])
        function = cgutils.get_or_insert_function(builder.module, function_type, name)
        builder.call(function, values)
        return context.get_dummy_value()

    return codegen


def _ensure(name):
    """Compile (or load) the C function of symbol ``name`` and register it, if not yet."""
    if name in _pending:
        body, signature = _pending.pop(name)
        compiled = cfunc(signature)(body)
        binding.add_symbol(name, compiled.address)
        _compiled[name] = compiled


def _ensure_named(library):
    """Ensure every symbol that the serialised ``library``'s code names."""
    blobs = [library]
    while blobs:
        item = blobs.pop()
        if isinstance(item, (tuple, list)):
            blobs.extend(item)
        elif isinstance(item, bytes):
            for name in {m.decode() for m in _SYMBOL.findall(item)} - _compiled.keys():
                if name not in _pending:
                    _kept_signature(name)
                _ensure(name)


_SYMBOL = re.compile(rb"fastbp_[A-Za-z0-9_]+")


BEFORE_LOAD.append(_ensure_named)
