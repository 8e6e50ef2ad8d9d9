"""One step of an adoption in its own process (its own embedded engine), for the SIGKILL test.

``python adopt_process.py DIR seed|run`` with the engine at DIR/data:

* ``seed`` creates Opik's original layout in database ``opik`` with rows and writes the rows it expects
  (newest live version per id) to DIR/expected.json;
* ``run`` runs (or resumes) the adoption with small, paced windows, printing one line per window, then
  verifies, and writes what traces and spans hold to DIR/actual.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from adopt_fixtures import Writer, create_layout, read_back

from opik_store.migrations.relayout import Limits, Totals, Window
from opik_store.store import Store


def main() -> None:
    folder, step = Path(sys.argv[1]), sys.argv[2]
    with Store.from_url(f"chdb://{folder / 'data'}", database="opik") as store:
        if step == "seed":
            writer = Writer(store.adapter, "opik", "original", seed=5)
            create_layout(store.adapter, "opik", "original")
            writer.seed_rows(400)
            expected = {f"{t}/{i}": v["name"] for (t, i), v in writer.expected.items() if v is not None}
            (folder / "expected.json").write_text(json.dumps(expected))
            return

        def tick(window: Window, totals: Totals) -> None:
            print(f"window {window.index} {totals.rows_done}", flush=True)

        adoption = store.adoption(Limits(window_rows=60, max_rows_per_second=400), after_window=tick)
        adoption.run()
        bad = [c for cs in adoption.verify().values() for c in cs if not c.ok]
        actual = {
            f"{t}/{i}": r["name"] for t in ("traces", "spans") for i, r in read_back(store.adapter, "opik", t).items()
        }
        (folder / "actual.json").write_text(json.dumps({"rows": actual, "bad": len(bad)}))


if __name__ == "__main__":
    main()
