"""An agent process for the chaos and kill -9 tests: `--runs` runs through the real
`TelemetryClient` (events, metrics, every `--fail-every`th run raising inside `track_run`),
configured from the environment like any agent. It journals, each line flushed and fsynced:
`{"started": id}` once `start_run` returned, `{"ending": id}` just before the run ends, and
`{"ended": id, ...expected final fields}` once `end_run` returned.

Usage: python tests/support/agent_load.py --agent NAME --runs N --journal PATH
           [--pace-s SECONDS] [--fail-every K]"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from telemetry import TelemetryClient, TelemetryConfig


class AgentFailure(RuntimeError):
    """The failure a failing run raises inside `track_run`."""


def journal(handle: IO[str], line: dict[str, Any]) -> None:
    handle.write(json.dumps(line) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def expected(run_id: str, number: int, failing: bool) -> dict[str, Any]:
    """The fields run `number` ends with, as the agent sets them."""
    return {
        "run_id": run_id,
        "status": "failure" if failing else "success",
        "items_discovered": number % 17 + 3,
        "items_succeeded": number % 17,
        "items_failed": 3,
        "metrics_json": {"seq": number, "tokens": number * 7},
    }


def one_run(client: TelemetryClient, agent: str, number: int, failing: bool, pace_s: float, out: IO[str]) -> None:
    run_id = f"{agent}-{number:05d}"
    state = expected(run_id, number, failing)
    try:
        with client.track_run(agent, "chaos", run_id=run_id, product="chaos-test") as ctx:
            journal(out, {"started": ctx.run_id})
            ctx.log_event("step", {"n": number, "phase": "begin"})
            time.sleep(pace_s)  # the work: the run is open meanwhile
            ctx.set_metrics(
                items_discovered=state["items_discovered"],
                items_succeeded=state["items_succeeded"],
                items_failed=state["items_failed"],
                tokens=state["metrics_json"]["tokens"],
                metrics_json={"seq": number},
            )
            ctx.log_event("step", {"n": number, "phase": "end"})
            journal(out, {"ending": ctx.run_id})
            if failing:
                raise AgentFailure(f"boom {number}")
    except AgentFailure:
        pass
    journal(out, {"ended": run_id, **state})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", required=True)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--pace-s", type=float, default=0.0)
    parser.add_argument("--fail-every", type=int, default=5)
    args = parser.parse_args()
    client = TelemetryClient(TelemetryConfig.from_env())
    with open(args.journal, "a", encoding="utf-8") as out:
        for number in range(args.runs):
            one_run(client, args.agent, number, number % args.fail_every == 0, args.pace_s, out)
    client.close()
    print(json.dumps(client.self_metrics()), file=sys.stdout)


if __name__ == "__main__":
    main()
