"""Python identifiers for the names of a spec: every name the ejected module binds comes from here.

A spec's names (nodes, parameters, variables, let names, types, blocks) are any text the schema
allows; in the module they become identifiers made of ASCII letters, digits and underscores only,
never a keyword, a builtin, or a name the module itself binds (``keras``, ``SEED``...). The original
name stays what it was in the model: layer and weight names are written as string literals.

Example:
    >>> names = Names()
    >>> names.bind("dense"), names.bind("dense"), names.bind("1st layer"), names.bind("class")
    ('dense', 'dense_2', 'n_1st_layer', 'class_')
"""

from __future__ import annotations

import builtins
import keyword
import re

# What the module binds at its top level (imports, constants, helpers).
GLOBALS = frozenset({"keras", "np", "json", "os", "math", "random", "hashlib", "SEED", "PACKAGE", "build_model",
                     "ConstantTensor", "set_keras_mask", "Operation"})
# What build_model and the block functions bind themselves.
FUNCTION_LOCALS = frozenset({"name", "scope", "incoming", "model", "state", "i"})
# What a custom layer's methods bind (its call's let names get other names).
METHOD_LOCALS = frozenset({"self", "inputs", "outputs", "mask", "training", "input_shape", "output_shape",
                           "config", "store", "dir_path", "args", "kwargs", "masks", "tensor", "out_mask",
                           "previous_mask", "given", "path", "value", "f", "manifest", "key", "variable"})
RESERVED = GLOBALS | FUNCTION_LOCALS | METHOD_LOCALS
_NOT_WORD = re.compile(r"[^0-9A-Za-z_]")


def identifier(name: str) -> str:
    """``name`` as a Python identifier (ASCII word characters, not a keyword or builtin).

    Example:
        >>> identifier("enc/out-1"), identifier("None"), identifier("")
        ('enc_out_1', 'None_', 'n_')
    """
    text = _NOT_WORD.sub("_", name)
    if not text or text[0].isdigit():
        text = f"n_{text}"
    if keyword.iskeyword(text) or keyword.issoftkeyword(text) or hasattr(builtins, text) or text.startswith("__"):
        text = f"{text}_"
    return text


def class_name(name: str) -> str:
    """A type or block name as a class or function identifier (the same rule as `identifier`)."""
    return identifier(name)


class Names:
    """Identifiers unique within one scope of the module, each made from a spec name."""

    def __init__(self, taken: frozenset[str] | set[str] = RESERVED):
        self.taken = set(taken)

    def bind(self, name: str) -> str:
        """A fresh identifier for ``name``: `identifier`, suffixed ``_2``, ``_3``... when taken."""
        base = identifier(name)
        found, n = base, 1
        while found in self.taken:
            n += 1
            found = f"{base}_{n}"
        self.taken.add(found)
        return found
