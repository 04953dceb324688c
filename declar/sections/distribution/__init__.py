"""`distribution`: how to train on several devices, handed to Keras's engines (tf.distribute
strategies on TensorFlow, keras.distribution on JAX): the strategy, a device count, and for
model_parallel the mesh, the layout map and the batch axis.

Its typed part is `Spec.distribution` (`DistributionSpec`); its checks are in `checks`; `build`
makes the strategy or distribution; `declar diff` lists it with the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from declar.sections.changes import diff_settings
from declar.sections.distribution.checks import check_distribution
from declar.sections.section import Section
from declar.spec.model import DistributionSpec


def _from_data(data: Mapping[str, Any]) -> DistributionSpec | None:
    return DistributionSpec.from_data(data.get("distribution"))


SECTION = Section("distribution", ("distribution",), ("distribution",), _from_data, (check_distribution,),
                  diff_settings("distribution"), "training on several devices")
