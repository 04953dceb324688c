"""The header: the format version (`declar`), the model's `name`, a `description`, the `seed` of
every initializer and the `dtype_policy` of every layer that sets none.

Its typed part is `Spec.header` (`HeaderSpec`); the schema says everything about it, so it has
no semantic checks; `declar diff` lists its changes as settings.
"""

from __future__ import annotations

from declar.sections.changes import diff_settings
from declar.sections.section import Section
from declar.spec.model import HeaderSpec

KEYS = ("declar", "name", "description", "seed", "dtype_policy")

SECTION = Section("header", KEYS, ("header",), HeaderSpec.from_data, (), diff_settings(*KEYS),
                  "format version, model name, description, seed and dtype policy")
