"""``nms-monitor schemas``: JSON Schema files generated from the contract models."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from monitor.contracts.alerts import Alert
from monitor.contracts.events import EVENT_ADAPTER


def generate() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every published contract."""
    event = EVENT_ADAPTER.json_schema()
    event["title"] = "nms-monitor input event"
    event["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    alert = TypeAdapter(Alert).json_schema()
    alert["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return {"event.schema.json": event, "alert.schema.json": alert}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def run_schemas(out: str, check: bool) -> int:
    directory = Path(out)
    stale = []
    for name, schema in generate().items():
        path = directory / name
        text = render(schema)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    if stale:
        print("out of date (run 'nms-monitor schemas'): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0
