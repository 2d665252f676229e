"""What candidate code may use at the language level: the policy the static screen
(screen.py) checks on the AST and the worker enforces at run time.

Imports only from ALLOWED_MODULES, and those as read-only views (SafeModule) hiding
DENIED_ATTRIBUTES, private names and modules outside the list; builtins only from
SAFE_BUILTINS. This is a first filter with reasons an LLM can act on; the boundary is the
OS layer (isolation.py). Standard library only: the worker imports it before torch.
"""
from __future__ import annotations

import builtins
import sys
import types

__all__ = ["ALLOWED_MODULES", "CANDIDATE_FILE", "DENIED_ATTRIBUTES", "SAFE_BUILTINS",
           "SafeModule", "attribute_allowed", "safe_builtins"]

ALLOWED_MODULES = frozenset({
    "math", "numpy", "numpy.linalg", "numpy.fft", "numpy.random",
    "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.linalg", "torch.fft",
    "torch.special", "torch.autograd"})
# Attribute names refused on any object: file I/O, pickles, code loading, process and
# thread control, modules that torch and numpy re-export (torch.os, torch.sys ...), and
# the introspection that leads from an object back to the interpreter.
DENIED_ATTRIBUTES = frozenset({
    "load", "save", "from_file", "hub", "ops", "library", "jit", "compile", "compiler",
    "utils", "classes", "multiprocessing", "distributed", "backends", "serialization",
    "package", "fx", "onnx", "export", "profiler", "testing", "overrides", "cuda", "mps",
    "xpu", "mtia", "cpp", "storage", "untyped_storage", "share_memory_", "set_",
    "set_default_tensor_type", "type", "set_num_threads", "set_num_interop_threads",
    "fromfile", "tofile", "memmap", "ctypeslib", "lib", "loadtxt", "savetxt", "genfromtxt",
    "fromregex", "savez", "savez_compressed", "DataSource", "dump", "dumps", "f2py",
    "distutils", "ctypes", "os", "sys", "subprocess", "builtins", "importlib", "shutil",
    "socket", "pickle", "io", "pathlib", "tempfile", "inspect", "signal", "threading",
    "platform", "glob", "types", "functools", "warnings", "mro", "format", "format_map",
    "CompilationUnit", "LiteScriptModule", "ScriptModule", "ScriptFunction", "ScriptMethod",
    "ScriptClass", "ScriptObject", "ScriptModuleSerializer", "PyTorchFileReader",
    "PyTorchFileWriter", "SerializationStorageContext", "DeserializationStorageContext",
    "import_ir_module", "import_ir_module_from_buffer", "parse_ir", "FileCheck",
    "get_file_path", "prepare_multiprocessing_environment", "fork", "wait"})
DENIED_PREFIXES = ("_", "gi_", "cr_", "ag_", "f_", "tb_", "co_")
SAFE_BUILTINS = (
    "abs", "all", "any", "bool", "callable", "chr", "complex", "dict", "divmod", "enumerate",
    "filter", "float", "frozenset", "int", "isinstance", "issubclass", "iter", "len", "list",
    "map", "max", "min", "next", "ord", "pow", "print", "range", "repr", "reversed", "round",
    "set", "slice", "sorted", "str", "sum", "tuple", "zip", "ArithmeticError",
    "AssertionError", "AttributeError", "Exception", "FloatingPointError", "IndexError",
    "KeyError", "LookupError", "NameError", "NotImplementedError", "OverflowError",
    "RuntimeError", "StopIteration", "TypeError", "ValueError", "ZeroDivisionError")
CANDIDATE_FILE = "<candidate>"


def attribute_allowed(name: str) -> bool:
    """Whether candidate code may read attribute `name` (of anything)."""
    return not name.startswith(DENIED_PREFIXES) and name not in DENIED_ATTRIBUTES


class SafeModule:
    """An allow-listed module as candidate code sees it: read-only, with denied names,
    private names and modules outside ALLOWED_MODULES hidden (torch.os, numpy.lib ...)."""

    __slots__ = ("_module",)

    def __init__(self, module: types.ModuleType):
        object.__setattr__(self, "_module", module)

    def __getattr__(self, name: str):
        module = object.__getattribute__(self, "_module")
        # No __name__ either: IMPORT_FROM would use it to fetch hidden modules from sys.modules.
        if not attribute_allowed(name):
            raise AttributeError(f"{module.__name__}.{name} is not available to a proxy")
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):
            if value.__name__ not in ALLOWED_MODULES:
                raise AttributeError(f"module {value.__name__} is not available to a proxy")
            return SafeModule(value)
        return value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("modules are read-only in a proxy")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("modules are read-only in a proxy")

    def __repr__(self) -> str:
        return f"<module {object.__getattribute__(self, '_module').__name__!r}>"


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if type(fromlist) is list and not fromlist and level == 0 and \
            name.startswith(("numpy.", "torch.")):
        # C code of numpy/torch importing its own internals (PyImport_Import passes an empty
        # list, which no import statement can): it gets the real module, the candidate not.
        return builtins.__import__(name, globals, locals, fromlist, level)
    if level != 0 or name not in ALLOWED_MODULES:
        raise ImportError(f"import of {name!r} is not allowed; a proxy may import only "
                          "math, numpy and torch")
    module = SafeModule(sys.modules[name if fromlist else name.partition(".")[0]])
    for item in fromlist or ():
        try:  # here, not in IMPORT_FROM, whose message would hide the reason
            getattr(module, item)
        except AttributeError as error:
            raise ImportError(f"cannot import {item!r} from {name}: {error}") from None
    return module


def safe_builtins() -> dict:
    """The builtins candidate code runs with: pure functions, no I/O or introspection."""
    table = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    table["__import__"] = _guarded_import
    return table
