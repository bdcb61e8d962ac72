"""How commands speak: human lines on stderr/stdout, or one JSON object on stdout with --json."""

from __future__ import annotations

import json
import sys
from typing import Any


class Output:
    def __init__(self, as_json: bool):
        self.as_json = as_json

    def say(self, text: str) -> None:
        """Progress and explanations: stderr in JSON mode so stdout stays one object."""
        print(text, file=sys.stderr if self.as_json else sys.stdout, flush=True)

    def error(self, text: str) -> None:
        print(f"error: {text}", file=sys.stderr, flush=True)

    def line(self, text: str) -> None:
        """Text that is the result itself whatever the mode (already JSON, or lines for a shell's eval)."""
        print(text, flush=True)

    def result(self, data: dict[str, Any], human: str | None = None) -> None:
        if self.as_json:
            print(json.dumps(data, sort_keys=True), flush=True)
        elif human:
            print(human, flush=True)
