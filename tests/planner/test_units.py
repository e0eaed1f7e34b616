"""GPU specs and memory sizes as users write them."""

from __future__ import annotations

import pytest

from xtune.errors import ConfigError
from xtune.planner.units import GiB, GpuSpec, gpus_from_config, parse_gpus, parse_memory


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("2x24GB", GpuSpec(2, 24 * GiB)),
        ("8×80GiB", GpuSpec(8, 80 * GiB)),
        ("80GB", GpuSpec(1, 80 * GiB)),
        ("4 x 40G", GpuSpec(4, 40 * GiB)),
        ("1x512MB", GpuSpec(1, 512 << 20)),
    ],
)
def test_parse_gpus(text, spec):
    assert parse_gpus(text) == spec


@pytest.mark.parametrize("text", ["2x", "x24GB", "2x24XB", "0x24GB", "lots"])
def test_bad_gpu_specs_are_config_errors(text):
    with pytest.raises(ConfigError, match="--gpus"):
        parse_gpus(text)


def test_config_gpus_dict():
    assert gpus_from_config(dict(count=2, memory="24GB")) == GpuSpec(2, 24 * GiB)
    assert gpus_from_config("8x80GB") == GpuSpec(8, 80 * GiB)
    assert parse_memory(24) == 24 * GiB
    with pytest.raises(ConfigError, match="unknown keys: mem"):
        gpus_from_config(dict(count=2, mem="24GB"))
