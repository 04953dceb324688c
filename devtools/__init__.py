"""Development tools: the generators of declar's committed files, outside the installed package.

``python -m devtools.catalog`` writes the Keras catalog and the layer-argument schema from the
installed Keras; ``python -m devtools.docs`` writes docs/spec-reference.md and the README's
generated tables. Tests import them to check that each committed file is what its generator writes.
"""
