"""Obfuscation and dynamic code: ``exec``/``eval`` of built or decoded strings, computed imports and attributes.

:data:`DECODERS` and :func:`contains_call` are shared with the file checks, which flag paths decoded at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from godel.guard._source import dotted
from godel.guard.rules._base import Context, Finding, Params, check, is_str_literal, match

__all__ = ["DECODERS", "DynamicParams", "contains_call", "dynamic_code"]

DECODERS = (
    "base64.*",
    "codecs.decode",
    "codecs.encode",
    "binascii.*",
    "zlib.decompress",
    "bz2.decompress",
    "lzma.decompress",
    "gzip.decompress",
    "marshal.loads",
    "pickle.loads",
    "bytes.fromhex",
    "bytearray.fromhex",
    "chr",
)


class DynamicParams(Params):
    exec_functions: tuple[str, ...] = ("exec", "eval", "compile", "builtins.exec", "builtins.eval")
    decoders: tuple[str, ...] = DECODERS


def contains_call(node: ast.AST, aliases: dict[str, str], patterns: Iterable[str]) -> str | None:
    """The first call under ``node`` to one of ``patterns`` (or to ``.decode``/``.fromhex``/``.join``)."""
    pats = tuple(patterns)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            name = dotted(sub.func, aliases)
            if match(name, pats):
                return name
            if isinstance(sub.func, ast.Attribute) and sub.func.attr in ("decode", "fromhex", "join"):
                return "." + sub.func.attr
    return None


@check("dynamic_code", DynamicParams, "exec/eval of built or decoded strings, __import__, dynamic getattr")
def dynamic_code(ctx: Context, p: DynamicParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        imported = set(src.aliases)
        for call, name in src.calls:
            line = call.lineno
            if match(name, p.exec_functions):
                if not call.args or not is_str_literal(call.args[0]):
                    dec = call.args and contains_call(call.args[0], src.aliases, p.decoders)
                    how = f"decoded with {dec}" if dec else "built at run time"
                    out.append(Finding("dynamic_code", f"{name}() of code {how}", path, line))
            elif name in ("__import__", "builtins.__import__", "importlib.import_module"):
                out.append(Finding("dynamic_code", f"{name}() imports a module by computed name", path, line))
            elif name in ("getattr", "setattr", "delattr", "hasattr") and len(call.args) >= 2:
                target, attr = call.args[0], call.args[1]
                on_module = (
                    isinstance(target, ast.Name)
                    and (target.id in imported or target.id in ("__builtins__", "builtins"))
                ) or isinstance(target, ast.Call)
                if on_module and not is_str_literal(attr):
                    out.append(
                        Finding(
                            "dynamic_code", f"{name}() on a module with a computed attribute name", path, line
                        )
                    )
                elif (
                    isinstance(attr, ast.Constant)
                    and isinstance(attr.value, str)
                    and attr.value.startswith("__")
                ):
                    out.append(Finding("dynamic_code", f"{name}() of dunder {attr.value}", path, line))
    return out
