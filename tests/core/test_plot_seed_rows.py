"""scripts/plot_seed_rows.py: one dot per training seed, one bar per row, one-line errors."""
import csv
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "plot_seed_rows.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_plots_every_row_of_a_seed_table_and_refuses_bad_input_in_one_line(tmp_path):
    table = tmp_path / "seeds.csv"
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row", "seed", "ss_r1", "mk_map"])
        for row, centre in (("real-only", 11.0), ("IV", 4.3), ("I", 6.5)):
            for seed in range(5):
                w.writerow([row, seed, centre + seed * 0.3, centre - 0.5])
    out = tmp_path / "plot.png"
    ok = _run(table, out, "--baseline", "1.5", "--baseline-label", "colour histogram")
    assert ok.returncode == 0, ok.stderr
    with Image.open(out) as im:
        assert im.width > 600 and im.height > 200
    missing = _run(tmp_path / "nowhere.csv", out)
    assert missing.returncode == 2 and "nowhere.csv" in missing.stderr and "Traceback" not in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("row,seed\nIV,1\n")
    refused = _run(bad, out)
    assert refused.returncode == 2 and "ss_r1" in refused.stderr and "Traceback" not in refused.stderr
