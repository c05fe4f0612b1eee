"""Serial kernels compiled once, as C functions, and called by name from other kernels.

Numba compiles a kernel with the code of all its callees linked in, and optimises and
emits the whole again: the matrix products, large vectorised tiles at the bottom of
every pass, were compiled again for each level of their callers (8-10 times for the
training step). A kernel made with ``compile_once`` is compiled alone, per dtype, as a
C function (``_config.cfunc``, cached on disk like the other kernels) whose address is
registered with LLVM under a fixed symbol as this module's user is imported; its
callers hold only a call to that symbol, resolved when they are compiled or loaded from
the cache.

Arguments cross as C values, described by one letter each: ``a`` an array, passed as
its data pointer and its length (the arrays of one call share a dtype, which picks the
C function); ``i`` an integer, as intp; ``f`` a float, as a double; ``b`` a flag, as an
intp 0 or 1.
"""

from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .._config import cfunc
from .simd import VARIANT

DTYPES = (types.float32, types.float64)
_C_TYPES = {"i": [types.intp], "f": [types.float64], "b": [types.intp]}
_compiled = {}  # symbol -> its C function, kept alive for as long as the process runs


def symbol(name, dtype):
    """The process-wide symbol of kernel ``name`` for ``dtype`` and this process's kernel
    variant: callers compiled for another variant never find it."""
    return f"fastbp_{name}_{VARIANT.name.replace('-', '_')}_{dtype}"


def c_signature(kinds, dtype):
    arguments = []
    for kind in kinds:
        arguments += [types.CPointer(dtype), types.intp] if kind == "a" else _C_TYPES[kind]
    return types.void(*arguments)


def compile_once(name, kinds, entry):
    """Compile ``entry`` (it takes the C arguments of ``kinds``) for each dtype and
    register it; return an intrinsic that calls it with a tuple of Numba values of
    ``kinds``."""
    for dtype in DTYPES:
        compiled = cfunc(c_signature(kinds, dtype))(entry)
        binding.add_symbol(symbol(name, dtype), compiled.address)
        _compiled[symbol(name, dtype)] = compiled

    @intrinsic
    def call(typingctx, arguments):
        """Call the C function of ``name`` with the tuple ``arguments``."""
        if not isinstance(arguments, types.BaseTuple) or len(arguments) != len(kinds):
            return None
        dtypes = {ty.dtype for ty, kind in zip(arguments, kinds) if kind == "a"}
        if len(dtypes) != 1 or not dtypes <= set(DTYPES):
            return None
        (dtype,) = dtypes
        c_sig = c_signature(kinds, dtype)

        def codegen(context, builder, sig, args):
            c_values = []
            for i, (ty, kind) in enumerate(zip(arguments, kinds)):
                value = builder.extract_value(args[0], i)
                if kind == "a":
                    array = context.make_array(ty)(context, builder, value)
                    c_values += [array.data, array.nitems]
                elif kind == "b":
                    c_values.append(builder.zext(context.cast(builder, value, ty, types.boolean),
                                                 context.get_value_type(types.intp)))
                else:
                    c_values.append(context.cast(builder, value, ty, _C_TYPES[kind][0]))
            function_type = ir.FunctionType(ir.VoidType(),
                                            [context.get_value_type(t) for t in c_sig.args])
            function = cgutils.get_or_insert_function(builder.module, function_type,
                                                      symbol(name, dtype))
            builder.call(function, c_values)
            return context.get_dummy_value()

        return types.void(arguments), codegen

    return call
