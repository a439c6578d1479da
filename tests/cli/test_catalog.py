"""segscope add / ls / rm / app and segscope catalog add-run / add-eval / tag."""

from __future__ import annotations

import pytest

from segscope.catalog import Catalog
from segscope.catalog.demo import build_demo_workspace
from segscope.cli.main import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    build_demo_workspace(root, n=6, size=40, seed=4)
    return root


def run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_attach_ls_tag_rm(files, tmp_path, capsys):
    ws = str(tmp_path / "ws.db")
    code, out, _ = run(["add", str(files / "shapes"), "--name", "shapes", "-w", ws], capsys)
    assert code == 0 and "added shapes: 6 samples" in out
    code, out, _ = run(
        ["catalog", "add-run", "shapes", str(files / "pred_bad"), "--key", "bad", "-w", ws], capsys
    )
    assert code == 0 and "6 masks (0 without a sample)" in out
    code, out, _ = run(
        [
            "catalog",
            "add-eval",
            "shapes",
            str(files / "bad-eval.json"),
            "--key",
            "bad-eval",
            "--run",
            "bad",
            "-w",
            ws,
        ],
        capsys,
    )
    assert code == 0 and "added evaluation bad-eval" in out
    cat = Catalog(ws)
    assert [r["key"] for r in cat.runs("shapes")] == ["bad", "bad-eval"]
    assert cat.confusion_samples("shapes", "bad-eval", 1, 2) == Catalog(
        files / "workspace.db"
    ).confusion_samples("shapes", "bad-eval", 1, 2)
    code, out, _ = run(["ls", "-w", ws], capsys)
    assert code == 0 and "shapes" in out and "6" in out
    code, out, _ = run(["ls", "shapes", "-w", ws], capsys)
    assert code == 0 and "bad-eval" in out and "evaluation" in out
    code, out, _ = run(
        ["catalog", "tag", "shapes", "shape_0001", "shape_0002", "--tag", "review", "-w", ws], capsys
    )
    assert code == 0 and cat.tags("shapes") == {"review": 2}
    code, _, _ = run(
        ["catalog", "tag", "shapes", "shape_0001", "--tag", "review", "--remove", "-w", ws], capsys
    )
    assert cat.tags("shapes") == {"review": 1}
    code, out, _ = run(["rm", "shapes", "--run", "bad", "-w", ws], capsys)
    assert code == 0 and [r["key"] for r in cat.runs("shapes")] == ["bad-eval"]
    code, out, _ = run(["rm", "shapes", "-w", ws], capsys)
    assert code == 0 and cat.datasets() == []


def test_errors_are_one_line(files, tmp_path, capsys):
    ws = str(tmp_path / "ws.db")
    run(["add", str(files / "shapes"), "--name", "shapes", "-w", ws], capsys)
    code, _, err = run(["add", str(files / "shapes"), "--name", "shapes", "-w", ws], capsys)
    assert code == 1 and "already in" in err and "--overwrite" in err
    code, _, err = run(["rm", "shapse", "-w", ws], capsys)
    assert code == 1 and err.startswith("error: no dataset named 'shapse'") and "did you mean 'shapes'" in err
    code, _, err = run(["catalog", "add-run", "shapes", str(tmp_path), "--key", "x", "-w", ws], capsys)
    assert code == 1 and "has no masks/ folder" in err
    code, _, err = run(["app", "nope", "-w", ws], capsys)
    assert code == 1 and "no dataset named 'nope'" in err


def test_app_command_prints_url_and_serves(files, monkeypatch, capsys):
    import segscope.app

    called = {}
    monkeypatch.setattr(segscope.app, "serve", lambda cat, **kw: called.update(kw, path=cat.path))
    code, out, _ = run(["app", "shapes", "--port", "5199", "-w", str(files / "workspace.db")], capsys)
    assert code == 0 and "http://127.0.0.1:5199/#/d/shapes" in out
    assert called == {"dataset": "shapes", "host": "127.0.0.1", "port": 5199, "path": files / "workspace.db"}


def test_help_has_examples(capsys):
    for cmd in (
        ["add"],
        ["ls"],
        ["rm"],
        ["app"],
        ["catalog", "add-run"],
        ["catalog", "add-eval"],
        ["catalog", "tag"],
    ):
        code, out, _ = run([*cmd, "--help"], capsys)
        assert code == 0 and "Example" in out, cmd
