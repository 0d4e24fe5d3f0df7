"""The scenarios of release_notes.feature, run with the tisslang pytest
plugin's ready steps: no step code is needed (see docs/bdd.md)."""

from pathlib import Path

from pytest_bdd import scenarios

scenarios("release_notes.feature", features_base_dir=Path(__file__).parent)
