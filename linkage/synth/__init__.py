"""Synthetic multi-department citizen and enterprise data with full ground truth.

``generate(persons=..., enterprises=..., seed=..., out=DIR)`` builds a true population,
each department's snapshot of it (own date, coverage, headers, formats, encodings), the
error model of DOMAIN.md on top, and writes the files, pipeline files and truth tables.
"""

from linkage.synth.config import DEPARTMENTS, SynthConfig
from linkage.synth.generate import Manifest, generate

__all__ = ["DEPARTMENTS", "Manifest", "SynthConfig", "generate"]
