"""`python -m headless` as a user runs it: one line per mistake, exit code 2, the family's conventions."""
from __future__ import annotations

import pytest

from cli_process import assert_user_error, run_cli
from headless.preview import summary_line

SPEC = "examples/presets/tiny.toml"


@pytest.fixture
def afile(tmp_path):
    f = tmp_path / "afile"
    f.write_text("not a folder")
    return f


def test_no_arguments_prints_the_commands_and_exits_2(tmp_path):
    r = run_cli("headless", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    for command in ("validate", "generate", "broker", "worker", "status", "preview", "experiment"):
        assert command in r.stderr
    assert "check a spec" in r.stderr and "--version" in r.stderr  # the help, not only a usage error


def test_version(tmp_path):
    r = run_cli("headless", "--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("python -m headless (synth-humans) ")


def test_generate_into_a_folder_below_a_file_names_it(tmp_path, afile):
    from cli_process import REPO

    # --out is the old spelling of --output: still accepted
    for flag in ("--output", "--out"):
        r = run_cli("headless", "generate", REPO / SPEC, flag, "afile/ds", "--renderer", "standin", cwd=tmp_path)
        assert_user_error(r, "afile/ds", "afile is a file")


@pytest.mark.parametrize("args, needles", [
    (["typo.toml"], ["typo.toml", "dataset.chracters"]),
    (["nope.toml"], ["nope.toml"]),
    (["--preset", "V"], ["--preset", "'V'"]),
    ([], ["SPEC.toml", "--preset"]),
])
def test_preview_mistakes_are_one_clean_message(tmp_path, args, needles):
    (tmp_path / "typo.toml").write_text("[dataset]\nchracters = 3\n")
    r = run_cli("headless", "preview", *args, "--output", "p", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert all(n in r.stderr for n in needles), r.stderr
    assert not (tmp_path / "p").exists()


def test_preview_into_a_file_is_refused_before_rendering(tmp_path, afile):
    from cli_process import REPO

    r = run_cli("headless", "preview", REPO / SPEC, "--output", "afile/p", cwd=tmp_path)
    assert_user_error(r, "--output afile/p")


def test_help_shows_defaults_and_hides_old_spellings(tmp_path):
    g = run_cli("headless", "generate", "--help", cwd=tmp_path).stdout
    assert "(default: 3)" in " ".join(g.split("--max-failures MAX_FAILURES")[-1].split()[:12])
    assert "(default: 262144)" in " ".join(g.split()) and "--no-progress" not in g and "--out " not in g
    assert "-q, --quiet" in g
    assert "(default: )" not in g
    p = run_cli("headless", "preview", "--help", cwd=tmp_path).stdout
    assert "(default: 40)" in " ".join(p.split()) and "--preset {I,II,III,IV-classic,IV,IV-realistic,default,tiny}" in p and "preset_iv" not in p


def test_preview_summary_names_a_contact_sheet_only_when_it_wrote_one(tmp_path):
    none = summary_line(0, 3, 3, 1.0, None, tmp_path / "preview.json")
    assert "contact_sheet" not in none and "no contact sheet" in none and "3 failed" in none
    some = summary_line(4, 3, 1, 1.0, tmp_path / "contact_sheet.png", tmp_path / "preview.json")
    assert some.startswith("4 images of 2 characters") and "contact_sheet.png" in some


def _spec_file(tmp_path, text):
    f = tmp_path / "s.toml"
    f.write_text(text)
    return f


def test_validate_warns_where_a_spec_leaves_market1501_ranges(tmp_path):
    small = "[dataset]\ncharacters = 20\ntest_characters = 5\nvalidation_characters = 5\n"
    ok = run_cli("headless", "validate", _spec_file(tmp_path, small), cwd=tmp_path)
    assert ok.returncode == 0 and "warning" not in ok.stderr
    cams = run_cli("headless", "validate", _spec_file(tmp_path, small + "camera_id_bins = 8\n"), cwd=tmp_path)
    assert cams.returncode == 0 and "warning: dataset.camera_id_bins: camera ids up to 8" in cams.stderr
    assert "--layout msmt17" in cams.stderr
    ids = run_cli("headless", "validate", "--json", _spec_file(
        tmp_path, "[dataset]\ncharacters = 1600\nimages_per_character = 1\ncamera_id_mode = 'azimuth_elevation'\n"
                  "camera_id_bins = 8\n"), cwd=tmp_path)
    assert ids.returncode == 0 and "dataset.characters: identities up to 1600" in ids.stderr
    assert len(__import__("json").loads(ids.stdout)["warnings"]) == 2


def test_export_refuses_a_folder_that_is_not_a_dataset(tmp_path):
    assert_user_error(run_cli("headless", "export", tmp_path, "--output", tmp_path / "x", cwd=tmp_path),
                      "not a generated dataset")


@pytest.mark.parametrize("command", ["preview", "fit", "experiment"])
def test_every_subcommand_takes_the_familys_spellings(tmp_path, command):
    """The commands that live in their own modules take `--version`, `-o/--output` and `-q`."""
    v = run_cli("headless", command, "--version", cwd=tmp_path)
    assert v.returncode == 0 and v.stdout.startswith(f"python -m headless {command} (synth-humans) "), v.stdout
    h = " ".join(run_cli("headless", command, "--help", cwd=tmp_path).stdout.split())
    assert "-o DIR, --output DIR" in h or "-o FILE, --output FILE" in h, h
    assert "-q, --quiet" in h and "--out " not in h


def test_a_fit_mistake_is_one_line_in_the_familys_form(tmp_path):
    from cli_process import REPO

    r = run_cli("headless", "fit", REPO / SPEC, "--target", "nowhere", "-o", "f.toml", cwd=tmp_path)
    line = assert_user_error(r, "--target folder nowhere does not exist")
    assert line.startswith("python -m headless fit: error: ")
    r = run_cli("headless", "fit", REPO / SPEC, "--target", "nowhere", "-o", "f.toml", "--rounds", "0", cwd=tmp_path)
    assert_user_error(r, "--rounds must be at least 1, got 0")


@pytest.mark.parametrize("toolbox, where", [("torchreid", ("msmt17", "MSMT17_V1")), ("fast-reid", ("MSMT17_V1",))])
def test_export_for_a_toolbox_puts_the_copy_where_its_reader_looks(tmp_path, toolbox, where):
    import json

    from reid.data import LoadOptions, load_dataset
    from reid.data.synthetic import make_procedural_dataset, small_spec

    ds = make_procedural_dataset(tmp_path / "ds", small_spec(characters=8, images_per_character=2, validation=2,
                                                             test=2, crop_height=32))
    r = run_cli("headless", "export", "--data", ds, "--for", toolbox, "-o", tmp_path / "root", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    folder = tmp_path.joinpath("root", *where)  # torchreid: root/msmt17/MSMT17_V1; fast-reid: root/MSMT17_V1
    assert f"use root={tmp_path / 'root'}" in r.stdout
    for name in ("list_train.txt", "list_val.txt", "list_query.txt", "list_gallery.txt"):
        assert (folder / name).is_file()
    first = (folder / "list_train.txt").read_text().split()[0]
    assert (folder / "train" / first).is_file()  # list paths are relative to train/ and test/, as both readers join
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["spec"]["dataset"]["characters"] == 8 and prov["identities"] == {"train": 4, "validation": 2, "test": 2}
    assert prov["images"]["list_train.txt"] == 8 and len(prov["commit"] or "x" * 40) == 40
    assert load_dataset(folder, LoadOptions(layout="msmt17", num_validation=0)).summary()["train_identities"] == 6
    again = run_cli("headless", "export", ds, "--for", toolbox, "-o", tmp_path / "root", cwd=tmp_path)
    assert_user_error(again, "--output", "--overwrite")


def test_validate_reports_every_problem_in_one_pass_with_did_you_mean(tmp_path):
    spec = _spec_file(tmp_path, "[camera]\ntheta_1_deg = [1, 2]\n[clothing.tops]\ntshrit = 1\n")
    r = run_cli("headless", "validate", spec, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "camera.theta_1_deg: unknown field; did you mean 'theta1_deg'?" in r.stderr
    assert "clothing.tops.tshrit: unknown name; did you mean 'tshirt'?" in r.stderr
