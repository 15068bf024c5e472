"""Executors that feed the stage kernels partitions of data: the embedded local engine
(one machine, out of core) and Apache Spark (a cluster). A stage's logic lives in its
kernel (a pure function over Arrow tables, in the stage rooms); an engine only decides
which rows a kernel sees together, so every engine gives the same results."""
