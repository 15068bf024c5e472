"""Master data: clusters and stable entity ids (``cluster``, ``entity_ids``), golden records
(``golden``, ``survivorship``), the person-enterprise edge (``legal_rep``) and the
consistency account (``conflicts``, ``quality``); ``groups`` holds the per-entity arithmetic
they share."""
