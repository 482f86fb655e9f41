"""godel: self-improving code in the style of the Darwin Gödel Machine, with a sandbox and a constitution.

The root package holds nothing but the version, so importing any part of godel (``godel.candidate``, say) costs
only that part. The public API lives in the subpackages, each re-exporting its contracts from its ``__init__``:
:mod:`godel.task` (``load_task``), :mod:`godel.archive` (``open_archive``), :mod:`godel.parts` (``build_parts``),
:mod:`godel.engine` (``Engine``, ``Worker``, ``Pipeline``), :mod:`godel.errors` (``GodelError`` and its family);
``docs/architecture.md`` draws how they depend on each other.
"""

__version__ = "0.1.0"
