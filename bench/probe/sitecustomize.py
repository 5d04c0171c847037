"""The bench's probe of floe-lineage's work inside ``dg launch`` (on ``PYTHONPATH`` only in the
measured runs; a no-op unless ``BENCH_PROBE_DIR`` is set).

Python imports ``sitecustomize`` at start-up in every process of a run: the ``dg`` process (which
runs the dbt step itself with the in-process executor), dbt. Nothing is imported here: a hook
waits for ``floe_lineage.invocation`` (and ``floe_lineage.delivery.emitter``) to be imported by
the process that runs the dbt step, then wraps ``InvocationLineage.start``/``observe``/
``add_facts``/``finish`` and ``LineageEmitter.close`` to add up the wall-clock seconds spent
inside them and the CPU seconds of the process (all its threads, and its waited-for children)
meanwhile. After every
``close`` (the end of a dbt step's lineage) it writes ``BENCH_PROBE_DIR/probe-<pid>.json``.
With ``BENCH_RECORD_EVENTS`` set, the raw dbt events ``observe`` receives are also written there,
one JSON line each as they come (outside the timed part), for ``profile_replay.py``.

Every Python process of the run also writes its own CPU seconds (user and system, its threads,
not its children) at exit, to ``BENCH_PROBE_DIR/cpu-<pid>.json`` with its command's name: the
``dg`` process and the dbt process (``dbt`` or ``floe-lineage-dbt``) apart.
"""

from __future__ import annotations

import os
import sys

_DIR = os.environ.get("BENCH_PROBE_DIR")


def _install() -> None:
    import functools
    import importlib.abc
    import importlib.util
    import json
    import resource
    import time

    phases = ("start", "observe", "add_facts", "finish", "close")
    spent = {"seconds": dict.fromkeys(phases, 0.0), "cpu_seconds": dict.fromkeys(phases, 0.0)}
    spent["calls"] = dict.fromkeys(phases, 0)
    record_path = os.environ.get("BENCH_RECORD_EVENTS")
    recording: list = []
    inside: list = []

    def cpu() -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    def dump() -> None:
        path = os.path.join(_DIR, f"probe-{os.getpid()}.json")
        with open(path, "w", encoding="utf-8") as out:
            json.dump(spent, out)

    def wrap(name: str, method):  # type: ignore[no-untyped-def]
        @functools.wraps(method)
        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            if name == "observe" and record_path:
                if not recording:
                    recording.append(open(record_path, "w", encoding="utf-8"))  # noqa: SIM115
                recording[0].write(json.dumps(args[1], default=str) + "\n")
            if inside:  # called by another timed method (finish() calls add_facts()): counted
                return method(*args, **kwargs)
            inside.append(name)
            started, cpu_started = time.perf_counter(), cpu()
            try:
                return method(*args, **kwargs)
            finally:
                inside.pop()
                spent["seconds"][name] += time.perf_counter() - started
                spent["cpu_seconds"][name] += cpu() - cpu_started
                spent["calls"][name] += 1
                if name == "close":
                    if recording:
                        recording[0].flush()
                    dump()

        return timed

    targets = {
        "floe_lineage.invocation": (
            "InvocationLineage",
            ("start", "observe", "add_facts", "finish"),
        ),
        "floe_lineage.delivery.emitter": ("LineageEmitter", ("close",)),
    }

    class Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
            if name not in targets:
                return None
            sys.meta_path.remove(self)  # find the module's own spec, without this hook
            spec = importlib.util.find_spec(name)
            class_name, methods = targets.pop(name)
            if targets:
                sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return spec
            exec_module = spec.loader.exec_module

            def exec_and_wrap(module):  # type: ignore[no-untyped-def]
                exec_module(module)
                cls = getattr(module, class_name)
                for method in methods:
                    setattr(cls, method, wrap(method, getattr(cls, method)))

            spec.loader.exec_module = exec_and_wrap  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, Hook())


def _record_cpu_at_exit() -> None:
    import atexit

    def write() -> None:
        import json
        import resource

        used = resource.getrusage(resource.RUSAGE_SELF)
        command = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
        path = os.path.join(_DIR, f"cpu-{os.getpid()}.json")
        with open(path, "w", encoding="utf-8") as out:
            json.dump({"command": command, "user": used.ru_utime, "system": used.ru_stime}, out)

    atexit.register(write)


if _DIR:
    _install()
    _record_cpu_at_exit()
