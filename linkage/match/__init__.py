"""Linking records: blocking (``block``, ``pairgen``, ``minhash``), column codes shared by
blocking and comparison (``encoding``), comparison (``compare``, ``one_record``,
``comparators``), scoring (``score``, ``fit``, ``supervised``, ``labels``), explanations
(``explain``) and measured defaults (``presets``)."""
