"""What a run asks of the machine it runs on: threads for independent fields
(:mod:`~linkage.runtime.threads`) and memory given back between steps
(:mod:`~linkage.runtime.memory`)."""
