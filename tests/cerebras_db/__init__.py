"""The Cerebras optimizers' entries of the test database, one module per registry name of the
``"cerebras"`` namespace (``optimizer_specs("cerebras")``; see tests/_db.py).

Each ``ENTRY = CerebrasInputs(...)`` states what ``cerebras.pytorch.optim`` documents for the class
(training-docs.cerebras.ai, the signatures of the 2.x releases: argument names in order and their
defaults, and whether Cerebras builds it with ``enable_global_step=True``), its configurations and
error inputs, and its oracle: ``torch.optim``'s class of the same algorithm built with every
documented default spelled out (:class:`tests._db.TorchOracle`), or, where torch has no such class,
a per-element reference of ``tests/cerebras/_references.py`` (``ElementOracle``). The Cerebras
class is built with only the options of a configuration, so a wrong default shows as a different
trajectory. The configurations use Cerebras' argument names, and within one configuration the
values differ, so that two arguments swapped on the way to the rule cannot go unnoticed.
"""
