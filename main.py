"""App entry: load the environment file(s), build one stack per environment, synthesize.

``python main.py`` (or ``cdktf synth``) synthesizes every ``environments/*.toml``;
``ML_SERVING_ENV=dev`` (comma-separated) narrows it. Bad input ends with one line on stderr
and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys

import constructs_lib  # noqa: F401 - sets the jsii environment before cdktf starts its runtime
from stacks.config import EnvironmentFileError, environment_files, load_environment


def main() -> int:
    try:
        configs = [load_environment(path) for path in environment_files(only=os.environ.get("ML_SERVING_ENV"))]
    except EnvironmentFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from cdktf import App

    from constructs_lib.errors import ConfigurationError
    from stacks.serving_stack import MlServingStack

    app = App()
    for config in configs:
        try:
            MlServingStack(app, config)
        except ConfigurationError as error:
            print(f"error: environments/{config.name}.toml: {error}", file=sys.stderr)
            return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
