"""Running an entry point's ``main`` in the test process, as a shell would see it."""
from __future__ import annotations


def call_main(main, argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``main(argv)``; a SystemExit (argparse, user errors) gives its code."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err
