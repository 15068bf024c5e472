"""Linking records: blocking (``block``, ``pairgen``, ``minhash``), column codes shared by
blocking and comparison (``encoding``), comparison (``compare``, ``comparators``), scoring
(``score``, ``supervised``), explanations (``explain``) and measured defaults (``presets``)."""
