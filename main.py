"""App entry: load the environment file(s), build one stack per environment, synthesize.

``python main.py`` (or ``cdktf synth``) synthesizes every ``environments/*.toml``;
``ML_SERVING_ENV=dev`` (comma-separated) narrows it; ``ML_SERVING_ENVIRONMENTS_DIR`` points
at another folder of environment files. Bad input ends with one line on stderr
and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import constructs_lib  # noqa: F401 - sets the jsii environment before cdktf starts its runtime
from stacks.config import ENVIRONMENTS_DIR, EnvironmentFileError, display_path, environment_files, load_environment


def main() -> int:
    try:
        directory = Path(os.environ.get("ML_SERVING_ENVIRONMENTS_DIR") or ENVIRONMENTS_DIR)
        files = environment_files(directory, only=os.environ.get("ML_SERVING_ENV"))
        configs = [(display_path(path), load_environment(path)) for path in files]
    except EnvironmentFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from cdktf import App
    from jsii.errors import JSIIError

    from constructs_lib.errors import ConfigurationError
    from stacks.serving_stack import MlServingStack

    app = App()
    for source, config in configs:
        try:
            MlServingStack(app, config)
        except ConfigurationError as error:
            print(f"error: {source}: {error}", file=sys.stderr)
            return 2
    try:
        app.synth()
    except JSIIError as error:
        # Cross-resource rules (node.add_validation) fail here; show their message, not a trace.
        message = " ".join(str(error).split())
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
