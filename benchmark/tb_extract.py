"""Extract a run's TensorBoard scalars into a small JSON file (for probes whose numbers docs/ quote).

    python benchmark/tb_extract.py runs/Hopper-v5__probeE__101__1795981796 out.json

Writes {"run": name, "scalars": {tag: [[step, value], ...]}} with the run's scalar tags but the per-episode and
per-second ones (charts/episodic_*, charts/SPS, charts/learning_rate), plus the run's summary.json when it has one.
The committed files live under benchmark/probes/.
"""

import argparse
import json
import os

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run directory (runs/<run_name>)")
    p.add_argument("out", help="the JSON file to write")
    a = p.parse_args()
    acc = EventAccumulator(a.run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    skip = ("charts/episodic_return", "charts/episodic_length", "charts/SPS", "charts/learning_rate")
    tags = [t for t in acc.Tags()["scalars"] if t not in skip]
    scalars = {t: [[e.step, round(e.value, 5)] for e in acc.Scalars(t)] for t in tags}
    out = {"run": os.path.basename(os.path.normpath(a.run_dir)), "scalars": scalars}
    summary = os.path.join(a.run_dir, "summary.json")
    if os.path.exists(summary):
        out["summary"] = json.load(open(summary))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f)
