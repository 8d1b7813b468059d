"""A fork server for the run-state tests: ``python -m tests.engine.kill_harness`` imports torch and the project
once, then runs ``train.main(argv)`` in a forked child per request, so a test can SIGKILL dozens of training
processes without paying for a Python start and a torch import each time.

Requests and answers are JSON lines on standard input and output:

    {"cmd": "run", "argv": [...], "log": "/path", "fault": "replace:3:after"}  ->  {"pid": 123}
    {"cmd": "wait", "pid": 123}  ->  {"code": 0, "signal": null}

A ``fault`` kills the child at a chosen instant, to reach the moments a random kill rarely hits:

* ``<call>:<k>:before`` / ``<call>:<k>:after``: SIGKILL just before or just after the k-th call (counted from
  1 in this child) of ``os.replace``, ``os.link`` or ``os.fsync`` made by engine/checkpoint.py;
* ``write:<k>``: the k-th ``torch.save`` of engine/checkpoint.py writes half its bytes, then SIGKILL;
* ``evaluate:<k>``: SIGKILL at the start of the Trainer's k-th evaluation;
* ``sigint_in_save:<k>``: two SIGINTs arrive during the k-th save (a second Ctrl-C landing inside a save).

The child sets no threads itself: the configs the tests use set ``train.threads: 1`` (forking after torch's
thread pool has started would hang; the server never runs a torch operation).
"""
from __future__ import annotations

import io
import json
import os
import signal
import sys
import traceback


def _kill_now() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class _Counting:
    """Forwards to a module, counting and intercepting some of its functions."""

    def __init__(self, module, hooks: dict):
        self._module, self._hooks = module, hooks

    def __getattr__(self, name):
        if name in self._hooks:
            return self._hooks[name]
        return getattr(self._module, name)


def install_fault(fault: str | None) -> None:
    if not fault:
        return
    from engine import checkpoint, trainer

    kind, k, *rest = fault.split(":")
    k = int(k)
    calls = {"n": 0}

    def nth() -> bool:
        calls["n"] += 1
        return calls["n"] == k

    if kind in ("replace", "link", "fsync"):
        when = rest[0]
        real = getattr(os, kind)

        def hooked(*args, **kwargs):
            hit = nth()
            if hit and when == "before":
                _kill_now()
            result = real(*args, **kwargs)
            if hit and when == "after":
                _kill_now()
            return result

        checkpoint.os = _Counting(os, {kind: hooked})
    elif kind in ("write", "sigint_in_save"):
        import torch

        def save(obj, f, *args, **kwargs):
            if nth():
                if kind == "sigint_in_save":  # two: the first asks for a stop, the second to abort
                    os.kill(os.getpid(), signal.SIGINT)
                    os.kill(os.getpid(), signal.SIGINT)
                else:
                    buf = io.BytesIO()
                    torch.save(obj, buf, *args, **kwargs)
                    f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                    f.flush()
                    _kill_now()
            return torch.save(obj, f, *args, **kwargs)

        checkpoint.torch = _Counting(torch, {"save": save})
    elif kind == "evaluate":
        real_evaluate = trainer.evaluate_model

        def evaluate_model(*args, **kwargs):
            if nth():
                _kill_now()
            return real_evaluate(*args, **kwargs)

        trainer.evaluate_model = evaluate_model
    else:
        raise ValueError(f"unknown fault {fault!r}")


def _child(request: dict) -> None:
    out = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    code = 1
    try:
        install_fault(request.get("fault"))
        import train
        code = train.main(request["argv"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 1)


def main() -> None:
    import torch  # noqa: F401  (imported once, before any fork)
    import torch._dynamo  # noqa: F401  (the first optimizer built imports it: 2 s a child otherwise)

    import train  # noqa: F401
    from engine.config import load_plugins

    load_plugins()
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "run":
            pid = os.fork()
            if pid == 0:
                _child(request)
            answer = {"pid": pid}
        elif request["cmd"] == "wait":
            _, status = os.waitpid(request["pid"], 0)
            answer = {"code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                      "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}
        else:
            answer = {"error": f"unknown cmd {request['cmd']!r}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
