"""aidock benchmark suites: ``python -m bench`` (``make bench``) writes ``bench/results/``.

Each suite (``bench.__main__.SUITES``) is a list of named parts; a run writes
``results/<suite>.json`` (raw samples and summaries) and ``results/<suite>.md`` and refreshes
the index ``results/README.md``.
"""
