"""App entry: load the environment file(s), build one stack per environment, synthesize.

``python main.py`` (or ``cdktf synth``) synthesizes every ``environments/*.toml`` into
``$CDKTF_OUTDIR`` (default ``cdktf.out``); ``ML_SERVING_ENV=dev`` (comma-separated) narrows
it (the other environments' stacks in the output are kept); ``ML_SERVING_ENVIRONMENTS_DIR``
points at another folder of environment files. It prints what it wrote. Bad input
ends with one line on stderr and exit code 2, never a traceback, and leaves the previous
output untouched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import constructs_lib  # noqa: F401 - sets the jsii environment before cdktf starts its runtime
from constructs_lib import _node_runtime


def main() -> int:
    # First, so that Node boots and loads cdktf while Python imports pydantic and validates the
    # environment files (the imports below are here, not at the top, to come after it).
    _node_runtime.prestart()
    from stacks.config import ENVIRONMENTS_DIR, EnvironmentFileError, display_path, environment_files, load_environment

    try:
        directory = Path(os.environ.get("ML_SERVING_ENVIRONMENTS_DIR") or ENVIRONMENTS_DIR)
        only = os.environ.get("ML_SERVING_ENV")
        files = environment_files(directory, only=only)
        configs = {display_path(path): load_environment(path) for path in files}
    except EnvironmentFileError as error:
        return _fail(str(error))

    from jsii.errors import JSIIError

    from stacks.synth import synthesize

    try:
        report = synthesize(configs, only=[config.name for config in configs.values()] if only else None)
    except EnvironmentFileError as error:
        return _fail(str(error))
    except JSIIError as error:
        # Cross-resource rules (node.add_validation) fail at synth: their message, not a trace.
        return _fail(" ".join(str(error).split()))
    print("\n".join(report.lines()))
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def exit_without_teardown(code: int):  # noqa: ANN201 - never returns
    """End the process with ``code`` once the output is written, skipping interpreter teardown.

    Tearing down the ~0.5 M live objects of a synth (jsii proxies, binding modules, pydantic
    models) takes ~1 s (~3 s with the naive import) and nothing needs it. What is needed still
    runs: the atexit handlers (jsii stops its Node process and waits for it, so none is left
    behind; the lazy loader waits for jsii's runtime index), then stdout and stderr are flushed
    (a failed stdout flush exits 120, as Python does) and ``os._exit`` keeps the exit code.
    """
    import atexit
    import gc
    import threading

    gc.freeze()  # no collection passes over the synth's objects during the handlers
    for thread in threading.enumerate():  # what Python's shutdown waits for first
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe
            if stream is sys.stdout and code == 0:
                code = 120
    os._exit(code)


if __name__ == "__main__":
    exit_without_teardown(main())
