"""The media events' schemas agree with the rules they carry."""

from __future__ import annotations

import json
from importlib.resources import files

from app.media.rules import DISCARD_REASONS


def test_discard_reasons_are_the_schemas_enum():
    schema = json.loads(
        files("app.events").joinpath("schemas/media.discarded.v1.json").read_text("utf-8")
    )
    assert tuple(schema["properties"]["reason"]["enum"]) == DISCARD_REASONS
