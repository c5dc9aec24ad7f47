"""Peak memory of `sepflow enhance` on long recordings: 48 kHz stereo files of 5, 30 and 180
minutes through a 16 kHz mono speech model, before (the whole file read, resampled,
separated, resampled back and written at once: the path `sepflow enhance` took until it
streamed) and after (`sepflow enhance` as it is: blocks through soxr's streaming
resampler, the model's overlap-add windows and block writes).

    python benchmarks/enhance_memory.py [--minutes 5 30 180] [--before-up-to 30] [--folder DIR]

Each case runs in a fresh process that reports its own peak resident set size
(getrusage RUSAGE_SELF, so imports and the model count too) and wall time. The input is
white noise written as PCM_16 WAV block by block (2 GB for 180 minutes); the model is an
untrained tcm_unet (what is measured is memory, not quality) at the CLI's defaults: 30 s
windows, 1 s cross-fades, one thread. "before" above --before-up-to minutes is not run
(beyond the ~0.7 GB that the imports take, it needed about 7 bytes of memory per input byte:
3.2 GB for 30 minutes, some 15 GB for 180), and shows NaN with the reason. Measured on a
shared 2-core VM (load 3-6): 5 / 30 / 180 minutes took 915 / 3202 / not run MB before and
715 / 772 / 720 MB after.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tabulate import tabulate

from sepflow.models import build_model
from sepflow.models.checkpoint import atomic_save, model_checkpoint

RATE, CHANNELS = 48000, 2
GOAL_MB = 1000

BEFORE = """
import numpy as np, torch
from sepflow.audio import read_audio, resample, write_audio
from sepflow.infer.offline import separate
from sepflow.models.checkpoint import load_model
torch.set_num_threads(1)
model, ckpt = load_model(MODEL)
rate = ckpt["sample_rate"]
audio, sr = read_audio(INPUT)
estimate = separate(model, resample(audio, sr, rate), 1, 1, 30 * rate, rate)[0]
back = resample(estimate, rate, sr)
n = audio.shape[-1]
back = back[..., :n] if back.shape[-1] >= n else np.pad(back, ((0, 0), (0, n - back.shape[-1])))
write_audio(OUTPUT, back, sr)
"""

AFTER = """
import torch
from sepflow.cli import main
torch.set_num_threads(1)
assert main(["enhance", MODEL, INPUT, OUTPUT, "--quiet", "--device", "cpu", "--overwrite"]) == 0
"""

REPORT = """
import json, resource, time
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": time.monotonic() - STARTED}))
"""


def write_noise(path: Path, minutes: float) -> Path:
    """White noise at 48 kHz stereo, PCM_16, written a minute at a time."""
    rng = np.random.default_rng(0)
    frames = round(minutes * 60 * RATE)
    with sf.SoundFile(path, "w", RATE, CHANNELS, "PCM_16") as f:
        for start in range(0, frames, 60 * RATE):
            n = min(60 * RATE, frames - start)
            f.write((0.1 * rng.standard_normal((n, CHANNELS))).astype(np.float32))
    return path


def run_case(code: str, model: Path, source: Path, output: Path) -> dict:
    """One case in a fresh process: its own peak RSS and wall time."""
    header = f"import time\nSTARTED = time.monotonic()\nMODEL, INPUT, OUTPUT = {str(model)!r}, {str(source)!r}, {str(output)!r}\n"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", header + code + REPORT], capture_output=True, text=True, env=env)
    if done.returncode:
        return {"peak_mb": math.nan, "seconds": math.nan, "why": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 30, 180])
    parser.add_argument("--before-up-to", type=float, default=30, help="run the whole-file path up to this length")
    parser.add_argument("--folder", type=Path, help="where the long files go (default: a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        tmp = Path(tmp)

        class Speech:
            sample_rate, task, sources, channels = 16000, "speech", ("speech",), 1

        torch.manual_seed(0)
        margs = {"tcm_channels": 32, "tcm_hidden": 8}
        model = atomic_save(model_checkpoint("tcm_unet", margs, Speech, build_model("tcm_unet", **margs)), tmp / "m.pt")
        rows = []
        for minutes in args.minutes:
            source = write_noise(tmp / "long.wav", minutes)
            row = {"minutes": minutes, "input MB": round(source.stat().st_size / 1e6)}
            if minutes <= args.before_up_to:
                before = run_case(BEFORE, model, source, tmp / "before.wav")
                row["before: peak RSS MB"] = round(before["peak_mb"])
                row["before: s"] = round(before["seconds"])
            else:
                estimate = (700 + 7 * row["input MB"]) / 1000
                row["before: peak RSS MB"] = f"NaN (not run: needs ~{estimate:.0f} GB)"
                row["before: s"] = math.nan
            after = run_case(AFTER, model, source, tmp / "after.wav")
            row["after: peak RSS MB"] = round(after["peak_mb"]) if math.isfinite(after["peak_mb"]) else after["why"]
            row["after: s"] = round(after["seconds"])
            rows.append(row)
            print(json.dumps(row), flush=True)
            for name in ("long.wav", "before.wav", "after.wav"):
                (tmp / name).unlink(missing_ok=True)
    print(
        f"\ngoal: after <= {GOAL_MB} MB at every length; load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs"
    )
    print(tabulate(rows, headers="keys", tablefmt="github"))
    started = time.strftime("%Y-%m-%d %H:%M")
    print(f"({started}, torch {torch.__version__}, one thread)")


if __name__ == "__main__":
    main()
