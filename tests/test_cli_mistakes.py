"""The user mistakes of the whole command-line family, in one place (issue 25): every one is
exit code 2, exactly one line on stderr naming the option or file, and no traceback. Add the
mistakes of every new command here. Also: docs/cli.md says what `--help` prints.

The cases run in one interpreter per program (`cli_process.run_batch`: each case calls the
program's real `main(argv)` in its own folder), which keeps ~90 cases to a few seconds.
"""
from __future__ import annotations

import json
import re

import pytest

from cli_process import REPO, run_batch, run_cli

SPEC = str(REPO / "examples/presets/tiny.toml")
H, R, F = "headless", "reid", "refiner"

# (program, argv, text the one error line must contain)
MISTAKES = [
    # python -m headless
    (H, ["nosuch"], "invalid choice: 'nosuch'"),
    (H, ["generat"], "did you mean 'generate'"),
    (H, ["validate"], "spec"),
    (H, ["validate", "missing.toml"], "missing.toml"),
    (H, ["generate", SPEC], "-o/--output"),
    (H, ["generate", SPEC, "-o", "afile/ds", "--renderer", "standin"], "afile is a file"),
    (H, ["generate", SPEC, "-o", "ds", "--renderer", "blender"], "--renderer"),
    (H, ["generate", SPEC, "-o", "ds", "--renderer", "standin", "--workers", "0"], "--workers 0"),
    (H, ["generate", SPEC, "-o", "ds", "--renderer", "standin", "--workers", "x"], "--workers"),
    (H, ["generate", SPEC, "-o", "ds", "--renderer", "standin", "--standin-sleep", "-1"], "--standin-sleep"),
    (H, ["generate", SPEC, "-o", "ds", "--renderer", "standin", "--heartbeat", "0"], "--heartbeat"),
    (H, ["generate", SPEC, "-o", "ds", "--renderer", "standin", "--window", "0"], "--window"),
    (H, ["generate", SPEC, "-o", "ds", "--renderer", "standin", "--max-failures", "0"], "--max-failures"),
    (H, ["generate", SPEC, "-o", "ds", "--bogus"], "--bogus"),
    (H, ["status"], "--data"),
    (H, ["status", "nowhere"], "nowhere"),
    (H, ["status", "--data", "afile"], "afile"),
    (H, ["status", "emptydir"], "emptydir"),
    (H, ["export", "emptydir", "-o", "x"], "not a generated dataset"),
    (H, ["export", "--data", "emptydir"], "-o/--output"),
    (H, ["export", "emptydir", "-o", "x", "--for", "open-reid"], "--for"),
    (H, ["export", "emptydir", "-o", "x", "--layout", "market"], "--layout"),
    (H, ["certs"], "folder"),
    (H, ["certs", "c", "--workers", "x"], "--workers"),
    (H, ["certs", "c", "--key-pairs", "x"], "--key-pairs"),
    (H, ["preview", "-o", "p"], "--preset"),
    (H, ["preview", "--preset", "V", "-o", "p"], "--preset"),
    (H, ["preview", "--preset", "tiny", "-o", "p", "--crop-height", "5"], "--crop-height 5"),
    (H, ["preview", "--preset", "tiny", "-o", "p", "--characters", "0"], "--characters 0"),
    (H, ["preview", "--preset", "tiny", "-o", "p", "--start", "-1"], "--start -1"),
    (H, ["preview", "--preset", "tiny", "-o", "p", "--start", "9999"], "--start 9999"),
    (H, ["preview", "--preset", "tiny", "-o", "p", "--columns", "0"], "--columns 0"),
    (H, ["preview", "--preset", "tiny", "-o", "afile/p"], "afile"),
    (H, ["preview", "--preset", "tiny", "-o", "p", "--compare", "nowhere"], "--compare nowhere"),
    (H, ["preview", "nope.toml", "-o", "p"], "nope.toml"),
    (H, ["fit", SPEC, "--target", "nowhere", "-o", "f.toml"], "nowhere"),
    (H, ["fit", SPEC, "-o", "f.toml"], "--target"),
    (H, ["fit", SPEC, "--target", "emptydir", "-o", "f.toml"], "emptydir"),
    (H, ["experiment"], "experiment"),
    (H, ["experiment", "nope.toml", "-o", "x", "--dry-run"], "nope.toml"),
    (H, ["experiment", "nope.toml", "-o", "x", "--renderer", "cycles"], "--renderer"),
    # python -m reid
    (R, ["trian"], "did you mean 'train'"),
    (R, ["train", "-o", "r"], "--data"),
    (R, ["train", "--data", "nowhere"], "-o/--output"),
    (R, ["train", "--data", "nowhere", "-o", "afile/run"], "afile is a file"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--epochs", "-1"], "--epochs -1"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--epochs", "x"], "--epochs"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--arch", "resnet"], "--arch"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--sampler", "pq"], "--sampler"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--optimizer", "rmsprop"], "--optimizer"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--dropout", "1.5"], "--dropout 1.5"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--batch-size", "0"], "--batch-size 0"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--lr", "-0.1"], "--lr -0.1"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--device", "gpu"], "--device gpu"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--amp", "fp8"], "--amp"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--layout", "market"], "--layout"),
    (R, ["train", "--data", "nowhere", "-o", "r"], "nowhere"),
    (R, ["train", "--data", "nowhere", "-o", "run"], "--resume"),  # a previous run is there
    (R, ["train", "--data", "nowhere", "-o", "r", "--resume"], "no run to resume"),
    (R, ["train", "--data", "nowhere", "-o", "r", "--resume", "--overwrite"], "--overwrite"),
    (R, ["finetune", "--data", "nowhere", "-o", "r"], "--from"),
    (R, ["finetune", "--data", "nowhere", "-o", "r", "--from", "junk.pt"], "junk.pt"),
    (R, ["finetune", "--data", "nowhere", "-o", "r", "--from", "missing.pt"], "--from missing.pt"),
    (R, ["finetune", "--data", "nowhere", "-o", "r", "--from", "junk.pt", "--sampler", "pq"], "--sampler"),
    (R, ["evaluate", "--checkpoints", "junk.pt", "-o", "e"], "--data"),
    (R, ["evaluate", "--checkpoints", "junk.pt", "--data", "nowhere", "-o", "e"], "junk.pt"),
    (R, ["evaluate", "--checkpoints", "missing.pt", "--data", "nowhere", "-o", "e"], "--checkpoints missing.pt"),
    (R, ["evaluate", "--checkpoints", "junk.pt", "--data", "nowhere", "-o", "e", "--device", "gpu"], "--device gpu"),
    (R, ["evaluate", "--data", "nowhere", "-o", "e", "--protocols", "single"], "--protocols"),
    (R, ["evaluate", "--data", "nowhere", "-o", "e", "--subset", "train"], "--subset"),
    (R, ["evaluate", "--data", "nowhere", "-o", "e", "--repeats", "0"], "--repeats 0"),
    (R, ["evaluate", "--data", "nowhere", "-o", "e", "--baselines", "sift"], "--baselines"),
    (R, ["evaluate", "--data", "nowhere", "-o", "e", "--checkpoints", "junk.pt", "--names", "a", "b"], "--names"),
    (R, ["plot", "dataset.json"], "dataset.json"),
    (R, ["plot", "missing.json"], "missing.json"),
    (R, ["plot", "dataset.json", "--protocol", "single"], "--protocol"),
    (R, ["info"], "--data"),
    (R, ["info", "nowhere"], "nowhere"),
    (R, ["info", "--data", "nowhere", "--folder-role", "all"], "--folder-role"),
    (R, ["diagnose"], "--data"),
    (R, ["diagnose", "--data", "nowhere"], "nowhere"),
    (R, ["diagnose", "--data", "emptydir"], "emptydir"),
    (R, ["split-folder", "nowhere"], "-o/--output"),
    (R, ["split-folder", "--data", "nowhere", "-o", "s"], "nowhere"),
    # python -m refiner
    (F, ["trian"], "did you mean 'train'"),
    (F, ["train", "--data", "imgs", "-o", "run"], "--target"),
    (F, ["train", "--target", "imgs", "-o", "run"], "--data"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "afile/run"], "afile"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--norm", "layer"], "--norm"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--device", "gpu"], "--device gpu"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--height", "32", "--width", "16"], "--width 16"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--height", "30"], "--height 30"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--batch-size", "-1"], "--batch-size -1"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--beta1", "1"], "--beta1 1"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--options", "type.json"], "type.json"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--options", "list.json"], "list.json"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--options", "bad.json"], "bad.json"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--options", "unknown.json"], "did you mean"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--options", "missing.json"], "missing.json"),
    (F, ["train", "--data", "imgs", "--target", "imgs", "-o", "r", "--resume"], "no run to resume"),
    (F, ["apply", "--checkpoint", "junk.pt", "--data", "imgs", "-o", "out"], "junk.pt"),
    (F, ["apply", "--checkpoint", "nope.pt", "--data", "imgs", "-o", "out"], "--checkpoint nope.pt"),
    (F, ["apply", "--checkpoint", "junk.pt", "--data", "nowhere", "-o", "out"], "--data nowhere"),
    (F, ["apply", "--checkpoint", "junk.pt", "--data", "imgs", "-o", "out", "--device", "gpu"], "--device gpu"),
    (F, ["apply", "--checkpoint", "junk.pt", "--data", "imgs", "-o", "out", "--direction", "AB"], "--direction"),
    (F, ["masks", "--data", "imgs", "-o", "m", "--segmenter", "python:nomod:f"], "nomod"),
    (F, ["masks", "--data", "imgs", "-o", "m", "--segmenter", "python:json:nosuch"], "nosuch"),
    (F, ["masks", "--data", "imgs", "-o", "m", "--segmenter", "sam"], "--segmenter"),
    (F, ["masks", "--data", "imgs", "-o", "m", "--device", "gpu"], "--device gpu"),
    (F, ["masks", "--data", "nowhere", "-o", "m"], "nowhere"),
    (F, ["masks", "--data", "imgs", "-o", "m", "--segmenter", "ours:nowhere.pt"], "nowhere.pt"),
    (F, ["masks", "--data", "imgs", "-o", "m", "--segmenter", "ours:junk.pt"], "junk.pt"),
    (F, ["masks", "--data", "imgs", "-o", "m", "--threads", "-1"], "--threads -1"),
    (F, ["segmenter", "-o", "s"], "--data"),
    (F, ["segmenter", "--data", "nowhere", "-o", "s"], "nowhere"),
    (F, ["segmenter", "--data", "emptydir", "-o", "s"], "emptydir"),
    (F, ["segmenter", "--data", "imgs", "-o", "s", "--width", "60"], "--width 60"),
    (F, ["segmenter", "--data", "imgs", "-o", "s", "--held-out", "1.5"], "--held-out 1.5"),
    (F, ["segmenter", "--data", "imgs", "-o", "run", "--resume"], "no run to resume"),
    (F, ["match", "--data", "imgs", "-o", "o"], "--target"),
    (F, ["match", "--data", "imgs", "--target", "nowhere", "-o", "o"], "--target nowhere"),
    (F, ["match", "--data", "imgs", "--target", "imgs", "-o", "o", "--regions", "masks"], "--source-masks"),
    (F, ["match", "--data", "imgs", "--target", "imgs", "-o", "o", "--scope", "pixel"], "--scope"),
    (F, ["match", "--data", "imgs", "--target", "imgs", "-o", "o", "--samples", "1"], "--samples 1"),
    (F, ["match", "--data", "imgs", "--target", "imgs", "-o", "o", "--target-masks", "folder:nowhere"], "nowhere"),
    (F, ["identity-check", "--data", "imgs", "--reid", "colour-histogram"], "--refined"),
    (F, ["identity-check", "--data", "imgs", "--refined", "nowhere", "--reid", "colour-histogram"], "--refined nowhere"),
    (F, ["identity-check", "--data", "imgs", "--refined", "imgs", "--reid", "junk.pt"], "junk.pt"),
    (F, ["identity-check", "--data", "imgs", "--refined", "imgs", "--reid", "nope.pt"], "--reid nope.pt"),
    (F, ["identity-check", "--data", "imgs", "--refined", "imgs", "--reid", "colour-histogram"], "2 identities"),
    (F, ["identity-check", "--data", "imgs", "--refined", "imgs", "--reid", "colour-histogram", "--subsets", "test"],
     "--subsets"),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from PIL import Image

    cwd = tmp_path_factory.mktemp("mistakes")
    (cwd / "afile").write_text("not a folder")
    (cwd / "emptydir").mkdir()
    (cwd / "junk.pt").write_bytes(b"\x80junk, not a checkpoint")
    (cwd / "dataset.json").write_text(json.dumps({"format": "synth-humans-dataset", "name": "d"}))
    (cwd / "run").mkdir()
    (cwd / "run" / "last.pt").write_bytes(b"a previous run")
    (cwd / "imgs").mkdir()
    Image.new("RGB", (16, 32), (90, 120, 30)).save(cwd / "imgs" / "0001_c1_000.jpg")
    (cwd / "type.json").write_text('{"n_epochs": "one"}')
    (cwd / "list.json").write_text("[1, 2]")
    (cwd / "bad.json").write_text("{nope")
    (cwd / "unknown.json").write_text('{"n_epoch": 3}')
    out = {}
    for program in (H, R, F):
        cases = [(p, argv, cwd) for p, argv, _ in MISTAKES if p == program]
        for (p, argv, _), result in zip(cases, run_batch(cases)):
            out[(p, tuple(argv))] = result
    return out


