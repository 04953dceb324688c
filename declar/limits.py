"""Explicit resource limits against hostile or runaway specs.

Limits are a frozen value passed per call, never module globals, so a caller with a large model
raises exactly the limit it needs:

Example:
    >>> from declar.limits import Limits
    >>> Limits().max_layers
    10000
    >>> Limits(max_layers=50_000).max_layers
    50000
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds checked before any work whose cost they control."""

    max_file_bytes: int = 2_000_000
    """A spec file larger than this is refused before parsing (a spec is hand-written text)."""
    max_yaml_nodes: int = 200_000
    """Nodes after alias expansion; stops "billion laughs" alias bombs."""
    max_yaml_depth: int = 64
    """Nesting depth of the YAML document; stops recursion exhaustion."""
    max_layers: int = 10_000
    """Layers in one model."""
    max_extends_depth: int = 32
    """Custom layer types in one ``extends`` chain: each is a layer nested in the next at build
    (Keras recurses through them), and validation merges their parameters along the chain."""
    max_expression_chars: int = 2_000
    """Length of one expression."""
    max_expression_depth: int = 32
    """Nesting depth of one expression's tree; stops parser and evaluator recursion attacks."""
    max_variable_elements: int = 500_000_000
    """Elements of one variable of any layer, of one input per example, or of one tensor an expression
    makes per example (500M float32 = 2 GB)."""
    max_model_elements: int = 1_000_000_000
    """Elements of all the variables of one model together (1G float32 = 4 GB), checked before each
    variable is allocated."""
    max_power_bits: int = 4_096
    """Constant folding refuses ``a ** b`` whose result would exceed this many bits."""
    max_asset_bytes: int = 256_000_000
    """One asset: its file at build, its archive member at load, and its text after transforms; and all
    the asset members of one archive together, checked from the zip directory before any is read."""
    max_json_asset_bytes: int = 16_000_000
    """One JSON asset (and an array asset given as a JSON file), whose text is parsed into Python
    objects 10-20 times its size: its file at build, its archive member at load; and all the JSON
    members of one archive's assets together (16 MB of JSON is at most about 350 MB of objects)."""
    max_archive_config_bytes: int = 64_000_000
    """The config.json and metadata.json members of an archive, checked from the zip directory
    before they are read."""
    max_data_bytes: int = 8_000_000_000
    """The arrays of one data file given to `declar fit`, expanded, checked before they are read; the
    size of a CSV or TFRecord file, and of the files of a data directory together, before reading;
    and the arrays a CSV's text becomes, as its rows are read. Stops a data file or directory larger
    than memory, and a small compressed file that expands past it."""
    max_data_rows: int = 10_000_000
    """Rows (examples) of one CSV or TFRecord file, counted as they are read. Stops a file of millions
    of tiny rows, each of which costs Python objects far larger than its text."""
    max_csv_columns: int = 10_000
    """Columns of a CSV file's header, checked before any row is read. Stops a header of a million
    columns (every row is then parsed into a million fields)."""
    max_csv_row_bytes: int = 1_000_000
    """Characters of one CSV record (a quoted field may span lines), checked while it is read, before
    it is parsed. Stops an enormous field or a file with no line ends, which would be read whole
    into memory. (Python's csv module also caps one field at 131,072 characters.)"""
    max_data_files: int = 1_000_000
    """Entries (files and subdirectories) of a data directory, counted while it is listed, before any
    file is read. Stops a directory of millions of files, whose listing alone exhausts memory."""
    max_image_bytes: int = 64_000_000
    """One image file of a data directory, checked from its size before it is read."""
    max_image_pixels: int = 89_478_485
    """Pixels of one image (width times height, times the frames of a GIF, all of which TensorFlow
    decodes), read from its header before Keras decodes it. Stops an image bomb: a small PNG that
    declares 100,000 x 100,000 pixels decodes to 30 GB. The default is Pillow's bomb limit."""
    max_tfrecord_record_bytes: int = 64_000_000
    """One record of a TFRecord file, read from its length header before TensorFlow reads it. Stops a
    record header that declares a huge length, which TensorFlow would try to allocate."""
    max_adapt_rows: int = 10_000_000
    """Examples `declar adapt` (and `declar fit` from a spec) hands to the `adapt()` of one layer."""
    max_vocabulary_tokens: int = 1_000_000
    """Tokens of one vocabulary: adapted (set `max_tokens` to bound it) or read from a spec's file."""


    def asset_limit(self, json_text: bool) -> tuple[int, str]:
        """The bound on one asset's bytes, and its name for the refusal: JSON text becomes Python
        objects 10-20 times its size, so it is held to the tighter of the two asset limits.

        Example:
            >>> Limits().asset_limit(json_text=True)
            (16000000, 'max_json_asset_bytes')
        """
        if json_text and self.max_json_asset_bytes < self.max_asset_bytes:
            return self.max_json_asset_bytes, "max_json_asset_bytes"
        return self.max_asset_bytes, "max_asset_bytes"


DEFAULT_LIMITS = Limits()

# The limits of the build or load in progress: Keras builds layers deep inside its own calls, where
# no argument of ours can reach; declar.build and declar.load set this around them.
current_limits: contextvars.ContextVar[Limits] = contextvars.ContextVar("declar_limits", default=DEFAULT_LIMITS)
