"""``gatedgcn data fetch`` against a link planted at its partial file: refused, nothing written through it."""

from __future__ import annotations

import pytest
from harness import refused

from gatedgcn.data.catalog import entry


@pytest.mark.parametrize("target", ["victim", "new-file"])
def test_fetch_refuses_to_write_through_a_link_at_its_partial_file(box, target):
    first = entry("MUTAG").files[0]
    part = box.data / first.path
    part = part.with_name(f".{part.name}.part")
    part.parent.mkdir(parents=True)
    if target == "victim":
        (box.root / "outside" / "sentinel").write_text("nobody writes here")
    part.symlink_to(box.root / "outside" / ("sentinel" if target == "victim" else "new-file"))
    mirror = (box.root / "mirror").as_uri()
    refused(box, ["data", "fetch", "MUTAG", "--data-dir", box.data, "--base-url", mirror], part.name, "refusing")
    assert not (box.root / "outside" / "new-file").exists()
