"""Figure, table and reproduction scripts, each run as ``python scripts/<name>.py`` (or ``python -m scripts.<name>``).

A package (listed in setup.cfg) so that scripts can share modules as ``from scripts import targets``: the
install makes ``scripts`` and the top-level modules importable, so no script edits the import path.
"""