def test_at_least_80_mistakes_across_all_programs():
    assert len(MISTAKES) >= 80 and {p for p, _, _ in MISTAKES} == {H, R, F}
    assert len({(p, tuple(a)) for p, a, _ in MISTAKES}) == len(MISTAKES)


@pytest.mark.parametrize("program, argv, needle", MISTAKES, ids=[f"{p} {' '.join(a)}"[:80] for p, a, _ in MISTAKES])
def test_a_mistake_is_one_line_exit_2_no_traceback(results, program, argv, needle):
    r = results[(program, tuple(argv))]
    err = r["stderr"]
    assert "Traceback" not in err, err
    assert r["code"] == 2, (r["code"], err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert re.match(rf"python -m {program}( [a-z-]+)?: error: ", lines[0]), lines[0]
    assert needle in lines[0], (needle, lines[0])


# --- docs/cli.md is what --help prints ----------------------------------------------------

def _doc() -> str:
    return (REPO / "docs" / "cli.md").read_text()


def test_docs_list_the_commands_help_prints():
    table = {m[1]: m[2] for m in re.finditer(r"^\| `python -m (\w+)` \| `[\w-]+` \| (.*) \|$", _doc(), re.M)}
    assert set(table) == {H, R, F}
    for program, listed in table.items():
        documented = re.findall(r"`([\w-]+)`", listed)
        helped = run_cli(program, "--help", cwd=REPO).stdout  # "    validate   check a spec …" per command
        commands = re.findall(r"^    ([a-z][\w-]*)(?: |$)", helped.split("COMMAND", 2)[-1], re.M)
        assert documented == commands, (program, documented, commands)


def test_docs_exit_codes_are_what_every_program_lists():
    from synth_humans_addon.core.cli_conventions import EXIT_CODES, FARM_EXIT_CODES

    doc_codes = [int(m[1]) for m in re.finditer(r"^\| (\d+) \| ", _doc().split("## Exit codes")[1], re.M)]
    assert doc_codes == sorted(c for c, _ in (*EXIT_CODES, *FARM_EXIT_CODES))
    for program, extra in ((H, FARM_EXIT_CODES), (R, ()), (F, ())):
        helped = " ".join(run_cli(program, "--help", cwd=REPO).stdout.split())
        for code, meaning in (*EXIT_CODES, *extra):
            assert f"{code} {meaning}" in helped, (program, code)


def test_every_option_of_the_option_dataclasses_has_help():
    """The help is generated from the fields' comments: a field without one would have none."""
    from synth_humans_addon.core.cli_conventions import field_help
    from refiner.options import RefinerOptions
    from refiner.segmenter_options import SegmenterOptions
    from refiner.stats_match import MatchOptions
    from reid.options import EvalOptions, TrainOptions

    for cls in (TrainOptions, EvalOptions, RefinerOptions, SegmenterOptions, MatchOptions):
        missing = [name for name, text in field_help(cls).items() if not text]
        assert not missing, (cls.__name__, missing)
